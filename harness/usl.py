"""Universal Scalability Law fit of throughput vs cores.

    X(N) = lambda N / (1 + sigma (N - 1) + kappa N (N - 1))

lambda: throughput of one core without contention; sigma: contention (the
serial fraction); kappa: coherency (crosstalk between cores).  Fitted by
bounded non-linear least squares (scipy.optimize.curve_fit, trust-region
reflective) on every repetition's point, lambda > 0 and 0 <= sigma, kappa
<= 1; standard errors from the covariance matrix.  Peak at
N* = floor(sqrt((1 - sigma) / kappa)) (none while kappa = 0).

Three parameters need at least MIN_CORE_COUNTS distinct core counts (one
degree of freedom left for the errors); with fewer the result says so and
how many are needed, and the report draws the points only.  usl4j and R's
usl package recommend 6 or more.
"""
import math

import numpy
from scipy.optimize import curve_fit

MIN_CORE_COUNTS = 4
RECOMMENDED_CORE_COUNTS = 6


def usl(n, lam, sigma, kappa):
    n = numpy.asarray(n, dtype=float)
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def peak(sigma, kappa):
    """N* = floor(sqrt((1 - sigma) / kappa)), None when kappa is 0."""
    if kappa <= 0:
        return None
    return max(1, math.floor(math.sqrt(max(0.0, 1 - sigma) / kappa)))


def _medians(points):
    by = {}
    for n, x in points:
        by.setdefault(n, []).append(x)
    return {n: float(numpy.median(v)) for n, v in sorted(by.items())}


def efficiency(points, lam=None):
    """{N: median X(N) / (N * X(1))} with X(1) the measured 1-core median,
    else the fitted lambda; {} when neither is known."""
    med = _medians(points)
    x1 = med.get(1) or lam
    if not x1:
        return {}
    return {n: x / (n * x1) for n, x in med.items()}


def fit(points):
    """points: [(cores, throughput)] (every repetition).  Returns
    {"ok": True, "lambda", "sigma", "kappa", "se": {...}, "n_star",
     "x_star", "r2", "efficiency", "points"} or
    {"ok": False, "reason", "have", "needs", "efficiency", "points"}."""
    pts = [(int(n), float(x)) for n, x in points
           if x is not None and n is not None and x > 0]
    distinct = sorted(set(n for n, _ in pts))
    base = {"points": len(pts), "core_counts": distinct}
    if len(distinct) < MIN_CORE_COUNTS:
        return dict(base, ok=False, have=len(distinct), needs=MIN_CORE_COUNTS,
                    efficiency=efficiency(pts),
                    reason=f"too few points for a USL fit: {len(distinct)} "
                           f"distinct core count{'s' if len(distinct) != 1 else ''}"
                           f" ({', '.join(map(str, distinct)) or 'none'}); the fit "
                           f"needs at least {MIN_CORE_COUNTS} "
                           f"({RECOMMENDED_CORE_COUNTS} or more recommended)")
    n = numpy.array([p[0] for p in pts], dtype=float)
    x = numpy.array([p[1] for p in pts], dtype=float)
    med = _medians(pts)
    n0 = distinct[0]
    p0 = (med[n0] / n0, 0.01, 0.0001)
    try:
        popt, pcov = curve_fit(usl, n, x, p0=p0,
                               bounds=([1e-12, 0.0, 0.0],
                                       [numpy.inf, 1.0, 1.0]),
                               method="trf", maxfev=20000)
    except (RuntimeError, ValueError) as e:
        return dict(base, ok=False, have=len(distinct), needs=MIN_CORE_COUNTS,
                    efficiency=efficiency(pts),
                    reason=f"the USL fit did not converge: {e}")
    lam, sigma, kappa = (float(v) for v in popt)
    err = numpy.sqrt(numpy.diag(pcov)) if numpy.all(numpy.isfinite(pcov)) \
        else [math.inf] * 3
    resid = x - usl(n, *popt)
    ss_tot = float(numpy.sum((x - x.mean()) ** 2))
    nstar = peak(sigma, kappa)
    return dict(base, ok=True, **{"lambda": lam}, sigma=sigma, kappa=kappa,
                se={"lambda": float(err[0]), "sigma": float(err[1]),
                    "kappa": float(err[2])},
                n_star=nstar,
                x_star=float(usl(nstar, *popt)) if nstar else None,
                r2=1 - float(numpy.sum(resid ** 2)) / ss_tot if ss_tot else None,
                efficiency=efficiency(pts, lam))


def curve(result, n_max, steps=100):
    """(ns, xs) of a fitted curve from 1 to n_max, for plotting."""
    ns = numpy.linspace(1, max(1, n_max), steps)
    return list(ns), list(usl(ns, result["lambda"], result["sigma"],
                              result["kappa"]))
