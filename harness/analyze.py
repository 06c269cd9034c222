"""Statistics over repetitions, collector overhead and run comparison.

Methods (documented in BENCHMARKS.md):
- per cell (stack, workload, cores) over its repetitions: median, min, max,
  mean, sample standard deviation, CV = stdev / mean, and a 95% confidence
  interval for the mean from Student's t distribution (n - 1 degrees of
  freedom; none with a single repetition);
- a ratio B/A of two cells (comparison, collector overhead): ratio of the
  means with a 95% CI from the delta method on log(mean B) - log(mean A),
  with Welch-Satterthwaite degrees of freedom.  The verdict is "higher" /
  "lower" only when that interval excludes 1, otherwise "same" (within
  noise), and "n/a" with fewer than two repetitions on a side.
- Mann-Whitney U (two-sided, exact for small samples) beside the ratio, a
  test that assumes no distribution; and, with at least BOOT_MIN_N values
  on each side, a bootstrap 95% CI of the ratio of medians.
All distributions come from scipy.stats.
Only records with status "ok" enter the statistics, and of the collector-
overhead cells only in the overhead tables (cell "twin", or collectors
off).
"""
import math
import statistics


def _sstats():
    """scipy.stats, imported on first use (a second of start-up for every
    `tcpscale` command otherwise)."""
    from scipy import stats
    return stats


def t_crit95(df):
    """Two-sided 95% critical value of Student's t with df degrees (df may
    be fractional: Welch)."""
    if df < 1:
        raise ValueError("t distribution needs df >= 1")
    return float(_sstats().t.ppf(0.975, df))


def summarize(values):
    """n, median, min, max, mean, stdev, cv, ci95 of a list of numbers."""
    vals = [float(v) for v in values if v is not None]
    n = len(vals)
    if n == 0:
        return {"n": 0, "median": None, "min": None, "max": None,
                "mean": None, "stdev": None, "cv": None, "ci95": None}
    mean = statistics.fmean(vals)
    stdev = statistics.stdev(vals) if n > 1 else None
    ci = None
    if stdev is not None:
        half = t_crit95(n - 1) * stdev / math.sqrt(n)
        ci = [mean - half, mean + half]
    cv = stdev / mean if stdev is not None and mean else None
    return {"n": n, "median": statistics.median(vals), "min": min(vals),
            "max": max(vals), "mean": mean, "stdev": stdev, "cv": cv,
            "ci95": ci}


def ratio_ci(a_vals, b_vals):
    """Ratio of means B/A with a 95% CI (delta method on logs, Welch df)."""
    a = [float(v) for v in a_vals if v is not None]
    b = [float(v) for v in b_vals if v is not None]
    if not a or not b or statistics.fmean(a) <= 0 or statistics.fmean(b) <= 0:
        return {"ratio": None, "ci95": None, "verdict": "n/a"}
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    ratio = mb / ma
    if len(a) < 2 or len(b) < 2:
        return {"ratio": ratio, "ci95": None, "verdict": "n/a"}
    ua = statistics.variance(a) / (len(a) * ma * ma)
    ub = statistics.variance(b) / (len(b) * mb * mb)
    se = math.sqrt(ua + ub)
    if se == 0:
        ci = [ratio, ratio]
    else:
        df = (ua + ub) ** 2 / (ua ** 2 / (len(a) - 1) + ub ** 2 / (len(b) - 1))
        half = t_crit95(max(1.0, df)) * se
        ci = [ratio * math.exp(-half), ratio * math.exp(half)]
    verdict = "higher" if ci[0] > 1 else "lower" if ci[1] < 1 else "same"
    return {"ratio": ratio, "ci95": ci, "verdict": verdict}


BOOT_MIN_N = 5


def mann_whitney_p(a_vals, b_vals):
    """Two-sided Mann-Whitney U p-value, None with fewer than 2 a side."""
    a = [float(v) for v in a_vals if v is not None]
    b = [float(v) for v in b_vals if v is not None]
    if len(a) < 2 or len(b) < 2:
        return None
    return float(_sstats().mannwhitneyu(b, a, alternative="two-sided").pvalue)


def bootstrap_median_ratio_ci(a_vals, b_vals, seed=1):
    """95% bootstrap CI (percentile, 2000 resamples) of median(B)/median(A);
    None with fewer than BOOT_MIN_N values on a side."""
    a = [float(v) for v in a_vals if v is not None]
    b = [float(v) for v in b_vals if v is not None]
    if len(a) < BOOT_MIN_N or len(b) < BOOT_MIN_N or min(a) <= 0:
        return None

    import numpy

    def ratio(x, y, axis=-1):
        return numpy.median(y, axis=axis) / numpy.median(x, axis=axis)
    res = _sstats().bootstrap((a, b), ratio, n_resamples=2000, method="percentile",
                           vectorized=True, random_state=seed)
    return [float(res.confidence_interval.low), float(res.confidence_interval.high)]


def compare_values(a_vals, b_vals):
    """ratio_ci + Mann-Whitney p + bootstrap CI of the median ratio."""
    out = ratio_ci(a_vals, b_vals)
    out["p_mw"] = mann_whitney_p(a_vals, b_vals)
    out["boot_ci95"] = bootstrap_median_ratio_ci(a_vals, b_vals)
    return out


# ------------------------------------------------------------ records

def cell_key(rec):
    c = rec["cell"]
    return (c["stack"], c["workload"], c["cores"])


def ok_records(records, collectors=True):
    """Finished records; collectors=True: the cells of the statistics (not
    the overhead twins), False: the collectors-off twins."""
    return [r for r in records if r.get("status") == "ok"
            and bool(r["cell"].get("collectors", True)) == collectors
            and not r["cell"].get("twin")]


def _groups(records):
    groups = {}
    for r in records:
        groups.setdefault(cell_key(r), []).append(r)
    return groups


def by_cell(records):
    """{(stack, workload, cores): [its records]}."""
    return _groups(records)


def _metric(recs, name):
    return [(r.get("metrics") or {}).get(name) for r in recs]


def summarize_cells(records):
    """One row per (stack, workload, cores) over ok, collectors-on records."""
    rows = []
    all_groups = _groups([r for r in records
                          if r["cell"].get("collectors", True)
                          and not r["cell"].get("twin")
                          and not r["cell"].get("retried_as")
                          and r.get("status") != "cannot-run"])
    good = _groups(ok_records(records))
    for key in sorted(all_groups):
        recs = good.get(key, [])
        unit = next((r["metrics"]["rate_unit"] for r in recs
                     if (r.get("metrics") or {}).get("rate_unit")), "conn/s")
        rows.append({
            "stack": key[0], "workload": key[1], "cores": key[2],
            "runs": len(all_groups[key]), "n": len(recs),
            "failed": len(all_groups[key]) - len(recs),
            "unit": unit,
            "rate": summarize(_metric(recs, "rate")),
            "p50_us": summarize(_metric(recs, "p50_us")),
            "p99_us": summarize(_metric(recs, "p99_us")),
            "errors": sum(int(e or 0) for e in _metric(recs, "errors")),
            "instructions_per_conn": summarize(
                _metric(recs, "instructions_per_conn")),
        })
    return rows


def collector_overhead(records):
    """Throughput with collectors off vs on, per cell that has both."""
    on, off = _groups(ok_records(records, True)), \
        _groups(ok_records(records, False))
    rows = []
    for key in sorted(off):
        if key not in on:
            continue
        a, b = _metric(on[key], "rate"), _metric(off[key], "rate")
        r = ratio_ci(b, a)  # on / off: below 1 means collectors cost
        rows.append({"stack": key[0], "workload": key[1], "cores": key[2],
                     "collector": "all", "on": summarize(a), "off": summarize(b), **r})
    rows.extend(profiler_overhead(records))
    return rows


def profiler_overhead(records):
    """Per profiler: the full cell / its twin without that profiler."""
    on = _groups(ok_records(records, True))
    twins = {}
    for r in records:
        t = r["cell"].get("twin")
        if r.get("status") == "ok" and t and t.startswith("no-"):
            twins.setdefault((cell_key(r), t[3:]), []).append(r)
    rows = []
    for (key, prof), recs in sorted(twins.items()):
        if key not in on:
            continue
        a, b = _metric(on[key], "rate"), _metric(recs, "rate")
        rows.append({"stack": key[0], "workload": key[1], "cores": key[2],
                     "collector": f"perf {prof}", "on": summarize(a),
                     "off": summarize(b), **ratio_ci(b, a)})
    return rows


def compare(records_a, records_b):
    """Per cell present in both runs: B/A ratio of throughput and p99."""
    ga, gb = _groups(ok_records(records_a)), _groups(ok_records(records_b))
    rows = []
    for key in sorted(set(ga) | set(gb)):
        ra, rb = ga.get(key, []), gb.get(key, [])
        rows.append({
            "stack": key[0], "workload": key[1], "cores": key[2],
            "a": summarize(_metric(ra, "rate")),
            "b": summarize(_metric(rb, "rate")),
            "rate": compare_values(_metric(ra, "rate"), _metric(rb, "rate")),
            "p99": compare_values(_metric(ra, "p99_us"), _metric(rb, "p99_us")),
        })
    return rows


# ----------------------------------------------------------- collectors

def _per_core(cpu):
    """{core: {usr, sys, softirq, idle, ...}} from a cpu collector summary."""
    if not isinstance(cpu, dict):
        return {}
    if isinstance(cpu.get("per_core"), dict):
        cpu = cpu["per_core"]
    out = {}
    for k, v in cpu.items():
        name = str(k)
        if name.startswith("cpu"):
            name = name[3:]
        if name.isdigit() and isinstance(v, dict):
            out[int(name)] = v
    return out


CPU_FIELDS = ("usr", "sys", "softirq", "irq", "idle")


def cpu_by_core(records):
    """Mean per-core utilisation (%) per (stack, workload, cores)."""
    out = {}
    for key, recs in _groups(ok_records(records)).items():
        acc = {}
        for r in recs:
            for core, v in _per_core((r.get("collectors") or {})
                                     .get("cpu")).items():
                for f in CPU_FIELDS:
                    if isinstance(v.get(f), (int, float)):
                        acc.setdefault(core, {}).setdefault(f, []) \
                            .append(float(v[f]))
        if acc:
            out[key] = {core: {f: statistics.fmean(vs)
                               for f, vs in fields.items()}
                        for core, fields in sorted(acc.items())}
    return out


def _flat_numbers(d, prefix=""):
    out = {}
    if not isinstance(d, dict):
        return out
    for k, v in d.items():
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)):
            out[prefix + str(k)] = float(v)
        elif isinstance(v, dict):
            out.update(_flat_numbers(v, f"{prefix}{k}."))
    return out


def snmp_medians(records):
    """Median TCP counter deltas per (stack, workload, cores)."""
    out = {}
    for key, recs in _groups(ok_records(records)).items():
        acc = {}
        for r in recs:
            snmp = (r.get("collectors") or {}).get("snmp")
            for k, v in _flat_numbers(snmp).items():
                acc.setdefault(k, []).append(v)
        if acc:
            out[key] = {k: statistics.median(v) for k, v in sorted(acc.items())}
    return out


def _server_cost_one(rec):
    col = rec.get("collectors") or {}
    procs, perf = col.get("procs") or {}, (col.get("perf") or {})
    events = perf.get("events") or {}
    m = rec.get("metrics") or {}
    # per unit of the rate: connections, or requests for the keep-alive control
    conns = (m.get("transactions") if m.get("rate_unit") == "req/s"
             else m.get("connections")) or 0
    # the collectors measure a window inside tsload's: count the
    # connections of that window (it can be seconds shorter when the
    # machine is busy and a snapshot is slow)
    window, elapsed = col.get("window_s"), m.get("elapsed_s")
    if isinstance(window, (int, float)) and elapsed and 0 < window:
        conns = conns * min(window / elapsed, 1.0)
    out = {}
    if isinstance(procs.get("user_s"), (int, float)):
        out["cpu_s"] = procs["user_s"] + (procs.get("sys_s") or 0)
        if conns:
            out["cpu_us_per_conn"] = 1e6 * out["cpu_s"] / conns
    if isinstance(events.get("context-switches"), (int, float)) and conns:
        out["ctxsw_per_conn"] = events["context-switches"] / conns
    if isinstance(events.get("task-clock"), (int, float)):
        out["task_clock_ms"] = events["task-clock"]
    return out


def server_cost_of(rec):
    """Server CPU and perf events of one record: cpu_s, cpu_us_per_conn,
    ctxsw_per_conn, task_clock_ms (those its collectors measured)."""
    return _server_cost_one(rec)


def server_cost(records):
    """Median server CPU and perf events (total, per connection) per cell."""
    out = {}
    for key, recs in _groups(ok_records(records)).items():
        acc = {}
        for r in recs:
            for k, v in _server_cost_one(r).items():
                acc.setdefault(k, []).append(v)
        if acc:
            out[key] = {k: statistics.median(v) for k, v in acc.items()}
    return out
