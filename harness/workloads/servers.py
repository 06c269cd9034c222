"""Servers under test: start (optionally behind a launcher such as
refstack/rs-run), readiness, versions.

A server is a plain dict {"name", "role", "proc", "addr", "port", "log",
"artefacts"} describing one process the lab started; every server is pinned
to the cores under test except the origin servers of the haproxy workload,
which stand for other machines.
"""

import contextlib
import os
import re
import resource
import shutil
import string
import subprocess
import tempfile
import time

from harness import REPO_ROOT, procs

SERVERS_DIR = os.path.join(REPO_ROOT, "profiles", "servers")
# TCPSCALE_TSLOAD: another tsload build (e.g. a private copy while loadgen/ rebuilds)
TSLOAD = os.environ.get("TCPSCALE_TSLOAD") or os.path.join(REPO_ROOT, "loadgen", "tsload")


def tsload_of(cell):
    """The tsload build of a cell: its staged copy (staged), its own
    ("tsload", a reference build the gate measures beside the checkout's),
    else the checkout's."""
    return cell.get("tsload_staged") or cell.get("tsload") or TSLOAD


@contextlib.contextmanager
def staged(cell, rundir, outfile):
    """(cell, rundir, outfile) as the cell's programs see them.  For the two
    sides of a pair with the reference build (cell "fresh_tsload") every
    path on their command lines and in their configuration moves into a new
    folder of fixed length, /tmp/tcpscale-bin-XXXXXXXX, removed afterwards:
    tsload (a fresh copy of the side's build), run (a link to rundir: the
    servers' configuration, logs and output) and out.json (a link to
    outfile), so both sides start with argv and environment of the same
    length, hence the same stack alignment.  With the cell's own paths
    (".reference" is 10 characters longer) nginx's side sat 2-5 % slower
    than its twin of the same build in every calibration run, and two
    copies run from their own files differed by up to 10 % (BENCHMARKS.md,
    "The gate"); a new copy for every repetition turns what is left (the
    file's place in the page cache) into noise that averages out.  What
    the programs write lands in rundir and outfile (unstage maps the
    servers' artefact paths back)."""
    if not cell.get("fresh_tsload"):
        yield cell, rundir, outfile
        return
    folder = tempfile.mkdtemp(prefix="tcpscale-bin-")
    try:
        path = os.path.join(folder, "tsload")
        shutil.copyfile(tsload_of(cell), path)
        os.chmod(path, 0o755)
        with open(path, "rb") as f:     # written back now, not mid-window
            os.fsync(f.fileno())
        run_at, out_at = os.path.join(folder, "run"), os.path.join(folder, "out.json")
        os.symlink(os.path.abspath(rundir), run_at)
        os.symlink(os.path.abspath(outfile), out_at)
        yield dict(cell, tsload_staged=path, rundir_staged=[run_at, rundir]), run_at, out_at
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def unstage(cell, path):
    """A path a staged cell's server reported, as it is after the cell."""
    run_at, rundir = cell.get("rundir_staged") or (None, None)
    if run_at and path and (path == run_at or path.startswith(run_at + os.sep)):
        return rundir + path[len(run_at):]
    return path


STATIC_FILE = "64.bin"
STATIC_SIZE = 64
ORIGIN_PORT = 8080
HTTP_PORT = 80

_PROBE = r"""
import socket, sys, time
addr, port, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
path = sys.argv[4] if len(sys.argv) > 4 else None
while True:
    try:
        s = socket.create_connection((addr, port), timeout=0.5)
        if path is None:
            s.close()
            sys.exit(0)
        s.settimeout(max(0.5, deadline - time.monotonic()))
        s.sendall(b"GET " + path.encode() + b" HTTP/1.0\r\nHost: probe\r\n\r\n")
        got = b""
        while b"\r\n" not in got:
            chunk = s.recv(512)
            if not chunk:
                break
            got += chunk
        s.close()
        line = got.split(b"\r\n", 1)[0].decode(errors="replace")
        if line.split()[1:2] == ["200"]:
            sys.exit(0)
        raise OSError(0, "answered %r" % line if line else "closed without an answer")
    except OSError as e:
        if time.monotonic() > deadline:
            print("%s:%d: %s" % (addr, port, e.strerror or e), file=sys.stderr)
            sys.exit(1)
        time.sleep(0.02)
"""

# What the probe asks an HTTP server for: a worker has served it, not only
# the kernel's handshake on the master's listening socket (nginx's master
# listens before its workers run; on a loaded machine a worker can start
# after a 0.75 s cell has ended, which then measured nothing).
HTTP_PROBE_PATH = "/" + STATIC_FILE


class ServerError(Exception):
    """A server could not be started; the message names host and program."""


def render(template_name, values):
    with open(os.path.join(SERVERS_DIR, template_name)) as f:
        return string.Template(f.read()).substitute(values)


def log_tail(path, lines=5):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(l.strip() for l in f.read().splitlines()[-lines:] if l.strip())
    except OSError:
        return ""


def nofile():
    """The fd limit the servers inherit (raised by Lab.up as far as allowed)."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def check_port_free(lab, role, port, name):
    """Refuse to start a server whose port already has a listener in that
    host: the readiness probe would be answered by the wrong program."""
    res = lab.exec(role, ["ss", "-Hltnp", "sport = :%d" % port], check=False)
    if res.stdout.strip():
        users = sorted(set(re.findall(r'\("([^"]+)",pid=([0-9]+)', res.stdout)))
        raise ServerError("cannot start %s on host %s: port %d is already in use by %s"
                          % (name, role, port, ", ".join("%s pid %s" % u for u in users)
                             or "another listener"))


def _start(lab, role, name, argv, rundir, cpus, addr, port, wrap=None):
    """Start argv (behind the launcher argv `wrap`, if any) in host role."""
    check_port_free(lab, role, port, name)
    argv = list(wrap or []) + list(argv)
    log = os.path.join(rundir, "%s.log" % name)
    with open(log, "w") as f:
        proc = lab.spawn(role, argv, cpus=cpus, name=name, stdout=f, stderr=subprocess.STDOUT)
    return {"name": name, "role": role, "proc": proc, "addr": addr, "port": port,
            "log": log, "artefacts": {name + "_log": log}}


def _affinity_masks(cores):
    """nginx worker_cpu_affinity: worker i on core i."""
    return " ".join(format(1 << i, "0%db" % cores) for i in range(cores))


def tsload_server_argv(tsload, addr, port, cores, engine, sizes, out):
    """The tsload --server command line of a crr/rr workload."""
    return [tsload, "--server", "--host=%s" % addr, "--port=%d" % port,
            "--threads=%d" % cores, "--cpus_allowed=%s" % procs.cpu_list(cores),
            "--engine=%s" % engine, "--req_size=%s" % sizes["req_size"],
            "--resp_size=%s" % sizes["resp_size"], "--backlog=65535",
            "--output-format=json", "--output=%s" % out]


def start_tsload_server(lab, cell, rundir, engine, port, sizes, wrap=None):
    cores = cell["cores"]
    out = os.path.join(rundir, "tsload-server.json")
    argv = tsload_server_argv(tsload_of(cell), lab.addrs["server"], port, cores, engine, sizes, out)
    srv = _start(lab, "server", "tsload-server", argv, rundir, procs.cpu_list(cores),
                 lab.addrs["server"], port, wrap)
    srv["artefacts"]["tsload_server"] = out
    return srv


STATIC_CONTENT = b"tcpscale-64-byte-static-file-".ljust(STATIC_SIZE - 1, b"x") + b"\n"


def write_docroot(rundir):
    docroot = os.path.join(rundir, "www")
    os.makedirs(docroot, exist_ok=True)
    with open(os.path.join(docroot, STATIC_FILE), "wb") as f:
        f.write(STATIC_CONTENT)
    return docroot


def nginx_config(ndir, docroot, workers, listens, pinned, nofile_limit):
    """nginx.conf of `workers` workers (worker i on core i when pinned)
    listening on every (addr, port) of listens, its files under ndir."""
    affinity = ("worker_cpu_affinity %s;" % _affinity_masks(workers)) if pinned else ""
    return render("nginx.conf.in", {
        "workers": workers, "affinity_line": affinity, "rundir": ndir,
        "nofile": nofile_limit, "worker_connections": max(1024, nofile_limit // 2 - 64),
        "docroot": docroot,
        "listen_lines": "\n".join("        listen %s:%d reuseport backlog=65535;" % (a, p)
                                  for a, p in listens)})


def nginx_argv(ndir, conf_path):
    return ["nginx", "-e", os.path.join(ndir, "error.log"), "-p", ndir, "-c", conf_path]


def start_nginx(lab, role, name, rundir, workers, listens, cpus=None, wrap=None):
    """nginx with `workers` workers; pinned worker i -> core i when cpus is set."""
    ndir = os.path.join(rundir, name)
    os.makedirs(ndir, exist_ok=True)
    conf = nginx_config(ndir, write_docroot(rundir), workers, listens, bool(cpus), nofile())
    path = os.path.join(rundir, name + ".conf")
    with open(path, "w") as f:
        f.write(conf)
    argv = nginx_argv(ndir, path)
    srv = _start(lab, role, name, argv, rundir, cpus, listens[0][0], listens[0][1], wrap)
    srv["artefacts"][name + "_conf"] = path
    srv["artefacts"][name + "_error_log"] = os.path.join(ndir, "error.log")
    srv["probe"] = listens
    return srv


def haproxy_config(rundir, cores, listen, origins, nofile_limit):
    """haproxy.cfg: `cores` threads (thread i on core i), listening on
    listen (addr, port), forwarding to every (addr, port) of origins."""
    return render("haproxy.cfg.in", {
        "threads": cores, "rundir": rundir, "maxconn": max(1000, nofile_limit // 2 - 100),
        "cpu_map_lines": "\n".join("    cpu-map 1/%d %d" % (i + 1, i) for i in range(cores)),
        "listen": "%s:%d" % listen,
        "server_lines": "\n".join("    server origin%d %s:%d" % (i, a, p)
                                  for i, (a, p) in enumerate(origins))})


def start_haproxy(lab, cell, rundir, origins, wrap=None):
    cores = cell["cores"]
    cfg = haproxy_config(rundir, cores, (lab.addrs["server"], HTTP_PORT), origins, nofile())
    path = os.path.join(rundir, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(cfg)
    argv = ["haproxy", "-db", "-f", path]
    srv = _start(lab, "server", "haproxy", argv, rundir, procs.cpu_list(cores),
                 lab.addrs["server"], HTTP_PORT, wrap)
    srv["artefacts"]["haproxy_conf"] = path
    return srv


def _died(srv):
    rc = srv["proc"].poll()
    if rc is None:
        return None
    return "%s on host %s (pid %d) exited with code %s: %s" % (
        srv["name"], srv["role"], srv["proc"].pid, rc, log_tail(srv["log"]) or "no output")


def check_alive(servers):
    """None if every server runs, else a message naming the dead one."""
    for srv in servers:
        msg = _died(srv)
        if msg:
            return msg
    return None


def wait_accepting(lab, from_role, targets, servers, timeout=10.0, path=None):
    """Wait until every (addr, port) in targets accepts a connection made
    from the namespace of from_role (path: and answers an HTTP GET of it
    with 200: HTTP_PROBE_PATH); fail early if a server dies."""
    for addr, port in targets:
        probe = lab.spawn(from_role, ["/usr/bin/python3", "-c", _PROBE, addr, str(port),
                                      str(timeout)] + ([path] if path else []),
                          name="probe", stderr=subprocess.PIPE)
        try:
            while probe.poll() is None:
                dead = check_alive(servers)
                if dead:
                    raise ServerError(dead)
                time.sleep(0.02)
            if probe.returncode != 0:
                err = probe.stderr.read().decode(errors="replace").strip()
                dead = check_alive(servers)
                raise ServerError(dead or "no server accepting on %s (checked from host %s): %s"
                                  % ("%s:%d" % (addr, port), from_role, err))
        finally:
            lab.stop(probe, timeout=1)
            probe.stderr.close()


def versions(names):
    """Versions of the server programs used, e.g. {"nginx": "1.22.1"}."""
    out = {}
    if "nginx" in names:
        res = procs.run(["nginx", "-v"], check=False)
        out["nginx"] = (res.stderr or res.stdout).strip().rpartition("/")[2]
    if "haproxy" in names:
        res = procs.run(["haproxy", "-v"], check=False)
        first = res.stdout.split("\n", 1)[0].split()
        out["haproxy"] = first[2] if len(first) > 2 else first[-1] if first else "?"
    return out
