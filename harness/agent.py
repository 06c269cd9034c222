"""The host side of an Ansible lab: start, stop and measure a cell's
processes on one host, by PID, so that nothing is left behind.

The cell role (ansible/roles/tcpscale_cell) calls it on every host with the
host's part of the cell, a JSON spec made by harness.remote:

    {"host": NAME, "role": "server" | "client" | "backend",
     "files": {relative path: text}, "programs": [{"name", "argv", "cpus",
     "ready": [[addr, port], ...]}], "client": {"name", "argv"} or null,
     "measure": [program names], "collectors": bool, "perf_mode": "procs",
     "cpus": "0-1", "ramp_s": s, "runtime_s": s}

In paths, argv and files, @CELL@ stands for the cell's folder on the host
and @TREE@ for the installed tree (the parent of this package).

    python3 -m harness.agent setup DIR < SPEC   # DIR/spec.json, the files, the
                                                # programs in order, each ready
    python3 -m harness.agent window DIR         # client + collectors
    python3 -m harness.agent finish DIR OUT.tar.gz   # stop, then pack DIR
    python3 -m harness.agent stop DIR [--recursive]

DIR/procs.json lists every process started there (name, pid, start time),
so that `stop` (also from a later, cleaning run, or with --recursive over a
whole run) signals exactly those processes and their children.  `window`
follows the measured window the way the local lab does: the collectors of
harness.collect around [ramp, ramp + runtime] on the measured programs, the
client followed to its end; it writes DIR/collectors.json and fails, naming
the host and the program, when a server dies or the client fails.  Each
command prints one JSON line.
"""
import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tarfile
import time

if __package__ in (None, ""):          # run as a file: find the package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness import REPO_ROOT, procs                       # noqa: E402
from harness.collect import Collectors                     # noqa: E402

NOFILE = 1048576
GRACE_S = 10.0


class AgentError(Exception):
    """Something on this host failed; the message names host and program."""


def _host():
    """The inventory name the role passes (hosts may share a hostname)."""
    return os.environ.get("TCPSCALE_AGENT_HOST") or socket.gethostname()


def _table_path(d):
    return os.path.join(d, "procs.json")


def _read_table(d):
    try:
        with open(_table_path(d)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def _write_table(d, table):
    tmp = _table_path(d) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(table, f, indent=1)
    os.replace(tmp, _table_path(d))


def _entry(d, name):
    for e in _read_table(d):
        if e["name"] == name:
            return e
    raise AgentError("no process %r was started in %s" % (name, d))


class HostLab:
    """The one host this agent runs on, with the interface Collectors needs."""

    def __init__(self, role):
        self.role = role

    def exec(self, role, argv, timeout=30, check=True):
        return procs.run(argv, timeout=timeout, check=check)


def _raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, NOFILE), max(hard, NOFILE)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _spawn_watched(argv, cpus, log, rc_path, cwd):
    """Start argv detached, watched by a forked waiter that writes its exit
    code to rc_path (the agent exits at once; the program's pid is returned)."""
    r, w = os.pipe()
    if os.fork() == 0:                  # the waiter
        os.close(r)
        os.setsid()
        try:
            with open(log, "w") as f:
                proc = procs.spawn(argv, cpus=cpus, stdout=f, stderr=subprocess.STDOUT,
                                   cwd=cwd)
            os.write(w, b"%d" % proc.pid)
            os.close(w)
            rc = proc.wait()
        except OSError as e:
            os.write(w, b"error: " + str(e).encode())
            os._exit(1)
        with open(rc_path + ".tmp", "w") as f:
            f.write("%d\n" % rc)
        os.replace(rc_path + ".tmp", rc_path)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        got = f.read().decode()
    if not got.isdigit():
        raise AgentError("cannot start %s on host %s: %s" % (argv[0], _host(), got or "no pid"))
    return int(got)


def _subst(text, d):
    return text.replace("@CELL@", os.path.abspath(d)).replace("@TREE@", REPO_ROOT)


def _spec(d):
    try:
        with open(os.path.join(d, "spec.json")) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise AgentError("%s/spec.json: %s (run `prepare` first)" % (d, e))


def _prepare(d, text):
    """DIR/spec.json and the spec's files, placeholders filled in."""
    try:
        spec = json.loads(_subst(text, d))
    except ValueError as e:
        raise AgentError("the cell's spec is not JSON: %s" % e)
    os.makedirs(d, exist_ok=True)
    for rel, body in spec.get("files", {}).items():
        path = os.path.join(d, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(body)
    with open(os.path.join(d, "spec.json"), "w") as f:
        json.dump(spec, f, indent=1)
    return spec


def _register_self(d, name):
    """This agent command in DIR/procs.json too: a cleaning `stop` from a run
    the controller interrupted ends it (and what it started) first, so it
    cannot start a server, or leave a collector, after the cleaning."""
    pid = os.getpid()
    table = [e for e in _read_table(d) if e["name"] != name]
    _write_table(d, [{"name": name, "pid": pid, "start": procs.start_time(pid), "agent": True,
                      "argv": sys.argv, "log": None, "rc": None}] + table)


def _start_one(d, name, argv, cpus):
    table = _read_table(d)
    if any(e["name"] == name and procs.is_alive(e["pid"], e["start"]) for e in table):
        raise AgentError("%s is already running on host %s (%s)" % (name, _host(), d))
    log = os.path.join(d, name + ".log")
    rc_path = os.path.join(d, name + ".rc")
    if os.path.exists(rc_path):
        os.unlink(rc_path)
    pid = _spawn_watched(argv, cpus, log, rc_path, d)
    entry = {"name": name, "pid": pid, "start": procs.start_time(pid),
             "argv": argv, "log": log, "rc": rc_path}
    _write_table(d, [e for e in table if e["name"] != name] + [entry])
    return entry


def _wait_ready(e, targets, timeout=10.0):
    """Until every (addr, port) accepts a connection from this host; fail
    early, with the program's last words, if it dies."""
    for addr, port in targets:
        deadline = time.monotonic() + timeout
        while True:
            if _exit_code(e, wait=0) is not None or not _alive(e):
                raise AgentError("%s on host %s exited with code %s: %s" % (
                    e["name"], _host(), _exit_code(e), _tail(e["log"]) or "no output"))
            try:
                socket.create_connection((addr, port), timeout=0.5).close()
                break
            except OSError as err:
                if time.monotonic() > deadline:
                    raise AgentError("%s on host %s: nothing accepts on %s:%d after %.0fs (%s)"
                                     % (e["name"], _host(), addr, port, timeout,
                                        err.strerror or err))
                time.sleep(0.02)


def cmd_setup(a):
    """The spec from stdin, its files, then every program of it in order,
    each ready before the next."""
    spec = _prepare(a.dir, sys.stdin.read())
    _register_self(a.dir, "agent-setup")
    _raise_nofile()
    left = 0
    if spec.get("role") == "backend":   # the origins: see harness.workloads
        left = procs.forget_time_wait(lambda argv: procs.run(argv, check=False))
    started = []
    for p in spec.get("programs", []):
        e = _start_one(a.dir, p["name"], p["argv"], p.get("cpus"))
        _wait_ready(e, p.get("ready", []))
        started.append({"name": p["name"], "pid": e["pid"]})
    return {"changed": bool(started), "started": started, "time_wait_left": left}


def _exit_code(e, wait=2.0):
    """The exit code the waiter wrote, None while it runs (or if unknown)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with open(e["rc"]) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _tail(path, n=5):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(l.strip() for l in f.read().splitlines()[-n:] if l.strip())
    except OSError:
        return ""


def _alive(e):
    return procs.is_alive(e["pid"], e["start"])


def _dead_server(d, names):
    for name in names:
        e = _entry(d, name)
        if not _alive(e):
            return "%s on host %s (pid %d) is not running: %s" % (
                name, _host(), e["pid"], _tail(e["log"]) or "no output")
    return None


def _wait_accepting(addr, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((addr, port), timeout=0.5).close()
            return
        except OSError as err:
            if time.monotonic() > deadline:
                raise AgentError("host %s: the server %s:%d does not accept after %.0fs (%s)"
                                 % (_host(), addr, port, timeout, err.strerror or err))
            time.sleep(0.02)


def cmd_window(a):
    """Collectors on [ramp, ramp + runtime]; the client followed to its end."""
    spec = _spec(a.dir)
    _register_self(a.dir, "agent-window")
    measure = spec.get("measure", [])
    coll = Collectors(HostLab(spec["role"]), a.dir, spec["role"],
                      enabled=bool(spec.get("collectors", True)), roles=[spec["role"]],
                      perf_mode=spec.get("perf_mode", "procs"), cpus=spec.get("cpus"))
    client = None
    for addr, port in spec.get("wait_for", []):
        _wait_accepting(addr, port)
    if spec.get("client"):
        _raise_nofile()
        client = _start_one(a.dir, spec["client"]["name"], spec["client"]["argv"], None)
    ramp, runtime = float(spec["ramp_s"]), float(spec["runtime_s"])
    t0 = time.monotonic()
    w0, w1 = t0 + ramp, t0 + ramp + runtime
    hard = w1 + GRACE_S + 0.5 * runtime
    started, error = False, None
    while True:
        now = time.monotonic()
        if not started and now >= w0:
            coll.start([_entry(a.dir, n)["pid"] for n in measure])
            started = True
        if started and now >= w1:
            coll.stop()
            if client is None:
                break
        error = _dead_server(a.dir, measure)
        if error:
            break
        if client is not None and not _alive(client):
            break
        if now > hard:
            error = "%s on host %s still running %.0fs after ramp + runtime" % (
                client["name"], _host(), now - w1)
            break
        time.sleep(0.05)
    coll.stop()
    summary = coll.summary()
    with open(os.path.join(a.dir, "collectors.json"), "w") as f:
        json.dump({"summary": summary, "artefacts": coll.artefacts()}, f, indent=1)
    if client is not None and error is None:
        status = _client_status(client)
        if status:
            error = "%s on host %s %s: %s" % (client["name"], _host(), status,
                                              _tail(client["log"], 3) or "no output")
    if error:
        raise AgentError(error)
    return {"changed": False, "window_s": summary.get("window_s")}


def _client_status(e):
    """Why a finished client failed ("" if it exited 0)."""
    rc = _exit_code(e)
    if rc is None:
        return "ended without an exit code"
    return "" if rc == 0 else "exited with code %d" % rc


def _cell_dirs(d, recursive):
    if not recursive:
        return [d]
    return sorted(root for root, _dirs, files in os.walk(d) if "procs.json" in files)


def cmd_stop(a):
    """Stop the processes started in DIR (every cell folder under it with
    --recursive): agent commands still running first, then the programs,
    last started first, then whatever they left."""
    sig = {"INT": signal.SIGINT, "TERM": signal.SIGTERM}[a.signal]
    stopped = {}
    for d in _cell_dirs(a.dir, a.recursive):
        table = _read_table(d)
        for e in [e for e in table if e.get("agent")] + \
                [e for e in reversed(table) if not e.get("agent")]:
            if not _alive(e):
                continue
            tree = [(p, procs.start_time(p)) for p in procs.descendants([e["pid"]])]
            procs.stop(e["pid"], e["start"], sig=sig, timeout=a.timeout)
            for p, st in tree:
                procs.kill_tree(p, st, timeout=1)
            stopped["%s/%s" % (os.path.basename(d), e["name"])] = e["pid"]
    return {"changed": bool(stopped), "stopped": stopped}


def _wait_exit_codes(d, timeout):
    """Until the waiter of every program started in DIR has written its exit
    code (it does so just after the program ends, while stop returns)."""
    deadline = time.monotonic() + timeout
    for e in _read_table(d):
        while e.get("rc") and not os.path.exists(e["rc"]) and time.monotonic() < deadline:
            time.sleep(0.02)


def cmd_finish(a):
    """Stop the cell's processes, then pack the cell's folder for one fetch."""
    out = cmd_stop(argparse.Namespace(dir=a.dir, recursive=False, signal="TERM",
                                      timeout=5.0))
    os.makedirs(a.dir, exist_ok=True)
    _wait_exit_codes(a.dir, timeout=5.0)
    with tarfile.open(a.out, "w:gz") as tar:
        for name in sorted(os.listdir(a.dir)):
            path = os.path.join(a.dir, name)
            # a waiter's half-written exit code (NAME.rc.tmp) may vanish under us
            if os.path.abspath(path) != os.path.abspath(a.out) and not name.endswith(".tmp"):
                tar.add(path, arcname=name)
    out["archive"] = a.out
    return out


def build_parser():
    p = argparse.ArgumentParser(prog="harness.agent")
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("setup", "window"):
        sub.add_parser(name).add_argument("dir")
    t = sub.add_parser("stop")
    t.add_argument("dir")
    t.add_argument("--recursive", action="store_true")
    t.add_argument("--signal", default="TERM", choices=("INT", "TERM"))
    t.add_argument("--timeout", type=float, default=5.0)
    k = sub.add_parser("finish")
    k.add_argument("dir")
    k.add_argument("out")
    return p


COMMANDS = {"setup": cmd_setup, "window": cmd_window, "finish": cmd_finish,
            "stop": cmd_stop}


def main(argv=None):
    a = build_parser().parse_args(argv)
    try:
        out = COMMANDS[a.command](a)
    except (AgentError, procs.ProcError, OSError) as e:
        print(json.dumps({"failed": True, "msg": str(e)}))
        print("agent %s: %s" % (a.command, e), file=sys.stderr)
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
