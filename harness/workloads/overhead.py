"""Collector overhead: the same cell with collectors on and off, alternated.

    /usr/bin/python3 -m harness.workloads.overhead [--workload shortconn]
        [--cores N] [--pairs 6] [--runtime 5] [--ramp 1] [--out DIR]

Pairs alternate their order (on,off then off,on ...) so that a drift of the
machine does not favour one side.  Prints per-pair ratios on/off of the
connection rate, their median and range: a ratio below 1 is what the
collectors cost.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

from harness.lab import Lab
from harness.workloads import run_cell


def _cell(workload, cores, runtime, ramp, collectors, i):
    return {"id": "overhead.%s.c%d.%d.%s" % (workload, cores, i, "on" if collectors else "off"),
            "stack": "linux", "workload": workload, "cores": cores, "rep": i,
            "runtime_s": runtime, "ramp_s": ramp, "job": "profiles/jobs/%s.ini" % workload,
            "job_options": {}, "collectors": collectors}


def _rate(res):
    if res["status"] != "ok":
        raise SystemExit("overhead: %s" % res["error"])
    return res["tsload"]["jobs"][0]["tps"]


def measure(lab, workload, cores, pairs, runtime, ramp, outdir):
    """[(tps_on, tps_off)] for `pairs` alternated pairs."""
    out = []
    for i in range(pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        tps = {}
        for on in order:
            tps[on] = _rate(run_cell(lab, _cell(workload, cores, runtime, ramp, on, i), outdir))
        out.append((tps[True], tps[False]))
        print("pair %d: on %.0f/s off %.0f/s ratio %.3f" % (
            i, tps[True], tps[False], tps[True] / tps[False]), flush=True)
    return out


def summary_lines(pairs, workload, cores, runtime):
    ratios = sorted(on / off for on, off in pairs)
    return ["collector overhead, %s at %d core(s), %d pairs of %gs cells (on/off alternated):"
            % (workload, cores, len(pairs), runtime),
            "  ratio on/off: median %.3f, min %.3f, max %.3f" % (
                statistics.median(ratios), ratios[0], ratios[-1]),
            "  tps on: median %.0f; tps off: median %.0f" % (
                statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs))]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="overhead", description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", default="shortconn")
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--runtime", type=float, default=5.0)
    ap.add_argument("--ramp", type=float, default=1.0)
    ap.add_argument("--prefix", default="tcps-ov")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    outdir = a.out or tempfile.mkdtemp(prefix="tcps-overhead-")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with Lab(a.cores, prefix=a.prefix) as lab:
        pairs = measure(lab, a.workload, a.cores, a.pairs, a.runtime, a.ramp, outdir)
    print("\n".join(["%s (started %s, raw data in %s)" % (" ".join(sys.argv), started, outdir)]
                    + summary_lines(pairs, a.workload, a.cores, a.runtime)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
