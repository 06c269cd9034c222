"""The run loop: lab up, every cell through run_cell, records stored as they
finish, progress while it runs, a report and a one-screen summary at the end.

Ctrl-C (or SIGTERM) stops the current cell cleanly (run_cell returns
"interrupted"), keeps every finished cell, marks the run interrupted in
run.json, the database and the report, and run_suite() returns 130.
"""
import contextlib
import signal
import time
import traceback

from . import env as envmod
from . import plan as planmod
from . import registry, report, store
from .progress import Progress

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def new_run(suite, cells, env):
    return {
        "schema": store.SCHEMA,
        "run_id": None,
        "suite": {k: v for k, v in suite.items() if k != "cores_spec"},
        "plan": cells,
        "env": env,
        "lab": None,
        "status": "running",
        "started": time.time(),
        "finished": None,
        "n_done": 0,
        "n_ok": 0,
        "n_failed": 0,
        "error": None,
        "owner": store.owner_of_this_process(),
    }


@contextlib.contextmanager
def _no_sigint():
    """Hold Ctrl-C off while a record is written (JSON file + database row)
    or the lab is taken down; it is delivered right after."""
    pending = []
    old = signal.signal(signal.SIGINT, lambda *a: pending.append(a))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if pending and callable(old):
            old(*pending[0])


def _run_one(lab, cell, raw_dir, progress, run_cell, cell_error):
    """Run one cell; never raises except for programming errors in here."""
    try:
        return run_cell(lab, cell, raw_dir, on_interval=progress.interval)
    except cell_error as e:
        return {"status": "error", "error": f"cell {cell['id']}: {e}"}
    except KeyboardInterrupt:
        return {"status": "interrupted",
                "error": f"cell {cell['id']}: interrupted"}
    except Exception as e:  # a bug or a broken lab: record it, go on
        return {"status": "error",
                "error": f"cell {cell['id']}: {type(e).__name__}: {e}",
                "traceback": traceback.format_exc()}


# A repetition that failed (status "error": a server that would not start,
# tsload that completed no transaction) is run again right away, up to
# this many times: one failed repetition of 363 in a night no longer fails
# the night (and stops a CI job before its gate).  The failed attempt is
# kept as it was measured, under its own id (retried_id), and reported.
RETRIES = 2


def retried_id(cell_id, attempt):
    """The id a failed attempt of a cell is stored under."""
    return f"{cell_id}.failed{attempt}"


def is_retried(rec):
    """A failed attempt of a cell that was run again (_cells_loop)."""
    return bool(rec["cell"].get("retried_as"))


def _cells_loop(ctx, lab, run_cell, cell_error):
    run, cells = ctx["run"], ctx["cells"]
    for i, cell in enumerate(cells):
        attempt = 0
        while True:
            ctx["progress"].start_cell(i, cell)
            t0 = time.time()
            result = _run_one(lab, cell, ctx["raw_dir"], ctx["progress"],
                              run_cell, cell_error)
            rec = store.build_record(run["run_id"], cell, result, run["env"],
                                     run["lab"], t0, time.time())
            if result.get("traceback"):
                rec["traceback"] = result["traceback"]
            again = rec["status"] == "error" and attempt < RETRIES \
                and not result.get("stop_run")
            if again:
                attempt += 1
                rec["cell"] = dict(cell, id=retried_id(cell["id"], attempt),
                                   retried_as=cell["id"])
            with _no_sigint():
                store.save_record(ctx["reports_dir"], ctx["run_dir"], rec)
                ctx["records"].append(rec)
                if again:
                    run["n_retried"] = run.get("n_retried", 0) + 1
                else:
                    run["n_done"] += rec["status"] in DONE   # an interrupted cell runs again
                    run["n_ok"] += rec["status"] == "ok"
                    run["n_failed"] += rec["status"] == "error"
                store.save_run(ctx["reports_dir"], ctx["run_dir"], run)
            ctx["progress"].end_cell(rec)
            if rec["status"] == "interrupted":
                raise KeyboardInterrupt(rec["error"] or "")
            if result.get("stop_run"):          # the lab itself failed (a host, a task)
                raise RunFailed(rec["error"])
            if not again:
                break
            ctx["progress"].message(f"{rec['error']}: kept as "
                                    f"{rec['cell']['id']}, running it again "
                                    f"({attempt} of {RETRIES})")


def _remote_session(ctx):
    """The same on the hosts of an Ansible inventory (harness.remote)."""
    import os
    from .lab import LabError
    from .remote import AnsibleLab, run_cell, server_cores
    from .workloads import CellError
    run = ctx["run"]
    try:
        lab = AnsibleLab(ctx["inventory"], server_cores(ctx["inventory"]))
        lab.watch = ctx["progress"].task
        run["lab"] = lab.up(run["run_id"], os.path.join(ctx["run_dir"], "ansible"))
        run["env"] = envmod.lab_env(run["env"], run["lab"])
    except LabError as e:
        raise RunFailed(f"lab: {e}") from None
    except KeyboardInterrupt as e:      # the deploy starts no process that outlives it
        raise KeyboardInterrupt(f"interrupted in {e}" if str(e) else "") from None
    try:
        store.save_run(ctx["reports_dir"], ctx["run_dir"], run)
        _cells_loop(ctx, lab, run_cell, CellError)
    finally:
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            err = lab.down()
            if err:
                ctx["progress"].message("cleaning the hosts: " + err)
        finally:
            signal.signal(signal.SIGINT, old)


def _lab_session(ctx, lab_prefix):
    """Bring the lab up, run the cells, always bring it down (no lab when
    every cell runs without one: memif)."""
    if ctx.get("inventory"):
        return _remote_session(ctx)
    from .lab import Lab, LabError, cleanup_stale
    from .workloads import CellError, run_cell
    run = ctx["run"]
    if all(registry.own_runner(c["workload"]) for c in ctx["cells"]):
        _cells_loop(ctx, None, run_cell, CellError)     # no lab needed
        return
    removed = cleanup_stale(lab_prefix)
    if removed:
        ctx["progress"].message("removed a stale lab: " + ", ".join(
            str(x) for x in removed))
    plan = ctx["run"]["plan"]         # the whole plan: a resumed run's lab is the same
    lab = Lab(planmod.max_cores(plan), prefix=lab_prefix,
              offloads_off=planmod.needs_offloads_off(plan),
              one_segment=planmod.needs_one_segment(plan))
    try:
        try:
            run["lab"] = lab.up()
        except LabError as e:
            raise RunFailed(f"lab: {e}") from None
        store.save_run(ctx["reports_dir"], ctx["run_dir"], run)
        _cells_loop(ctx, lab, run_cell, CellError)
    finally:
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            lab.down()
        finally:
            signal.signal(signal.SIGINT, old)


class RunFailed(Exception):
    """The run as a whole could not go on (e.g. the lab would not come up)."""


def run_suite(suite, cells, reports_dir, stream, lab_prefix="tcps",
              tty=None, make_report=True, inventory=None):
    """Run a planned suite on the local lab, or on the hosts of an Ansible
    inventory; returns (exit code, run dict, summary lines)."""
    env = envmod.capture()
    killed = store.mark_killed_runs(reports_dir)
    run = new_run(suite, cells, env)
    run_id, run_dir = store.create_run_dir(
        reports_dir, store.new_run_id((env.get("git") or {}).get("short")))
    run["run_id"] = run_id
    store.save_run(reports_dir, run_dir, run)
    progress = Progress(cells, stream, tty)
    ctx = {"run": run, "cells": cells, "records": [], "progress": progress,
           "reports_dir": reports_dir, "run_dir": run_dir,
           "raw_dir": f"{run_dir}/raw", "inventory": inventory}
    for rid in killed:
        progress.message(f"run {rid} had been killed: marked so, its "
                         "finished cells are kept")
    for line in planmod.format_plan(suite, cells):
        progress.message(line)
    progress.message(f"run {run_id}: {run_dir}")
    return _session(ctx, lab_prefix, make_report)


# a cell with one of these records is done; an interrupted one runs again
DONE = ("ok", "error", "cannot-run")


class ResumeError(Exception):
    """A run that cannot be resumed; the message says why."""


def resume_suite(reports_dir, ref, stream, lab_prefix="tcps", tty=None,
                 make_report=True, inventory=None):
    """Run the cells of a stopped run (interrupted, killed or failed) that
    have no finished record, into the same run; returns what run_suite
    does.  Long suites are run in parts this way."""
    store.mark_killed_runs(reports_dir)
    run, records, run_dir = store.load_run(reports_dir, ref)
    rid = run["run_id"]
    if run.get("status") == "running":
        raise ResumeError(f"run {rid} is still running (pid "
                          f"{(run.get('owner') or {}).get('pid')})")
    kept = [r for r in records if r["status"] in DONE]
    done = {r["cell"]["id"] for r in kept}
    cells = [c for c in run["plan"] if c["id"] not in done]
    if not cells:
        raise ResumeError(f"run {rid} ({run.get('status')}) has a record for "
                          f"every one of its {len(done)} cells: nothing to resume")
    if bool(inventory) != ((run.get("lab") or {}).get("kind") == "ansible"):
        raise ResumeError(f"run {rid} ran on "
                          f"{'an Ansible inventory' if not inventory else 'the local lab'}"
                          "; resume it on the same kind of lab")
    env = envmod.capture()
    progress = Progress(cells, stream, tty)
    was, now = ((run.get("env") or {}).get("git") or {}), (env.get("git") or {})
    if (was.get("sha"), was.get("dirty")) != (now.get("sha"), now.get("dirty")):
        progress.message(f"warning: run {rid} started on code {was.get('short')}"
                         f"{' (dirty)' if was.get('dirty') else ''}; its "
                         f"remaining cells run on {now.get('short')}"
                         f"{' (dirty)' if now.get('dirty') else ''} (recorded)")
    run.setdefault("resumed", []).append(
        {"at": time.time(), "git": now, "cells": len(cells),
         "status_before": run.get("status")})
    run.update(status="running", finished=None, error=None,
               owner=store.owner_of_this_process(),
               n_done=sum(not is_retried(r) for r in kept),
               n_ok=sum(r["status"] == "ok" for r in kept),
               n_failed=sum(r["status"] == "error" and not is_retried(r)
                            for r in kept),
               n_retried=sum(is_retried(r) for r in kept))
    store.save_run(reports_dir, run_dir, run)
    ctx = {"run": run, "cells": cells, "records": kept, "progress": progress,
           "reports_dir": reports_dir, "run_dir": run_dir,
           "raw_dir": f"{run_dir}/raw", "inventory": inventory}
    progress.message(f"run {rid}: resuming {len(cells)} of {len(run['plan'])} "
                     f"cells ({len(kept)} kept), estimated "
                     f"{planmod.fmt_duration(planmod.estimate_s(cells))}: {run_dir}")
    return _session(ctx, lab_prefix, make_report)


def _session(ctx, lab_prefix, make_report):
    run, reports_dir, run_dir = ctx["run"], ctx["reports_dir"], ctx["run_dir"]
    try:
        _lab_session(ctx, lab_prefix)
        run["status"] = "complete" if run["n_failed"] == 0 else "failed"
    except KeyboardInterrupt as e:
        run["status"], run["error"] = "interrupted", str(e) or None
    except RunFailed as e:
        run["status"], run["error"] = "failed", str(e)
    finally:
        ctx["progress"].close()
        run["finished"] = time.time()
        store.save_run(reports_dir, run_dir, run)
    return _finish(ctx, make_report)


def _finish(ctx, make_report):
    run, records, run_dir = ctx["run"], ctx["records"], ctx["run_dir"]
    paths = None
    if make_report:
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            paths = report.write_report(run, records, run_dir)
        finally:
            signal.signal(signal.SIGINT, old)
    lines = format_summary(run, records, paths)
    code = {"complete": EXIT_OK, "interrupted": EXIT_INTERRUPTED}.get(
        run["status"], EXIT_FAILED)
    return code, run, lines


def format_summary(run, records, paths):
    """The one-screen summary printed at the end of a run."""
    from . import analyze
    planned = len(run.get("plan", []))
    dur = (run.get("finished") or time.time()) - run["started"]
    n_cannot = sum(1 for rec in records if rec["status"] == "cannot-run")
    n_stopped = sum(1 for rec in records if rec["status"] == "interrupted")
    out = ["", f"run {run['run_id']} {run['status']}: {run['n_ok']} ok, "
               f"{run['n_failed']} failed, "
               + (f"{run['n_retried']} failed attempts run again, "
                  if run.get("n_retried") else "")
               + (f"{n_cannot} cannot run, " if n_cannot else "")
               + (f"{n_stopped} interrupted, " if n_stopped else "")
               + f"{run['n_done']} of {planned} cells "
               f"in {planmod.fmt_duration(dur)}"]
    if run.get("error"):
        out.append(f"error: {run['error']}")
    if run["status"] == "interrupted":
        out.append(f"interrupted: the {run['n_done']} finished cells are "
                   "kept and reported; the rest were not run (run them "
                   f"with: tcpscale run --resume {run['run_id']})")
    for r in run.get("resumed") or []:
        out.append(f"resumed at {time.strftime('%H:%M:%S', time.gmtime(r['at']))} "
                   f"UTC ({r['status_before']} before), {r['cells']} cells, code "
                   f"{(r.get('git') or {}).get('short')}")
    rows = analyze.summarize_cells(records)
    w = max([8] + [len(r["stack"]) for r in rows])
    if rows:
        out.append(f"{'stack':<{w}} {'workload':<10} {'cores':>5} {'n':>3} "
                   f"{'median':>12} {'':<6} {'CV':>7} {'p99 us':>9}")
    for r in rows:
        cv = f"{100 * r['rate']['cv']:.1f}%" if r["rate"]["cv"] is not None \
            else "–"
        med, unit = r["rate"]["median"], r["unit"]
        if med is None and r["instructions_per_conn"]["n"]:
            med, unit = r["instructions_per_conn"]["median"], "instr"
        p99 = r["p99_us"]["median"]
        out.append(f"{r['stack']:<{w}} {r['workload']:<10} {r['cores']:>5} "
                   f"{r['n']:>3} "
                   f"{(f'{med:,.0f}' if med is not None else '–'):>12} "
                   f"{unit:<6} {cv:>7} {(f'{p99:,.0f}' if p99 is not None else '–'):>9}")
    for rec in records:
        if rec["status"] == "error":
            out.append((f"failed, then run again (kept as {rec['cell']['id']}): "
                        if is_retried(rec) else "failed: ") + rec["error"])
    cannot = [rec for rec in records if rec["status"] == "cannot-run"]
    if cannot:
        out.append(f"{len(cannot)} cells cannot run here (not failures; the "
                   "report lists them):")
        for why in sorted(set(rec["error"].split(": cannot run: ", 1)[-1]
                              for rec in cannot)):
            out.append(f"  cannot run: {why}")
    if paths:
        out.append(f"report: {paths[0]}")
        out.append(f"        {paths[1]}")
    return out


def run_more(run, cells, reports_dir, stream, lab_prefix="tcps", tty=None):
    """Run extra cells into an existing, finished run (the gate's re-runs
    of unknown cells): its plan grows, the new records are stored beside
    the old ones (none is replaced), the lab is the run's own again after.
    Returns (new records, error or None)."""
    run_dir = f"{reports_dir}/{run['run_id']}"
    old_lab, error = run.get("lab"), None
    run["plan"] = list(run.get("plan", [])) + cells
    run["status"], run["owner"] = "running", store.owner_of_this_process()
    ctx = {"run": run, "cells": cells, "records": [],
           "progress": Progress(cells, stream, tty),
           "reports_dir": reports_dir, "run_dir": run_dir,
           "raw_dir": f"{run_dir}/raw"}
    interrupted = False
    try:
        _lab_session(ctx, lab_prefix)
    except KeyboardInterrupt:
        interrupted, error = True, "interrupted"
    except RunFailed as e:
        error = str(e)
    finally:
        ctx["progress"].close()
        run["lab"] = old_lab
        run["status"] = "complete" if run["n_failed"] == 0 else "failed"
        run["finished"] = time.time()
        store.save_run(reports_dir, run_dir, run)
    if interrupted:
        raise KeyboardInterrupt
    return ctx["records"], error
