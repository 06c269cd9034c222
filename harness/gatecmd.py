"""`tcpscale gate`: the whole gate from stored runs to an exit status.

    res = run_gate(reports_dir, candidate, options, stream, lab_prefix)

Order: settings (defaults < the candidate suite's [gate] table < options),
the database checked, candidate and baseline read, every cell and metric
decided, unknown cells re-run (harness.escalate), then — only then — the
outputs written (summary.md, junit.xml, gate.json in the output folder)
and the verdicts stored in the database.  Any error before that point
leaves every file as it was.
"""
import os
import time

from . import gate, gatedata, gatedb, gateout, store
from .gateconf import (PER_METRIC, GateError, parse_baseline, parse_conf,
                       override)


def settings(cand_run, options):
    """The gate's settings for this candidate; options: {key: value} from
    the command line (None = not given)."""
    where = f"run {cand_run['run_id']}: suite [gate]"
    conf = parse_conf((cand_run.get("suite") or {}).get("gate") or {}, where)
    for key, value in options.items():
        if value is None:
            continue
        values = value if key in PER_METRIC else [value]   # repeatable
        for v in values:
            override(conf, key, v, f"--{key.replace('_', '-')}")
    return conf


def _baseline(reports_dir, conf, cand_run, cand_records):
    kind, arg = parse_baseline(conf["baseline"])
    if kind == "reference":
        if not gate.references(cand_records):
            raise GateError(f"--baseline reference: run {cand_run['run_id']} "
                            "has no cell measured beside a reference build "
                            "(suite reference; ./tcpscale reference save)")
        return {"spec": "reference", "runs": [], "warnings": [],
                "env": []}, []
    if kind == "history":
        return gatedata.history_baseline(reports_dir, cand_run, cand_records,
                                         arg, conf["branch"])
    return gatedata.named_baseline(reports_dir, arg, cand_run)


def _failed_cell_warnings(records):
    bad = [r for r in records if r.get("status") != "ok"]
    return [f"candidate cell {r['cell']['id']} {r.get('status')}: "
            f"{r.get('error') or 'no message'}" for r in bad]


def decide(reports_dir, candidate, options):
    """Everything up to the verdicts, reading only."""
    gatedata.check_database(reports_dir)
    cand_run, cand_records, run_dir = gatedata.load_candidate(reports_dir,
                                                              candidate)
    conf = settings(cand_run, options)
    base, base_records = _baseline(reports_dir, conf, cand_run, cand_records)
    rows = gate.compare_cells(base_records, cand_records, conf)
    return {"conf": conf, "run": cand_run, "run_dir": run_dir,
            "records": cand_records, "base": base,
            "base_records": base_records, "rows": rows}


def run_gate(reports_dir, candidate, options, stream, lab_prefix="tcps",
             output=None):
    from . import escalate, suite
    d = decide(reports_dir, candidate, options)
    ctx = dict(d, reports_dir=reports_dir, stream=stream,
               lab_prefix=lab_prefix)
    rows, records, esc = escalate.escalate(
        ctx, d["rows"], lambda run, cells: suite.run_more(
            run, cells, reports_dir, stream, lab_prefix))
    run, conf = d["run"], d["conf"]
    now = time.time()
    res = {"gate_id": gatedb.next_gate_id(reports_dir, run["run_id"]),
           "created": now, "created_iso": time.strftime(
               "%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
           "candidate": run["run_id"],
           "git": ((run.get("env") or {}).get("git") or {}).get("short"),
           "baseline": {k: v for k, v in d["base"].items() if k != "env"},
           "conf": conf, "rows": rows, "cells": gate.cell_verdicts(rows),
           "verdict": gate.overall(rows), "escalation": esc,
           "warnings": d["base"]["warnings"]
           + gatedata.env_warnings(run, d["base"])
           + _failed_cell_warnings(records)}
    res["exit_code"] = gate.exit_code(rows, conf)
    res["output"] = output or os.path.join(d["run_dir"], "gate",
                                           res["gate_id"])
    write_outputs(res)
    gatedb.save(reports_dir, res)
    return res


def write_outputs(res):
    out = res["output"]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(gateout.format_markdown(res)) + "\n")
    with open(os.path.join(out, "junit.xml"), "w") as f:
        f.write(gateout.format_junit(res))
    store.write_json(os.path.join(out, "gate.json"), res)


__all__ = ["GateError", "run_gate", "decide", "settings"]
