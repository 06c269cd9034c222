"""Report sections that compare stacks (blocks for harness.report): which
server ran, stacks as ratios to linux, the refstack ablation, the USL
scalability fit, where the cycles went (perf record: shares and flame
graphs) and lock contention.  Formatters return blocks or lines, never print.
"""
import os

from . import folded, plots, registry, stackcmp
from .report import fmt_num, fmt_ratio, fmt_us

COUNTER_COLUMNS_MAX = 12


def fmt_p(p):
    return "–" if p is None else (f"{p:.3f}" if p >= 0.001 else "<0.001")


def fmt_share(v):
    return "–" if v is None else f"{100 * v:.1f}%"


def _ratio_cell(r):
    return fmt_ratio(r) if r else "–"


# ------------------------------------------------------------ which server

def _shape(srv):
    """How the server spread over its cores: processes or threads."""
    for key, fmt in (("workers", "worker_processes {}"), ("nbthread", "nbthread {}"),
                     ("threads", "{} threads")):
        if srv.get(key):
            return fmt.format(srv[key])
    return None


def server_rows(records):
    """(stack, workload, cores) -> server program that ran (its processes
    or threads, how it was launched), from the records' tuning."""
    seen = {}
    for r in records:
        if r.get("status") != "ok":
            continue
        t = r.get("tuning") or {}
        srv = t.get("server") or {}
        prog = srv.get("program") or "?"
        if _shape(srv):
            prog += f", {_shape(srv)}"
        if srv.get("launcher"):
            prog += " via " + srv["launcher"]
        feats = (t.get("refstack") or {}).get("features")
        c = r["cell"]
        seen.setdefault((c["stack"], c["workload"], c["cores"]),
                        set()).add(prog + (f" (features {feats})" if feats else ""))
    return seen


def _server_blocks(records):
    seen = server_rows(records)
    if len({k[0] for k in seen}) < 2 and not any(k[0] != "linux" for k in seen):
        return []
    body = [[st, wl, str(n), "; ".join(sorted(p))]
            for (st, wl, n), p in sorted(seen.items())]
    return [("h2", "Servers that ran"),
            ("p", "The server program of each cell (from the records): its "
                  "worker processes or threads, and on refstack the "
                  "launcher that put it on the stack. Without the refstack "
                  "shim, shortconn on refstack runs refstack's native crr "
                  "server, rs-crrd."),
            ("table", ["stack", "workload", "cores", "server"], body)]


# ------------------------------------------------------------- comparison

def versus_table(rows):
    b = rows[0]["baseline"] if rows else "base"
    head = ["stack", "cores", "n", "rate median", f"rate / {b} [95% CI]",
            "p50 µs", f"p50 / {b}", "p99 µs", f"p99 / {b}",
            "CPU µs / conn", f"CPU / {b} [95% CI]", "rate MW p"]
    body = []
    for r in rows:
        body.append([r["stack"], str(r["cores"]), str(r["n"]),
                     fmt_num(r["rate"]["median"]), _ratio_cell(r["rate_ratio"]),
                     fmt_us(r["p50"]["median"]), _ratio_cell(r["p50_ratio"]),
                     fmt_us(r["p99"]["median"]), _ratio_cell(r["p99_ratio"]),
                     fmt_num(r["cpu_per_conn"]["median"], 1),
                     _ratio_cell(r["cpu_per_conn_ratio"]),
                     fmt_p((r["rate_ratio"] or {}).get("p_mw"))])
    return head, body


def format_versus(rows, title):
    """Markdown lines of the within-run comparison (tcpscale compare RUN)."""
    out = [f"# {title}", ""]
    if not rows:
        return out + ["(no finished cells)"]
    out += [f"Ratios to **{rows[0]['baseline']}** in the same run: ratio of the "
            "means over the repetitions with a 95% CI (delta method on logs, "
            "Welch df); MW p: Mann-Whitney U, two-sided. Server CPU per "
            "connection is per request for the keep-alive control.", ""]
    for wl in sorted(set(r["workload"] for r in rows)):
        head, body = versus_table([r for r in rows if r["workload"] == wl])
        out += [f"## {wl}", "", "| " + " | ".join(head) + " |",
                "|" + "---|" * len(head)]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
                for row in body] + [""]
    return out


def _versus_blocks(records):
    rows = stackcmp.versus(records)
    if len({r["stack"] for r in rows}) < 2:
        return []
    base = rows[0]["baseline"]
    out = [("h2", f"Stacks side by side (ratios to {base})"),
           ("p", f"Per workload and core count, each stack against {base} in "
                 "this run: the ratio of the means over the repetitions with "
                 "its 95% CI (delta method, Welch df), for the rate, the "
                 "latency percentiles (tsload, connect to close) and the "
                 "server CPU per connection; MW p is the Mann-Whitney U test "
                 "of the rates. Below 1 is less: fewer connections/s, lower "
                 "latency, less CPU.")]
    for wl in sorted(set(r["workload"] for r in rows)):
        head, body = versus_table([r for r in rows if r["workload"] == wl])
        out += [("h3", wl), ("table", head, body)]
    return out


# --------------------------------------------------------------- ablation

# the mechanism the ablation is about, always shown when counted: shared
# locks, hand-offs between cores, which table answered, which queue accepted
MECHANISM_FIRST = (stackcmp.LOCKS_ACQUIRED, stackcmp.LOCKS_CONTENDED, "xcore_handoffs",
                   "lookup_listen_local", "lookup_listen_global",
                   "lookup_estab_local", "lookup_estab_global",
                   "accept_local", "accept_global")


def _counter_names(rows):
    names = {}
    for r in rows:
        for k, v in r["per_conn"].items():
            names[k] = max(names.get(k, 0), abs(v))
    # the named mechanism first, then the busiest other counters
    first = [k for k in MECHANISM_FIRST if k in names]
    rest = [k for k in names if k not in first and names[k]]
    keep = sorted(rest, key=lambda k: -names[k])[:COUNTER_COLUMNS_MAX - len(first)]
    return first + sorted(keep)


def drops_table(rows):
    """Every non-zero drop reason of the feature sets: count per repetition
    and per 1,000 connections."""
    head = ["features", "cores", "reason", "per repetition", "per 1,000 conn"]
    body = [[r["features"], str(r["cores"]), k, fmt_num(v, 0 if v.is_integer() else 1),
             fmt_num(1000 * v / r["conns"], 3) if r["conns"] else "–"]
            for r in rows for k, v in r["drops"].items()]
    return head, body


def ablation_table(rows):
    names = _counter_names(rows)
    head = ["features", "cores", "n", "rate median", "gain over base [95% CI]",
            "verdict"] + [f"{n} / conn" for n in names]
    body = []
    for r in rows:
        g = r["gain"] or {}
        body.append([r["features"], str(r["cores"]), str(r["n"]),
                     fmt_num(r["rate"]["median"]), _ratio_cell(g),
                     g.get("verdict", "–")]
                    + [fmt_num(r["per_conn"].get(n), 2) for n in names])
    return head, body


def _ablation_blocks(records, run_dir, with_plots):
    rows = stackcmp.ablation(records)
    if not rows:
        return []
    out = [("h2", "Ablation: refstack feature by feature"),
           ("p", "Each refstack feature set against refstack:base (every "
                 "Fastsocket feature off) on the same workload and cores: "
                 "the gain is the ratio of the mean rates with its 95% CI "
                 "(delta method, Welch df); 'higher'/'lower' only when the "
                 "interval excludes 1. Beside the rates, refstack's own "
                 "counters per connection (medians over the repetitions): "
                 "shared-lock acquisitions and contended acquisitions summed "
                 "over every lock (per lock in the lock tables below), "
                 "hand-offs between cores, lookups and accepts by table "
                 "(local or global) — the mechanism at work, visible even "
                 "where 2 cores hide the throughput effect — and below "
                 "each table the frames refstack dropped, by reason.")]
    for wl in sorted(set(r["workload"] for r in rows)):
        wrows = [r for r in rows if r["workload"] == wl]
        head, body = ablation_table(wrows)
        out += [("h3", wl), ("table", head, body)]
        head, body = drops_table(wrows)
        out.append(("table", head, body) if body else
                   ("p", "refstack counted no drop in these cells."
                    if any(r["per_conn"] for r in wrows) else
                    "refstack's counters were not read in these cells."))
        groups = {}
        for r in wrows:
            if r["features"] != "base" and r["gain"] and r["gain"].get("ratio"):
                groups.setdefault(r["cores"], []).append(
                    (r["features"], r["gain"]["ratio"], r["gain"].get("ci95")))
        if with_plots and groups:
            name = f"ablation-{wl}.png"
            plots.gain_bars(groups, f"{wl}: gain over refstack:base",
                            os.path.join(run_dir, name))
            out.append(("img", name, f"{wl} gain over refstack:base"))
    return out


# ------------------------------------------------------------ scalability

def _pm(v, se, digits=4):
    if v is None:
        return "–"
    return f"{v:.{digits}g} ± {se:.2g}" if se is not None else f"{v:.{digits}g}"


def _usl_blocks(records):
    fits = stackcmp.scalability(records)
    if not fits:
        return []
    head = ["stack", "workload", "core counts", "λ (1 core, no contention)",
            "σ (contention)", "κ (coherency)", "N*", "R²",
            "efficiency X(N)/(N·X(1))"]
    body, notes = [], []
    for (stack, wl), f in fits.items():
        eff = ", ".join(f"{n}: {e:.2f}" for n, e in f["efficiency"].items()) or "–"
        counts = ", ".join(map(str, f["core_counts"]))
        if f["ok"]:
            se = f["se"]
            body.append([stack, wl, counts, _pm(f["lambda"], se["lambda"]),
                         _pm(f["sigma"], se["sigma"], 3), _pm(f["kappa"], se["kappa"], 3),
                         str(f["n_star"]) if f["n_star"] else "none (κ = 0)",
                         f"{f['r2']:.3f}" if f["r2"] is not None else "–", eff])
        else:
            body.append([stack, wl, counts, "–", "–", "–", "–", "–", eff])
            notes.append(f"{stack} {wl}: {f['reason']}")
    out = [("h2", "Scalability: Universal Scalability Law"),
           ("p", "X(N) = λN / (1 + σ(N−1) + κN(N−1)) fitted to every "
                 "repetition's rate by bounded non-linear least squares "
                 "(scipy curve_fit; λ > 0, 0 ≤ σ, κ ≤ 1), with standard "
                 "errors; N* = ⌊√((1−σ)/κ)⌋ is the core count of peak "
                 "throughput. Efficiency is the median rate at N cores over "
                 "N times the 1-core median. The fitted curves are drawn on "
                 "the throughput plots above."),
           ("table", head, body)]
    if notes:
        out.append(("ul", notes))
    return out


# --------------------------------------------------------- perf evidence

def _top_cores(keys):
    top = {}
    for stack, wl, cores in keys:
        top[(stack, wl)] = max(cores, top.get((stack, wl), 0))
    return top


FOREIGN_WARN = 0.10      # a cell's share of other programs worth a warning


def _foreign_lines(prof):
    out = []
    for p in prof.values():
        for cid, share, worst in p.get("foreign_cells") or []:
            if share is not None and share > FOREIGN_WARN:
                out.append(f"cell {cid}: {fmt_share(share)} of the busy samples "
                           "on the server's cores were other programs ("
                           + ", ".join(f"{c} {fmt_share(v)}" for c, v in worst) + ")")
    return sorted(out)


def _shares_blocks(prof):
    head = ["stack", "workload", "cores", "busy samples"] + \
        [f"{k}" for k in folded.SHARE_KEYS] + ["other programs"]
    body = [[st, wl, str(c), fmt_num(p["samples"])]
            + [fmt_share(p["shares"].get(k)) for k in folded.SHARE_KEYS]
            + [fmt_share(p.get("foreign"))]
            for (st, wl, c), p in sorted(prof.items()) if p["shares"]]
    if not body:
        return []
    warn = _foreign_lines(prof)
    return [("h2", "Where the cycles went (perf record)"),
            ("p", "Shares of the busy cpu-clock samples on the server's cores "
                  "(perf record -g, medians over the repetitions; idle left "
                  "out). A sample counts for the first category found walking "
                  "from its leaf to the root: locks (spin locks, mutexes), "
                  "epoll, VFS/file (file objects, descriptors, inodes), "
                  "TCP/IP (the kernel's or refstack's, which keeps Linux's "
                  "names, and packet I/O), else the application (user space) "
                  "or other kernel work (scheduler, system call entry). On "
                  "the local lab the client shares these cores, so its "
                  "samples are in the graphs too (frame 1 is the command). "
                  "'other programs' is the share of busy samples in commands "
                  "that are not the lab's (not tsload, the servers, perf or "
                  "kernel threads): other work on a shared machine, which "
                  "the shares and the rates include."),
            ("table", head, body)] + (
        [("p", f"**Other programs above {fmt_share(FOREIGN_WARN)} of a cell's "
               "busy samples** (its figures are of a shared machine):"),
         ("ul", warn)] if warn else [])


def _flame_blocks(prof):
    out = []
    top = _top_cores(prof)
    for wl in sorted({k[1] for k in prof}):
        items = []
        for (st, w, c), p in sorted(prof.items()):
            if w != wl or c != top[(st, w)] or not p["tree"]:
                continue
            items.append({"id": "fg-" + registry.slug(st).replace("+", "_") + "-" + wl,
                          "title": f"{st}, {wl}, {c} core(s)", "tree": p["tree"],
                          "note": f"{fmt_num(p['samples'])} busy samples, "
                                  f"{len(p['folded'])} repetition(s);",
                          "links": [(f"folded {i}", "raw/" + f) for i, f in p["folded"]]})
        if items:
            out += [("h3", f"Flame graphs: {wl}"), ("flames", items)]
    if out:
        out.insert(0, ("p", "Interactive flame graphs (d3-flame-graph), one per "
                            "stack side by side, at the top core count, the "
                            "repetitions merged: click a frame to zoom, type "
                            "in the box to highlight a function."))
    return out


def _count(v):
    return fmt_num(v, 0 if v is None or float(v).is_integer() else 1)


def lock_table(rows):
    head = ["source", "lock", "caller / where", "acquisitions", "contended",
            "total wait µs", "max wait µs", "avg wait µs"]
    body = [[r["source"], r["lock"], r["caller"], _count(r.get("acquired")),
             _count(r["contended"]), fmt_num(r["wait_total_us"], 1),
             fmt_num(r["wait_max_us"], 1), fmt_num(r["wait_avg_us"], 2)]
            for r in rows]
    return head, body


def _lock_blocks(prof):
    folds = []
    for (st, wl, c), p in sorted(prof.items()):
        if not p["locks"] and not p["lock_recorded"]:
            continue
        inner = []
        if p["locks"]:
            head, body = lock_table(p["locks"])
            inner.append(("table", head, body))
        else:
            inner.append(("p", "No contended lock recorded."))
        if registry.split(st)[0] == "refstack" and not p["stack_locks"]:
            inner.append(("p", "refstack's own per-lock counters: none in these "
                               "cells (this build's counters have no lock_* "
                               "entries); the rows above are the kernel's."))
        folds.append(("fold", f"{st} {wl} at {c} core(s)", inner))
    if not folds:
        return []
    return [("h2", "Lock contention"),
            ("p", "Per cell (repetitions summed, then divided by their "
                  "number): for the kernel, `perf lock record` on the "
                  "server's cores then `perf lock contention -i FILE`, the "
                  "top contended locks by total wait with their caller; for "
                  "refstack, the stack's own per-lock counters. The same "
                  "columns for both.")] + folds


def build_blocks(run, records, run_dir, with_plots=True):
    prof = stackcmp.profiles(records, run_dir)
    return (_server_blocks(records) + _versus_blocks(records)
            + _ablation_blocks(records, run_dir, with_plots)
            + _usl_blocks(records) + _shares_blocks(prof) + _flame_blocks(prof)
            + _lock_blocks(prof))
