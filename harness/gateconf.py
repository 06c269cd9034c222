"""The gate's settings and the metrics it knows, declared once.

Light on purpose (no numpy/scipy): profile.py reads a suite's [gate] table
with it.  The settings come from GATE_KEYS, in this order of precedence:
`tcpscale gate` options, the candidate suite's [gate] table, the defaults.
"""
import math
import re

from . import analyze


class GateError(Exception):
    """A gate that cannot be computed (bad option, no baseline): exit 2."""


# ------------------------------------------------------------------ metrics

def _metric_value(name):
    return lambda rec: (rec.get("metrics") or {}).get(name)


def _cpu_per_conn(rec):
    return analyze.server_cost_of(rec).get("cpu_us_per_conn")


# name: (how to read it from a record, unit, "higher"/"lower" is better,
#        "stat" or "exact", help)
METRICS = {
    "rate": (_metric_value("rate"), "/s", "higher", "stat",
             "connections/s (requests/s for the keep-alive control)"),
    "p99": (_metric_value("p99_us"), "µs", "lower", "stat",
            "p99 latency, connect to close"),
    "cpu_per_conn": (_cpu_per_conn, "µs", "lower", "stat",
                     "server CPU (usr + sys) per connection"),
    "instructions": (_metric_value("instructions_per_conn"), "instr", "lower",
                     "exact", "refstack memif instructions per connection "
                              "(callgrind, both stacks)"),
}


def other_load(rec):
    """Share of the machine the other processes took during the record's
    window (collectors "others"), or None if not measured."""
    v = ((rec.get("collectors") or {}).get("others") or {}).get("share")
    return v if isinstance(v, (int, float)) else None


def disturbed(rec, conf):
    load = other_load(rec)
    return load is not None and load > conf["max_other_load"]


def metric_values(records, metric):
    get = METRICS[metric][0]
    out = []
    for r in records:
        v = get(r)
        if isinstance(v, (int, float)) and not isinstance(v, bool) \
                and math.isfinite(v) and v > 0:
            out.append(float(v))
    return out


# ------------------------------------------------------------- configuration

_PCT_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")


class BadValue(Exception):
    """A configuration value that does not parse; the message says what was
    expected."""


def parse_fraction(v, lo=0.0, hi=1.0):
    """0.05, "5%" or "5 %" -> 0.05."""
    if isinstance(v, str):
        m = _PCT_RE.match(v)
        if not m:
            try:
                v = float(v)
            except ValueError:
                raise BadValue("a fraction such as 0.05 or a percentage "
                               "such as \"5%\"") from None
        else:
            v = float(m.group(1)) / 100
    if isinstance(v, bool) or not isinstance(v, (int, float)) \
            or not lo < v < hi:
        raise BadValue(f"a fraction between {lo:g} and {hi:g} (exclusive) "
                       "or a percentage such as \"5%\"")
    return float(v)


def _positive_int(v):
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise BadValue("a whole number >= 0")
    return v


def _duration(v):
    from .profile import parse_duration, _Bad
    try:
        return parse_duration(v)
    except _Bad as e:
        raise BadValue(str(e)) from None


def _choice(*names):
    def check(v):
        if v not in names:
            raise BadValue(" or ".join(repr(n) for n in names))
        return v
    return check


def _baseline_spec(v):
    parse_baseline(v)
    return v


def _per_metric(parse):
    """One value for every statistical metric ("5%"), or a table
    {metric: "5%"}."""
    def check(v):
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                if k not in METRICS or METRICS[k][3] != "stat":
                    raise BadValue("metric names " + ", ".join(
                        m for m in METRICS if METRICS[m][3] == "stat")
                        + f" (got {k!r})")
                out[k] = parse(x)
            return out
        f = parse(v)
        return {m: f for m in METRICS if METRICS[m][3] == "stat"}
    return check


def _fraction_or_zero(v):
    return 0.0 if v in (0, "0", "0%") else parse_fraction(v)


_min_effects = _per_metric(parse_fraction)


def _metric_list(v):
    if not isinstance(v, list) or not v or any(m not in METRICS for m in v):
        raise BadValue("a non-empty list of metrics: " + ", ".join(METRICS))
    return list(v)


# Every gate option, declared once: key: (checker, default, help).  The
# [gate] table of a suite file and `tcpscale gate` options both use it.
GATE_KEYS = {
    "baseline": (_baseline_spec, "history:5",
                 "a run (id, prefix, latest), history[:K] (the last K runs "
                 "of the suite on the baseline branch), or reference (only "
                 "the reference build measured in the candidate run); cells "
                 "measured beside the reference build are compared with it "
                 "whatever the baseline"),
    "branch": (lambda v: v if isinstance(v, str) and v.strip()
               else _raise("a branch name"), "main",
               "the branch whose runs make the history"),
    "metrics": (_metric_list, list(METRICS), "the metrics gated"),
    "min_effect": (_min_effects, "5%",
                   "smallest change of a statistical metric that counts, "
                   "one value or a table per metric"),
    "pair_offset": (_per_metric(_fraction_or_zero), "0%",
                    "spread (sd, log) of the steady offset between the two "
                    "sides of a run's pairs when both are one build, from "
                    "run to run (`tcpscale calibrate` measures it): added "
                    "to the pairs' own uncertainty, since more pairs in one "
                    "run do not shrink it; one value or a table per metric"),
    "exact_threshold": (parse_fraction, "0.5%",
                        "smallest change of an exact metric (instructions) "
                        "that counts"),
    "alpha": (lambda v: parse_fraction(v, 0, 0.5), 0.02,
              "significance level of a cell, all its statistical metrics "
              "together: a cell whose build did not change is called "
              "regressed with probability at most alpha / 2 (and improved "
              "at most alpha / 2); each metric's rank test and bootstrap "
              "interval get the share of it that holds the cell to that "
              "(between alpha / k and alpha for k metrics, from their "
              "correlation)"),
    "max_other_load": (lambda v: parse_fraction(v, 0, 1.0001), "10%",
                       "a repetition during which the machine's other "
                       "processes took more than this share of its CPU is "
                       "left out of the time metrics of a cell compared "
                       "with other runs (a named run or the history); a "
                       "cell measured beside the reference build keeps "
                       "every pair (both sides share the load) and only "
                       "counts those above it in its reason"),
    "unknown": (_choice("fail", "pass"), "fail",
                "exit status when cells are unknown and none regressed: "
                "fail (3) or pass (0)"),
    "escalate_reps": (_positive_int, 10,
                      "most repetitions added to an unknown cell by "
                      "re-running it (0: never re-run)"),
    "escalate_step": (lambda v: _positive_int(v) or _raise("at least 1"), 5,
                      "repetitions added per re-run round"),
    "escalate_time": (_duration, 300.0,
                      "most seconds spent re-running unknown cells"),
    "job_time": (_duration, 0.0,
                 "most seconds for the candidate run and its re-runs "
                 "together, as a CI job's slot (0: no such cap): the "
                 "re-runs get at most this less the run's own time, and "
                 "at most escalate_time"),
}


# keys with a value per statistical metric (METRIC=X on the command line)
PER_METRIC = ("min_effect", "pair_offset")


def _raise(what):
    raise BadValue(what)


def default_conf():
    return {k: check(default) for k, (check, default, _h) in GATE_KEYS.items()}


def parse_conf(table, where):
    """A [gate] table (dict) -> a complete conf; errors name where.key."""
    if not isinstance(table, dict):
        raise GateError(f"{where}: expected a table")
    conf = default_conf()
    for k, v in table.items():
        if k not in GATE_KEYS:
            raise GateError(f"{where}.{k}: unknown key (expected one of "
                            f"{', '.join(sorted(GATE_KEYS))})")
        try:
            conf[k] = GATE_KEYS[k][0](v)
        except BadValue as e:
            raise GateError(f"{where}.{k}: expected {e}, got {v!r}") from None
        if k in PER_METRIC and isinstance(v, dict):   # a table adds up
            conf[k] = dict(default_conf()[k], **conf[k])
    return conf


def override(conf, key, value, where):
    """One option from the command line on top of a conf."""
    try:
        if key in PER_METRIC and isinstance(value, str) and "=" in value:
            m, _, x = value.partition("=")
            conf[key] = dict(conf[key],
                             **GATE_KEYS[key][0]({m.strip(): x}))
        else:
            conf[key] = GATE_KEYS[key][0](value)
    except BadValue as e:
        raise GateError(f"{where}: expected {e}, got {value!r}") from None
    return conf


def parse_baseline(spec):
    """"history", "history:K" -> ("history", K); "reference" ->
    ("reference", None); anything else -> ("run", spec)."""
    if not isinstance(spec, str) or not spec.strip():
        raise BadValue("a run id, history[:K] or reference")
    if spec == "reference":
        return "reference", None
    if spec == "history" or spec.startswith("history:"):
        k = spec.partition(":")[2] or "5"
        if not k.isdigit() or not 1 <= int(k) <= 1000:
            raise BadValue("history:K with K a whole number from 1 to 1000")
        return "history", int(k)
    return "run", spec
