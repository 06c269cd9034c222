"""Change points of a series by E-divisive means (Matteson & James 2014),
with the significance test of Hunter / Apache Otava (Student's t between the
two sides) or a permutation test.

    cps = change_points(values, max_pvalue=0.001, test="ttest")
    -> [{"index": i, "p": ..., "before": mean, "after": mean, "change": rel}]

`index` is the first point of the new regime.  The search is hierarchical:
the best split (largest divergence Q over every segment start tau and end
kappa) of the segment that holds it is kept if its test passes, then the
two halves are searched again, until a split fails its test.

Divergence of X = z[s:tau] and Y = z[tau:kappa] (alpha = 1):

    Q = m n / (m + n) * (2 mean|X - Y| - mean|X - X'| - mean|Y - Y'|)

with m = |X|, n = |Y|; sums of |z_i - z_j| over blocks come from a 2-D
prefix sum of the distance matrix, so a segment of T points costs O(T^2).
"""
import numpy as np
from scipy import stats

TESTS = ("ttest", "permutation")
PERMUTATIONS = 999
SEED = 20261201


def _prefix(z):
    d = np.abs(z[:, None] - z[None, :])
    f = np.zeros((len(z) + 1, len(z) + 1))
    f[1:, 1:] = d.cumsum(0).cumsum(1)
    return f


def _block(f, a, b, c, e):
    """Sum of |z_i - z_j| for i in [a, b), j in [c, e) (arrays allowed)."""
    return f[b, e] - f[a, e] - f[b, c] + f[a, c]


def best_split(z, s, e):
    """(Q, tau, kappa) of the most divergent pair of neighbours z[s:tau],
    z[tau:kappa] in z[s:e], or (None, None, None)."""
    if e - s < 2:
        return None, None, None
    f = _prefix(np.asarray(z[s:e], dtype=float))
    n = e - s
    tau, kappa = np.meshgrid(np.arange(1, n), np.arange(2, n + 1),
                             indexing="ij")
    ok = kappa > tau
    tau, kappa = tau[ok], kappa[ok]
    m, k = tau.astype(float), (kappa - tau).astype(float)
    between = _block(f, 0, tau, tau, kappa) / (m * k)
    within_x = np.where(m > 1, _block(f, 0, tau, 0, tau) / np.maximum(
        m * (m - 1), 1), 0.0)
    within_y = np.where(k > 1, _block(f, tau, kappa, tau, kappa) / np.maximum(
        k * (k - 1), 1), 0.0)
    q = m * k / (m + k) * (2 * between - within_x - within_y)
    i = int(np.argmax(q))
    return float(q[i]), s + int(tau[i]), s + int(kappa[i])


def _ttest_p(left, right):
    """Student's t (pooled variance, as Otava), so that a side of one point
    can still be tested against the other's spread."""
    if len(left) + len(right) < 3 or np.ptp(np.concatenate([left, right])) == 0:
        return 1.0
    sd = [float(np.std(x, ddof=1)) if len(x) > 1 else 0.0
          for x in (left, right)]
    with np.errstate(all="ignore"):
        p = stats.ttest_ind_from_stats(float(np.mean(left)), sd[0], len(left),
                                       float(np.mean(right)), sd[1],
                                       len(right), equal_var=True).pvalue
    return float(p) if np.isfinite(p) else 1.0


def _permutation_p(z, s, e, q, rng, permutations):
    seg = np.asarray(z[s:e], dtype=float).copy()
    hits = 0
    for _ in range(permutations):
        rng.shuffle(seg)
        hits += best_split(seg, 0, len(seg))[0] >= q
    return (hits + 1) / (permutations + 1)


def _split(z, max_pvalue, test, permutations, rng):
    """Hierarchical search: each round takes the segments' best splits in
    order of divergence and keeps the first whose test passes; none
    passing ends it.  The t-test compares the two neighbours the divergence
    picked (z[s:tau], z[tau:kappa]), the permutation test the divergence of
    the whole segment against its shuffles."""
    bounds = [0, len(z)]
    found = []
    while True:
        cands = []
        for s, e in zip(bounds, bounds[1:]):
            q, tau, kappa = best_split(z, s, e)
            if q is not None:
                cands.append((q, tau, kappa, s, e))
        hit = None
        for q, tau, kappa, s, e in sorted(cands, reverse=True):
            p = _ttest_p(z[s:tau], z[tau:kappa]) if test == "ttest" else \
                _permutation_p(z, s, e, q, rng, permutations)
            if p <= max_pvalue:
                hit = {"index": tau, "p": p, "q": q}
                break
        if hit is None:
            return found
        found.append(hit)
        bounds = sorted(bounds + [hit["index"]])


def _merge(z, found, max_pvalue, min_change):
    """Hunter's merge step: test every point between its neighbouring
    segments, drop the weakest that fails (p above max_pvalue or a change
    below min_change), test its neighbours again, until all pass."""
    found = sorted(found, key=lambda c: c["index"])
    while found:
        edges = [0] + [c["index"] for c in found] + [len(z)]
        for i, c in enumerate(found):
            left, right = z[edges[i]:edges[i + 1]], z[edges[i + 1]:edges[i + 2]]
            c["p"] = _ttest_p(left, right)
            c["change"] = _rel(left, right)
        bad = [c for c in found if c["p"] > max_pvalue
               or abs(c["change"]) < min_change]
        if not bad:
            return found
        weakest = max(bad, key=lambda c: (c["p"], -abs(c["change"])))
        found.remove(weakest)
    return found


def _rel(left, right):
    before = float(np.mean(left))
    return (float(np.mean(right)) - before) / before if before else 0.0


def change_points(values, max_pvalue=0.001, test="ttest",
                  permutations=PERMUTATIONS, min_change=0.0):
    """Significant change points of values (oldest first), sorted by index.

    ttest (Hunter, as Otava): weak points at 10 x max_pvalue, then the
    merge step at max_pvalue.  permutation (Matteson & James): points at
    max_pvalue of the permutation test, then min_change."""
    if test not in TESTS:
        raise ValueError(f"test {test!r}: expected one of {', '.join(TESTS)}")
    z = np.asarray(values, dtype=float)
    rng = np.random.default_rng(SEED)
    if test == "ttest":
        found = _merge(z, _split(z, min(0.5, 10 * max_pvalue), test,
                                 permutations, rng), max_pvalue, min_change)
    else:
        found = [c for c in _split(z, max_pvalue, test, permutations, rng)]
        _restate(z, found)
        found = [c for c in found if abs(c["change"]) >= min_change]
    _restate(z, found)
    return sorted(found, key=lambda c: c["index"])


def _restate(z, found):
    """Means on both sides of each point between its neighbours (the final
    segments), as reported."""
    found.sort(key=lambda c: c["index"])
    edges = [0] + [c["index"] for c in found] + [len(z)]
    for i, c in enumerate(found):
        before = float(z[edges[i]:edges[i + 1]].mean())
        after = float(z[edges[i + 1]:edges[i + 2]].mean())
        c.update(before=before, after=after,
                 change=(after - before) / before if before else 0.0)
