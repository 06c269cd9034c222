"""The `refstack:SET` stack: the reference stack owns the server host's
client-facing interface (the kernel address is taken off it for the cell,
as in refstack's interop lab), with feature set SET.

The servers are the same programs as on linux, started through the refstack
launcher `refstack/rs-run` once it is built; until then shortconn runs on
refstack's native crr server (`rs-crrd`) and the other workloads are
reported cannot-run, cell by cell.  nginx runs one worker process per
core (worker_processes N under rs-run --cores N: the shim makes forked
workers cores of one stack).  Every record says which server ran
(tuning.server.program and tuning.refstack.server).
"""

import contextlib
import functools
import json
import os
import re
import subprocess

from harness import REPO_ROOT, procs
from harness.registry import RSCTL, WORKLOADS, split
from harness.workloads import linux
from harness.workloads import servers as S

RS_RUN = os.path.join(REPO_ROOT, "refstack", "rs-run")
# a cell's "refstack": another build's shim folder (a reference build's)
RS_CRRD = os.path.join(REPO_ROOT, "refstack", "build", "apps", "rs-crrd")
NO_SHIM = "refstack shim (refstack/rs-run) not built"
# refstack must never get a frame longer than the MTU (the interop lab's
# ns_offloads); the lab then turns them off for every stack of the run
NEEDS_OFFLOADS_OFF = True
# haproxy's origins must be reachable through the one interface refstack
# owns: the plan asks the lab for one L2 segment (lab.py, one_segment)
ONE_SEGMENT_WORKLOADS = ("haproxy",)


def _rel(path):
    rel = os.path.relpath(path, REPO_ROOT)
    return path if rel.startswith("..") else rel


def feature_set(cell):
    return split(cell["stack"])[1]


@functools.lru_cache(maxsize=None)
def _options_of(path, mtime):
    """The --options a refstack app lists in its --help."""
    try:
        p = subprocess.run([path, "--help"], capture_output=True, text=True,
                           timeout=10)
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(re.findall(r"^\s+(--[a-z][a-z0-9-]*)", p.stdout, re.M))


def app_options(path):
    try:
        return _options_of(path, os.stat(path).st_mtime)
    except OSError:
        return frozenset()


def rs_run(cell=None):
    """The launcher of the cell's build: its "refstack" folder's (a
    reference build, harness.reference), else the checkout's."""
    own = (cell or {}).get("refstack")
    return os.path.join(own, "rs-run") if own else RS_RUN


def has_shim(cell=None):
    return os.access(rs_run(cell), os.X_OK)


def _native_cannot_run(cell):
    if cell["workload"] != "shortconn":
        return (f"{NO_SHIM}; without it only shortconn runs on refstack "
                "(on the native rs-crrd)")
    if not os.access(RS_CRRD, os.X_OK):
        return f"{_rel(RS_CRRD)} is not built (run: make -C refstack)"
    opts = app_options(RS_CRRD)
    if feature_set(cell) != "base" and "--features" not in opts:
        return (f"{_rel(RS_CRRD)} takes no --features in this build (no "
                "feature switches yet): only refstack:base can run")
    if cell["cores"] > 1 and "--cores" not in opts:
        return (f"{_rel(RS_CRRD)} runs one core in this build (no --cores): "
                f"{cell['cores']} server cores cannot run")
    return None


def cannot_run(cell):
    if has_shim(cell):
        return None
    if cell.get("refstack"):
        return f"{rs_run(cell)} is missing (the reference build's shim)"
    return _native_cannot_run(cell)


def missing_workload(workload):
    return "no refstack server for it"


# -- the lab: refstack owns the server's client-facing interface -------------------
def server_iface(lab):
    """The server host's client-facing interface (its end of the client link)."""
    return next(db for ra, da, rb, db in lab.names["links"]
                if ra == "client" and rb == "server")


@contextlib.contextmanager
def cell_lab(lab, cell):
    """Take the kernel address off the interface for the cell, so that the
    kernel there never answers ARP or TCP for it; give it back after."""
    dev, addr = server_iface(lab), lab.addrs["server"] + "/24"
    lab.exec("server", ["ip", "addr", "del", addr, "dev", dev])
    try:
        yield
    finally:
        lab.exec("server", ["ip", "addr", "add", addr, "dev", dev], check=False)


# -- servers ----------------------------------------------------------------------
def launcher(lab, cell):
    """The rs-run argv in front of an unmodified server."""
    return [rs_run(cell), "--if", server_iface(lab), "--ip", lab.addrs["server"] + "/24",
            "--features", feature_set(cell), "--cores", str(cell["cores"]),
            "--"]


def _crrd_start(lab, cell, rundir, job_path, servers):
    """shortconn on the native crr server (one server logic, refstack API)."""
    sizes = linux.server_sizes(cell, job_path)
    port = WORKLOADS[cell["workload"]].port
    argv = [RS_CRRD, "--stack", "refstack", "--if", server_iface(lab),
            "--ip", lab.addrs["server"], "--prefix", "24", "--port", str(port),
            "--req", sizes["req_size"], "--resp", sizes["resp_size"]]
    opts = app_options(RS_CRRD)
    if "--features" in opts:
        argv += ["--features", feature_set(cell)]
    if "--cores" in opts:
        argv += ["--cores", str(cell["cores"])]
    srv = S._start(lab, "server", "rs-crrd", argv, rundir,
                   procs.cpu_list(cell["cores"]), lab.addrs["server"], port)
    servers.append(srv)
    S.wait_accepting(lab, "client", [(srv["addr"], port)], [srv])
    settings = {"program": "rs-crrd (refstack's native crr server; the shim "
                           "is not built)",
                "engine": "crr", "threads": cell["cores"],
                "argv": " ".join(_rel(a) if a.startswith(REPO_ROOT) else a
                                 for a in argv)}
    settings.update(sizes)
    return [srv], settings


def _via_shim(start):
    def run(lab, cell, rundir, job_path, servers):
        under_test, settings = start(lab, cell, rundir, job_path, servers)
        settings["launcher"] = " ".join([_rel(rs_run(cell))] + launcher(lab, cell)[1:-1])
        return under_test, settings
    return run


def _one_segment(start):
    def run(lab, cell, rundir, job_path, servers):
        if not getattr(lab, "one_segment", False):
            raise S.ServerError("haproxy on refstack needs the origins on the "
                                "client's segment (Lab(one_segment=True)); this "
                                "lab has them behind the server's second link")
        return start(lab, cell, rundir, job_path, servers)
    return run


_SHIM = {"shortconn": _via_shim(linux.tsload_server("crr", launcher)),
         "keepalive": _via_shim(linux.tsload_server("rr", launcher)),
         "nginx": _via_shim(linux.nginx(launcher)),
         "haproxy": _via_shim(_one_segment(linux.haproxy(launcher)))}


def _start(workload):
    def start(lab, cell, rundir, job_path, servers):
        if has_shim(cell):
            return _SHIM[workload](lab, cell, rundir, job_path, servers)
        return _crrd_start(lab, cell, rundir, job_path, servers)
    return start


SERVERS = {w: _start(w) for w in WORKLOADS}


def tuning(lab, cell, settings):
    out = linux.tuning(lab, cell, settings)
    out["refstack"] = {
        "features": feature_set(cell),
        "server": "shim (refstack/rs-run)" if settings.get("launcher")
        else "native (rs-crrd)" if settings else None,
        "interface": server_iface(lab), "address": lab.addrs["server"],
        "kernel_address_on_interface": False}
    return out


# -- the stack's own counters (rsctl) ------------------------------------------------
def parse_rsctl(text, pids):
    """`rsctl --json counters` -> counters summed over every core of the
    instances whose pid is in pids, and the per-core counters."""
    data = json.loads(text)
    total, per_core = {}, []
    for inst in data.get("instances", []):
        if inst.get("pid") not in pids:
            continue
        for core in inst.get("cores", []):
            cnt = core.get("counters") or {}
            per_core.append({"pid": inst["pid"], "core": core.get("core"),
                             "counters": cnt})
            for k, v in cnt.items():
                if isinstance(v, (int, float)):
                    total[k] = total.get(k, 0) + v
    return {"counters": total, "per_core": per_core}


def counters(servers):
    """A snapshot of the servers' refstack counters, or None."""
    pids = set(procs.descendants([s["proc"].pid for s in servers]))
    try:
        p = subprocess.run([RSCTL, "--json", "--all", "counters"],
                           capture_output=True, text=True, timeout=10)
        snap = parse_rsctl(p.stdout, pids)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        return {"error": f"rsctl: {e}"}
    if not snap["per_core"]:
        return {"error": "rsctl found no statistics segment of the server "
                         f"(pids {sorted(pids)}): {p.stderr.strip()[:200]}"}
    return snap
