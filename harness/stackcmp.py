"""Stacks side by side, from stored records (plain data for the report and
`tcpscale compare`):

- versus(records, baseline): per workload and core count, each stack's
  rate, latency percentiles and server CPU per connection as a ratio to the
  baseline stack (linux) with a 95% CI (analyze.compare_values);
- ablation(records): each refstack feature set against refstack:base, the
  gain in rate with its CI, and refstack's own counters per connection
  (the mechanism, visible even where the cores hide the throughput);
- scalability(records): the USL fit of rate vs cores per stack and workload;
- profiles(records, run_dir): perf record shares and the merged flame-graph
  tree, and the lock table (perf lock for the kernel, refstack's per-lock
  counters), per (stack, workload, cores).

Only records with status "ok" of the statistics' cells (analyze.ok_records)
enter.  Repetitions are the samples.
"""
import os
import re
import statistics

from . import analyze, folded, registry, usl

METRICS = (("rate", "rate"), ("p50", "p50_us"), ("p99", "p99_us"),
           ("cpu_per_conn", None))
# refstack counters shown per connection in the ablation: the mechanism
MECHANISM = re.compile(
    r"(^|_)(handoffs?|lookups?|accepts?|steer\w*|local|global|parked|adopted)(_|$)")
# per-lock counters: lock_<name>[_acquired] (acquisitions), lock_<name>_contended,
# lock_<name>_wait_ns (total), lock_<name>_wait_max_ns, lock_<name>_recovered
# (taken over from a dead process: not a row of its own)
_LOCK_COUNTER = re.compile(
    r"^lock_(?P<lock>.+?)(_(?P<field>acquired|contended|wait_max_ns|wait_ns|recovered))?$")
LOCKS_ACQUIRED, LOCKS_CONTENDED = "shared-lock acquisitions", "contended acquisitions"


def lock_counter(name):
    """(lock, field) of a refstack per-lock counter, else None."""
    m = _LOCK_COUNTER.match(name)
    return (m.group("lock"), m.group("field") or "acquired") if m else None


def _groups(records):
    out = {}
    for r in analyze.ok_records(records):
        out.setdefault(analyze.cell_key(r), []).append(r)
    return out


def cpu_per_conn(rec):
    """Server CPU µs per connection (per request for keepalive) of a record."""
    return analyze._server_cost_one(rec).get("cpu_us_per_conn")


def _values(recs, metric):
    if metric == "cpu_per_conn":
        return [cpu_per_conn(r) for r in recs]
    return [(r.get("metrics") or {}).get(metric) for r in recs]


def pick_baseline(stacks, wanted="linux"):
    if wanted in stacks:
        return wanted
    return sorted(stacks)[0] if stacks else None


def versus(records, baseline="linux"):
    """Rows {"workload", "cores", "stack", "baseline", "unit", "<m>": summary,
    "<m>_ratio": compare_values} for every stack but the baseline."""
    groups = _groups(records)
    base = pick_baseline({k[0] for k in groups}, baseline)
    rows = []
    for (stack, wl, cores), recs in sorted(groups.items(),
                                            key=lambda kv: (kv[0][1], kv[0][2],
                                                            kv[0][0] != base, kv[0][0])):
        ref = groups.get((base, wl, cores), [])
        row = {"workload": wl, "cores": cores, "stack": stack, "baseline": base,
               "unit": registry.WORKLOADS.get(wl).unit
               if wl in registry.WORKLOADS else "conn/s", "n": len(recs)}
        for name, metric in METRICS:
            vals = _values(recs, metric or name)
            row[name] = analyze.summarize(vals)
            row[name + "_ratio"] = analyze.compare_values(
                _values(ref, metric or name), vals) if ref and stack != base else None
        rows.append(row)
    return rows


def _stack_counters(rec):
    return ((rec.get("collectors") or {}).get("stack") or {}).get("counters") or {}


def _mechanism_per_conn(recs):
    """Median per connection over the records of each mechanism counter,
    and of the shared-lock acquisitions and contended acquisitions summed
    over every lock (the per-lock detail is the lock table's)."""
    acc = {}
    for r in recs:
        conns = (r.get("metrics") or {}).get("connections") or 0
        if not conns:
            continue
        locks = {LOCKS_ACQUIRED: 0, LOCKS_CONTENDED: 0}
        for k, v in _stack_counters(r).items():
            lk = lock_counter(k)
            if lk:
                if lk[1] == "acquired":
                    locks[LOCKS_ACQUIRED] += v
                elif lk[1] == "contended":
                    locks[LOCKS_CONTENDED] += v
            elif MECHANISM.search(k) and not k.startswith("drop_"):
                acc.setdefault(k, []).append(v / conns)
        if any(lock_counter(k) for k in _stack_counters(r)):
            for k, v in locks.items():
                acc.setdefault(k, []).append(v / conns)
    return {k: statistics.median(v) for k, v in sorted(acc.items())}


def _drops(recs):
    """{reason: mean count per repetition} of the non-zero drop_* counters."""
    acc = {}
    for r in recs:
        for k, v in _stack_counters(r).items():
            if k.startswith("drop_") or k == "tx_ring_full":
                acc[k] = acc.get(k, 0) + v
    n = max(1, len(recs))
    return {k: v / n for k, v in sorted(acc.items()) if v}


def _set_order(fset):
    """base, the features one by one in refstack's order, sets of several,
    full last."""
    if fset in ("base", "full"):
        return (0 if fset == "base" else 3, 0, fset)
    try:
        feats = registry.refstack_features()["features"]
    except registry.StackError:
        feats = []
    names = fset.split(",")
    pos = [feats.index(n) if n in feats else len(feats) for n in names]
    return (1 if len(names) == 1 else 2, pos, fset)


def ablation(records):
    """Rows per (workload, cores, refstack feature set): rate summary, gain
    over refstack:base (compare_values of the rate), counters per
    connection.  [] when the run has no refstack:base."""
    groups = _groups(records)
    rows = []
    for (stack, wl, cores), recs in sorted(groups.items()):
        kind, fset = registry.split(stack)
        if kind != "refstack":
            continue
        base = groups.get(("refstack:base", wl, cores))
        rows.append({"workload": wl, "cores": cores, "stack": stack,
                     "features": fset, "n": len(recs),
                     "rate": analyze.summarize(_values(recs, "rate")),
                     "gain": analyze.compare_values(_values(base, "rate"),
                                                    _values(recs, "rate"))
                     if base else None,
                     "per_conn": _mechanism_per_conn(recs),
                     "conns": statistics.median(
                         [(r.get("metrics") or {}).get("connections") or 0 for r in recs]),
                     "drops": _drops(recs)})
    rows.sort(key=lambda r: (r["workload"], r["cores"], _set_order(r["features"])))
    return rows if any(r["features"] == "base" for r in rows) else []


def scalability(records):
    """{(stack, workload): usl.fit result} over every ok repetition."""
    pts = {}
    for r in analyze.ok_records(records):
        m = r.get("metrics") or {}
        if m.get("rate"):
            stack, wl, cores = analyze.cell_key(r)
            pts.setdefault((stack, wl), []).append((cores, m["rate"]))
    return {k: usl.fit(v) for k, v in sorted(pts.items())}


# ---------------------------------------------------------------- profiles

def _folded_of(rec, run_dir):
    name = (rec.get("artefacts") or {}).get("perf_folded")
    if not name:
        return None
    for path in (os.path.join(run_dir, "raw", name), os.path.join(run_dir, name)):
        if os.path.exists(path):
            with open(path) as f:
                return folded.parse(f.read())
    return None


def _median_shares(recs):
    acc = {}
    for r in recs:
        sh = ((r.get("collectors") or {}).get("record") or {}).get("shares") or {}
        for k, v in sh.items():
            if v is not None:
                acc.setdefault(k, []).append(v)
    return {k: statistics.median(acc[k]) for k in folded.SHARE_KEYS if k in acc}


def kernel_lock_rows(recs):
    """perf lock rows of the records, summed by (type, caller)."""
    acc = {}
    for r in recs:
        for row in ((r.get("collectors") or {}).get("lock") or {}).get("rows") or []:
            k = (row["type"], row["caller"])
            a = acc.setdefault(k, {"source": "kernel (perf lock)", "lock": row["type"],
                                   "caller": row["caller"], "contended": 0,
                                   "wait_total_us": 0.0, "wait_max_us": 0.0})
            a["contended"] += row["contended"]
            a["wait_total_us"] += row["wait_total_us"]
            a["wait_max_us"] = max(a["wait_max_us"], row["wait_max_us"])
    return list(acc.values())


def stack_lock_rows(recs):
    """refstack's per-lock counters (lock_<name>_{acquired,contended,
    wait_ns,wait_max_ns}) of the records, summed per lock."""
    acc, waits = {}, set()
    for r in recs:
        for k, v in _stack_counters(r).items():
            lk = lock_counter(k)
            if not lk:
                continue
            lock, f = lk
            a = acc.setdefault(lock, {
                "source": "refstack (counters)", "lock": lock,
                "caller": "refstack lock " + lock, "contended": 0,
                "wait_total_us": 0.0, "wait_max_us": 0.0, "acquired": 0})
            if f.startswith("wait"):
                waits.add(lock)
            if f == "acquired":
                a["acquired"] += v
            elif f == "contended":
                a["contended"] += v
            elif f == "wait_ns":
                a["wait_total_us"] += v / 1e3
            elif f == "wait_max_ns":
                a["wait_max_us"] = max(a["wait_max_us"], v / 1e3)
    for lock, a in acc.items():
        if lock not in waits:       # a build that counts no wait times
            a["wait_total_us"] = a["wait_max_us"] = None
    return list(acc.values())


def lock_table(recs, top=10):
    """The same columns for both stacks, worst total wait first; waits are
    summed over the repetitions, so divided by their number here."""
    n = max(1, len(recs))
    rows = kernel_lock_rows(recs) + stack_lock_rows(recs)
    for r in rows:
        r["contended"] = r["contended"] / n
        if "acquired" in r:
            r["acquired"] = r["acquired"] / n
        if r["wait_total_us"] is not None:
            r["wait_total_us"] = r["wait_total_us"] / n
        r["wait_avg_us"] = r["wait_total_us"] / r["contended"] \
            if r["contended"] and r["wait_total_us"] is not None else None
    rows.sort(key=lambda r: (-(r["wait_total_us"] or 0), -r["contended"],
                             -r.get("acquired", 0), r["caller"]))
    return rows[:top]


def profiles(records, run_dir):
    """{(stack, workload, cores): {"shares", "samples", "tree", "folded",
    "locks", "lock_recorded"}} for the cells that ran a profiler."""
    out = {}
    for key, recs in sorted(_groups(records).items()):
        rec_p = [r for r in recs if (r.get("collectors") or {}).get("record")]
        lock_p = [r for r in recs if (r.get("collectors") or {}).get("lock")
                  or ((r.get("collectors") or {}).get("stack") or {}).get("counters")]
        if not rec_p and not lock_p:
            continue
        per_rec = [(r["cell"]["id"], _folded_of(r, run_dir)) for r in rec_p]
        stacks = [s for _, s in per_rec if s]
        merged = folded.merge(stacks)
        out[key] = {
            "shares": _median_shares(rec_p),
            "samples": sum(((r["collectors"]["record"]).get("busy") or 0) for r in rec_p),
            "tree": folded.tree(merged) if merged else None,
            "folded": [(r["cell"]["id"], r["artefacts"]["perf_folded"]) for r in rec_p
                       if (r.get("artefacts") or {}).get("perf_folded")],
            "locks": lock_table(lock_p) if lock_p else [],
            "stack_locks": bool(stack_lock_rows(recs)),
            "foreign": folded.foreign(merged)[0] if merged else None,
            "foreign_cells": [(cid,) + folded.foreign(st) for cid, st in per_rec if st],
            "lock_recorded": any((r.get("collectors") or {}).get("lock") for r in recs),
        }
    return out
