"""Collector overhead: the same cell with collectors on and off, alternated.

    /usr/bin/python3 -m harness.workloads.overhead [--workload shortconn]
        [--stack linux] [--cores N] [--pairs 6] [--runtime 5] [--ramp 1]
        [--profiler record|lock] [--out DIR]

Pairs alternate their order (on,off then off,on ...) so that a drift of the
machine does not favour one side.  With --profiler P the pair is the
collectors with perf profiler P against the collectors alone: the cost of
that profiler by itself.  Prints per-pair ratios on/off of the
connection rate, their median and range: a ratio below 1 is what the
collectors cost.  For the tsload-server workloads (shortconn, keepalive) it
also compares the server's own CPU time per transaction (from the server's
JSON), which other load on the machine disturbs much less than the rate.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

from harness import plan, registry
from harness.lab import Lab
from harness.workloads import run_cell


def _cell(workload, cores, runtime, ramp, on, i, perf_mode="procs", stack="linux",
          profiler=None):
    """The on or off cell of pair i; with a profiler, both have collectors
    and only the on cell runs the profiler."""
    cell = {"perf_mode": perf_mode,
            "id": "overhead.%s.%s.c%d.%d.%s" % (registry.slug(stack), workload, cores, i,
                                               "on" if on else "off"),
            "stack": stack, "workload": workload, "cores": cores, "rep": i,
            "runtime_s": runtime, "ramp_s": ramp, "job": "profiles/jobs/%s.ini" % workload,
            "job_options": {}, "collectors": bool(on or profiler)}
    if profiler and on:
        cell["profilers"] = [profiler]
    return cell


def _server_us_per_txn(res, outdir):
    """Server CPU per transaction: the tsload server's own account, else the
    collectors' (server processes' CPU over the window, e.g. rs-crrd)."""
    rel = res["artefacts"].get("tsload_server")
    if not rel:
        procs = res["collectors"].get("procs") or {}
        conns = (res["tsload"]["jobs"][0].get("connections") or 0)
        if "user_s" in procs and conns:
            return 1e6 * (procs["user_s"] + procs["sys_s"]) / conns
        return None
    try:
        with open(os.path.join(outdir, rel)) as f:
            job = json.load(f)["jobs"][0]
        return 1e6 * (job["cpu"]["user_s"] + job["cpu"]["sys_s"]) / job["transactions"]
    except (OSError, ValueError, KeyError, IndexError, ZeroDivisionError):
        return None


def _measure_one(res, outdir):
    """{"tps", "srv_us", "cost"} of one finished cell."""
    if res["status"] != "ok":
        raise SystemExit("overhead: %s" % res["error"])
    coll = res["collectors"]
    cost = None
    if coll.get("cost"):
        cost = ((coll["cost"]["perf_cpu_s"] or 0.0) / coll["window_s"],
                coll["cost"]["snapshots_wall_s"])
    return {"tps": res["tsload"]["jobs"][0]["tps"], "srv_us": _server_us_per_txn(res, outdir),
            "cost": cost}


def measure(lab, workload, cores, pairs, runtime, ramp, outdir, perf_mode="procs",
            stack="linux", profiler=None):
    """[{True: on-cell, False: off-cell}] for `pairs` alternated pairs."""
    out = []
    for i in range(pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        pair = {}
        for on in order:
            res = run_cell(lab, _cell(workload, cores, runtime, ramp, on, i, perf_mode,
                                      stack, profiler), outdir)
            pair[on] = _measure_one(res, outdir)
        out.append(pair)
        line = "pair %d: on %.0f/s off %.0f/s ratio %.3f" % (
            i, pair[True]["tps"], pair[False]["tps"], pair[True]["tps"] / pair[False]["tps"])
        if pair[True]["srv_us"] and pair[False]["srv_us"]:
            line += "; server CPU/txn on %.1f us off %.1f us" % (
                pair[True]["srv_us"], pair[False]["srv_us"])
        print(line, flush=True)
    return out


def _spread(values, fmt):
    v = sorted(values)
    return ("median " + fmt + ", min " + fmt + ", max " + fmt) % (
        statistics.median(v), v[0], v[-1])


def summary_lines(pairs, workload, cores, runtime, perf_mode="procs", stack="linux",
                  profiler=None):
    what = ("perf %s (on: collectors + perf %s; off: collectors alone)" % (profiler, profiler)
            if profiler else "collector overhead")
    lines = ["%s, %s %s at %d core(s), %d pairs of %gs cells "
             "(on/off alternated, perf stat on %s):" % (what, stack, workload, cores,
                                                       len(pairs), runtime, perf_mode),
             "  rate ratio on/off: " + _spread([p[True]["tps"] / p[False]["tps"]
                                                for p in pairs], "%.3f"),
             "  rate on: median %.0f/s; off: median %.0f/s" % (
                 statistics.median(p[True]["tps"] for p in pairs),
                 statistics.median(p[False]["tps"] for p in pairs))]
    srv = [p[True]["srv_us"] / p[False]["srv_us"] for p in pairs
           if p[True]["srv_us"] and p[False]["srv_us"]]
    if srv:
        lines.append("  server CPU per transaction, ratio on/off: " + _spread(srv, "%.3f"))
    costs = [p[True]["cost"] for p in pairs if p[True]["cost"]]
    if costs:
        lines.append("  perf stat's own CPU: median %.2f%% of one core; snapshots: median "
                     "%.0f ms (outside the window)" % (
                         100 * statistics.median(c[0] for c in costs),
                         1000 * statistics.median(c[1] for c in costs)))
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(prog="overhead", description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", default="shortconn")
    ap.add_argument("--stack", default="linux", help="linux or refstack:SET")
    ap.add_argument("--profiler", choices=sorted(plan.PROFILER_OVERHEAD_S),
                    help="measure this perf profiler's cost alone")
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--runtime", type=float, default=5.0)
    ap.add_argument("--ramp", type=float, default=1.0)
    ap.add_argument("--prefix", default="tcps-ov")
    ap.add_argument("--out", default=None)
    ap.add_argument("--perf-mode", choices=("procs", "cpus"), default="procs",
                    help="perf stat on the server processes or on the cores under test")
    a = ap.parse_args(argv)
    outdir = a.out or tempfile.mkdtemp(prefix="tcps-overhead-")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    stack = registry.parse_stack(a.stack)
    offloads_off = getattr(registry.adapter(stack), "NEEDS_OFFLOADS_OFF", False)
    with Lab(a.cores, prefix=a.prefix, offloads_off=offloads_off) as lab:
        pairs = measure(lab, a.workload, a.cores, a.pairs, a.runtime, a.ramp, outdir,
                        a.perf_mode, stack, a.profiler)
    print("\n".join(["%s (started %s, raw data in %s)" % (" ".join(sys.argv), started, outdir)]
                    + summary_lines(pairs, a.workload, a.cores, a.runtime, a.perf_mode,
                                    stack, a.profiler)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
