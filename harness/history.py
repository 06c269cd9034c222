"""History of a cell across runs, per metric, with its change points.

    series = load_series(reports_dir, key, suite=..., branch=..., host=...)
    -> {metric: [point, ...]} oldest first, one point per run:
       {run_id, started, git, branch, n, median, min, max}
    cps = find_change_points(points, max_pvalue, test)
    -> change points, each with the runs and commits it falls between

A point is the median of the run's "ok" repetitions of the cell; the change
points come from harness.changepoint on those medians (as Otava does on one
value per test run).  `tcpscale history CELL` prints it; the run report and
the gate's output plot it.
"""
import json
import os
import statistics

from . import analyze, changepoint, store
from .gate import cell_name, gated
from .gateconf import METRICS, GateError, metric_values

DEFAULT_PVALUE = 0.001


def parse_cell(name):
    """"linux.shortconn.c1" or "refstack-listen+rfd.shortconn.c1" (a cell
    id without its repetition; "refstack:listen,rfd..." too) -> key."""
    parts = name.rsplit(".", 2)
    if len(parts) == 3 and parts[2][:1] == "c" and parts[2][1:].isdigit():
        stack = parts[0]
        if ":" not in stack:
            kind, sep, variant = stack.partition("-")
            stack = kind + (":" + variant.replace("+", ",") if sep else "")
        return stack, parts[1], int(parts[2][1:])
    raise GateError(f"cell {name!r}: expected STACK.WORKLOAD.cCORES, e.g. "
                    "linux.shortconn.c1 (see `tcpscale list` and a run's "
                    "records/)")


def _runs_with_cell(db, key):
    rows = db.execute(
        "SELECT DISTINCT records.run_id, runs.run_json FROM records JOIN runs "
        "USING (run_id) WHERE stack = ? AND workload = ? AND records.cores "
        "= ? AND collectors = 1 AND records.status = 'ok' ORDER BY "
        "runs.started, "
        "records.run_id", key).fetchall()
    return [(rid, json.loads(rj)) for rid, rj in rows]


def _keep(run, suite, branch, host, until):
    env = run.get("env") or {}
    return ((suite is None or (run.get("suite") or {}).get("name") == suite)
            and (branch is None or (env.get("git") or {}).get("branch")
                 == branch)
            and (host is None or env.get("host") == host)
            and (until is None or (run.get("started") or 0) <= until))


def load_series(reports_dir, key, suite=None, branch=None, host=None,
                until=None, last=None):
    """Per metric, one point per run that has ok repetitions of the cell.
    suite=None takes the suite of the newest such run."""
    if not os.path.exists(store.db_path(reports_dir)):
        raise GateError(f"no results database {store.db_path(reports_dir)}")
    with store.open_db(reports_dir) as db:
        runs = _runs_with_cell(db, key)
        if suite is None and runs:
            suite = (runs[-1][1].get("suite") or {}).get("name")
        runs = [(rid, run) for rid, run in runs
                if _keep(run, suite, branch, host, until)]
        if last:
            runs = runs[-last:]
        recs_by_run = {}
        for rid, _run in runs:
            rows = db.execute(
                "SELECT cell_id, record_json FROM records WHERE run_id = ? "
                "AND stack = ? AND workload = ? AND cores = ? AND "
                "collectors = 1 AND status = 'ok'", (rid,) + key).fetchall()
            recs = []
            for cid, rj in rows:
                try:
                    rec = store.check_record(json.loads(rj))
                except store.StoreError:
                    continue      # an older schema: left out
                if gated(rec):
                    recs.append(rec)
            recs_by_run[rid] = recs
    series = {"suite": suite, "metrics": {}}
    for rid, run in runs:
        recs = recs_by_run[rid]
        git = (run.get("env") or {}).get("git") or {}
        for m in METRICS:
            vals = metric_values(recs, m)
            if not vals:
                continue
            series["metrics"].setdefault(m, []).append({
                "run_id": rid, "started": run.get("started"),
                "git": git.get("short"), "branch": git.get("branch"),
                "n": len(vals), "median": statistics.median(vals),
                "min": min(vals), "max": max(vals)})
    return series


def find_change_points(points, max_pvalue=DEFAULT_PVALUE, test="ttest"):
    cps = changepoint.change_points([p["median"] for p in points],
                                    max_pvalue=max_pvalue, test=test)
    for c in cps:
        a, b = points[c["index"] - 1], points[c["index"]]
        c.update(after_run=b["run_id"], before_run=a["run_id"],
                 commits=[a["git"], b["git"]])
    return cps


def analyze_cell(reports_dir, key, max_pvalue=DEFAULT_PVALUE, test="ttest",
                 **filters):
    series = load_series(reports_dir, key, **filters)
    out = {"key": list(key), "suite": series["suite"], "metrics": {}}
    for m, pts in series["metrics"].items():
        out["metrics"][m] = {"points": pts, "change_points":
                             find_change_points(pts, max_pvalue, test)}
    return out


# ------------------------------------------------------------- formatting

def _fmt(v):
    return "–" if v is None else f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def format_history(hist, metrics=None):
    """Terminal lines: per metric, one line per run and one per change."""
    name = cell_name(hist["key"])
    out = [f"history of {name} (suite {hist['suite']})"]
    if not hist["metrics"]:
        return out + ["  no run with ok repetitions of this cell"]
    for m, h in hist["metrics"].items():
        if metrics and m not in metrics:
            continue
        unit = METRICS[m][1]
        cps = {c["index"]: c for c in h["change_points"]}
        out += ["", f"{m} ({METRICS[m][4]}, {unit}), "
                    f"{len(h['points'])} runs, "
                    f"{len(h['change_points'])} change points",
                f"  {'run':<28} {'commit':<9} {'n':>3} {'median':>12} "
                f"{'min – max':>23}"]
        for i, p in enumerate(h["points"]):
            c = cps.get(i)
            if c:
                out.append(f"  ---- change point: {100 * c['change']:+.1f}% "
                           f"(mean {_fmt(c['before'])} -> {_fmt(c['after'])}, "
                           f"p={c['p']:.2g}) between {c['commits'][0]} and "
                           f"{c['commits'][1]}")
            out.append(f"  {p['run_id']:<28} {p['git'] or '?':<9} "
                       f"{p['n']:>3} {_fmt(p['median']):>12} "
                       f"{_fmt(p['min']) + ' – ' + _fmt(p['max']):>23}")
    return out


def plot_cell(hist, path, plt):
    """One figure per cell: a panel per metric, the series with min-max
    bars and the change points as dashed lines labelled with the commits
    they fall between."""
    metrics = list(hist["metrics"])
    fig, axes = plt.subplots(len(metrics), 1, figsize=(7.0, 2.3 * len(metrics)),
                             dpi=100, squeeze=False)
    for ax, m in zip(axes[:, 0], metrics):
        h = hist["metrics"][m]
        pts = h["points"]
        xs = list(range(len(pts)))
        med = [p["median"] for p in pts]
        ax.errorbar(xs, med, yerr=[[p["median"] - p["min"] for p in pts],
                                   [p["max"] - p["median"] for p in pts]],
                    marker="o", markersize=3, capsize=2, linewidth=1)
        for c in h["change_points"]:
            ax.axvline(c["index"] - 0.5, color="#c44e52", linestyle="--")
            ax.annotate(f"{c['commits'][0]}..{c['commits'][1]}\n"
                        f"{100 * c['change']:+.1f}%",
                        (c["index"] - 0.5, ax.get_ylim()[1]), fontsize=7,
                        color="#c44e52", va="top", ha="center")
        ax.set_ylabel(f"{m} ({METRICS[m][1]})", fontsize=8)
        ax.set_xticks(xs)
        ax.set_xticklabels([p["git"] or "?" for p in pts], rotation=60,
                           fontsize=6)
        ax.grid(True, alpha=0.3)
    name = cell_name(hist["key"])
    axes[0, 0].set_title(f"{name}: history (suite {hist['suite']})")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def report_blocks(run, records, run_dir, reports_dir, with_plots):
    """The run report's history section: this run's cells in the runs of
    its suite on its host and branch up to it."""
    if not os.path.exists(store.db_path(reports_dir)):
        return []
    env = run.get("env") or {}
    keys = sorted(set(analyze.cell_key(r) for r in analyze.ok_records(records)))
    blocks, rows = [], []
    for key in keys:
        try:
            hist = analyze_cell(
                reports_dir, key, suite=(run.get("suite") or {}).get("name"),
                branch=(env.get("git") or {}).get("branch"),
                host=env.get("host"), until=run.get("started"))
        except (GateError, store.StoreError):
            continue
        n = max((len(h["points"]) for h in hist["metrics"].values()),
                default=0)
        if n < 2:
            continue
        name = cell_name(key)
        for m, h in hist["metrics"].items():
            for c in h["change_points"]:
                rows.append([name, m, f"{100 * c['change']:+.1f}%",
                             f"{c['commits'][0]} .. {c['commits'][1]}",
                             f"{c['p']:.2g}"])
        if with_plots:
            from .plots import plt
            fname = f"history-{name}.png"
            plot_cell(hist, os.path.join(run_dir, fname), plt)
            blocks.append(("img", fname, f"{name} history"))
    if not blocks and not rows:
        return []
    head = [("h2", "History and change points"),
            ("p", "Each cell's median per run in this suite on this host "
                  "and branch, up to this run; change points by E-divisive "
                  "means with a t-test at p <= "
                  f"{DEFAULT_PVALUE:g} (`tcpscale history CELL`), marked "
                  "with the commits they fall between.")]
    if rows:
        head.append(("table", ["cell", "metric", "change", "between commits",
                               "p"], rows))
    else:
        head.append(("p", "No change point."))
    return head + blocks
