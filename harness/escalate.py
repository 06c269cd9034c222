"""Re-running unknown cells, as Pinpoint does: a cell the data cannot decide
gets more repetitions of the candidate, in rounds, until every cell is
decided or a cap is reached (repetitions added per cell, seconds spent).

The new repetitions are real runs of the cell with the code checked out
now, so they are only made when the checkout is the candidate's commit;
they are stored in the candidate run (records r<N>, r<N+1>, ...) next to
its first repetitions, and the run's plan and `escalations` say so.  When
a cap stops them, the cells still unknown are decided (gate.settle): a
no-change night ends "same", not "unknown".
"""
import copy
import os
import time

from . import env as envmod
from . import plan as planmod
from .gate import MIN_REPS, UNDECIDABLE, compare_cells, gated, settle
from .gateconf import METRICS


def _why_not(run):
    """A reason the candidate cannot get more repetitions here, or None."""
    if os.geteuid() != 0:
        return "re-running cells needs root (network namespaces)"
    if run.get("status") not in ("complete", "failed"):
        return f"the candidate run is {run.get('status')}"
    want = (run.get("env") or {}).get("git") or {}
    have = envmod.git_info()
    if not want.get("sha") or want.get("sha") != have.get("sha"):
        return (f"the checkout is at {have.get('short') or 'no commit'}, the "
                f"candidate measured {want.get('short') or 'no commit'}")
    if bool(want.get("dirty")) != bool(have.get("dirty")):
        return ("the checkout's uncommitted changes differ from the "
                "candidate's")
    return None


def _can_help(row):
    """Only statistical metrics with a baseline to compare against gain
    from re-runs (an exact one is unknown when its counts do not repeat,
    which more of them do not mend), and not those that more pairs cannot
    decide at their estimate (gate.decide_paired: "undecidable", the
    run-to-run offset alone keeps them open; they are settled at once)."""
    return row["verdict"] == "unknown" and row["n_base"] >= MIN_REPS \
        and METRICS[row["metric"]][3] == "stat" \
        and not row.get("undecidable")


def time_budget(run, conf):
    """(seconds the re-runs may take, what caps it): escalate_time, or
    less with a job_time, the CI job's slot for the run and its re-runs
    together (a night under load runs 10-13 minutes here instead of 8-9,
    and the re-runs must not push the job past its slot)."""
    cap = conf["escalate_time"]
    name = f"{cap:.0f} s"
    if conf["job_time"]:
        took = (run.get("finished") or 0) - (run.get("started") or 0)
        left = max(0.0, conf["job_time"] - max(0.0, took))
        if left < cap:
            cap, name = left, (f"job_time {conf['job_time']:.0f} s less the "
                               f"run's {took:.0f} s")
    return cap, name


def _new_cells(records, key, n):
    """n more repetitions of a cell; of a cell measured beside the
    reference build, n more pairs (ordered as in the plan)."""
    def of_key(r):
        return (r["cell"]["stack"], r["cell"]["workload"],
                r["cell"]["cores"]) == key
    mine = [r for r in records if gated(r) and of_key(r)]
    twin = next((r["cell"] for r in records if of_key(r)
                 and r["cell"].get("twin") == "reference"
                 and not r["cell"].get("retried_as")), None)
    top = max(r["cell"]["rep"] for r in mine)
    out = []
    for rep in range(top + 1, top + 1 + n):
        pair = []
        for proto in filter(None, (mine[0]["cell"], twin)):
            c = copy.deepcopy(proto)
            c["rep"] = rep
            c["id"] = planmod.cell_id(c["stack"], c["workload"], c["cores"],
                                      rep) + (".reference" if c.get("twin")
                                              else "")
            pair.append(c)
        out += pair if planmod.checkout_first(*key, rep) else pair[::-1]
    return out


def escalate(ctx, rows, run_more):
    """Re-run unknown cells (_escalate); then the metrics that more pairs
    cannot decide are settled (gate.settle), whatever stopped them."""
    rows, records, rep = _escalate(ctx, rows, run_more)
    out = settle(rows, ctx["conf"], UNDECIDABLE, only_undecidable=True)
    n = sum(1 for r in out if r.get("settled") == UNDECIDABLE)
    if n:
        rep["undecidable"] = n
    return out, records, rep


def _escalate(ctx, rows, run_more):
    """Re-run unknown cells; returns (rows, records, report dict).

    ctx: reports_dir, run, records (the candidate's), base_records, conf,
    stream, lab_prefix.  run_more(run, cells) runs cells into the run and
    returns (new records, error)."""
    conf, run = ctx["conf"], ctx["run"]
    records = list(ctx["records"])
    rep = {"rounds": [], "added": 0, "seconds": 0.0,
           "max_reps": conf["escalate_reps"],
           "max_time": conf["escalate_time"], "stopped": None,
           "skipped": None}
    if not any(_can_help(r) for r in rows):
        return rows, records, rep
    if conf["escalate_reps"] == 0:
        rep["skipped"] = "disabled (escalate_reps = 0)"
        return rows, records, rep
    why = _why_not(run)
    if why:
        rep["skipped"] = why
        return rows, records, rep
    added = {}
    budget, cap_name = time_budget(run, conf)
    rep["max_time"] = budget
    t0 = time.monotonic()
    while True:
        keys = sorted(set(tuple(r["key"]) for r in rows if _can_help(r)))
        cells = []
        for key in keys:
            n = min(conf["escalate_step"],
                    conf["escalate_reps"] - added.get(key, 0))
            if n > 0:
                cells += _new_cells(records, key, n)
        if not keys:
            break
        if not cells:
            rep["stopped"] = (f"{conf['escalate_reps']} repetitions added "
                              "per cell")
            break
        left = budget - (time.monotonic() - t0)
        while cells and planmod.estimate_s(cells) > left:
            cells = cells[:-1]
        if not cells:
            rep["stopped"] = f"time cap ({cap_name})"
            break
        run.setdefault("escalations", []).append(
            {"started": time.time(), "cells": [c["id"] for c in cells],
             "why": "unknown cells re-run by tcpscale gate"})
        new, error = run_more(run, cells)
        records += new
        for c in cells:
            if not c.get("twin"):
                key = (c["stack"], c["workload"], c["cores"])
                added[key] = added.get(key, 0) + 1
        rep["rounds"].append({"cells": [c["id"] for c in cells],
                              "ok": sum(r["status"] == "ok" for r in new),
                              "error": error})
        rep["added"] += len(new)
        rows = compare_cells(ctx["base_records"], records, conf)
        if error:
            rep["stopped"] = f"a re-run failed: {error}"
            break
    rep["seconds"] = time.monotonic() - t0
    if rep["stopped"] and not rep["stopped"].startswith("a re-run failed"):
        rows = settle(rows, conf, rep["stopped"])
        rep["settled"] = sum(1 for r in rows if r.get("settled"))
    return rows, records, rep
