"""The gate's own proof: false alarms and power measured on real runs.

A calibration fixture holds, slimmed to what the gate reads, every "ok"
repetition of every cell of real runs of one suite, with the reference
build's twins (`tcpscale calibrate --make RUN... -o F`).  `tcpscale
calibrate F` replays the gate on it (harness.gate.compare_cells, the same
settings as the suite's [gate]), cell by cell:

- same vs same (A/A).  A cell measured beside the reference build (mode
  "reference"; the runs were made with a reference that is the same
  build): each run's repetitions against their twins, and with the two
  sides swapped (either can be called the candidate).  Other cells (the instruction count):
  every ordered pair of runs (baseline run b, candidate run c), and the
  history mode: every run as the candidate against random sets of K of
  the other runs.  Nothing changed, so every "regressed" is a false alarm.
- power: the same splits with the candidate made worse by d (rate x (1-d),
  p99, server CPU and instructions x (1+d); the reference twins as
  measured) for d = 5, 10, 20 %: every "regressed" is a catch.

A cell counts as regressed when any of its metrics is (what the gate
reports); the per-metric rates are given too.  No re-runs happen here: the
figures are at the runs' own repetitions (or their first N, --reps N, to
see what a shorter suite would give).
"""
import copy
import itertools
import json
import os
import random
import time

from . import REPO_ROOT, gate, gateconf, store
from .gateconf import METRICS, GateError

FIXTURE_SCHEMA = 2      # 2: a run's records as a table (columns, rows)
DEFAULT_FIXTURE = os.path.join(REPO_ROOT, "tests", "harness", "fixtures",
                               "gate-calibration.json")
MAX_FALSE_ALARMS = 0.01    # of cells, same vs same
MIN_POWER = 0.90           # of cells, at a 10 % regression
INJECTIONS = (0.05, 0.10, 0.20)
HISTORY_SPLITS = 20      # random baseline sets per candidate run and cell


# ------------------------------------------------------------------ fixture

def slim(rec):
    """What the gate reads of a record, and nothing else."""
    c, m, col = rec["cell"], rec.get("metrics") or {}, \
        rec.get("collectors") or {}
    procs = col.get("procs") or {}
    return {"run_id": rec["run_id"], "status": rec["status"],
            "started": rec.get("started"),
            "cell": {k: c[k] for k in ("id", "stack", "workload", "cores",
                                       "rep", "collectors", "twin")
                     if k in c},
            "metrics": {k: m[k] for k in (
                "rate", "rate_unit", "p99_us", "connections", "transactions",
                "elapsed_s", "instructions_per_conn") if k in m},
            "collectors": {k: v for k, v in (
                ("window_s", col.get("window_s")),
                ("others", col.get("others")),
                ("procs", {k: procs[k] for k in ("user_s", "sys_s")
                           if k in procs})) if v}}


def _kept(rec):
    """A repetition the gate reads: gated, or the reference build's twin."""
    return rec.get("status") == "ok" and (
        gate.gated(rec) or rec["cell"].get("twin") == "reference")


def code_tree(sha, folder="refstack"):
    """The git tree of folder at commit sha (None when unknown): runs of
    one tree measured one code, whatever else changed between them."""
    from .env import _run
    p = _run(["git", "rev-parse", f"{sha}:{folder}"], cwd=REPO_ROOT) \
        if sha else None
    return p.stdout.strip() or None if p is not None and p.returncode == 0 \
        else None


def fixture_run(run, records):
    """One run's ok, gated repetitions and reference twins, slimmed."""
    env = run.get("env") or {}
    recs = sorted((r for r in records if _kept(r)),
                  key=lambda r: (r["cell"]["stack"], r["cell"]["workload"],
                                 r["cell"]["cores"], r["cell"]["rep"],
                                 r["cell"].get("twin") or ""))
    return {"run_id": run["run_id"], "started": run.get("started"),
            "finished": run.get("finished"), "status": run.get("status"),
            "git": (env.get("git") or {}).get("short"),
            # cells without a reference twin (refstack's instructions) are
            # compared across runs only where this is the same
            "refstack": code_tree((env.get("git") or {}).get("sha")),
            "loadavg": env.get("loadavg"),
            "reference": (run.get("suite") or {}).get("reference"),
            # the gate's re-runs of unknown cells (harness.escalate)
            "reruns": sorted(c for e in run.get("escalations") or []
                             for c in e.get("cells") or []),
            **as_table([slim(r) for r in recs])}


def _flat(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _flat(v, prefix + k + ".")
        else:
            yield prefix + k, v


def as_table(records):
    """A run's slimmed records as {"columns": [dotted keys], "rows":
    [[values]]} (None: absent; run_id is the run's): the keys are written
    once, not once per record."""
    flat = [{k: v for k, v in _flat(r) if k != "run_id"} for r in records]
    cols = sorted(set().union(*flat)) if flat else []
    return {"columns": cols,
            "rows": [[f.get(c) for c in cols] for f in flat]}


def from_table(run):
    """The records of a run stored by as_table."""
    out = []
    for row in run["rows"]:
        rec = {"run_id": run["run_id"], "cell": {}, "metrics": {},
               "collectors": {}}
        for col, v in zip(run["columns"], row):
            if v is None:
                continue
            *path, last = col.split(".")
            d = rec
            for k in path:
                d = d.setdefault(k, {})
            d[last] = v
        out.append(rec)
    return out


def make_fixture(reports_dir, refs, how, add=None):
    """A fixture of the stored runs refs; add: the path of a fixture whose
    runs are kept (runs no longer stored), its how followed by this one."""
    runs = []
    suites = set()
    if add:
        old = store.read_json(add)
        if not isinstance(old, dict) or old.get("schema") != FIXTURE_SCHEMA:
            raise GateError(f"{add}: not a calibration fixture of schema "
                            f"{FIXTURE_SCHEMA}")
        suites.add(old.get("suite"))
        runs += old["runs"]
        how = (f"{old.get('how', '')}\nThen ("
               f"{time.strftime('%Y-%m-%d', time.gmtime())}): {how}")
    have = {r["run_id"] for r in runs}
    for ref in refs:
        run, records, _ = store.load_run(reports_dir, ref)
        if run["run_id"] in have:
            raise GateError(f"run {run['run_id']} is in {add} already")
        suites.add((run.get("suite") or {}).get("name"))
        runs.append(fixture_run(run, records))
    if len(suites) != 1:
        raise GateError("calibration runs must come from one suite, got "
                        + ", ".join(sorted(map(str, suites))))
    runs.sort(key=lambda r: r["started"] or 0)
    return {"fixture": "tcpscale gate calibration", "schema": FIXTURE_SCHEMA,
            "suite": suites.pop(), "how": how, "made": time.strftime(
                "%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": runs}


def suite_conf(fx):
    """The gate settings of the fixture's suite as it is now ([gate] of
    profiles/<suite>.toml), or the defaults when there is no such suite."""
    from . import profile
    try:
        suite = profile.load_suite(fx.get("suite") or "", os.cpu_count() or 1)
    except profile.ProfileError:
        return gateconf.default_conf()
    return gateconf.parse_conf(suite.get("gate") or {},
                               f"{suite['path']}: gate")


def load_fixture(path):
    fx = store.read_json(path)
    if not isinstance(fx, dict) or fx.get("schema") != FIXTURE_SCHEMA \
            or not isinstance(fx.get("runs"), list) or len(fx["runs"]) < 2:
        raise GateError(f"{path}: not a calibration fixture of schema "
                        f"{FIXTURE_SCHEMA} with at least 2 runs")
    for run in fx["runs"]:
        run["records"] = from_table(run)
        run["cells"] = {}
        reruns = set(run.get("reruns") or ())
        for r in run["records"]:
            r["rerun"] = r["cell"]["id"] in reruns
            key = (r["cell"]["stack"], r["cell"]["workload"],
                   r["cell"]["cores"])
            run["cells"].setdefault(gate.cell_name(key), []).append(r)
    return fx


# ------------------------------------------------------------------- splits

def inject(records, d):
    """The candidate made worse by d: rate down, p99, server CPU and
    instructions up (on the fields the gate reads them from); the
    reference build's twins stay as measured."""
    out = []
    for r in records:
        r = copy.deepcopy(r)
        if r["cell"].get("twin"):
            out.append(r)
            continue
        m, procs = r["metrics"], r["collectors"].get("procs") or {}
        if "rate" in m:
            m["rate"] *= 1 - d
        for k in ("p99_us", "instructions_per_conn"):
            if k in m:
                m[k] *= 1 + d
        for k in ("user_s", "sys_s"):
            if k in procs:
                procs[k] *= 1 + d
        out.append(r)
    return out


def paired(records):
    """Does a cell's data hold reference twins (decided in its own run)?"""
    return any(r["cell"].get("twin") == "reference" for r in records)


def swapped(records):
    """The other direction of an A/A pair: the reference build's twins as
    the candidate and the other way round (both arms are one build)."""
    out = []
    for r in records:
        r = copy.deepcopy(r)
        if r["cell"].get("twin") == "reference":
            del r["cell"]["twin"]
        else:
            r["cell"]["twin"] = "reference"
        out.append(r)
    return out


def first_reps(records, n):
    """The repetitions a suite of n repetitions would have measured (0:
    the suite's own), without the gate's re-runs."""
    return [r for r in records if not r.get("rerun")
            and (not n or r["cell"]["rep"] < n)]


def replay_reruns(base, records, conf, gated=False):
    """The gate's rows for a candidate cell as `tcpscale gate` would have
    ended them with its re-runs (harness.escalate): decided on the
    suite's repetitions, then, while unknown, escalate_step more of the
    re-run repetitions the fixture holds (in the order they ran), up to
    escalate_reps, then settled at the cap (gate.settle); those that more
    pairs cannot decide are not re-run but settled at once.  Where the
    fixture holds fewer re-runs than a round needs: gated (the night's
    real gate ran, so it re-ran what its time allowed), the rest of them
    are added and the rows settled at the time cap, as that gate did;
    else (no gate ran that night) the rows stay as they are."""
    from .escalate import _can_help
    have = first_reps(records, 0)
    extra = {}
    for r in records:
        if r.get("rerun"):
            extra.setdefault(r["cell"]["rep"], []).append(r)
    reps = sorted(extra)
    rows, added = gate.compare_cells(base, have, conf), 0
    while any(_can_help(r) for r in rows):
        n = min(conf["escalate_step"], conf["escalate_reps"] - added)
        if n <= 0:
            rows = gate.settle(rows, conf, f"{added} repetitions added "
                                           "per cell")
            break
        if len(reps) < added + n:
            if gated:
                have = have + [r for rep in reps[added:] for r in extra[rep]]
                rows = gate.settle(gate.compare_cells(base, have, conf),
                                   conf, "time cap, as the night's gate")
            break
        have = have + [r for rep in reps[added:added + n] for r in extra[rep]]
        added += n
        rows = gate.compare_cells(base, have, conf)
    return gate.settle(rows, conf, gate.UNDECIDABLE, only_undecidable=True)


def same_code(a, b):
    """Did two runs measure one refstack (fixture_run's "refstack"; unknown
    on either side: assumed)?  Only then is an instruction count compared
    across them a same-vs-same one."""
    return not (a.get("refstack") and b.get("refstack")) \
        or a["refstack"] == b["refstack"]


def splits(fx, history_k, seed=1):
    """(mode, cell, baseline runs' records, candidate records, the
    candidate's run: its index in fx["runs"], unit): unit names the
    independent comparison a split belongs to (independent_alarms): a
    cell-run measured beside the reference build, seen from both sides,
    or an unordered pair of runs of another cell.

    Cells measured beside the reference build ("reference"): each run's
    own repetitions and their twins, in both directions.  Other cells: every ordered pair of runs
    ("run") and, with more than history_k runs, every run against random
    sets of history_k others ("history:K"); both only between runs of one
    refstack (same_code)."""
    runs = fx["runs"]
    cells = sorted(set().union(*[r["cells"] for r in runs]))
    rng = random.Random(seed)
    for cell in cells:
        have = [i for i, r in enumerate(runs) if cell in r["cells"]]
        if any(paired(runs[i]["cells"][cell]) for i in have):
            for c in have:
                recs = runs[c]["cells"][cell]
                yield "reference", cell, [], recs, c, (cell, c)
                yield "reference", cell, [], swapped(recs), c, (cell, c)
            continue
        for b, c in itertools.permutations(have, 2):
            if not same_code(runs[b], runs[c]):
                continue
            yield ("run", cell, [runs[b]["cells"][cell]],
                   runs[c]["cells"][cell], c, (cell, min(b, c), max(b, c)))
        if len(have) <= history_k:
            continue
        for c in have:
            others = [i for i in have if i != c
                      and same_code(runs[i], runs[c])]
            combos = list(itertools.combinations(others, history_k))
            rng.shuffle(combos)
            for combo in combos[:HISTORY_SPLITS]:
                yield (f"history:{history_k}", cell,
                       [runs[i]["cells"][cell] for i in combo],
                       runs[c]["cells"][cell], c, (cell, c) + combo)


def held_out_conf(fx, conf, run):
    """conf with the pair_offset measured on every run of the fixture but
    one (pair_offsets): what the gate would have used on that run had it
    been calibrated without it."""
    others = [i for i in range(len(fx["runs"])) if i != run]
    got = pair_offsets(fx, conf, others)
    return dict(conf, pair_offset=dict(conf["pair_offset"], **{
        m: sd for m, (sd, _n) in got.items()}))


def evaluate(fx, conf, history_k=5, injections=INJECTIONS, reps=0,
             held_out=True):
    """Counts of regressed cells and metrics per mode and injection: the
    gate's own compare_cells on every split.  reps: use only the first
    reps repetitions of every run (0: the suite's own), as a shorter
    suite would; the gate's re-runs are left out.  held_out: the cells
    measured beside the reference build twice more, each run with the
    pair_offset measured on the other runs (held_out_conf): out of
    sample, where the suite's own pair_offset was measured on every run
    it is tested on — at the suite's repetitions ("held-out") and with
    the re-runs the fixture holds, as the gate ends a night ("held-out,
    re-runs": replay_reruns)."""
    levels = (0.0,) + tuple(injections)
    loo = {}
    out = {}
    for mode, cell, base_runs, cand_recs, run, unit in splits(fx, history_k):
        base = [r for run_ in base_runs for r in first_reps(run_, reps)]
        confs = [(mode, conf, False)]
        if held_out and mode == "reference":
            if run not in loo:
                loo[run] = held_out_conf(fx, conf, run)
            confs += [("held-out", loo[run], False)]
            if not reps:
                confs += [("held-out, re-runs", loo[run], True)]
        for d in levels:
            cand = inject(cand_recs, d)
            for mode_, conf_, reruns in confs:
                rows = replay_reruns(base, cand, conf_, bool(
                    fx["runs"][run].get("reruns"))) if reruns else \
                    gate.compare_cells(base, first_reps(cand, reps), conf_)
                slot = out.setdefault((mode_, d), _slot())
                _count(slot, rows)
                slot["units"].setdefault(unit, []).append(
                    gate.overall(rows) == "regressed")
                nights = slot["runs"].setdefault(run, {"cells": 0,
                                                      "passed": 0})
                nights["cells"] += 1
                nights["passed"] += gate.overall(rows) in ("same", "improved")
    return out


def _slot():
    return {"cells": 0, "regressed": 0, "unknown": 0, "same": 0,
            "metrics": {}, "kinds": {}, "runs": {}, "units": {}}


def _count(slot, rows):
    for row in rows:
        ms = slot["metrics"].setdefault(row["metric"],
                                        {"n": 0, "regressed": 0})
        ms["n"] += 1
        ms["regressed"] += row["verdict"] == "regressed"
    v = gate.overall(rows)
    kind = slot["kinds"].setdefault(_kind(rows), {"cells": 0,
                                                  "regressed": 0})
    for s in (slot, kind):
        s["cells"] += 1
        s["regressed"] += v == "regressed"
    slot["unknown"] += v == "unknown"
    slot["same"] += v == "same"


def _cell_runs(fx, runs=None):
    """(run index, cell, reference twins, candidate repetitions) of every
    cell-run measured beside the reference build; runs: indexes (default
    all)."""
    for i, run in enumerate(fx["runs"]):
        if runs is not None and i not in runs:
            continue
        for cell, recs in sorted(run["cells"].items()):
            if not paired(recs):
                continue
            yield (i, cell,
                   [r for r in recs if r["cell"].get("twin") == "reference"],
                   [r for r in recs if gate.gated(r)])


def _cell_run_estimates(fx, conf, runs=None):
    """{metric: [(run, cell, e, s)]}: per cell-run measured beside the
    reference build, the Hodges-Lehmann estimate e of the pairs' log
    ratios and the sd s of its bootstrap, as the gate makes them
    (gate.paired_estimate: adjusted for the others' load); runs: indexes
    (default all)."""
    out = {}
    # they depend on the runs' records only: computed once per fixture
    # (the held-out replay asks for them with every run left out in turn)
    cache = fx.setdefault("_estimates", {})
    for i, cell, refs, cands in _cell_runs(fx, runs):
        for m in conf["metrics"]:
            if METRICS[m][3] != "stat":
                continue
            if (i, cell, m) not in cache:
                cache[i, cell, m] = gate.paired_estimate(m, refs, cands)
            got = cache[i, cell, m]
            if got is not None:
                out.setdefault(m, []).append((i, cell, *got))
    return out


OFFSET_LEVEL = 0.5      # pair_offset: the median-unbiased estimate ...
OFFSET_STEP = 0.005     # ... rounded up to this
UPPER_LEVEL = 0.95      # and, to report its uncertainty, this upper bound


def _offset_bound(parts, level):
    """Upper confidence bound (level) of tau, the sd of a cell-run's offset
    o in e = o + noise(sd s), from [(e, s)] of same-build cell-runs (their
    mean is 0): the Q-profile method — Q(tau) = sum(e^2 / (s^2 + tau^2))
    is chi-square with one degree of freedom per cell-run at the true tau;
    the bound is the tau where Q falls to its 1 - level quantile."""
    import numpy as np
    from scipy import optimize, stats
    e = np.array([x for x, _s in parts])
    s2 = np.array([x * x for _e, x in parts])
    target = stats.chi2.ppf(1 - level, len(parts))

    def q(t):
        return float(np.sum(e * e / (s2 + t * t))) - target
    if q(0.0) <= 0:
        return 0.0
    hi = 0.01
    while q(hi) > 0:
        hi *= 2
    return float(optimize.brentq(q, 0.0, hi, xtol=1e-5))


def pair_offsets(fx, conf, runs=None, level=OFFSET_LEVEL, step=OFFSET_STEP):
    """{metric: (sd, cell-runs)}: how far the two sides of one build's
    pairs sit apart in a run beyond what the pairs' own spread explains,
    from run to run — the pair_offset of the gate.  Per cell-run, the
    Hodges-Lehmann estimate e of the log ratios and the sd s of its
    bootstrap; sd: the Q-profile estimate at level (_offset_bound; 0.5:
    median-unbiased, 0.95: the upper 95 % bound), or with level None the
    method-of-moments estimate sqrt(max(0, mean(e^2 - s^2))); rounded up
    to a multiple of step (0: not rounded).  The gate's pair_offset is
    pair_offsets(fx) on every run of the calibration set, and the
    held-out replay uses the same rule on the other runs.  runs: only
    these runs (indexes), default all."""
    import numpy as np
    out = {}
    for m, x in sorted(_cell_run_estimates(fx, conf, runs).items()):
        parts = [(e, s) for _i, _c, e, s in x]
        sd = float(np.sqrt(max(0.0, np.mean([e * e - s * s for e, s in
                                              parts])))) \
            if level is None else _offset_bound(parts, level)
        if step:
            sd = float(np.ceil(round(sd / step, 6)) * step)
        out[m] = (sd, len(x))
    return out


def held_out_z(fx, conf):
    """{metric: [z]}: each cell-run's estimate over its uncertainty with
    the pair_offset measured on the other runs, e / sqrt(s^2 + offset^2):
    about standard normal when the gate's model of the noise holds out of
    sample (its tails are the false alarms)."""
    import numpy as np
    est = _cell_run_estimates(fx, conf)
    loo = {i: held_out_conf(fx, conf, i)["pair_offset"]
           for i in range(len(fx["runs"]))}
    return {m: [e / float(np.hypot(s, loo[i][m])) for i, _c, e, s in x]
            for m, x in sorted(est.items())}


def format_z(zs):
    import numpy as np
    from scipy import stats
    out = []
    for m, z in zs.items():
        if len(z) < 2:
            continue
        z = np.asarray(z)
        out.append(f"{m}: {len(z)} cell-runs, held-out z sd {np.std(z):.2f}, "
                   f"max |z| {np.max(np.abs(z)):.2f}, normal "
                   f"(Kolmogorov-Smirnov) p = "
                   f"{stats.kstest(z, 'norm').pvalue:.2f}")
    return ["held-out estimates against their uncertainty (sd 1 when the "
            "model holds):"] + ["  " + x for x in out] if out else []


def format_offsets(fx, conf):
    point = pair_offsets(fx, conf, level=None, step=0)
    if not point:
        return []
    median = pair_offsets(fx, conf, step=0)
    upper = pair_offsets(fx, conf, level=UPPER_LEVEL, step=0)
    use = pair_offsets(fx, conf)
    return ["run-to-run offset between the two sides of one build's pairs "
            "(sd; method of moments, median-unbiased, "
            f"{100 * UPPER_LEVEL:g} % upper bound): " + ", ".join(
                f"{m} {100 * sd:.1f}%, {100 * median[m][0]:.1f}%, "
                f"{100 * upper[m][0]:.1f}% ({n} cell-runs)"
                for m, (sd, n) in point.items()),
            "pair_offset to set (median-unbiased, rounded up to "
            f"{100 * OFFSET_STEP:g}%): " + ", ".join(
                f"{m} {100 * v:g}%" for m, (v, _n) in use.items()),
            "pair_offset in use: " + ", ".join(
                f"{m} {100 * v:g}%" for m, v in
                sorted(conf["pair_offset"].items()))]


def _kind(rows):
    """"exact" for a cell with an exact metric (instructions), else
    "stat": their power differs by orders of magnitude here."""
    return "exact" if any(METRICS[r["metric"]][3] == "exact"
                          for r in rows) else "stat"


def format_evaluation(fx, res, conf):
    """Lines: one table row per mode and injection."""
    n_runs = len(fx["runs"])
    reps = sorted(set(sum(not x["cell"].get("twin") for x in c)
                      for r in fx["runs"] for c in r["cells"].values()))
    out = [f"calibration fixture: suite {fx.get('suite')}, {n_runs} runs, "
           f"{len(set().union(*[r['cells'] for r in fx['runs']]))} cells, "
           f"{'/'.join(map(str, reps))} repetitions per cell",
           f"gate: alpha {conf['alpha']:g}, minimum effect "
           + ", ".join(f"{m} {100 * e:g}%" for m, e in
                       sorted(conf["min_effect"].items()))
           + ", pair offset " + ", ".join(
               f"{m} {100 * e:g}%" for m, e in
               sorted(conf["pair_offset"].items())),
           "",
           f"{'mode':<17} {'change':>7} {'cells':>6} {'regressed':>10} "
           f"{'unknown':>8} {'same':>6} {'time cells':>11} "
           f"{'instr cells':>12}   per metric (regressed / compared)"]
    for (mode, d), s in sorted(res.items()):
        per = ", ".join(f"{m} {100 * x['regressed'] / x['n']:.1f}%"
                        for m, x in sorted(s["metrics"].items()) if x["n"])
        label = "A/A" if d == 0 else f"-{100 * d:g}%"
        kinds = [s["kinds"].get(k) for k in ("stat", "exact")]
        kinds = [f"{100 * k['regressed'] / k['cells']:.1f}%" if k else "–"
                 for k in kinds]
        out.append(f"{mode:<17} {label:>7} {s['cells']:>6} "
                   f"{100 * s['regressed'] / s['cells']:>9.1f}% "
                   f"{100 * s['unknown'] / s['cells']:>7.1f}% "
                   f"{100 * s['same'] / s['cells']:>5.1f}% "
                   f"{kinds[0]:>11} {kinds[1]:>12}   {per}")
    return out


def format_nights(fx, res):
    """Per mode, how many runs ended with every compared cell "same" or
    "improved" (a no-change night that passes), same vs same."""
    out = []
    for (mode, d), s in sorted(res.items()):
        if d or not s["runs"]:
            continue
        ok = [i for i, n in sorted(s["runs"].items())
              if n["passed"] == n["cells"]]
        out.append(f"{mode}: {len(ok)} of {len(s['runs'])} runs pass with "
                   f"every cell same (A/A)" + (
                       ": " + ", ".join(fx["runs"][i]["run_id"] for i in ok)
                       if ok else ""))
    return out


def rates(res):
    """{(mode, d): fraction of cells regressed}."""
    return {k: s["regressed"] / s["cells"] for k, s in res.items()
            if s["cells"]}


def dump(obj, path):
    """Compact: a fixture of 3 runs of 363 cells is 0.5 MB so, 0.8 indented."""
    with open(path, "w") as f:
        json.dump(obj, f, sort_keys=True, separators=(",", ":"))
        f.write("\n")


def kind_rates(res, kind):
    """{(mode, d): fraction of the cells of one kind ("stat", "exact")
    regressed}."""
    return {k: s["kinds"][kind]["regressed"] / s["kinds"][kind]["cells"]
            for k, s in res.items() if s["kinds"].get(kind, {}).get("cells")}


def bound_tests(res, mode):
    """What a mode's counts could show of the two bounds, beside the
    point figures check_bounds judges: {"fa": (rate, p), "power": (rate,
    p)}, false alarms in independent units (independent_alarms), the power
    over the directed cells, p the one-sided exact binomial p-value of the
    count under the bound (false alarms: of at least that many alarmed
    units were the per-cell rate MAX_FALSE_ALARMS, i.e. a unit's
    directions * it; power: of at most that many caught were it
    MIN_POWER): how far the fixture's size lets its count speak for
    nights to come (BENCHMARKS.md, "The gate")."""
    from scipy import stats
    out = {}
    fa = res.get((mode, 0.0))
    got = independent_alarms(fa) if fa else None
    if got:
        q = min(1.0, got["directions"] * MAX_FALSE_ALARMS)
        out["fa"] = (got["rate"], float(stats.binom.sf(got["alarmed"] - 1,
                                                      got["units"], q)))
    pw = res.get((mode, 0.10))
    if pw and pw["cells"]:
        out["power"] = (pw["regressed"] / pw["cells"], float(stats.binom.cdf(
            pw["regressed"], pw["cells"], MIN_POWER)))
    return out


def check_bounds(res):
    """Lines saying whether each bound holds on the fixture, and whether
    all do: per mode, the rate as measured on the fixture's cells against
    its bound — false alarms at most MAX_FALSE_ALARMS of the directed
    cells, power at a 10 % regression at least MIN_POWER ("met" or
    "BROKEN": the fixture is committed and the replay deterministic, so
    the figure is not a draw the check could be unlucky with) — with the
    exact binomial p of the count under the bound for what the fixture's
    size can show (bound_tests); the power also per kind of cell (time
    metrics only, or with instructions)."""
    r = rates(res)
    per_kind = {k: kind_rates(res, k) for k in ("stat", "exact")}
    ok, out = True, []

    def state(good, p):
        return ("met" if good else "BROKEN") + (
            f" (binomial p under the bound {p:.2g})" if p is not None else "")

    for mode in sorted(set(m for m, _d in r)):
        fa, power = r.get((mode, 0.0)), r.get((mode, 0.10))
        tests = bound_tests(res, mode)
        good = fa is not None and fa <= MAX_FALSE_ALARMS
        out.append(f"{mode}: false alarms {100 * fa:.2f}% of cells "
                   f"(bound {100 * MAX_FALSE_ALARMS:g}%): "
                   + state(good, tests.get("fa", (None, None))[1]))
        ok &= good
        if power is not None:
            good = power >= MIN_POWER
            kinds = ", ".join(
                f"{name} {100 * per_kind[k][(mode, 0.10)]:.1f}%"
                for k, name in (("stat", "time cells"),
                                ("exact", "instruction cells"))
                if (mode, 0.10) in per_kind[k])
            out.append(f"{mode}: power at a 10% regression {100 * power:.1f}% "
                       f"of cells ({kinds}; bound {100 * MIN_POWER:g}%): "
                       + state(good, tests.get("power", (None, None))[1]))
            ok &= good
    return out, ok


# ------------------------------------------- what the count can show

BOUND_LEVEL = 0.95      # one-sided level of the reported upper bounds


def _upper(x, n, level=BOUND_LEVEL):
    """Clopper-Pearson upper bound of a binomial proportion (x of n)."""
    from scipy import stats
    return 1.0 if x >= n else float(stats.beta.ppf(level, x + 1, n - x))


def independent_alarms(slot):
    """What a slot's same-vs-same "regressed" count shows, counted in
    independent units (splits' unit): the directions of one unit (a
    cell-run and its swap, or two runs each as the baseline) are the same
    data seen from both sides, not more evidence; repetitions of one run
    are not independent across runs either (the run-to-run offset is one
    draw per cell-run, whatever the number of pairs).  Returns units,
    units with an alarm (alarmed), with an alarm both ways (both), the
    directed splits and their alarms, the rate per directed split, and
    two 95 % upper bounds of it: "upper" (a unit alarms one way or the
    other, not both, as the data show: rate = P(unit alarms) / directions)
    and "upper_any" (no such assumption: rate <= P(unit alarms)); and
    runs, runs with an alarm in any cell."""
    units = slot["units"]
    n = len(units)
    if not n:
        return None
    k = max(len(v) for v in units.values())
    alarmed = sum(any(v) for v in units.values())
    both = sum(sum(v) > 1 for v in units.values())
    runs = {}
    for key, v in units.items():
        runs[key[1:]] = runs.get(key[1:], False) or any(v)
    splits_ = sum(len(v) for v in units.values())
    directed = sum(sum(v) for v in units.values())
    return {"units": n, "directions": k, "alarmed": alarmed, "both": both,
            "splits": splits_, "directed": directed,
            "rate": directed / splits_,
            "upper": _upper(alarmed, n) / k, "upper_any": _upper(alarmed, n),
            "units_for_bound": units_needed(MAX_FALSE_ALARMS * k),
            "runs": len(runs), "runs_alarmed": sum(runs.values())}


def units_needed(q, level=BOUND_LEVEL):
    """Independent units without an alarm needed for the upper bound of a
    proportion to reach q (0 of n: 1 - (1 - level)^(1/n) <= q)."""
    import math
    return math.ceil(math.log(1 - level) / math.log(1 - q))


def model_false_alarms(fx, conf, level=BOUND_LEVEL, spread=None):
    """{metric: (mean P(regressed) per cell-run, the same at the upper
    bound of the spread, the spread k, its upper bound)} and the cell's
    (key "cell": any of its metrics regressed), from the gate's model of
    the noise instead of a count of alarms.  Per cell-run, a metric is
    regressed (beside the rest of decide_paired's conditions, left out
    here, which only make it rarer) when its estimate e is beyond t =
    max(c sd, log(1 + minimum effect)) the worse way: sd = sqrt(s^2 +
    offset^2), s its bootstrap sd, offset the pair_offset calibrated on
    the other runs (held_out_conf), c the normal quantile of the level the
    gate gives the cell's metrics (gate.family_level).  The model: the
    cell's standardised estimates e / (k sd) are jointly normal with the
    correlation the gate uses (gate.paired_family), k the held-out z's
    root mean square per metric (held_out_z: 1 when the model holds), or
    its upper bound (level; chi-square with one degree of freedom per
    cell-run; never below 1).  P(metric) = sf(t / (k sd)); P(cell) = P(any
    metric beyond its t), from quasi-random draws of that normal.  At k =
    1 a cell's P is at most alpha / 2 by construction; the figure says
    what the measured spread, and its upper bound, make of that (spread:
    a k for every metric instead, both columns).  Rests on the normal
    tails of e (format_z checks them)."""
    import numpy as np
    from scipy import stats
    est = _cell_run_estimates(fx, conf)
    loo = {i: held_out_conf(fx, conf, i) for i in range(len(fx["runs"]))}
    k, spread = spread, {}
    for m, x in est.items():
        z = np.array([e / float(np.hypot(s, loo[i]["pair_offset"][m]))
                      for i, _c, e, s in x])
        spread[m] = (float(np.sqrt(np.mean(z * z))), max(1.0, float(np.sqrt(
            np.sum(z * z) / stats.chi2.ppf(1 - level, len(z)))))) \
            if k is None else (k, k)
    per = {m: ([], []) for m in est}
    cells = []
    for i, cell, refs, cands in _cell_runs(fx):
        ms = [m for m in conf["metrics"] if m in est]
        lev, sds, corr = gate.paired_family(refs, cands, ms, loo[i])
        ms = [m for m in ms if m in sds]
        if not ms:
            continue
        c = stats.norm.isf(lev / 2)
        x = stats.qmc.MultivariateNormalQMC(
            np.zeros(len(ms)), corr, seed=gate.BOOTSTRAP_SEED).random(
                gate.FAMILY_DRAWS) if len(ms) > 1 else None
        got = []
        for j in (0, 1):
            bounds = []
            for m in ms:
                t = max(c * sds[m], float(np.log1p(conf["min_effect"][m])))
                b = t / (spread[m][j] * sds[m]) if sds[m] else np.inf
                per[m][j].append(float(stats.norm.sf(b)))
                bounds.append(b)
            got.append(float(np.mean(np.any(x > np.array(bounds), axis=1)))
                       if x is not None else per[ms[0]][j][-1])
        cells.append(got)
    out = {m: (float(np.mean(per[m][0])), float(np.mean(per[m][1])),
               spread[m][0], spread[m][1]) for m in sorted(est)}
    if cells:
        out["cell"] = (float(np.mean([a for a, _b in cells])),
                       float(np.mean([b for _a, b in cells])), None, None)
    return out


def format_independent(fx, res):
    """Lines: per mode, the same-vs-same count in independent units and
    what it bounds (independent_alarms), and the model's figure."""
    out = ["false alarms counted in independent units (a unit: one cell-run "
           "beside its reference, both ways; or two runs of another cell, "
           "each as the baseline):"]
    for (mode, d), s in sorted(res.items()):
        got = independent_alarms(s) if d == 0 else None
        if not got:
            continue
        out.append(
            f"  {mode}: {got['alarmed']} of {got['units']} units alarmed "
            f"({got['both']} both ways; runs with an alarm "
            f"{got['runs_alarmed']} of {got['runs']}), {got['directed']} of "
            f"{got['splits']} cells = {100 * got['rate']:.2f}%; "
            f"{100 * BOUND_LEVEL:g} % upper bound {100 * got['upper']:.1f}% "
            f"({100 * got['upper_any']:.1f}% if a unit could alarm both "
            f"ways); {got['units_for_bound']} units without an alarm would "
            f"bound it by {100 * MAX_FALSE_ALARMS:g}%")
    return out


def format_model(fx, conf):
    got = model_false_alarms(fx, conf)
    if not got:
        return []
    cell = got.pop("cell")
    return ["false alarms from the gate's noise model (held-out offsets, "
            "normal tails; with the held-out z's spread as measured, and at "
            f"its {100 * BOUND_LEVEL:g} % upper bound): " + ", ".join(
                f"{m} {100 * p:.3f}% (spread x{k:.2f}), {100 * q:.2f}% "
                f"(x{k_up:.2f})" for m, (p, q, k, k_up) in got.items())
            + f"; a cell (any of its metrics, jointly) {100 * cell[0]:.3f}%, "
              f"{100 * cell[1]:.2f}% (alpha / 2 = {50 * conf['alpha']:g}% "
              "at spread x1 by construction)"]
