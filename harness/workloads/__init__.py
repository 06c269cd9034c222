"""Workloads: run one cell (stack, workload, cores, repetition) in the lab.

    result = run_cell(lab, cell, outdir, on_interval=None)

starts the server(s) of the workload on the cell's stack (its adapter in
harness.registry) pinned to cores 0..cores-1, waits until they accept, runs
the tsload client in the client host with the collectors around the
measured window, stops everything by PID and returns a plain dict:

    {"status": "ok" | "error" | "interrupted" | "cannot-run",
     "error": None or a message naming the cell and the host,
     "tsload": tsload's JSON (None if it wrote none),
     "collectors": see harness.collect ({} when cell["collectors"] is False),
     "tuning": what shapes the numbers (pinning, lab sysctls, offloads, server settings),
     "servers": {"nginx": "1.22.1", ...},
     "artefacts": {name: path relative to outdir}}

"cannot-run": this stack cannot run this workload here (the error says
why: a program not built, a feature missing); nothing was started.
A KeyboardInterrupt inside run_cell stops everything and returns status
"interrupted" with whatever tsload measured; the caller then stops the run.
"""

import os
import shutil
import signal
import sys
import time

from harness import procs, registry
from harness.collect import Collectors
from harness.workloads import servers as S
from harness.workloads.client import ClientRun, client_argv
from harness import REPO_ROOT

WORKLOADS = tuple(registry.WORKLOADS)
PORTS = {name: w.port for name, w in registry.WORKLOADS.items()}
SERVER_PROGRAMS = {"shortconn": [], "keepalive": [], "nginx": ["nginx"],
                   "haproxy": ["haproxy", "nginx"]}
CELL_KEYS = ("id", "stack", "workload", "cores", "runtime_s", "ramp_s", "job")
GRACE_S = 10.0        # how long past ramp + runtime tsload may take to finish


class CellError(Exception):
    """A cell that cannot run at all (bad cell)."""


class CannotRun(Exception):
    """This stack cannot run this workload here; the message says why."""


# -- checks ---------------------------------------------------------------------
def _job_path(job):
    if os.path.isabs(job) or os.path.exists(job):
        return os.path.abspath(job)
    return os.path.join(REPO_ROOT, job)


def check_cell(lab, cell):
    """Raise CellError if the cell cannot run in this lab."""
    missing = [k for k in CELL_KEYS if k not in cell]
    if missing:
        raise CellError("cell %s: missing %s" % (cell.get("id", "?"), ", ".join(missing)))
    cid = cell["id"]
    if cell["workload"] not in WORKLOADS:
        raise CellError("cell %s: unknown workload %r (one of %s)"
                        % (cid, cell["workload"], ", ".join(WORKLOADS)))
    ncpu = os.cpu_count() or 1
    if not isinstance(cell["cores"], int) or not 1 <= cell["cores"] <= min(ncpu, lab.cores):
        raise CellError("cell %s: cores=%r, expected 1..%d (machine %d, lab %d)"
                        % (cid, cell["cores"], min(ncpu, lab.cores), ncpu, lab.cores))
    if not os.path.exists(_job_path(cell["job"])):
        raise CellError("cell %s: job file %s not found" % (cid, cell["job"]))
    tsload = S.tsload_of(cell)
    if not os.access(tsload, os.X_OK):
        raise CellError("cell %s: %s not built (run: make -C loadgen%s)"
                        % (cid, tsload, ", then ./tcpscale reference save"
                           if cell.get("tsload") else ""))
    why = registry.cannot_run(cell)
    if why:
        raise CannotRun("cell %s: cannot run: %s" % (cid, why))


# -- the measured window ----------------------------------------------------------
def _measure(cell, client, servers, under_test, coll):
    """Follow tsload through ramp and runtime; collectors on the window.
    Returns (status, error)."""
    cid = cell["id"]
    t0 = time.monotonic()
    w0, w1 = t0 + cell["ramp_s"], t0 + cell["ramp_s"] + cell["runtime_s"]
    hard = w1 + GRACE_S + 0.5 * cell["runtime_s"]
    started = False
    while client.poll() is None:
        now = time.monotonic()
        if not started and now >= w0:
            coll.start([s["proc"].pid for s in under_test], under_test)
            started = True
        if started and now >= w1:
            coll.stop()
        dead = S.check_alive(servers)
        if dead:
            client.stop(signal.SIGINT, 5)
            return "error", "cell %s: %s" % (cid, dead)
        if now > hard:
            client.stop(signal.SIGINT, 5)
            return "error", "cell %s: tsload on host client still running %.0fs after " \
                "ramp + runtime; stopped" % (cid, now - w1)
        time.sleep(0.05)
    coll.stop()
    rc = client.poll()
    if rc != 0:
        return "error", "cell %s: tsload on host client exited with code %s: %s" % (
            cid, rc, client.stderr_tail() or "no message")
    return "ok", None


def _stop_all(lab, client, servers):
    codes = {}
    if client is not None:                # SIGINT: tsload writes its JSON
        client.stop(signal.SIGINT, 5)
    for srv in reversed(servers):
        codes[srv["name"]] = lab.stop(srv["proc"], sig=signal.SIGTERM, timeout=5)
    if client is not None:
        client.finish()
    strays = lab.reap_strays()
    if strays:
        codes["strays_killed"] = strays
    return codes


def _artefacts(outdir, paths):
    out = {}
    for name, path in paths.items():
        if path and os.path.exists(path):
            out[name] = os.path.relpath(path, outdir)
    return out


def _finish_result(result, cell, client, coll, outdir, paths):
    """Fill tsload, collectors and artefacts into result (also after errors)."""
    if client is not None:
        data, why = client.result()
        result["tsload"] = data
        if data is None and result["status"] == "ok":
            result["status"], result["error"] = "error", "cell %s: %s" % (cell["id"], why)
        if data is not None and result["status"] == "ok":
            jobs = data.get("jobs") or [{}]
            if not jobs[0].get("transactions"):
                result["status"] = "error"
                result["error"] = "cell %s: tsload completed no transaction (errors: %s)" % (
                    cell["id"], jobs[0].get("errors"))
        if client.callback_error:
            result["progress_callback_error"] = client.callback_error
    result["collectors"] = coll.summary()
    paths.update({k: os.path.join(outdir, v) for k, v in coll.artefacts().items()})
    result["artefacts"] = _artefacts(outdir, paths)


def _cannot_run(cell, why):
    return {"status": "cannot-run", "error": why, "tsload": None, "collectors": {},
            "tuning": {"stack": cell.get("stack")}, "servers": {}, "artefacts": {}}


def run_cell(lab, cell, outdir, on_interval=None):
    """Run one cell; see the module docstring for the result."""
    own = registry.own_runner(cell.get("workload"))
    if own:                      # no lab (memif: callgrind on refstack)
        return own.run_cell(cell, outdir)
    try:
        check_cell(lab, cell)
    except CannotRun as e:
        return _cannot_run(cell, str(e))
    cid = cell["id"]
    os.makedirs(outdir, exist_ok=True)
    rundir = os.path.join(outdir, cid + ".run")
    shutil.rmtree(rundir, ignore_errors=True)
    os.makedirs(rundir)
    outfile = os.path.join(outdir, cid + ".tsload.json")
    if os.path.exists(outfile):
        os.unlink(outfile)
    stack = registry.adapter(cell["stack"])
    result = {"status": "ok", "error": None, "tsload": None, "collectors": {},
              "tuning": None, "servers": S.versions(SERVER_PROGRAMS[cell["workload"]]),
              "artefacts": {}}
    coll = Collectors(lab, outdir, cid, enabled=bool(cell.get("collectors", True)),
                      perf_mode=cell.get("perf_mode", "procs"),
                      cpus=procs.cpu_list(cell["cores"]),
                      profilers=cell.get("profilers", ()), stack_counters=stack.counters)
    state = {"client": None, "servers": [], "paths": {"tsload": outfile}}
    try:
        with stack.cell_lab(lab, cell), S.staged(cell, rundir, outfile) as seen:
            _run_servers_and_client(lab, seen, stack, on_interval, coll, result,
                                    state, outfile)
    except procs.ProcError as e:          # the lab could not be changed for the cell
        result["status"], result["error"] = "error", "cell %s: lab: %s" % (cid, e)
    if result["tuning"] is None:
        result["tuning"] = stack.tuning(lab, cell, {})
    _finish_result(result, cell, state["client"], coll, outdir, state["paths"])
    return result


_TIME_WAIT_WARNED = []


def _forget_time_wait(lab, result):
    """The backend host (the origins: the one host the server's stack
    connects to) starts the cell without the previous cells' TIME_WAIT
    sockets (procs.forget_time_wait); what its kernel could not destroy is
    recorded in the result and said once."""
    left = procs.forget_time_wait(lambda argv: lab.exec("backend", argv, check=False))
    if left:
        result["time_wait_left"] = left
        if not _TIME_WAIT_WARNED:
            _TIME_WAIT_WARNED.append(True)
            print("tcpscale: warning: the backend host's kernel keeps %d TIME_WAIT sockets "
                  "through `ss -K`: a cell's connections to the origins may meet the previous "
                  "cell's" % left, file=sys.stderr)


def _run_servers_and_client(lab, seen, stack, on_interval, coll, result, state,
                            outfile):
    """Start the servers, run tsload with the collectors, stop everything;
    fills result and state (client, servers, artefact paths).  seen: (cell,
    rundir, tsload's output) as the programs see them (servers.staged);
    outfile: where that output is read from afterwards."""
    cell, rundir, out_at = seen
    cid = cell["id"]
    job_path = _job_path(cell["job"])
    servers = state["servers"]
    try:
        _forget_time_wait(lab, result)
        under_test, settings = stack.SERVERS[cell["workload"]](lab, cell, rundir,
                                                               job_path, servers)
        result["tuning"] = stack.tuning(lab, cell, settings)
        argv = client_argv(cell, job_path, lab.addrs["server"], PORTS[cell["workload"]],
                           out_at, S.tsload_of(cell))
        state["client"] = ClientRun(lab, cell, argv, outfile, on_interval)
        result["status"], result["error"] = _measure(cell, state["client"], servers,
                                                     under_test, coll)
    except KeyboardInterrupt:
        result["status"] = "interrupted"
        result["error"] = "cell %s interrupted (Ctrl-C or SIGTERM); kept what was measured" % cid
    except S.ServerError as e:
        result["status"], result["error"] = "error", "cell %s: %s" % (cid, e)
    except ValueError as e:        # a job option the harness refuses
        msg = str(e)
        result["status"] = "error"
        result["error"] = msg if msg.startswith("cell ") else "cell %s: %s" % (cid, msg)
    finally:
        coll.stop()
        for srv in servers:
            state["paths"].update({k: S.unstage(cell, v)
                                   for k, v in srv["artefacts"].items()})
        try:
            result["server_exit"] = _stop_all(lab, state["client"], servers)
        except KeyboardInterrupt:       # a second Ctrl-C: finish stopping anyway
            result["status"] = "interrupted"
            result["server_exit"] = _stop_all(lab, state["client"], servers)
