"""The gate's decision: per cell and metric, is the candidate worse than the
baseline, better, the same, or can the data not tell?

    rows = compare_cells(baseline_records, candidate_records, conf)
    code = exit_code(rows, conf)

Statistical metrics (rate, p99, server CPU per connection) over the
repetitions of a cell:

- the ratio of medians candidate / baseline, with a bootstrap confidence
  interval (scipy.stats.bootstrap, percentile method, level 1 - alpha);
- a Mann-Whitney U rank test (two-sided) of the two samples;
- regressed: p < alpha, the interval excludes 1 on the worse side, the
  median moved by at least the metric's minimum effect the worse way, and
  — when the baseline has two runs or more — the candidate's median lies
  beyond the one-sided 1 - alpha prediction bound of the baseline runs'
  medians (Student t on their logs): repetitions of one run share that
  run's machine load, so the runs' own spread is the noise floor;
  improved: the same the better way;
  same: the interval's worse end stays inside the minimum effect (the data
  rule out a regression that large);
  unknown: anything else (too few repetitions, a wide interval).

A cell measured beside the reference build (twin "reference", harness.
reference) has its statistical metrics decided against the twins of its
own run, pair by pair: a repetition and its twin ran one after the other
(A B, then B A), each from a fresh copy of its build at a path of one
length, so what the machine did in those seconds is shared and each
pair's log ratio candidate / twin is one observation (decide_paired):

- the ratio is exp of the Hodges-Lehmann estimate of the pairs' log
  ratios, with its interval at level 1 - alpha: the estimate +- the
  normal quantile times its standard error (the sd of its bootstrap over
  the pairs, and the pair_offset); below NORMAL_PAIRS pairs the
  bootstrap's percentile interval, widened by the offset;
- the test: the estimate over its standard error (the bootstrap's sd,
  with the pair_offset in quadrature), two-sided normal — the statistic
  whose spread `tcpscale calibrate` checks out of sample and whose joint
  distribution sets a cell's levels (family_level); below NORMAL_PAIRS
  pairs, where a bootstrap's sd is rough, p is also at least the
  Wilcoxon signed-rank test's;
- every pair counts, also those during which other processes took much
  of the machine (pairs_of: the two sides share that load); what they do
  not share, the other processes' load one side met more than the other
  (seconds apart on a busy machine), is taken out of each pair's log
  ratio with the slope of the cell's own pairs (adjust_for_load, from 20
  pairs);
- pair_offset: two copies of one build, measured so, still sit a few
  percent apart in some runs (steady within the run, another offset in
  the next: BENCHMARKS.md, "The gate"), which more pairs do not shrink;
  its measured spread (sd) is added to the interval's half-widths and
  to the test's standard error in quadrature;
- regressed / improved as above (p < alpha, the interval beyond 1, the
  move at least the minimum effect), no run-to-run bound;
- same: a regression of the minimum effect is ruled out by a one-sided
  test at SAME_ALPHA (the interval's worse end at level 1 - 2 SAME_ALPHA,
  an equivalence test, TOST): the chance that a real regression of that
  size passes as "same" is at most SAME_ALPHA, and a no-change night ends
  "same", not "unknown".

Exact metrics (callgrind instruction counts repeat to the instruction):
the ratio of medians against a fixed threshold, no statistics, against
the newest baseline run only (of a history, the newest run); repetitions
that disagree by more than a third of the threshold make it unknown (and
re-runs do not help it: harness.escalate leaves it).

At the re-run cap (harness.escalate re-ran an unknown cell as often as
its caps allow), or at once when more pairs cannot decide it (the
pair_offset alone keeps it open at its estimate: "undecidable"), a
statistical metric still unknown is decided as Pinpoint does (settle): "same" when its estimate moved less than the
minimum effect the worse way — the data, as many as the gate will take,
found no regression of that size, though they cannot rule one out at
SAME_ALPHA; it stays unknown with too few pairs, or when the estimate is
at least the minimum effect worse but not significant.

A cell's verdict is its worst metric: regressed > unknown > improved > same.

A cell's statistical metrics are tested together (family_level): alpha is
the cell's level, not a metric's — a cell whose build did not change is
called regressed with probability at most alpha / 2 (improved too), under
the noise model above, however many of its metrics are gated.  Each metric
is tested at the level alpha_m that holds the cell's maximum to alpha / 2:
beside the reference build, the cell's k metrics' standardised estimates
(estimate over sqrt(s^2 + offset^2)) are jointly normal with the
correlation of their pairs' ranks (Spearman's rho is the asymptotic
correlation of two Hodges-Lehmann estimates; the offsets independent), and
alpha_m / 2 is the tail of one metric at the (1 - alpha / 2) quantile of
their maximum (max-T) — between alpha / k (Bonferroni) and alpha; against
another run or the history alpha_m = alpha / k.  "same" needs every metric
same at SAME_ALPHA (an intersection-union test: no adjustment needed).
"""
import functools
import statistics

import numpy as np
from scipy import stats

from . import analyze, registry
from .gateconf import METRICS, disturbed, metric_values, other_load

VERDICTS = ("regressed", "unknown", "improved", "same")
EXIT_PASS, EXIT_REGRESSED, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261201   # fixed: the same data always gives the same verdict
MIN_REPS = 2
SAME_ALPHA = 0.05           # decide_paired: the equivalence test's level
NORMAL_PAIRS = 20           # decide_paired: fewer pairs, Wilcoxon's p too
FAMILY_DRAWS = 2 ** 16      # family_level: quasi-random normal draws ...
FAMILY_STEP = 0.05          # ... for correlations rounded down to this


# ----------------------------------------------------------------- deciding

def _median(x, axis):
    """np.median for the bootstrap's small samples: a sort is quicker than
    numpy's partition here (n < 100)."""
    x = np.moveaxis(np.sort(x, axis=axis), axis, -1)
    n = x.shape[-1]
    return (x[..., (n - 1) // 2] + x[..., n // 2]) / 2


def _ratio_of_medians(c, b, axis=-1):
    return _median(c, axis) / _median(b, axis)


def bootstrap_ratio(base, cand, level):
    """Percentile bootstrap interval of median(cand) / median(base)."""
    res = stats.bootstrap((np.asarray(cand), np.asarray(base)),
                          _ratio_of_medians, n_resamples=BOOTSTRAP_RESAMPLES,
                          confidence_level=level, method="percentile",
                          vectorized=True,
                          random_state=np.random.default_rng(BOOTSTRAP_SEED))
    ci = res.confidence_interval
    return float(ci.low), float(ci.high)


def _worse(ratio, better):
    """Ratio turned so that above 1 is worse."""
    return 1 / ratio if better == "higher" else ratio


def run_spread(run_medians, alpha):
    """Centre and one-sided (1 - alpha) prediction bound, in log units, of
    the median of one more run, from the medians of K >= 2 baseline runs
    (Student t with K - 1 degrees of freedom): how far a run may land from
    the others when nothing changed but the machine's load."""
    k = len(run_medians)
    if k < 2:
        return None
    logs = np.log(np.asarray(run_medians, dtype=float))
    sd = float(np.std(logs, ddof=1))
    return float(np.mean(logs)), float(
        stats.t.ppf(1 - alpha, k - 1) * sd * np.sqrt(1 + 1 / k))


def _beyond_runs(cand, base_runs, better, alpha):
    """(worse, better, spread): whether the candidate's median lies beyond
    the prediction bound of the baseline runs' medians, each way."""
    spread = run_spread([statistics.median(r) for r in base_runs or []
                         if r], alpha)
    if spread is None:
        return True, True, None
    centre, bound = spread
    dev = np.log(statistics.median(cand)) - centre
    worse_dev = -dev if better == "higher" else dev
    return worse_dev > bound, -worse_dev > bound, bound


def decide_stat(base, cand, better, min_effect, alpha, base_runs=None):
    """Verdict of one statistical metric from two samples (lists > 0).
    base_runs: the baseline's values run by run; with two runs or more the
    candidate must also lie beyond their run-to-run spread (run_spread) to
    be regressed or improved."""
    out = {"n_base": len(base), "n_cand": len(cand), "ratio": None,
           "ci": None, "p": None}
    if len(base) < MIN_REPS or len(cand) < MIN_REPS:
        return dict(out, verdict="unknown",
                    ratio=(statistics.median(cand) / statistics.median(base)
                           if base and cand else None),
                    reason=f"too few repetitions (baseline {len(base)}, "
                           f"candidate {len(cand)}; {MIN_REPS} needed)")
    ratio = statistics.median(cand) / statistics.median(base)
    if len(set(base)) == 1 and len(set(cand)) == 1:
        p = 0.0 if base[0] != cand[0] else 1.0
        lo = hi = ratio
    else:
        p = float(stats.mannwhitneyu(cand, base,
                                     alternative="two-sided").pvalue)
        lo, hi = bootstrap_ratio(base, cand, 1 - alpha)
    out.update(ratio=ratio, ci=[lo, hi], p=p)
    w, (w_lo, w_hi) = _worse(ratio, better), sorted(
        (_worse(lo, better), _worse(hi, better)))
    out_worse, out_better, bound = _beyond_runs(cand, base_runs, better,
                                                alpha)
    if bound is not None:
        out["run_spread"] = float(np.expm1(bound))
    spread_note = "" if bound is None else \
        f" (runs spread {_spread(bound)})"
    out["level"] = alpha
    if p < alpha and w_lo > 1 and w >= 1 + min_effect:
        if out_worse:
            return dict(out, verdict="regressed",
                        reason=f"{_pct(w - 1)} worse, p={p:.2g}"
                               + spread_note)
        return dict(out, verdict="unknown",
                    reason=f"{_pct(w - 1)} worse, p={p:.2g}, but within "
                           f"the run-to-run spread of the baseline runs "
                           f"({_spread(bound)})")
    if p < alpha and w_hi < 1 and w <= 1 / (1 + min_effect) and out_better:
        return dict(out, verdict="improved",
                    reason=f"{_pct(1 - w)} better, p={p:.2g}" + spread_note)
    if w_hi < 1 + min_effect:
        return dict(out, verdict="same",
                    reason=f"a regression of {_pct(min_effect)} is ruled out")
    why = f"p={p:.2g}" if p >= alpha else \
        f"significant but only {_pct(abs(w - 1))} " + (
            "worse" if w > 1 else "better")
    return dict(out, verdict="unknown",
                reason=f"{why}; the interval reaches {_pct(w_hi - 1)} worse")


def hodges_lehmann(d, axis=-1):
    """Median of the Walsh averages (d_i + d_j) / 2, i <= j: the signed-rank
    test's own estimate of the centre (95 % as efficient as the mean on
    normal data, robust to a disturbed pair)."""
    d = np.moveaxis(np.asarray(d, dtype=float), axis, -1)
    i, j = _walsh(d.shape[-1])
    w = d[..., i]
    w += d[..., j]              # twice the Walsh averages: halved at the end
    lo, hi = (w.shape[-1] - 1) // 2, w.shape[-1] // 2
    w = np.partition(w, (lo, hi) if lo != hi else lo, axis=-1)
    return (w[..., lo] + w[..., hi]) / 4


@functools.lru_cache(maxsize=64)
def _walsh(n):
    return np.triu_indices(n)


@functools.lru_cache(maxsize=64)
def _pairs_of_n(n):
    return np.triu_indices(n, 1)


def bootstrap_hl(d):
    """The bootstrap distribution of hodges_lehmann(d) over the pairs.
    It moves with d (the same resamples each time, BOOTSTRAP_SEED): d + c
    gives it + c, so it is computed once per shape of d (_centred_hl) —
    the calibration replays every split at several injected changes."""
    d = np.asarray(d, dtype=float)
    c = float(np.mean(d))
    x = np.round(d - c, 12)
    # and -d gives minus it (the same resamples): the two sides of a pair
    # swapped, as the calibration replays them, cost one bootstrap
    if x.tobytes() <= (-x).tobytes():
        return _centred_hl(x.tobytes()) + c
    return c - _centred_hl((-x).tobytes())


@functools.lru_cache(maxsize=1024)
def _centred_hl(key):
    """hodges_lehmann of BOOTSTRAP_RESAMPLES resamples of x (the resamples
    scipy.stats.bootstrap draws with BOOTSTRAP_SEED: the same numbers),
    without forming each resample's Walsh averages: a resample holds x's
    values with counts c, so its Walsh averages are x's, (x_a + x_b) / 2
    with a <= b, each c_a c_b times (a < b) or c_a (c_a + 1) / 2 times (a
    = b), and its Hodges-Lehmann estimate is their weighted median — a
    cumulative sum over x's Walsh averages sorted once, instead of a
    selection in every resample's (4-6 times quicker at 60-90 pairs: the
    calibration replays some 240 of them)."""
    x = np.frombuffer(key)
    n = len(x)
    idx = np.random.default_rng(BOOTSTRAP_SEED).integers(
        0, n, (BOOTSTRAP_RESAMPLES, n))
    ia, ib = _walsh(n)
    w2 = x[ia] + x[ib]                  # twice the Walsh averages
    order = np.argsort(w2, kind="stable")
    w2, ia, ib = w2[order], ia[order], ib[order]
    diag = np.flatnonzero(ia == ib)
    total = n * (n + 1) // 2
    ranks = ((total - 1) // 2, total // 2)      # the median's two ranks
    out = np.empty(BOOTSTRAP_RESAMPLES)
    step = max(1, 4_000_000 // total)           # rows per batch: memory
    for k in range(0, BOOTSTRAP_RESAMPLES, step):
        rows = idx[k:k + step]
        b = len(rows)
        c = np.bincount((np.arange(b)[:, None] * n + rows).ravel(),
                        minlength=b * n).reshape(b, n).astype(np.int32)
        w = c[:, ia] * c[:, ib]
        w[:, diag] = (c * (c + 1) // 2)[:, ia[diag]]
        cum = np.cumsum(w, axis=1)
        lo, hi = (np.count_nonzero(cum <= r, axis=1) for r in ranks)
        out[k:k + b] = (w2[lo] + w2[hi]) / 4
    return out


def _widen(est, q, z, offset):
    """A bound q of the pairs' own interval moved away from est to take in
    the run-to-run offset too (sd offset, at the same normal quantile z)."""
    h = q - est
    return est + np.copysign(np.hypot(h, z * offset), h)


def _undecidable(est_worse, min_effect, alpha, offset):
    """Can no number of pairs decide a metric at this estimate (log,
    worse > 0)?  With infinitely many pairs the interval shrinks to the
    run-to-run offset alone: "same" then needs est + z offset below the
    minimum effect, "regressed" (or "improved") a move of at least the
    minimum effect and beyond z offset.  When none holds, more pairs of
    the same run cannot decide it unless its estimate moves: re-running it
    only spends time (harness.escalate settles it at once).  With a 3 %
    offset on p99, a no-change estimate is never "same" (1.645 x 3 % is
    the 5 % minimum effect), so every night re-ran to the time cap."""
    if not offset:
        return False
    lg = np.log1p(min_effect)
    z_ci, z_same = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(1 - SAME_ALPHA)
    if est_worse + z_same * offset < lg:
        return False
    moved = max(lg, z_ci * offset)
    return bool(abs(est_worse) < moved)


def load_slope(d, x):
    """(slope, its sd) of the pairs' log ratios d on the difference x of
    the other processes' load between the two sides of each pair: the
    Theil-Sen slope (the median of the pairwise slopes: robust to the
    disturbed pairs the Hodges-Lehmann estimate is robust to) and the sd
    from Sen's rank interval (the Kendall statistic's variance, ties in x
    left out).  (0, 0) when x does not vary."""
    d, x = np.asarray(d, dtype=float), np.asarray(x, dtype=float)
    # the slope does not move with d + c (an injected change) nor with
    # (-d, -x) (the sides swapped): computed once for all of them
    key = np.round(d - np.mean(d), 12), np.round(x, 12)
    neg = tuple(-v for v in key)
    if (neg[0].tobytes(), neg[1].tobytes()) < (key[0].tobytes(),
                                               key[1].tobytes()):
        key = neg
    return _load_slope(key[0].tobytes(), key[1].tobytes())


@functools.lru_cache(maxsize=4096)
def _load_slope(d_key, x_key):
    d, x = np.frombuffer(d_key), np.frombuffer(x_key)
    i, j = _pairs_of_n(len(d))
    dx = x[j] - x[i]
    keep = dx != 0
    if np.count_nonzero(keep) < 2:
        return 0.0, 0.0
    slopes = np.sort((d[j] - d[i])[keep] / dx[keep])
    n, k = len(d), len(slopes)
    b = float(np.median(slopes))
    # the 68 % interval of Sen (1968): ranks k/2 -+ sqrt(var(Kendall's S))
    half = np.sqrt(n * (n - 1) * (2 * n + 5) / 18.0) / 2
    lo = slopes[int(np.clip(np.floor((k - 1) / 2 - half), 0, k - 1))]
    hi = slopes[int(np.clip(np.ceil((k - 1) / 2 + half), 0, k - 1))]
    return b, float((hi - lo) / 2)


def adjust_for_load(d, x):
    """(d adjusted, the sd it adds, slope): the pairs' log ratios as they
    would be had both sides of every pair met the same load of other
    processes (x: candidate's share of the machine minus its twin's).  On
    this shared machine a side that met more of the others' load ran
    slower (a pair's log ratio of rate falls 0.4-4.7 per unit of share,
    correlation -0.2 to -0.85, in all 36 cell-nights of the calibration
    set), and a night's pairs need not balance it: night 12's haproxy
    candidate met 1.6 points more on average and sat 6.6 % below its twin
    of the same build, 3.0 % once adjusted.  The slope is estimated on the
    cell's own pairs (load_slope); its uncertainty moves the adjusted
    estimate by mean(x) times the slope's sd (the sd returned).  The
    others' load is what the machine's other processes took, not this
    measurement (collect.others_summary), so a change of the build does
    not move it (it read 0.0-1.9 % at 60,000 connections a second)."""
    d = np.asarray(d, dtype=float)
    x = np.asarray(x, dtype=float)
    if len(d) < NORMAL_PAIRS or not np.any(x):
        return d, 0.0, 0.0
    b, sd_b = load_slope(d, x)
    return d - b * x, float(abs(np.mean(x)) * sd_b), b


def decide_paired(pairs, better, min_effect, alpha, offset=0.0,
                  load=None):
    """Verdict of one statistical metric from pairs (candidate, twin) of
    values > 0 measured side by side (see the module's doc).  offset: the
    sd (log) of the steady offset between two sides of one build from run
    to run (pair_offset), which more pairs do not shrink.  load: per pair,
    the candidate's share of the machine taken by other processes minus
    its twin's; the log ratios are adjusted for it (adjust_for_load)."""
    out = {"n_base": len(pairs), "n_cand": len(pairs), "ratio": None,
           "ci": None, "p": None, "paired": True}
    if len(pairs) < MIN_REPS:
        return dict(out, verdict="unknown", undecidable=False,
                    reason=f"too few pairs ({len(pairs)}; {MIN_REPS} needed)")
    d = np.log([c / b for c, b in pairs])
    extra, slope = 0.0, 0.0
    if load is not None:
        d, extra, slope = adjust_for_load(d, load)
    if slope:
        out["load_slope"] = slope
    # what widens the pairs' own interval: the offset, and the slope's
    # uncertainty (which more pairs do shrink: not in _undecidable)
    spread = float(np.hypot(offset, extra))
    est = float(hodges_lehmann(d))
    if np.all(d == d[0]):
        p, dist = (0.0 if d[0] else 1.0), np.full(1, d[0])
    else:
        dist = bootstrap_hl(d)
        p = 0.0
        if len(d) < NORMAL_PAIRS:
            # exact p-values need no zero differences (equal integer rates)
            p = float(stats.wilcoxon(d, method="approx" if np.any(d == 0)
                                     else "auto").pvalue)
    sd = float(np.hypot(np.std(dist), spread))
    if sd > 0:
        p = max(p, float(2 * stats.norm.sf(abs(est) / sd)))
    z_ci, z_same = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(1 - SAME_ALPHA)
    if len(d) < NORMAL_PAIRS:
        lo, hi = (float(np.exp(_widen(est, q, z_ci, spread))) for q in
                  np.percentile(dist, [50 * alpha, 100 - 50 * alpha]))
    else:       # the test's own interval: est +- z sd (sd with the offset)
        lo, hi = float(np.exp(est - z_ci * sd)), float(np.exp(est + z_ci * sd))
    sign = -1.0 if better == "higher" else 1.0     # worse > 0
    worst_same = float(np.exp(sign * _widen(
        est, np.percentile(dist, 100 * (1 - SAME_ALPHA) if sign > 0
                           else 100 * SAME_ALPHA), z_same, spread)))
    ratio = float(np.exp(est))
    out.update(ratio=ratio, ci=[lo, hi], p=p, level=alpha,
               undecidable=_undecidable(sign * est, min_effect, alpha,
                                         offset))
    n = f"{len(pairs)} pairs" + (f", run-to-run offset {_pct(offset)}"
                                 if offset else "") + (
        f", adjusted for the others' load ({slope:+.2f} per unit)"
        if slope else "")
    w, (w_lo, w_hi) = _worse(ratio, better), sorted(
        (_worse(lo, better), _worse(hi, better)))
    if p < alpha and w_lo > 1 and w >= 1 + min_effect:
        return dict(out, verdict="regressed",
                    reason=f"{_pct(w - 1)} worse, p={p:.2g}, {n}")
    if p < alpha and w_hi < 1 and w <= 1 / (1 + min_effect):
        return dict(out, verdict="improved",
                    reason=f"{_pct(1 - w)} better, p={p:.2g}, {n}")
    if worst_same < 1 + min_effect:
        return dict(out, verdict="same",
                    reason=f"a regression of {_pct(min_effect)} is ruled "
                           f"out ({n}, at most "
                           f"{_pct(worst_same - 1, sign=True)} at "
                           f"{100 * (1 - SAME_ALPHA):.0f} %)")
    why = f"p={p:.2g}" if p >= alpha else \
        f"significant but only {_pct(abs(w - 1))} " + (
            "worse" if w > 1 else "better")
    return dict(out, verdict="unknown",
                reason=f"{why}, {n}; a regression up to "
                       f"{_pct(worst_same - 1)} is not ruled out" + (
                           "; more pairs cannot decide it: the run-to-run "
                           "offset alone keeps it open"
                           if out["undecidable"] else ""))


def decide_exact(base, cand, better, threshold):
    """Verdict of an exact (deterministic) metric."""
    out = {"n_base": len(base), "n_cand": len(cand), "p": None}
    if not base or not cand:
        return dict(out, verdict="unknown", ratio=None, ci=None,
                    reason="no value on one side")
    ratio = statistics.median(cand) / statistics.median(base)
    spread = max(max(s) / min(s) - 1 for s in (base, cand))
    out.update(ratio=ratio, ci=[ratio, ratio])
    if spread > threshold / 3:
        return dict(out, verdict="unknown",
                    reason=f"repetitions differ by {_pct(spread)}: "
                           "not repeatable")
    w = _worse(ratio, better)
    if w > 1 + threshold:
        return dict(out, verdict="regressed",
                    reason=f"{_pct(w - 1)} more (threshold {_pct(threshold)})")
    if w < 1 / (1 + threshold):
        return dict(out, verdict="improved",
                    reason=f"{_pct(1 - w)} less (threshold "
                           f"{_pct(threshold)})")
    return dict(out, verdict="same",
                reason=f"within {_pct(threshold)} ({_pct(w - 1, sign=True)})")


def _spread(bound):
    return _pct(np.expm1(bound)) if bound < 1 else "over 100%"


def _pct(f, sign=False):
    return f"{100 * f:+.1f}%" if sign else f"{100 * f:.1f}%"


UNDECIDABLE = "more pairs cannot decide it"


def settle(rows, conf, cap, only_undecidable=False):
    """Rows after the re-runs stopped at a cap (cap: which one): each
    unknown statistical metric whose estimate is less than its minimum
    effect worse becomes "same" (row "settled": the cap), the others as
    they were (see the module's doc).  only_undecidable: only the metrics
    that more pairs cannot decide (decide_paired's "undecidable"), which
    are not re-run (cap: UNDECIDABLE)."""
    out = []
    for r in rows:
        _get, _unit, better, kind, _help = METRICS[r["metric"]]
        if r["verdict"] != "unknown" or kind != "stat" or r["ratio"] is None \
                or r["n_cand"] < MIN_REPS or r["n_base"] < MIN_REPS \
                or (only_undecidable and not r.get("undecidable")):
            out.append(r)
            continue
        w, e = _worse(r["ratio"], better), conf["min_effect"][r["metric"]]
        at = f"not re-run ({cap})" if cap == UNDECIDABLE else \
            f"at the re-run cap ({cap})"
        if w >= 1 + e:
            out.append(dict(r, reason=r["reason"] + f"; still unknown "
                            f"{at}: {_pct(w - 1)} worse"))
            continue
        out.append(dict(r, verdict="same", settled=cap, reason=(
            f"{at} no regression of {_pct(e)}: "
            f"{_pct(abs(w - 1))} {'worse' if w > 1 else 'better'} "
            f"(was unknown: {r['reason']})")))
    return out


def decide(metric, base, cand, conf, base_runs=None, level=None):
    """level: the metric's own level (family_level; default alpha)."""
    _get, _unit, better, kind, _help = METRICS[metric]
    if kind == "exact":
        return decide_exact(base, cand, better, conf["exact_threshold"])
    return decide_stat(base, cand, better, conf["min_effect"][metric],
                       conf["alpha"] if level is None else level, base_runs)


# ------------------------------------------------------ a cell's metrics

def load_difference(rec, twin):
    """The candidate's share of the machine taken by other processes
    during its window minus its twin's (0 where either is unknown)."""
    a, b = other_load(rec), other_load(twin)
    return float(a - b) if a is not None and b is not None else 0.0


def _pair_logs(m, refs, cok):
    """{repetition: log(candidate / twin)} of metric m, adjusted for the
    others' load (adjust_for_load), and the sd the adjustment adds."""
    twins = {r["cell"]["rep"]: r for r in refs}
    reps, d, x = [], [], []
    for r in cok:
        t = twins.get(r["cell"]["rep"])
        c = metric_values([r], m)
        b = metric_values([t], m) if t is not None else []
        if c and b:
            reps.append(r["cell"]["rep"])
            d.append(float(np.log(c[0] / b[0])))
            x.append(load_difference(r, t))
    d, extra, _slope = adjust_for_load(d, x)
    return dict(zip(reps, (float(v) for v in d))), extra


def paired_estimate(m, refs, cok):
    """(Hodges-Lehmann estimate, its sd) of metric m's pair log ratios as
    decide_paired makes them (adjusted for the others' load; the sd: the
    bootstrap's and the adjustment's, without the pair_offset), or None
    with fewer than MIN_REPS pairs."""
    logs, extra = _pair_logs(m, refs, cok)
    if len(logs) < MIN_REPS:
        return None
    d = np.array(list(logs.values()))
    s = 0.0 if np.all(d == d[0]) else float(np.std(bootstrap_hl(d)))
    return float(hodges_lehmann(d)), float(np.hypot(s, extra))


def rank_corr(columns):
    """Spearman's rho between the columns (equal length), 0 where a column
    is constant: the asymptotic correlation of their Hodges-Lehmann
    estimates (each one's influence is F(x) - 1/2, the centred rank)."""
    x = np.asarray(columns, dtype=float)
    k = len(x)
    r = np.eye(k)
    if x.shape[1] < 3:
        return r
    ranks = [stats.rankdata(v) for v in x]
    for i in range(k):
        for j in range(i + 1, k):
            a, b = ranks[i], ranks[j]
            if np.ptp(a) == 0 or np.ptp(b) == 0:
                continue
            r[i, j] = r[j, i] = float(np.corrcoef(a, b)[0, 1])
    return r


@functools.lru_cache(maxsize=1024)
def _max_quantile(corr, q):
    """The (1 - q) quantile of the maximum of standard normals with
    correlations corr (upper triangle, row by row), from scrambled Sobol
    draws of a fixed seed: the same answer every time."""
    k = int(round((1 + np.sqrt(1 + 8 * len(corr))) / 2))
    r = np.eye(k)
    r[np.triu_indices(k, 1)] = corr
    r = np.triu(r) + np.triu(r, 1).T
    w, v = np.linalg.eigh(r)      # rounding may leave it just short of PSD
    r = (v * np.clip(w, 1e-9, None)) @ v.T
    r /= np.sqrt(np.outer(np.diag(r), np.diag(r)))
    x = stats.qmc.MultivariateNormalQMC(
        np.zeros(k), r, seed=BOOTSTRAP_SEED).random(FAMILY_DRAWS)
    return float(np.quantile(x.max(axis=1), 1 - q))


def max_t_level(corr, alpha):
    """The two-sided level of each of k metrics whose standardised
    estimates are jointly normal with correlation matrix corr, such that
    the largest of them passes its bound (one way) with probability alpha
    / 2: correlations rounded down (FAMILY_STEP; less correlation, a
    stricter level), and never stricter than Bonferroni (alpha / k)."""
    corr = np.asarray(corr, dtype=float)
    k = len(corr)
    if k < 2:
        return alpha
    up = np.floor(np.clip(corr[np.triu_indices(k, 1)], -1, 1)
                  / FAMILY_STEP + 1e-9) * FAMILY_STEP
    c = _max_quantile(tuple(round(float(x), 6) for x in up), alpha / 2)
    return float(min(alpha, max(alpha / k, 2 * stats.norm.sf(c))))


def paired_family(refs, cok, metrics, conf):
    """(level, {metric: sd}, corr): the level at which each of a cell's
    statistical metrics measured beside the reference build is tested
    (family_level, see the module's doc), the sd of each one's estimate
    (its bootstrap and the pair_offset) and the correlation matrix of the
    standardised estimates (metrics in the order given)."""
    logs, extras = {}, {}
    for m in metrics:
        logs[m], extras[m] = _pair_logs(m, refs, cok)
    logs = {m: d for m, d in logs.items() if len(d) >= MIN_REPS}
    ms = [m for m in metrics if m in logs]
    sds, ses = {}, {}
    for m in ms:
        d = np.array(list(logs[m].values()))
        ses[m] = 0.0 if np.all(d == d[0]) else float(np.std(bootstrap_hl(d)))
        ses[m] = float(np.hypot(ses[m], extras[m]))
        sds[m] = float(np.hypot(ses[m], conf["pair_offset"][m]))
    if len(ms) < 2:
        return conf["alpha"], sds, np.eye(len(ms))
    reps = sorted(set.intersection(*[set(logs[m]) for m in ms]))
    sign = [-1.0 if METRICS[m][2] == "higher" else 1.0 for m in ms]
    rho = rank_corr([[s * logs[m][i] for i in reps]
                     for s, m in zip(sign, ms)])
    se = np.array([ses[m] for m in ms])
    sd = np.array([sds[m] for m in ms])
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(np.outer(sd, sd) > 0,
                        rho * np.outer(se, se) / np.outer(sd, sd), 0.0)
    np.fill_diagonal(corr, 1.0)
    return max_t_level(corr, conf["alpha"]), sds, corr


def family_level(metrics, conf, refs=None, cok=None):
    """The level of each statistical metric of a cell (see the module's
    doc): beside the reference build from their joint distribution
    (paired_family), else Bonferroni."""
    stat = [m for m in metrics if METRICS[m][3] == "stat"]
    if refs is not None:
        return paired_family(refs, cok, stat, conf)[0]
    return conf["alpha"] / max(1, len(stat))


# ------------------------------------------------------------------ cells

def cell_name(key):
    """A cell without its repetition, spelt as in cell ids:
    refstack-listen+rfd.shortconn.c1."""
    return f"{registry.slug(key[0])}.{key[1]}.c{key[2]}"


def gated(rec):
    """A repetition the gate counts: collectors on, not an overhead twin,
    not a failed attempt that was run again (harness.suite, RETRIES: the
    attempt after it stands for the repetition)."""
    c = rec["cell"]
    return c.get("collectors", True) and not c.get("twin") \
        and not c.get("retried_as")


def _by_cell(records):
    return analyze.by_cell([r for r in records if gated(r)])


def _by_run(records):
    runs = {}
    for r in records:
        runs.setdefault(r["run_id"], []).append(r)
    return list(runs.values())


def _undisturbed(brecs, crecs, metric, conf):
    """Leave out, for a statistical metric, the repetitions during which
    the machine's other processes took more than max_other_load of it (on
    a shared machine they move timings by tens of percent); say how many."""
    if METRICS[metric][3] != "stat":
        return brecs, crecs, ""
    b = [r for r in brecs if not disturbed(r, conf)]
    c = [r for r in crecs if not disturbed(r, conf)]
    out = []
    for side, all_, kept in (("candidate", crecs, c), ("baseline", brecs, b)):
        loads = [f"{100 * other_load(r):.0f}%" for r in all_
                 if disturbed(r, conf)]
        if loads:
            out.append(f"{side}: {len(loads)} of {len(all_)} left out, other "
                       f"processes took {', '.join(loads[:4])}"
                       + (", ..." if len(loads) > 4 else "")
                       + " of the machine")
    return b, c, "; ".join(out)


def _failures(recs):
    return [r for r in recs if r.get("status") != "ok"]


def newest_run(records):
    """The repetitions of the newest run among records (by its start)."""
    runs = _by_run(records)
    return max(runs, key=lambda g: min(r.get("started") or 0 for r in g)) \
        if runs else []


def _baseline_row(m, brecs_all, cok_all, conf, level=None):
    """A metric decided against the baseline's repetitions of the cell; an
    exact one against the newest baseline run only: it repeats to the
    instruction, so that run is the baseline's state, and a history
    spanning a change of the code would only make it "not repeatable"."""
    if METRICS[m][3] == "exact":
        brecs_all = newest_run(brecs_all)
    brecs, cok, note = _undisturbed(brecs_all, cok_all, m, conf)
    b, c = metric_values(brecs, m), metric_values(cok, m)
    if not brecs:
        row = {"verdict": "unknown", "ratio": None, "ci": None,
               "p": None, "n_base": 0, "n_cand": len(c),
               "reason": "no baseline repetitions of this cell"}
    elif not c:
        row = {"verdict": "unknown", "ratio": None, "ci": None,
               "p": None, "n_base": len(b), "n_cand": 0,
               "reason": "no candidate value"}
    else:
        row = decide(m, b, c, conf, [metric_values(g, m) for g in
                                     _by_run(brecs)], level)
    if note:
        row["reason"] += "; " + note
    return dict(row, disturbed=len(cok_all) - len(cok),
                base_median=statistics.median(b) if b else None,
                cand_median=statistics.median(c) if c else None)


def pairs_of(m, refs, cok, conf):
    """([(candidate, twin) values of metric m], pairs under load): a
    repetition and the reference build's twin of the same repetition.
    Every pair counts, also when other processes took much of the machine
    (under load): the two sides share that load, seconds apart, and the
    pair cancels it — on a night when others' jobs took half of this
    machine, leaving out the repetitions above max_other_load kept 16-19
    of 60 pairs a cell and doubled the interval's width, keeping all left
    it as narrow as on a quiet night (BENCHMARKS.md, "The gate")."""
    twins = {r["cell"]["rep"]: r for r in refs}
    pairs, loaded, load = [], 0, []
    for r in cok:
        t = twins.get(r["cell"]["rep"])
        if t is None:
            continue
        c, b = metric_values([r], m), metric_values([t], m)
        if c and b:
            pairs.append((c[0], b[0]))
            load.append(load_difference(r, t))
            loaded += disturbed(r, conf) or disturbed(t, conf)
    return pairs, loaded, load


def _pair_row(m, refs, cok, conf, level=None):
    """A statistical metric decided pair by pair against the reference
    build's twins of the same repetitions, at level (family_level;
    default alpha)."""
    pairs, loaded, load = pairs_of(m, refs, cok, conf)
    row = decide_paired(pairs, METRICS[m][2], conf["min_effect"][m],
                        conf["alpha"] if level is None else level,
                        conf["pair_offset"][m], load)
    if loaded:
        row["reason"] += (f"; in {loaded} pairs other processes took over "
                          f"{100 * conf['max_other_load']:.0f}% of the "
                          "machine (both sides share it)")
    row["reason"] += "; against the reference build measured beside it"
    b = metric_values(refs, m)
    c = metric_values(cok, m)
    return dict(row, disturbed=0, under_load=loaded, baseline="reference",
                base_median=statistics.median(b) if b else None,
                cand_median=statistics.median(c) if c else None)


def references(records):
    """{cell key: ok repetitions of its reference-build twin}."""
    return analyze.by_cell([r for r in records if r.get("status") == "ok"
                            and r["cell"].get("twin") == "reference"])


def compare_cells(base_records, cand_records, conf):
    """One row per (cell of the candidate, metric it has): the verdict and
    its figures.  Failed repetitions are left out and named in the row.
    A cell measured beside the reference build (twin "reference") has its
    statistical metrics decided against those twins, in the candidate's
    own run; its exact metrics and every other cell against the
    baseline."""
    base, cand = _by_cell(base_records), _by_cell(cand_records)
    refs = references(cand_records)
    rows = []
    for key in sorted(cand):
        crecs = cand[key]
        brecs_all = [r for r in base.get(key, []) if r.get("status") == "ok"]
        cok_all = [r for r in crecs if r.get("status") == "ok"]
        failed = _failures(crecs)
        metrics = [m for m in conf["metrics"]
                   if metric_values(cok_all, m) or metric_values(brecs_all, m)]
        if not metrics:
            metrics = [conf["metrics"][0]]
        beside = len(refs.get(key, ())) >= MIN_REPS
        level = family_level(metrics, conf, *(
            (refs[key], cok_all) if beside else ()))
        for m in metrics:
            if METRICS[m][3] == "stat" and beside:
                row = _pair_row(m, refs[key], cok_all, conf, level)
            else:
                row = _baseline_row(m, brecs_all, cok_all, conf, level)
            if failed:
                row["reason"] += (f"; {len(failed)} of {len(crecs)} candidate "
                                  "repetitions failed: "
                                  + (failed[0].get("error") or
                                     failed[0].get("status")))
            row.update(cell=cell_name(key), key=list(key), metric=m,
                       failed=len(failed))
            rows.append(row)
    return rows


def cell_verdicts(rows):
    """{cell name: worst verdict of its metrics}."""
    out = {}
    for r in rows:
        prev = out.get(r["cell"], "same")
        out[r["cell"]] = min(prev, r["verdict"], key=VERDICTS.index)
    return out


def overall(rows):
    cells = cell_verdicts(rows)
    return min(cells.values(), key=VERDICTS.index) if cells else "unknown"


def exit_code(rows, conf):
    v = overall(rows)
    if v == "regressed":
        return EXIT_REGRESSED
    if v == "unknown" and conf["unknown"] == "fail":
        return EXIT_UNKNOWN
    return EXIT_PASS
