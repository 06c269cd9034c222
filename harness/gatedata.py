"""What the gate compares: the candidate run and its baseline, read from the
run folders and reports/results.sqlite.  Read only: nothing here writes.

A baseline is a named run, or the history of the candidate's cells: per
cell, the last K runs before the candidate of the same suite on the same
host and the baseline branch that have an "ok" repetition of that cell.
"""
import json
import os

from . import analyze, store
from .gateconf import GateError


def check_database(reports_dir):
    """Fail early (before anything is written) on an unreadable database."""
    if os.path.exists(store.db_path(reports_dir)):
        with store.open_db(reports_dir) as db:
            db.execute("SELECT count(*) FROM runs").fetchone()


def load_candidate(reports_dir, ref):
    run, records, run_dir = store.load_run(reports_dir, ref)
    if not records:
        raise GateError(f"candidate run {run['run_id']} has no records")
    return run, records, run_dir


def named_baseline(reports_dir, ref, cand_run):
    run, records, _ = store.load_run(reports_dir, ref)
    if run["run_id"] == cand_run["run_id"]:
        raise GateError(f"baseline and candidate are the same run "
                        f"({run['run_id']})")
    return {"spec": ref, "runs": [run["run_id"]], "warnings": [],
            "env": [run.get("env") or {}]}, records


def _suite_name(run):
    return (run.get("suite") or {}).get("name")


def _branch(run):
    return ((run.get("env") or {}).get("git") or {}).get("branch")


def _history_runs(reports_dir, cand_run, branch):
    """Runs before the candidate that may form its history, newest first,
    with why the others were left out."""
    cand_env = cand_run.get("env") or {}
    picked, skipped = [], {}
    for row in reversed(store.list_runs(reports_dir)):
        if row["run_id"] == cand_run["run_id"] or row["status"] == "running":
            continue
        if (row["started"] or 0) >= (cand_run.get("started") or 0):
            continue
        with store.open_db(reports_dir) as db:
            run = json.loads(db.execute(
                "SELECT run_json FROM runs WHERE run_id = ?",
                (row["run_id"],)).fetchone()[0])
        env = run.get("env") or {}
        why = None
        if _suite_name(run) != _suite_name(cand_run):
            why = "another suite"
        elif env.get("host") != cand_env.get("host"):
            why = "another host"
        elif _branch(run) != branch:
            why = f"another branch ({_branch(run)})"
        if why:
            skipped[why] = skipped.get(why, 0) + 1
        else:
            picked.append(run)
    return picked, skipped


def _db_records(reports_dir, run_id):
    with store.open_db(reports_dir) as db:
        rows = db.execute("SELECT cell_id, record_json FROM records WHERE "
                          "run_id = ? ORDER BY started, cell_id",
                          (run_id,)).fetchall()
    return [store.check_record(json.loads(r[1]),
                               f"{store.db_path(reports_dir)}: run {run_id} "
                               f"cell {r[0]}") for r in rows]



def history_baseline(reports_dir, cand_run, cand_records, k, branch):
    """Per candidate cell, the ok records of its last k runs in the history."""
    runs, skipped = _history_runs(reports_dir, cand_run, branch)
    warnings = []
    wanted = set(analyze.cell_key(r) for r in cand_records)
    per_cell = {key: [] for key in wanted}
    used = []
    for run in runs:
        if all(len(v) >= k for v in per_cell.values()):
            break
        try:
            recs = _db_records(reports_dir, run["run_id"])
        except store.StoreError as e:
            warnings.append(f"history: run {run['run_id']} left out: {e}")
            continue
        took = False
        ok = analyze.ok_records(recs)
        for key, group in analyze.by_cell(ok).items():
            if key in per_cell and len(per_cell[key]) < k:
                per_cell[key].append(group)
                took = True
        if took:
            used.append(run)
    if not used:
        why = ", ".join(f"{n} run{'s' if n != 1 else ''} of {w}"
                        for w, n in sorted(skipped.items()))
        mine = _branch(cand_run)
        raise GateError(
            f"empty history: no run of suite {_suite_name(cand_run)!r} on "
            f"host {(cand_run.get('env') or {}).get('host')} and branch "
            f"{branch!r} before {cand_run['run_id']} in "
            f"{store.db_path(reports_dir)}"
            + (f" (left out: {why})" if why else "")
            + (f"; the candidate ran on branch {mine!r} (the history's "
               "branch: --branch, the suite's [gate] branch, or "
               "TCPSCALE_BRANCH when the runs are made)"
               if mine and mine != branch else "")
            + "; run the suite on that branch first, or name a baseline run "
              "with --baseline RUN")
    short = [f"{key[0]}.{key[1]}.c{key[2]} ({len(v)} of {k} runs)"
             for key, v in sorted(per_cell.items()) if len(v) < k]
    if short:
        warnings.append("history shorter than asked for: " + ", ".join(short))
    records = [r for groups in per_cell.values() for g in groups for r in g]
    return {"spec": f"history:{k}", "branch": branch,
            "runs": [r["run_id"] for r in used], "warnings": warnings,
            "env": [r.get("env") or {} for r in used]}, records


def env_warnings(cand_run, base_info):
    """The baseline ran on another kernel, CPU or core count."""
    ce = cand_run.get("env") or {}
    out = []
    for env in base_info["env"][:1]:
        diff = [k for k in ("host", "kernel", "cpu_model", "cores")
                if env.get(k) != ce.get(k)]
        if diff:
            out.append(f"baseline and candidate differ in {', '.join(diff)}: "
                       "a verdict mixes the change under test with that")
    return out
