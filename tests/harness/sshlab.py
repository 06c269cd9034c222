"""A lab of SSH hosts made of network namespaces, for the Ansible tests.

Each host (client1, server1, backend1) is a network namespace running a
real sshd (openssh-server from Debian) on its management address; the
controller is one more namespace (PFX-ctl) holding a bridge to every host,
from which Ansible (and `tcpscale run --inventory`) connects with a key made
here.  The data network is the local lab's (dual-NIC server between a
client and a backend, one queue per core):

    PFX-ctl  bridge 198.18.20.254/24 -- mgmt0 of every host (198.18.20.1..3)
    client1  data0 198.18.10.1 (+ .11 .. .12)  == server1 data0 198.18.10.2
    server1  data1 198.18.11.1                 == backend1 data0 198.18.11.2 (+ .3)

Interface names are the same in every lab (they live in the hosts'
namespaces), so ansible/inventories/local/hosts.yml is a plain file; the
lab's folder comes in through TCPSCALE_SSHLAB_DIR.

    lab = SshLab("tcps-a1234", "/tmp/x", cores=2); lab.up() ... lab.down()
    /usr/bin/python3 tests/harness/sshlab.py [PREFIX]   # hold one up by hand
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)

from harness import procs  # noqa: E402

INVENTORY = os.path.join(ROOT, "ansible", "inventories", "local", "hosts.yml")
MGMT_NET = "198.18.20"
HOSTS = {                 # name: (management address, [(iface, [addresses])])
    "client1": (MGMT_NET + ".1", [("data0", ["198.18.10.1", "198.18.10.11", "198.18.10.12"])]),
    "server1": (MGMT_NET + ".2", [("data0", ["198.18.10.2"]), ("data1", ["198.18.11.1"])]),
    "backend1": (MGMT_NET + ".3", [("data0", ["198.18.11.2", "198.18.11.3"])]),
}
LINKS = [("client1", "data0", "server1", "data0"), ("server1", "data1", "backend1", "data0")]
SSHD_CONFIG = """\
ListenAddress {addr}:22
HostKey {dir}/host_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {authorized}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 64
MaxStartups 64
Subsystem sftp internal-sftp
"""


class SshLabError(Exception):
    pass


class SshLab:
    def __init__(self, prefix, workdir, cores=2):
        self.prefix = prefix
        self.dir = os.path.abspath(workdir)
        self.cores = cores
        self.ctl = prefix + "-ctl"
        self.netns = {h: "%s-%s" % (prefix, h) for h in HOSTS}
        self.sshd = {}              # host -> (pid, start time)

    # -- life cycle ---------------------------------------------------------
    def up(self):
        try:
            os.makedirs(self.dir, exist_ok=True)
            self._keys()
            self._network()
            for host in HOSTS:
                self._start_sshd(host)
            for host in HOSTS:
                self.wait_ssh(host)
        except BaseException:
            self.down()
            raise
        return self

    def down(self):
        """Stop every sshd and every process in the lab's namespaces, remove them."""
        for host, (pid, start) in list(self.sshd.items()):
            procs.kill_tree(pid, start, timeout=2)
        self.sshd.clear()
        for ns in [self.ctl] + list(self.netns.values()):
            if ns in _netns_list():
                for pid in _netns_pids(ns):
                    procs.kill_tree(pid, procs.start_time(pid), timeout=2)
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()
        return False

    # -- use ------------------------------------------------------------------
    def env(self, extra=None):
        """Environment for Ansible and tcpscale run from the controller."""
        env = dict(os.environ)
        env.update({"TCPSCALE_SSHLAB_DIR": self.dir,
                    "ANSIBLE_HOME": os.path.join(self.dir, "ansible-home"),
                    "ANSIBLE_LOCAL_TEMP": os.path.join(self.dir, "ansible-home", "tmp"),
                    "ANSIBLE_SSH_CONTROL_PATH_DIR": os.path.join(self.dir, "ansible-home", "cp"),
                    "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})
        env.update(extra or {})
        return env

    def ctl_argv(self, argv):
        return ["ip", "netns", "exec", self.ctl] + list(argv)

    def run(self, argv, timeout=300, extra_env=None):
        """Run argv in the controller's namespace; CompletedProcess (text)."""
        return subprocess.run(self.ctl_argv(argv), capture_output=True, text=True,
                              timeout=timeout, env=self.env(extra_env), cwd=ROOT)

    def start(self, argv, out_path, err_path, extra_env=None):
        """Start argv in the controller's namespace in a process group of its
        own (the way a terminal runs a command), output to files; a Popen."""
        with open(out_path, "w") as out, open(err_path, "w") as err:
            return subprocess.Popen(self.ctl_argv(argv), stdout=out, stderr=err, text=True,
                                    env=self.env(extra_env), cwd=ROOT, start_new_session=True)

    def host_processes(self, host):
        """(pid, comm) of every process in a host's namespace."""
        return [(p, procs.comm(p)) for p in _netns_pids(self.netns[host])]

    def kill_sshd(self, host):
        """Make a host unreachable: stop its sshd (and its sessions)."""
        pid, start = self.sshd.pop(host)
        procs.kill_tree(pid, start, timeout=2)
        for p in _netns_pids(self.netns[host]):
            if procs.comm(p) == "sshd":
                procs.kill_tree(p, procs.start_time(p), timeout=2)

    def wait_ssh(self, host, timeout=10.0):
        addr = HOSTS[host][0]
        probe = "import socket,sys;socket.create_connection((%r, 22), 0.5).close()" % addr
        deadline = time.monotonic() + timeout
        while True:
            res = subprocess.run(self.ctl_argv(["/usr/bin/python3", "-c", probe]),
                                 capture_output=True, text=True)
            if res.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise SshLabError("sshd of %s on %s:22 not accepting: %s"
                                  % (host, addr, res.stderr.strip()[-200:]))
            time.sleep(0.05)

    # -- internals --------------------------------------------------------------
    def _sh(self, argv):
        res = subprocess.run(argv, capture_output=True, text=True)
        if res.returncode != 0:
            raise SshLabError("%s: %s" % (" ".join(argv), res.stderr.strip()))
        return res.stdout

    def _keys(self):
        key = os.path.join(self.dir, "id_ed25519")
        if not os.path.exists(key):
            self._sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tcpscale-test",
                      "-f", key])
        shutil.copy(key + ".pub", os.path.join(self.dir, "authorized_keys"))
        known = []
        for host, (addr, _) in HOSTS.items():
            hdir = os.path.join(self.dir, "sshd", host)
            os.makedirs(hdir, exist_ok=True)
            hk = os.path.join(hdir, "host_key")
            if not os.path.exists(hk):
                self._sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hk])
            with open(hk + ".pub") as f:
                known.append("%s %s" % (addr, " ".join(f.read().split()[:2])))
            with open(os.path.join(hdir, "sshd_config"), "w") as f:
                f.write(SSHD_CONFIG.format(addr=addr, dir=hdir, authorized=os.path.join(
                    self.dir, "authorized_keys")))
        with open(os.path.join(self.dir, "known_hosts"), "w") as f:
            f.write("\n".join(known) + "\n")

    def _network(self):
        n = str(self.cores)
        for ns in [self.ctl] + list(self.netns.values()):
            self._sh(["ip", "netns", "add", ns])
            self._sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        br = "br0"
        self._sh(["ip", "-n", self.ctl, "link", "add", br, "type", "bridge"])
        self._sh(["ip", "-n", self.ctl, "addr", "add", MGMT_NET + ".254/24", "dev", br])
        self._sh(["ip", "-n", self.ctl, "link", "set", br, "up"])
        for i, (host, (addr, ifaces)) in enumerate(HOSTS.items()):
            ns, port = self.netns[host], "m%d" % i
            self._sh(["ip", "link", "add", port, "netns", self.ctl, "type", "veth",
                      "peer", "name", "mgmt0", "netns", ns])
            self._sh(["ip", "-n", self.ctl, "link", "set", port, "master", br, "up"])
            self._sh(["ip", "-n", ns, "addr", "add", addr + "/24", "dev", "mgmt0"])
            self._sh(["ip", "-n", ns, "link", "set", "mgmt0", "up"])
        for ha, da, hb, db in LINKS:
            self._sh(["ip", "link", "add", da, "netns", self.netns[ha], "numtxqueues", n,
                      "numrxqueues", n, "type", "veth", "peer", "name", db, "netns",
                      self.netns[hb], "numtxqueues", n, "numrxqueues", n])
        for host, (_, ifaces) in HOSTS.items():
            for dev, addrs in ifaces:
                for a in addrs:
                    self._sh(["ip", "-n", self.netns[host], "addr", "add", a + "/24", "dev", dev])
                self._sh(["ip", "-n", self.netns[host], "link", "set", dev, "up"])

    def _start_sshd(self, host):
        os.makedirs("/run/sshd", exist_ok=True)     # sshd's privilege separation dir
        hdir = os.path.join(self.dir, "sshd", host)
        pidfile = os.path.join(hdir, "sshd.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        # -D: stays in the foreground, so its pid is the one spawned here
        proc = procs.spawn(["/usr/sbin/sshd", "-D", "-f", os.path.join(hdir, "sshd_config"),
                            "-E", os.path.join(hdir, "sshd.log")], netns=self.netns[host])
        self.sshd[host] = (proc.pid, procs.start_time(proc.pid))
        time.sleep(0.05)
        if proc.poll() is not None:
            with open(os.path.join(hdir, "sshd.log"), errors="replace") as f:
                raise SshLabError("sshd of %s exited: %s" % (host, f.read()[-300:]))


def _netns_list():
    out = subprocess.run(["ip", "-o", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _netns_pids(ns):
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def main(argv):
    prefix = argv[0] if argv else "tcps-ssh"
    workdir = os.path.join("/tmp", prefix)
    lab = SshLab(prefix, workdir).up()
    print("lab %s up; controller: ip netns exec %s ...; TCPSCALE_SSHLAB_DIR=%s; Ctrl-C ends it"
          % (prefix, lab.ctl, lab.dir), flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        lab.down()


if __name__ == "__main__":
    main(sys.argv[1:])
