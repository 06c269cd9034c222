"""The gate's outputs from its result dict: a terminal table, a Markdown
summary for a CI comment, JUnit XML for CI dashboards.  Formatters return
text and never print.

A result (harness.gatecmd.run_gate) holds: gate_id, candidate, git,
baseline {spec, runs, warnings}, conf, rows (one per cell and metric, see
harness.gate.compare_cells), cells {cell: verdict}, verdict, exit_code,
escalation, warnings.
"""
import xml.etree.ElementTree as ET

from .gate import VERDICTS
from .gateconf import METRICS

HEADLINE = {"regressed": "REGRESSED", "unknown": "UNKNOWN",
            "improved": "PASS (improved)", "same": "PASS"}


def _num(v):
    if v is None:
        return "–"
    return f"{v:,.1f}" if abs(v) < 100 else f"{v:,.0f}"


def _ratio(r):
    if r.get("ratio") is None:
        return "–"
    s = f"{r['ratio']:.3f}"
    if r.get("ci") and r["ci"][0] != r["ci"][1]:
        s += f" [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"
    return s


def _p(r):
    """p, and the level it was held to (the cell's share of alpha)."""
    if r.get("p") is None:
        return "–"
    return f"{r['p']:.2g}" + (f"/{r['level']:.2g}" if r.get("level")
                              is not None else "")


def counts(res):
    c = {v: 0 for v in VERDICTS}
    for v in res["cells"].values():
        c[v] += 1
    return c


def headline(res):
    c = counts(res)
    base = res["baseline"]
    paired = sorted(set(r["cell"] for r in res["rows"]
                        if r.get("baseline") == "reference"))
    vs = f"{base['spec']} ({len(base['runs'])} run" + (
        "s" if len(base["runs"]) != 1 else "") + ")"
    if paired:
        vs = ("the reference build measured beside it (" + (
            "every cell" if len(paired) == len(res["cells"]) else
            f"{len(paired)} cells") + ")" + (
            "" if base["spec"] == "reference" else ", else " + vs))
    return (f"tcpscale gate: {HEADLINE[res['verdict']]} — "
            + ", ".join(f"{c[v]} {v}" for v in VERDICTS)
            + f" (cells); candidate {res['candidate']} ({res['git'] or '?'}) "
              f"vs {vs}")


def _rows_sorted(res):
    order = {v: i for i, v in enumerate(VERDICTS)}
    return sorted(res["rows"], key=lambda r: (order[r["verdict"]], r["cell"],
                                              r["metric"]))


def _escalation_lines(res):
    esc = res.get("escalation") or {}
    out = [f"{esc['undecidable']} metric(s) that more pairs cannot decide "
           "(the run-to-run offset alone keeps them open) decided by their "
           "estimate, not re-run"] if esc.get("undecidable") else []
    if not esc.get("rounds") and not esc.get("skipped"):
        return out
    if esc.get("skipped"):
        return [f"re-runs of unknown cells: none ({esc['skipped']})"] + out
    return out + [f"re-runs of unknown cells: {len(esc['rounds'])} round(s), "
            f"{esc['added']} repetitions added in {esc['seconds']:.0f} s "
            f"(caps: {esc['max_reps']} repetitions per cell, "
            f"{esc['max_time']:.0f} s)"
            + (f"; stopped: {esc['stopped']}" if esc.get("stopped") else "")
            + (f"; {esc['settled']} metric(s) still unknown there decided "
               "by their estimate" if esc.get("settled") else "")]


def format_terminal(res):
    out = [headline(res)]
    out += [f"warning: {w}" for w in res.get("warnings", [])]
    out += _escalation_lines(res)
    head = (f"{'verdict':<10} {'cell':<26} {'metric':<13} {'baseline':>10} "
            f"{'candidate':>10} {'ratio [CI]':>24} {'p/level':>13}  why")
    out += ["", head, "-" * len(head)]
    for r in _rows_sorted(res):
        out.append(f"{r['verdict']:<10} {r['cell']:<26} {r['metric']:<13} "
                   f"{_num(r['base_median']):>10} {_num(r['cand_median']):>10} "
                   f"{_ratio(r):>24} {_p(r):>13}  "
                   f"n={r['n_base']}/{r['n_cand']}; {r['reason']}")
    return out


def _md(s):
    return str(s).replace("|", "\\|")


def format_markdown(res):
    """A CI comment: the headline, the cells that are not "same", then every
    row folded."""
    conf = res["conf"]
    out = [f"### {headline(res)}", ""]
    out += [f"- warning: {w}" for w in res.get("warnings", [])]
    out += [f"- {line}" for line in _escalation_lines(res)]
    out += [f"- baseline runs: {', '.join(res['baseline']['runs'])}",
            f"- method: a cell's time metrics tested together at alpha "
            f"{conf['alpha']:g} (an unchanged cell is regressed at most "
            f"{50 * conf['alpha']:g}% of the time; each metric at the level "
            "in its row); beside the reference build pair by pair "
            "(Hodges-Lehmann estimate over its standard error), else "
            "Mann-Whitney U and a bootstrap interval of the ratio of "
            "medians candidate/baseline; minimum effect "
            + ", ".join(f"{m} {100 * e:g}%"
                        for m, e in sorted(conf["min_effect"].items()))
            + f"; instructions {100 * conf['exact_threshold']:g}% exact", ""]
    head = ["verdict", "cell", "metric", "baseline", "candidate",
            "ratio [CI]", "p/level", "n", "why"]

    def table(rows):
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            lines.append("| " + " | ".join(_md(x) for x in [
                f"**{r['verdict']}**" if r["verdict"] in ("regressed",
                                                          "unknown")
                else r["verdict"], r["cell"], r["metric"],
                _num(r["base_median"]), _num(r["cand_median"]), _ratio(r),
                _p(r), f"{r['n_base']}/{r['n_cand']}", r["reason"]]) + " |")
        return lines
    notable = [r for r in _rows_sorted(res) if r["verdict"] != "same"]
    if notable:
        out += table(notable) + [""]
    else:
        out += ["Every cell and metric: same.", ""]
    out += ["<details><summary>every cell and metric</summary>", ""]
    out += table(_rows_sorted(res)) + ["", "</details>", ""]
    return out


def format_junit(res):
    """JUnit XML: a test suite per gate, a test case per cell and metric;
    regressed is a failure, unknown is skipped."""
    c = counts(res)
    rows = _rows_sorted(res)
    suite = ET.Element("testsuite", {
        "name": f"tcpscale gate {res['candidate']}",
        "tests": str(len(rows)),
        "failures": str(sum(r["verdict"] == "regressed" for r in rows)),
        "skipped": str(sum(r["verdict"] == "unknown" for r in rows)),
        "errors": "0", "timestamp": res.get("created_iso", "")})
    props = ET.SubElement(suite, "properties")
    for k, v in (("baseline", res["baseline"]["spec"]),
                 ("baseline_runs", " ".join(res["baseline"]["runs"])),
                 ("verdict", res["verdict"]),
                 ("cells", ", ".join(f"{c[v]} {v}" for v in VERDICTS))):
        ET.SubElement(props, "property", {"name": k, "value": v})
    for r in rows:
        case = ET.SubElement(suite, "testcase", {
            "classname": r["cell"], "name": r["metric"], "time": "0"})
        text = (f"{r['verdict']}: {METRICS[r['metric']][4]}: baseline "
                f"{_num(r['base_median'])}, candidate "
                f"{_num(r['cand_median'])}, ratio {_ratio(r)}, p/level "
                f"{_p(r)}, n {r['n_base']}/{r['n_cand']}; {r['reason']}")
        if r["verdict"] == "regressed":
            ET.SubElement(case, "failure", {"message": r["reason"],
                                            "type": "regression"}).text = text
        elif r["verdict"] == "unknown":
            ET.SubElement(case, "skipped", {"message": r["reason"]})
        ET.SubElement(case, "system-out").text = text
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
