"""Reports: report.md + report.html (+ PNG plots) from stored records.

The content is built once as a list of blocks, then rendered to Markdown and
to self-contained HTML (the images are PNG files beside it).  Formatters
return lines and never print.
"""
import html
import os
import time

from . import analyze, plots, registry, viewer
from .env import format_env

SNMP_COLUMNS = ("ActiveOpens", "PassiveOpens", "RetransSegs",
                "ListenOverflows", "ListenDrops", "TW", "EstabResets",
                "OutRsts", "AttemptFails")


# ---------------------------------------------------------- number format

def fmt_num(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def fmt_us(v):
    if v is None:
        return "–"
    return f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def fmt_pct(v):
    return "–" if v is None else f"{100 * v:.1f}%"


def fmt_ci(ci, digits=0):
    """A CI of a positive quantity; a t interval's negative end shows as 0."""
    if not ci:
        return "–"
    return f"{fmt_num(max(0.0, ci[0]), digits)} – {fmt_num(ci[1], digits)}"


def fmt_ratio(r):
    if r.get("ratio") is None:
        return "–"
    s = f"{r['ratio']:.3f}"
    if r.get("ci95"):
        s += f" [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]"
    return s


def fmt_time(t):
    if not t:
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


# ----------------------------------------------------------------- blocks

def _status_blocks(run, records):
    ok = sum(1 for r in records if r["status"] == "ok")
    failed = [r for r in records if r["status"] == "error"
              and not r["cell"].get("retried_as")]
    retried = sum(1 for r in records if r["cell"].get("retried_as"))
    planned = len(run.get("plan", []))
    suite = run.get("suite") or {}
    dur = (run.get("finished") or 0) - (run.get("started") or 0)
    blocks = [("p", f"Suite **{suite.get('name', '?')}** "
                    f"({suite.get('path', '?')}), started "
                    f"{fmt_time(run.get('started'))}, "
                    f"{dur:.0f} s, status **{run.get('status', '?')}**: "
                    f"{ok} of {planned} cells ok, {len(failed)} failed"
                    + (f" ({retried} failed attempts run again, listed "
                       "below)" if retried else "") + ".")]
    if run.get("error"):
        blocks.append(("p", f"**Run error:** {run['error']}"))
    if run.get("status") == "interrupted":
        blocks.append(("p", f"**This run was interrupted** after {len(records)} "
                            f"of {planned} cells; the tables below use the "
                            "cells that finished."))
    for r in run.get("resumed") or []:
        git = r.get("git") or {}
        blocks.append(("p", f"Resumed {fmt_time(r.get('at'))} ({r.get('status_before')} "
                            f"before): {r.get('cells')} cells, code {git.get('short')}"
                            f"{' (dirty)' if git.get('dirty') else ''}."))
    return blocks


def _env_blocks(run, records):
    env = run.get("env") or {}
    items = format_env(env)
    lab = run.get("lab") or {}
    tuning = next((r.get("tuning") for r in records if r.get("tuning")), {})
    servers = {}
    for r in records:
        servers.update(r.get("servers") or {})
    if servers:
        items.append("servers: " + ", ".join(f"{k} {v}" for k, v in
                                               sorted(servers.items())))
    blocks = [("h2", "Environment"), ("ul", items)]
    if lab:
        title = (f"Lab (Ansible inventory {lab.get('inventory')})"
                 if lab.get("kind") == "ansible" else "Lab (network namespaces)")
        blocks.append(("details", title, _kv_lines(lab)))
    tuning = {k: v for k, v in (tuning or {}).items() if k != "lab"}
    hosts = tuning.pop("hosts", None) if lab.get("kind") == "ansible" else None
    if tuning:
        blocks.append(("details", "Tuning of the servers (first cell)",
                       _kv_lines(tuning)))
    first = next((r for r in records if (r.get("tuning") or {}).get("hosts")), None)
    for host, knobs in sorted((hosts or {}).items()):
        blocks.append(("details", f"What the tuning role found and set on {host} "
                                  f"({first['cell']['cores']} cores, first cell)",
                       [f"{k}: {v.get('want')} ({v.get('status')}"
                        + (f", was {v.get('was')})" if v.get("status") in ("set", "would set")
                           else ")") for k, v in sorted(knobs.items())]))
    return blocks


def _kv_lines(d, prefix=""):
    lines = []
    for k, v in sorted(d.items(), key=lambda kv: str(kv[0])):
        if isinstance(v, dict):
            lines.extend(_kv_lines(v, f"{prefix}{k}."))
        else:
            lines.append(f"{prefix}{k} = {v}")
    return lines


def _workload_table(rows):
    head = ["stack", "cores", "n", f"{rows[0]['unit']} median", "min – max",
            "mean 95% CI", "CV", "speedup", "p50 µs", "p99 µs", "errors"]
    body = []
    base = {}
    for r in rows:
        if r["cores"] == 1 and r["rate"]["median"]:
            base[r["stack"]] = r["rate"]["median"]
    for r in rows:
        rate = r["rate"]
        speed = (rate["median"] / base[r["stack"]]
                 if rate["median"] and r["stack"] in base else None)
        n = f"{r['n']}" + (f" ({r['failed']} failed)" if r["failed"] else "")
        body.append([r["stack"], str(r["cores"]), n, fmt_num(rate["median"]),
                     f"{fmt_num(rate['min'])} – {fmt_num(rate['max'])}"
                     if rate["n"] else "–",
                     fmt_ci(rate["ci95"]), fmt_pct(rate["cv"]),
                     f"{speed:.2f}x" if speed else "–",
                     fmt_us(r["p50_us"]["median"]),
                     fmt_us(r["p99_us"]["median"]), str(r["errors"])])
    return ("table", head, body)


def _latency_table(rows):
    head = ["stack", "cores", "n", "p50 µs median", "p50 95% CI", "p50 CV",
            "p99 µs median", "p99 min – max", "p99 95% CI", "p99 CV"]
    body = []
    for r in rows:
        p50, p99 = r["p50_us"], r["p99_us"]
        body.append([r["stack"], str(r["cores"]), str(p99["n"]),
                     fmt_us(p50["median"]), fmt_ci(p50["ci95"]),
                     fmt_pct(p50["cv"]), fmt_us(p99["median"]),
                     f"{fmt_us(p99['min'])} – {fmt_us(p99['max'])}"
                     if p99["n"] else "–",
                     fmt_ci(p99["ci95"]), fmt_pct(p99["cv"])])
    return ("table", head, body)


def _workload_blocks(records, run_dir, with_plots):
    from . import stackcmp
    rows = analyze.summarize_cells(records)
    fits = stackcmp.scalability(records)
    blocks = [("h2", "Throughput and latency"),
              ("p", "Per cell over its repetitions: median, min – max, the "
                    "95% confidence interval of the mean (Student t), the "
                    "coefficient of variation, speedup over 1 core, and "
                    "the medians of tsload's p50/p99 latency (connect to "
                    "close, µs).")]
    for wl in sorted(w for w in set(r["workload"] for r in rows)
                     if not registry.own_runner(w)):
        wrows = [r for r in rows if r["workload"] == wl]
        blocks += [("h3", wl), _workload_table(wrows),
                   ("p", f"{wl} latency over the repetitions (tsload's "
                         "per-run percentiles, connect to close):"),
                   _latency_table(wrows)]
        if with_plots and any(r["rate"]["n"] for r in wrows):
            name = f"throughput-{wl}.png"
            plots.throughput_vs_cores(wrows, f"{wl}: throughput vs cores",
                                      wrows[0]["unit"],
                                      os.path.join(run_dir, name),
                                      {st: f for (st, w), f in fits.items()
                                       if w == wl})
            blocks.append(("img", name, f"{wl} throughput vs cores"))
    return blocks


def _cpu_blocks(records, run_dir, with_plots):
    per = analyze.cpu_by_core(records)
    if not per:
        return [("h2", "Per-core utilisation"),
                ("p", "No CPU collector data in these records.")]
    blocks = [("h2", "Per-core utilisation"),
              ("p", "Mean over repetitions of /proc/stat per core during the "
                    "measured window (%). On the local lab the client, the "
                    "server and the backend share these cores.")]
    for key in sorted(per):
        stack, wl, cores = key
        if cores != max(k[2] for k in per if k[:2] == key[:2]):
            continue
        head = ["core"] + list(analyze.CPU_FIELDS)
        body = [[str(c)] + [f"{v.get(f, 0):.1f}" for f in analyze.CPU_FIELDS]
                for c, v in per[key].items()]
        blocks += [("h3", f"{stack} {wl} at {cores} cores"),
                   ("table", head, body)]
        if with_plots:
            name = f"cpu-{registry.slug(stack)}-{wl}-c{cores}.png"
            plots.cpu_per_core(per[key], f"{stack} {wl}, {cores} cores",
                               os.path.join(run_dir, name))
            blocks.append(("img", name, f"{wl} per-core utilisation"))
    return blocks


def _snmp_blocks(records):
    med = analyze.snmp_medians(records)
    if not med:
        return [("h2", "TCP counter deltas"),
                ("p", "No TCP counter data in these records.")]
    present = set().union(*[set(v) for v in med.values()])
    cols = [c for c in SNMP_COLUMNS if c in present]
    head = ["stack", "workload", "cores"] + cols
    body = [[k[0], k[1], str(k[2])] + [fmt_num(v.get(c)) for c in cols]
            for k, v in sorted(med.items())]
    return [("h2", "TCP counter deltas"),
            ("p", "Median over repetitions of the server host's TCP counters "
                  "(/proc/net/snmp, /proc/net/netstat) across the cell."),
            ("table", head, body)]


def _server_cpu_blocks(records):
    rows = analyze.server_cost(records)
    if not rows:
        return []
    head = ["stack", "workload", "cores", "server CPU s (usr + sys)",
            "CPU µs / conn", "context switches / conn",
            "perf task-clock ms"]
    body = [[k[0], k[1], str(k[2]), fmt_num(v.get("cpu_s"), 2),
             fmt_num(v.get("cpu_us_per_conn"), 1),
             fmt_num(v.get("ctxsw_per_conn"), 2),
             fmt_num(v.get("task_clock_ms"))]
            for k, v in sorted(rows.items())]
    return [("h2", "Server cost"),
            ("p", "Medians over repetitions: CPU time of the server processes "
                  "(/proc/PID/stat) and perf stat software events during the "
                  "measured window, per completed connection (per request "
                  "for the keep-alive control)."),
            ("table", head, body)]


def _overhead_blocks(records):
    rows = analyze.collector_overhead(records)
    if not rows:
        return []
    head = ["stack", "workload", "cores", "collector", "on: median",
            "off: median", "on/off [95% CI]", "verdict"]
    body = [[r["stack"], r["workload"], str(r["cores"]),
             r.get("collector", "all"),
             fmt_num(r["on"]["median"]), fmt_num(r["off"]["median"]),
             fmt_ratio(r), r["verdict"]] for r in rows]
    return [("h2", "Collector overhead"),
            ("p", "Throughput with the collectors on divided by the same cell "
                  "without them, run back to back (order alternated): 'all' is "
                  "every collector against none; 'perf record' and 'perf lock' "
                  "the full cell against its twin without that profiler. A "
                  "ratio below 1 is what the collector costs; 'same' means "
                  "within noise."),
            ("table", head, body)]


def collector_errors(records):
    """One line per collector that failed in a cell, naming the cell, the
    collector and the host it ran for."""
    out = []
    for r in records:
        host = _server_host(r.get("lab") or {})
        for name, v in sorted((r.get("collectors") or {}).items()):
            if not isinstance(v, dict):
                continue
            subs = [(name, v)] + [(f"{name}.{k}", x) for k, x in sorted(v.items())
                                  if isinstance(x, dict)]
            out += [f"cell {r['cell']['id']}, collector {what} (host {host}): "
                    f"{x['error']}" for what, x in subs
                    if isinstance(x.get("error"), str)]
    return out


def _server_host(lab):
    """The server host: the inventory's name, or the netns lab's namespace."""
    if isinstance(lab.get("server"), str):
        return lab["server"]
    ns = ((lab.get("hosts") or {}).get("server") or {}).get("netns")
    return f"server (netns {ns})" if ns else "server"


def _instruction_blocks(records):
    rows = [r for r in analyze.summarize_cells(records)
            if r["instructions_per_conn"]["n"]]
    if not rows:
        return []
    head = ["stack", "workload", "n", "instructions / connection",
            "min – max"]
    body = [[r["stack"], r["workload"], str(r["instructions_per_conn"]["n"]),
             fmt_num(r["instructions_per_conn"]["median"], 1),
             f"{fmt_num(r['instructions_per_conn']['min'], 1)} – "
             f"{fmt_num(r['instructions_per_conn']['max'], 1)}"]
            for r in rows]
    return [("h2", "Instruction counts (callgrind)"),
            ("p", "refstack's memif benchmark under callgrind: the "
                  "instructions of both stacks and the benchmark loop per "
                  "connection (difference of two runs of different length, "
                  "so set-up cancels). They repeat to the instruction."),
            ("table", head, body)]


def _history_blocks(run, records, run_dir, with_plots):
    from . import history
    return history.report_blocks(run, records, run_dir,
                                 os.path.dirname(os.path.abspath(run_dir)),
                                 with_plots)


def _failure_blocks(records):
    bad = [r for r in records if r["status"] not in ("ok", "cannot-run")]
    out = []
    if bad:
        out += [("h2", "Cells that did not finish"),
                ("ul", [f"{r['cell']['id']}: {r['status']}"
                        + (f", run again as {r['cell']['retried_as']}"
                           if r["cell"].get("retried_as") else "")
                        + (f" — {r['error']}" if r.get("error") else "")
                        for r in bad])]
    errs = collector_errors(records)
    if errs:
        out += [("h2", "Collector errors"),
                ("p", "The cell's measurement stands; what this collector "
                      "would have added to it is missing."),
                ("ul", errs)]
    cannot = {}
    for r in records:
        if r["status"] == "cannot-run":
            why = (r.get("error") or "").split(": cannot run: ", 1)[-1]
            cannot.setdefault(why, []).append(r["cell"]["id"])
    if cannot:
        out += [("h2", "Cells that cannot run here"),
                ("p", "Not failures: the stack cannot run this workload on "
                      "this machine yet, for the reason given; nothing was "
                      "started for these cells."),
                ("ul", [f"**{why}**: {', '.join(ids)}"
                        for why, ids in sorted(cannot.items())])]
    return out


def _artefact_href(run_dir, path):
    if os.path.isabs(path):
        return os.path.relpath(path, run_dir)
    if os.path.exists(os.path.join(run_dir, path)):
        return path
    return os.path.join("raw", path)


def _raw_blocks(run_dir, records):
    links = [("run.json", "run.json")]
    for r in records:
        cid = r["cell"]["id"]
        links.append((f"records/{cid}.json", f"records/{cid}.json"))
        for name, path in sorted((r.get("artefacts") or {}).items()):
            if isinstance(path, str) and path:
                links.append((f"{cid}: {name}", _artefact_href(run_dir, path)))
    return [("h2", "Raw data"), ("links", links)]


def build_blocks(run, records, run_dir, with_plots=True):
    with_plots = with_plots and plots.available()
    blocks = [("h1", f"tcpscale report: {run['run_id']}")]
    blocks += _status_blocks(run, records)
    blocks += _env_blocks(run, records)
    blocks += _workload_blocks(records, run_dir, with_plots)
    blocks += _cpu_blocks(records, run_dir, with_plots)
    blocks += _snmp_blocks(records)
    blocks += _server_cpu_blocks(records)
    from . import report_stacks
    blocks += report_stacks.build_blocks(run, records, run_dir, with_plots)
    blocks += _overhead_blocks(records)
    blocks += _instruction_blocks(records)
    blocks += _history_blocks(run, records, run_dir, with_plots)
    blocks += _failure_blocks(records)
    blocks += _raw_blocks(run_dir, records)
    if not with_plots:
        blocks.insert(2, ("p", "Plots skipped: matplotlib is not installed "
                               "(apt-get install python3-matplotlib)."))
    return blocks


# -------------------------------------------------------------- renderers

def _md_cell(s):
    return str(s).replace("|", "\\|")


def render_md(blocks):
    out = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            out += ["#" * int(kind[1]) + " " + b[1], ""]
        elif kind == "p":
            out += [b[1], ""]
        elif kind == "ul":
            out += [f"- {i}" for i in b[1]] + [""]
        elif kind == "details":
            out += [f"{b[1]}:", "", "```"] + b[2] + ["```", ""]
        elif kind == "table":
            out.append("| " + " | ".join(_md_cell(h) for h in b[1]) + " |")
            out.append("|" + "---|" * len(b[1]))
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |"
                    for row in b[2]]
            out.append("")
        elif kind == "img":
            out += [f"![{b[2]}]({b[1]})", ""]
        elif kind == "links":
            out += [f"- [{t}]({h})" for t, h in b[1]] + [""]
        elif kind == "fold":
            out += [f"#### {b[1]}", ""] + render_md(b[2])
        elif kind == "flames":
            out += [f"- flame graph {it['title']} (in report.html): "
                    + ", ".join(f"[{t}]({h})" for t, h in it.get("links", []))
                    for it in b[1]] + [""]
    return out


_CSS = """body{font-family:sans-serif;max-width:72em;margin:1em auto;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee}pre{background:#f7f7f7;padding:.5em}"""


def _inline(s):
    """Escape, then turn **bold** into <strong>."""
    parts = html.escape(s).split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p
                   for i, p in enumerate(parts))


def render_html(blocks, title, viewer_ok=True):
    flames = viewer_ok and any(b[0] == "flames" for b in _flat(blocks))
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>{html.escape(title)}</title>", f"<style>{_CSS}</style>"] \
        + (viewer.head_html() if flames else []) + ["</head><body>"]
    out += _html_blocks(blocks, viewer_ok)
    if flames:
        out += viewer.draw_script()
    out.append("</body></html>")
    return out


def _flat(blocks):
    for b in blocks:
        yield b
        if b[0] == "fold":
            yield from _flat(b[2])


def _html_blocks(blocks, viewer_ok):
    out = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{html.escape(b[1])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{_inline(b[1])}</p>")
        elif kind == "ul":
            out += ["<ul>"] + [f"<li>{_inline(i)}</li>" for i in b[1]] \
                + ["</ul>"]
        elif kind == "details":
            out += [f"<details><summary>{html.escape(b[1])}</summary><pre>"] \
                + [html.escape(line) for line in b[2]] + ["</pre></details>"]
        elif kind == "table":
            out.append("<table><tr>" + "".join(
                f"<th>{html.escape(h)}</th>" for h in b[1]) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{html.escape(str(c))}</td>"
                                     for c in row) + "</tr>" for row in b[2]]
            out.append("</table>")
        elif kind == "img":
            out.append(f"<p><img src=\"{html.escape(b[1])}\" "
                       f"alt=\"{html.escape(b[2])}\"></p>")
        elif kind == "links":
            out += ["<ul>"] + [
                f"<li><a href=\"{html.escape(h)}\">{html.escape(t)}</a></li>"
                for t, h in b[1]] + ["</ul>"]
        elif kind == "fold":
            out += [f"<details><summary>{html.escape(b[1])}</summary>"] \
                + _html_blocks(b[2], viewer_ok) + ["</details>"]
        elif kind == "flames":
            out += viewer.flames_html(b[1], viewer_ok)
    return out


def write_report(run, records, run_dir, with_plots=True):
    """Write report.md and report.html into run_dir; returns their paths."""
    blocks = build_blocks(run, records, run_dir, with_plots)
    md = os.path.join(run_dir, "report.md")
    page = os.path.join(run_dir, "report.html")
    viewer_ok = viewer.available()
    if viewer_ok and any(b[0] == "flames" for b in _flat(blocks)):
        viewer.copy_assets(run_dir)
    with open(md, "w") as f:
        f.write("\n".join(render_md(blocks)) + "\n")
    with open(page, "w") as f:
        f.write("\n".join(render_html(blocks, f"tcpscale {run['run_id']}",
                                       viewer_ok)) + "\n")
    return md, page


# ---------------------------------------------------------------- compare

def format_compare(run_a, recs_a, run_b, recs_b):
    """Markdown lines: per cell B/A ratio of throughput and p99 with CIs."""
    rows = analyze.compare(recs_a, recs_b)
    out = [f"# tcpscale compare: B = {run_b['run_id']} vs "
           f"A = {run_a['run_id']}", ""]
    out += _compare_env(run_a, run_b)
    out += [
           "Ratio of the means B/A with a 95% confidence interval (delta "
           "method on logs, Welch df); 'higher'/'lower' only when the "
           "interval excludes 1. MW p: Mann-Whitney U test of the rates "
           "(two-sided); bootstrap: 95% CI of the ratio of the median rates "
           f"(with {analyze.BOOT_MIN_N} or more repetitions a side).", ""]
    head = ["stack", "workload", "cores", "A median", "B median",
            "B/A rate [95% CI]", "rate", "MW p", "bootstrap",
            "B/A p99 [95% CI]", "p99"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for r in rows:
        out.append("| " + " | ".join([
            r["stack"], r["workload"], str(r["cores"]),
            f"{fmt_num(r['a']['median'])} (n={r['a']['n']})",
            f"{fmt_num(r['b']['median'])} (n={r['b']['n']})",
            fmt_ratio(r["rate"]), r["rate"]["verdict"],
            "–" if r["rate"].get("p_mw") is None else f"{r['rate']['p_mw']:.3f}",
            fmt_ci(r["rate"].get("boot_ci95"), 3),
            fmt_ratio(r["p99"]), r["p99"]["verdict"]]) + " |")
    if not rows:
        out.append("(no cells in common)")
    return out


def _env_brief(run):
    env = run.get("env") or {}
    git = (env.get("git") or {}).get("short") or "no git"
    return (f"{env.get('host')}, kernel {env.get('kernel')}, "
            f"{env.get('cpu_model')} x {env.get('cores')}, code {git}, "
            f"suite {(run.get('suite') or {}).get('name')}, "
            f"status {run.get('status')}")


def _compare_env(run_a, run_b):
    out = [f"- A: {_env_brief(run_a)}", f"- B: {_env_brief(run_b)}"]
    ea, eb = run_a.get("env") or {}, run_b.get("env") or {}
    diff = [k for k in ("host", "kernel", "cpu_model", "cores")
            if ea.get(k) != eb.get(k)]
    if diff:
        out.append(f"- warning: the runs differ in {', '.join(diff)}: a "
                   "ratio mixes the change under test with that")
    return out + [""]


def format_list(runs):
    """Lines for `tcpscale list`."""
    if not runs:
        return ["no runs recorded yet (run `tcpscale run SUITE`)"]
    out = [f"{'run':<28} {'suite':<10} {'status':<12} {'cells':>7}  started"]
    for r in runs:
        out.append(f"{r['run_id']:<28} {r['suite'] or '?':<10} "
                   f"{r['status'] or '?':<12} "
                   f"{r['n_done'] or 0:>3}/{r['n_cells'] or 0:<3}  "
                   f"{fmt_time(r['started'])}")
    return out
