"""The local lab: three network namespaces joined by veth pairs.

    client                server ("dual NIC")               backend
    PFX-c0 198.18.10.1 == PFX-s0 198.18.10.2
                          PFX-s1 198.18.11.1 == PFX-b0 198.18.11.2 (+ .3 .. .5)

Every veth has one TX and one RX queue per core.

With one_segment=True (a stack that owns only the server's client-facing
interface, and haproxy's origins must be reachable through it) the client
link becomes one L2 segment with the backend: a bridge in the client host
(PFX-br, the client's addresses on it) with ports to the server (PFX-c0 ==
PFX-s0) and to the backend (PFX-c1 == PFX-b1, origins 198.18.10.21 .. .24):

    client PFX-br 198.18.10.1 [PFX-c0, PFX-c1]
      PFX-c0 == PFX-s0 198.18.10.2 (server)
      PFX-c1 == PFX-b1 198.18.10.21 (+ .22 .. .24) (backend)

Every stack of such a run reaches the origins over that segment (the
backend link PFX-s1 == PFX-b0 stays, unused by haproxy).  The sysctls set in each
namespace and the offloads of each interface are returned by up() so that
they land in every result record.

Ownership of a lab is an flock on /run/tcpscale/PFX.lock held by the
process that brought it up (which unlinks it when the lab is down); the
state file /run/tcpscale/PFX.json lists the namespaces and every process
the lab started (pid + start time).  A lab whose lock is free but whose
namespaces or state file still exist is stale (its owner was killed) and
cleanup_stale() removes it.
"""

import atexit
import fcntl
import json
import os
import resource
import signal
import threading

from harness import procs

LAB_PREFIX = "tcps"
STATE_DIR = "/run/tcpscale"
ROLES = ("client", "server", "backend")

CLIENT_NET = "198.18.10"
BACKEND_NET = "198.18.11"
ADDRS = {
    "client": CLIENT_NET + ".1",
    "server": CLIENT_NET + ".2",
    "server_backend": BACKEND_NET + ".1",
    "backend": BACKEND_NET + ".2",
}
CLIENT_EXTRA = [CLIENT_NET + ".%d" % i for i in range(11, 19)]
BACKEND_EXTRA = [BACKEND_NET + ".%d" % i for i in range(3, 6)]
# origins on the client segment (one_segment labs)
SEGMENT_BACKEND = [CLIENT_NET + ".%d" % i for i in range(21, 25)]

# Set in every namespace; values as sysctl(8) prints them.
SYSCTLS = {
    "net.ipv4.ip_local_port_range": "1024 65535",
    "net.ipv4.tcp_tw_reuse": "1",
    "net.core.somaxconn": "65535",
    "net.ipv4.tcp_max_syn_backlog": "65535",
    "net.ipv4.tcp_max_tw_buckets": "262144",
    "net.ipv4.tcp_fin_timeout": "15",
}
# Global (not per-namespace) settings that shape the result: recorded only.
GLOBAL_SYSCTLS = ("net.core.netdev_max_backlog", "net.core.rps_sock_flow_entries",
                  "net.ipv4.tcp_congestion_control", "kernel.sched_autogroup_enabled")
NOFILE = 1048576              # fd limit for the lab's processes (inherited)
OFFLOAD_KEYS = ("rx-checksumming", "tx-checksumming", "scatter-gather",
                "tcp-segmentation-offload", "generic-segmentation-offload",
                "generic-receive-offload", "large-receive-offload")


class LabError(Exception):
    """The lab could not be built or used; the message names the host."""


def _names(prefix):
    if not prefix or len(prefix) > 12 or not prefix.replace("-", "").isalnum():
        raise LabError("lab prefix %r: expected 1-12 letters, digits or '-'" % prefix)
    return {
        "netns": {r: "%s-%s" % (prefix, r) for r in ROLES},
        "links": [("client", prefix + "-c0", "server", prefix + "-s0"),
                  ("server", prefix + "-s1", "backend", prefix + "-b0")],
    }


def _state_path(prefix, ext):
    return os.path.join(STATE_DIR, "%s.%s" % (prefix, ext))


def _read_state(prefix):
    try:
        with open(_state_path(prefix, "json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _list_netns():
    res = procs.run(["ip", "-o", "netns", "list"], check=False)
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def _netns_pids(ns):
    res = procs.run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in res.stdout.split() if p.isdigit()]


def _root_links(prefix):
    res = procs.run(["ip", "-o", "link", "show"], check=False)
    out = []
    for line in res.stdout.splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if name.startswith(prefix + "-"):
                out.append(name)
    return out


def _remove_all(prefix):
    """Remove every trace of lab `prefix`; return what was removed."""
    names = _names(prefix)
    removed = []
    state = _read_state(prefix)
    for entry in state.get("pids", []):
        pid, started = entry["pid"], entry.get("start")
        if procs.is_alive(pid, started):
            killed = procs.kill_tree(pid, started)
            removed += ["process %d (%s)" % (p, entry.get("name", "?")) for p in killed]
    present = set(_list_netns())
    for ns in names["netns"].values():
        if ns not in present:
            continue
        for pid in _netns_pids(ns):
            procs.kill_tree(pid, procs.start_time(pid))
            removed.append("process %d in %s" % (pid, ns))
        procs.run(["ip", "netns", "del", ns], check=False)
        removed.append("netns " + ns)
    for link in _root_links(prefix):
        procs.run(["ip", "link", "del", link], check=False)
        removed.append("link " + link)
    try:
        os.unlink(_state_path(prefix, "json"))
        removed.append("state " + _state_path(prefix, "json"))
    except FileNotFoundError:
        pass
    return removed


def _try_lock(prefix):
    """Open and flock the lab's lock file; return the fd or None if held.

    The file is unlinked by its holder when the lab is gone, so after
    locking, check that the path still names the inode we locked (else a
    holder removed it meanwhile: start over)."""
    path = _state_path(prefix, "lock")
    try:
        os.makedirs(STATE_DIR, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise LabError("lab %s: %s: %s (the lab needs root)" % (prefix, path, e.strerror)) from None
    os.close(fd)
    for _ in range(20):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)
    return None


def _unlock(prefix, fd, remove):
    """Release the lab's lock, removing the lock file first if asked."""
    if remove:
        try:
            os.unlink(_state_path(prefix, "lock"))
        except FileNotFoundError:
            pass
    os.close(fd)


def _lock_owner(prefix):
    return _read_state(prefix).get("owner_pid", "?")


def list_labs(base=LAB_PREFIX):
    """Prefixes of every lab named base or base-* that leaves a trace here
    (state file or namespace), live or stale."""
    found = set()
    try:
        for name in os.listdir(STATE_DIR):
            if name.endswith(".json"):
                found.add(name[:-len(".json")])
    except FileNotFoundError:
        pass
    for ns in _list_netns():
        stem, _, role = ns.rpartition("-")
        if role in ROLES:
            found.add(stem)
    return sorted(p for p in found if p == base or p.startswith(base + "-"))


def cleanup_stale(prefix=LAB_PREFIX):
    """Find leftovers of a killed run of lab `prefix` and remove them.

    A lab whose owner is still alive (its lock is held) is not stale and is
    left alone.  Returns the list of things removed."""
    _names(prefix)
    fd = _try_lock(prefix)
    if fd is None:
        return []
    removed = []
    try:
        removed = _remove_all(prefix)
    finally:
        _unlock(prefix, fd, remove=True)
    return removed


def _sysctl_read(ns, keys):
    """Current values of sysctl keys in ns (None: this namespace); unknown
    keys are left out."""
    res = procs.run(procs.netns_argv(ns, ["sysctl", "-e"] + list(keys)), check=False)
    out = {}
    for line in res.stdout.splitlines():
        key, sep, val = line.partition(" = ")
        if sep:
            out[key.strip()] = " ".join(val.split())
    return out


def _offloads(ns, dev):
    res = procs.run(procs.netns_argv(ns, ["ethtool", "-k", dev]), check=False)
    out = {}
    for line in res.stdout.splitlines():
        key, _, val = line.strip().partition(":")
        if key in OFFLOAD_KEYS:
            out[key] = val.split()[0] if val.split() else ""
    return out


def _queues(ns, dev):
    res = procs.run(procs.netns_argv(ns, ["ls", "/sys/class/net/%s/queues" % dev]), check=False)
    names = res.stdout.split()
    return {"rx": sum(1 for n in names if n.startswith("rx-")),
            "tx": sum(1 for n in names if n.startswith("tx-"))}


def _raise_nofile(want):
    """Raise this process's fd limit (inherited by every lab process)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for target in (want, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), max(hard, target)))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _rps(ns, dev):
    """RPS/XPS masks per queue of dev, as the kernel reports them."""
    out = {}
    for kind, fname in (("rx", "rps_cpus"), ("tx", "xps_cpus")):
        pattern = "/sys/class/net/%s/queues/%s-*/%s" % (dev, kind, fname)
        res = procs.run(procs.netns_argv(ns, ["sh", "-c", "grep -H . " + pattern]), check=False)
        for line in res.stdout.splitlines():
            path, _, val = line.partition(":")
            out["%s/%s" % (path.split("/")[-2], fname)] = val.strip()
    return out


class Lab:
    """Client, dual-NIC server and backend namespaces, with their processes."""

    def __init__(self, cores, prefix=LAB_PREFIX, offloads_off=False, one_segment=False):
        """offloads_off: GRO, GSO and TSO off on both ends of the client
        link, for every cell (a user-space stack on the server's interface
        needs frames no longer than the MTU; the same lab for every stack
        of the run keeps the comparison fair).  one_segment: the client
        link and the backend's origins on one L2 segment (module doc)."""
        if not isinstance(cores, int) or cores < 1:
            raise LabError("lab cores: expected an integer >= 1, got %r" % (cores,))
        self.cores = cores
        self.prefix = prefix
        self.offloads_off = offloads_off
        self.one_segment = one_segment
        self.names = _names(prefix)
        self.netns = dict(self.names["netns"])
        self.addrs = dict(ADDRS)
        self.client_extra = list(CLIENT_EXTRA)
        self.backend_extra = list(BACKEND_EXTRA)
        if one_segment:
            self.addrs["backend"] = SEGMENT_BACKEND[0]
            self.backend_extra = SEGMENT_BACKEND[1:]
        self.info = None
        self._lock_fd = None
        self._procs = {}          # pid -> dict(pid, start, name, host, proc)
        self._mutex = threading.Lock()
        self._old_sigterm = None
        self.nofile = None

    # -- life cycle -------------------------------------------------------
    def up(self):
        """Build the lab (after removing a stale one); return its description."""
        if self._lock_fd is not None:
            return self.info
        fd = _try_lock(self.prefix)
        if fd is None:
            raise LabError("lab %s is in use by pid %s (lock %s)" % (
                self.prefix, _lock_owner(self.prefix), _state_path(self.prefix, "lock")))
        self._lock_fd = fd
        try:
            stale = _remove_all(self.prefix)
            self._write_state()
            self._install_sigterm()
            self.nofile = _raise_nofile(NOFILE)
            atexit.register(self.down)
            self._build()
            self.info = self._describe(stale)
        except BaseException:
            self.down()
            raise
        return self.info

    def down(self):
        """Stop every process the lab started and remove everything; idempotent."""
        if self._lock_fd is None:
            return
        with self._mutex:
            entries = list(self._procs.values())
        for e in entries:
            procs.kill_tree(e["pid"], e["start"])
            if e.get("proc") is not None:
                procs.stop(e["pid"], e["start"], e["proc"], timeout=1)
        _remove_all(self.prefix)
        with self._mutex:
            self._procs.clear()
        self._restore_sigterm()
        try:
            atexit.unregister(self.down)
        except Exception:
            pass
        _unlock(self.prefix, self._lock_fd, remove=True)
        self._lock_fd = None

    def status(self):
        """What exists now: namespaces, interfaces with addresses, processes."""
        present = set(_list_netns())
        hosts = {}
        for role, ns in self.netns.items():
            if ns not in present:
                hosts[role] = {"netns": ns, "exists": False}
                continue
            res = procs.run(procs.netns_argv(ns, ["ip", "-o", "-4", "addr", "show"]), check=False)
            addrs = {}
            for line in res.stdout.splitlines():
                parts = line.split()
                if len(parts) > 3 and parts[1] != "lo":
                    addrs.setdefault(parts[1], []).append(parts[3])
            hosts[role] = {"netns": ns, "exists": True, "addrs": addrs,
                           "pids": _netns_pids(ns)}
        lock_fd = _try_lock(self.prefix) if self._lock_fd is None else None
        owned = self._lock_fd is not None or lock_fd is None
        if lock_fd is not None:
            _unlock(self.prefix, lock_fd, remove=not os.path.exists(
                _state_path(self.prefix, "json")) and not any(
                    h["exists"] for h in hosts.values()))
        state = _read_state(self.prefix)
        return {"prefix": self.prefix, "up": all(h["exists"] for h in hosts.values()),
                "owner_pid": state.get("owner_pid") if owned else None,
                "stale": not owned and (any(h["exists"] for h in hosts.values()) or bool(state)),
                "hosts": hosts,
                "processes": [{k: v for k, v in p.items() if k != "proc"}
                              for p in state.get("pids", [])]}

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()
        return False

    # -- processes ----------------------------------------------------------
    def spawn(self, role, argv, cpus=None, name=None, stdout=None, stderr=None, env=None):
        """Start argv in the namespace of `role`, pinned to `cpus`, recorded
        in the state file so that a later run can kill it."""
        if self._lock_fd is None:
            raise LabError("lab %s is not up" % self.prefix)
        proc = procs.spawn(argv, netns=self.netns[role], cpus=cpus,
                           stdout=stdout, stderr=stderr, env=env)
        entry = {"pid": proc.pid, "start": procs.start_time(proc.pid),
                 "name": name or os.path.basename(argv[0]), "host": role, "proc": proc}
        with self._mutex:
            self._procs[proc.pid] = entry
            self._write_state()
        return proc

    def stop(self, proc, sig=signal.SIGTERM, timeout=5.0):
        """Stop a process started by spawn() (and its children); return its exit code."""
        with self._mutex:
            entry = self._procs.get(proc.pid)
        started = entry["start"] if entry else None
        if proc.poll() is None:
            tree = [(p, procs.start_time(p)) for p in procs.descendants([proc.pid])
                    if p != proc.pid]
            rc = procs.stop(proc.pid, started, proc, sig=sig, timeout=timeout)
            for p, st in tree:
                procs.kill_tree(p, st, timeout=1)
        else:
            rc = proc.returncode
        with self._mutex:
            self._procs.pop(proc.pid, None)
            self._write_state()
        return rc

    def reap_strays(self):
        """Kill every process left in the lab's namespaces that the lab is not
        tracking (e.g. nginx workers orphaned by a killed master); returns
        them as "name pid N on host H"."""
        with self._mutex:
            tracked = set(self._procs)
        out = []
        for role, ns in self.netns.items():
            for pid in _netns_pids(ns):
                if pid in tracked:
                    continue
                name = procs.comm(pid) or "?"
                procs.kill_tree(pid, procs.start_time(pid), timeout=1)
                out.append("%s pid %d on host %s" % (name, pid, role))
        return out

    def exec(self, role, argv, timeout=30, check=True):
        """Run a short command in the namespace of `role`."""
        return procs.run(procs.netns_argv(self.netns[role], argv), timeout=timeout, check=check)

    # -- internals ----------------------------------------------------------
    def _write_state(self):
        state = {"prefix": self.prefix, "owner_pid": os.getpid(),
                 "owner_start": procs.start_time(os.getpid()), "cores": self.cores,
                 "netns": sorted(self.netns.values()),
                 "pids": [{k: v for k, v in e.items() if k != "proc"}
                          for e in self._procs.values()]}
        tmp = _state_path(self.prefix, "json.tmp")
        with open(tmp, "w") as f:
            json.dump(state, f, indent=1)
        os.replace(tmp, _state_path(self.prefix, "json"))

    def _install_sigterm(self):
        """Turn SIGTERM into KeyboardInterrupt so that `kill PID` cleans up too."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def on_term(signum, frame):
            raise KeyboardInterrupt("SIGTERM")
        self._old_sigterm = signal.signal(signal.SIGTERM, on_term)

    def _restore_sigterm(self):
        if self._old_sigterm is not None and \
                threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None

    def _ns_run(self, role, argv):
        try:
            return procs.run(procs.netns_argv(self.netns[role], argv))
        except procs.ProcError as e:
            raise LabError("lab %s host %s: %s" % (self.prefix, role, e)) from None

    def _build(self):
        n = str(self.cores)
        for role, ns in self.netns.items():
            try:
                procs.run(["ip", "netns", "add", ns])
            except procs.ProcError as e:
                raise LabError("lab %s host %s: %s" % (self.prefix, role, e)) from None
            self._ns_run(role, ["ip", "link", "set", "lo", "up"])
        for ra, da, rb, db in self.names["links"]:
            try:
                procs.run(["ip", "link", "add", da, "netns", self.netns[ra],
                           "numtxqueues", n, "numrxqueues", n, "type", "veth",
                           "peer", "name", db, "netns", self.netns[rb],
                           "numtxqueues", n, "numrxqueues", n])
            except procs.ProcError as e:
                raise LabError("lab %s link %s-%s: %s" % (self.prefix, ra, rb, e)) from None
        client_dev = self.prefix + "-c0"
        if self.one_segment:
            client_dev = self._build_segment(n)
        plan = [("client", client_dev, [ADDRS["client"]] + CLIENT_EXTRA),
                ("server", self.prefix + "-s0", [ADDRS["server"]]),
                ("server", self.prefix + "-s1", [ADDRS["server_backend"]]),
                ("backend", self.prefix + "-b0", [ADDRS["backend"]] + BACKEND_EXTRA)]
        for role, dev, addrs in plan:
            for a in addrs:
                self._ns_run(role, ["ip", "addr", "add", a + "/24", "dev", dev])
            self._ns_run(role, ["ip", "link", "set", dev, "up"])
        for role in ROLES:
            args = ["%s=%s" % kv for kv in SYSCTLS.items()]
            self._ns_run(role, ["sysctl", "-q", "-w"] + args)
        if self.offloads_off:
            ra, da, rb, db = self.names["links"][0]
            devs = [(ra, da), (rb, db)]
            if self.one_segment:
                devs += [("client", self.prefix + "-c1"), ("backend", self.prefix + "-b1")]
            for role, dev in devs:
                self._ns_run(role, ["ethtool", "-K", dev, "gro", "off", "gso", "off",
                                    "tso", "off"])

    def _build_segment(self, n):
        """The client-side bridge with the server and the backend on it;
        returns the client's device (the bridge)."""
        br, c0, c1, b1 = (self.prefix + s for s in ("-br", "-c0", "-c1", "-b1"))
        try:
            procs.run(["ip", "link", "add", c1, "netns", self.netns["client"],
                       "numtxqueues", n, "numrxqueues", n, "type", "veth",
                       "peer", "name", b1, "netns", self.netns["backend"],
                       "numtxqueues", n, "numrxqueues", n])
        except procs.ProcError as e:
            raise LabError("lab %s link client-backend: %s" % (self.prefix, e)) from None
        self._ns_run("client", ["ip", "link", "add", br, "type", "bridge"])
        for dev in (c0, c1):
            self._ns_run("client", ["ip", "link", "set", dev, "master", br])
            self._ns_run("client", ["ip", "link", "set", dev, "up"])
        for a in SEGMENT_BACKEND:
            self._ns_run("backend", ["ip", "addr", "add", a + "/24", "dev", b1])
        self._ns_run("backend", ["ip", "link", "set", b1, "up"])
        return br

    def _describe(self, stale):
        hosts, sysctls, offloads, rps = {}, {}, {}, {}
        devs = {"client": [self.prefix + "-c0"],
                "server": [self.prefix + "-s0", self.prefix + "-s1"],
                "backend": [self.prefix + "-b0"]}
        for role, ns in self.netns.items():
            sysctls[role] = _sysctl_read(ns, list(SYSCTLS))
            ifaces = {}
            for dev in devs[role]:
                offloads["%s/%s" % (role, dev)] = _offloads(ns, dev)
                rps["%s/%s" % (role, dev)] = _rps(ns, dev)
                ifaces[dev] = {"queues": _queues(ns, dev)}
            hosts[role] = {"netns": ns, "ifaces": ifaces}
        client_dev = self.prefix + ("-br" if self.one_segment else "-c0")
        hosts["client"]["ifaces"].setdefault(client_dev, {})["addrs"] = \
            [ADDRS["client"]] + CLIENT_EXTRA
        if self.one_segment:
            hosts["backend"]["ifaces"][self.prefix + "-b1"] = {"addrs": list(SEGMENT_BACKEND)}
        hosts["server"]["ifaces"][self.prefix + "-s0"]["addrs"] = [ADDRS["server"]]
        hosts["server"]["ifaces"][self.prefix + "-s1"]["addrs"] = [ADDRS["server_backend"]]
        hosts["backend"]["ifaces"][self.prefix + "-b0"]["addrs"] = [ADDRS["backend"]] + BACKEND_EXTRA
        return {"kind": "netns", "prefix": self.prefix, "cores": self.cores,
                "hosts": hosts, "addresses": dict(self.addrs),
                "client_source_addrs": list(CLIENT_EXTRA),
                "backend_addrs": [self.addrs["backend"]] + self.backend_extra,
                "one_segment": self.one_segment,
                "queues_per_veth": self.cores,
                "sysctls": sysctls, "sysctls_set": dict(SYSCTLS),
                "global_sysctls": _sysctl_read(None, list(GLOBAL_SYSCTLS)),
                "offloads": offloads, "offloads_off": self.offloads_off,
                "rps": rps, "nofile": self.nofile, "stale_removed": stale}
