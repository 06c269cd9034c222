"""Benchmark suites: parse and validate a TOML profile into a plain dict.

A suite file looks like:

    [suite]
    name = "default"
    description = "..."
    stacks = ["linux"]
    workloads = ["shortconn", "nginx", "haproxy"]
    cores = "1..max"            # or [1, 2, 4] or "max"
    repetitions = 3
    runtime = "10s"
    ramp_time = "2s"
    collectors = true
    collector_overhead = ["shortconn"]

    [workload.shortconn]
    job = "jobs/shortconn.ini"   # relative to the profile's folder
    concurrency = 64             # any tsload job key listed in TSLOAD_KEYS

Every key is declared once in a table below (name, checker, default, help);
unknown keys and bad values raise ProfileError naming the file, the key and
what was expected.
"""
import os
import re
import tomllib

from . import PROFILES_DIR, REPO_ROOT

KNOWN_STACKS = ("linux", "refstack", "mtcp")
KNOWN_WORKLOADS = ("shortconn", "nginx", "haproxy", "keepalive", "memif")
MAX_CORES_LIMIT = 1024


class ProfileError(Exception):
    """A suite file that cannot be used; the message names file and key."""


class _Bad(Exception):
    """Raised by a checker: the message says what was expected."""


# ---------------------------------------------------------------- checkers

def _check_str(v):
    if not isinstance(v, str) or not v.strip():
        raise _Bad("a non-empty string")
    return v


def _check_bool(v):
    if not isinstance(v, bool):
        raise _Bad("true or false")
    return v


def _int_in(lo, hi):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise _Bad(f"an integer from {lo} to {hi}")
        return v
    return check


def _num_in(lo, hi):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) \
                or not lo <= v <= hi:
            raise _Bad(f"a number from {lo} to {hi}")
        return v
    return check


_DUR_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*$")
_DUR_MULT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(v):
    """Seconds from 10, 2.5, "10s", "500ms", "1m"; raises _Bad."""
    if isinstance(v, bool):
        raise _Bad("a duration such as 10, \"10s\", \"500ms\" or \"1m\"")
    if isinstance(v, (int, float)):
        return float(v)
    m = _DUR_RE.match(v) if isinstance(v, str) else None
    if not m:
        raise _Bad("a duration such as 10, \"10s\", \"500ms\" or \"1m\"")
    return float(m.group(1)) * _DUR_MULT[m.group(2)]


def _duration_in(lo, hi):
    def check(v):
        s = parse_duration(v)
        if not lo <= s <= hi:
            raise _Bad(f"a duration from {lo:g}s to {hi:g}s")
        return s
    return check


def _list_of(choices, what):
    def check(v):
        if not isinstance(v, list) or not v:
            raise _Bad(f"a non-empty list of {what}")
        for item in v:
            base = item.split(":", 1)[0] if isinstance(item, str) else None
            if base not in choices:
                raise _Bad(f"a list of {what} ({', '.join(choices)}), "
                           f"got {item!r}")
        if len(set(v)) != len(v):
            raise _Bad(f"a list of {what} without duplicates")
        return list(v)
    return check


def _overhead_list(v):
    if not isinstance(v, list):
        raise _Bad("a list of workload names (may be empty)")
    for item in v:
        if item not in KNOWN_WORKLOADS:
            raise _Bad(f"workload names ({', '.join(KNOWN_WORKLOADS)}), "
                       f"got {item!r}")
    return list(v)


_RANGE_RE = re.compile(r"^\s*([0-9]+|max)\s*\.\.\s*([0-9]+|max)\s*$")
_CORES_WHAT = "core counts: a list like [1, 2, 4], \"1..max\", \"1..8\" or \"max\""


def _check_cores(v):
    """Keep the spec symbolic ("max" resolved later against the machine)."""
    items = v if isinstance(v, list) else [v]
    if not items:
        raise _Bad(_CORES_WHAT)
    out = []
    for item in items:
        if isinstance(item, bool):
            raise _Bad(_CORES_WHAT)
        if isinstance(item, int):
            if not 1 <= item <= MAX_CORES_LIMIT:
                raise _Bad(_CORES_WHAT + f"; {item} is out of range")
            out.append(item)
        elif isinstance(item, str) and item.strip() == "max":
            out.append("max")
        elif isinstance(item, str) and _RANGE_RE.match(item):
            lo, hi = _RANGE_RE.match(item).groups()
            if lo == "max":
                raise _Bad(_CORES_WHAT + f"; range {item!r} starts at max")
            if hi != "max" and int(hi) < int(lo):
                raise _Bad(_CORES_WHAT + f"; range {item!r} is empty")
            if int(lo) < 1:
                raise _Bad(_CORES_WHAT + "; core counts start at 1")
            out.append((int(lo), hi if hi == "max" else int(hi)))
        else:
            raise _Bad(_CORES_WHAT + f", got {item!r}")
    return out


def resolve_cores(spec, machine_cores):
    """Expand a checked cores spec to a sorted list clamped to the machine.

    Returns (cores, dropped) where dropped lists counts above the machine's.
    """
    wanted = set()
    for item in spec:
        if item == "max":
            wanted.add(machine_cores)
        elif isinstance(item, tuple):
            lo, hi = item
            hi = machine_cores if hi == "max" else hi
            wanted.update(range(lo, hi + 1))
        else:
            wanted.add(item)
    kept = sorted(c for c in wanted if c <= machine_cores)
    dropped = sorted(c for c in wanted if c > machine_cores)
    return kept, dropped


# ------------------------------------------------------------ key tables

# name: (checker, default (None = required), help)
SUITE_KEYS = {
    "name": (_check_str, None, "suite name"),
    "description": (_check_str, "", "one line shown by `tcpscale list`"),
    "stacks": (_list_of(KNOWN_STACKS, "stacks"), ["linux"],
               "stacks under test"),
    "workloads": (_list_of(KNOWN_WORKLOADS, "workloads"), None,
                  "workloads to run"),
    "cores": (_check_cores, ["max"], "core counts to sweep"),
    "repetitions": (_int_in(1, 100), 3, "repetitions of every cell"),
    "runtime": (_duration_in(0.5, 3600), 10.0, "measured seconds per cell"),
    "ramp_time": (_duration_in(0, 600), 1.0, "warm-up seconds per cell"),
    "collectors": (_check_bool, True, "run the collectors around each cell"),
    "collector_overhead": (_overhead_list, [],
                           "workloads that also run with collectors off "
                           "at the top core count, to measure their cost"),
}

# tsload job keys a workload table may set (tsload contract); value checkers
TSLOAD_KEYS = {
    "concurrency": _int_in(1, 1_000_000),
    "threads": _int_in(1, 4096),
    "rate": _num_in(0, 1e9),
    "req_size": _int_in(0, 1 << 30),
    "resp_size": _int_in(0, 1 << 30),
    "keepalive": _int_in(0, 1),
    "connections": _int_in(0, 1 << 62),
    "close": lambda v: v if v in ("fin", "rst") else _raise("fin or rst"),
    "recycle": _int_in(0, 1),
    "engine": lambda v: v if v in ("crr", "rr", "http")
    else _raise("crr, rr or http"),
    "path": _check_str,
    "percentiles": _check_str,
    "timeout": lambda v: parse_duration(v) and v,
    "source_addrs": _check_str,
    "log_interval": lambda v: parse_duration(v) and v,
}

# keys of a [workload.NAME] table besides tsload's: (checker, help)
WORKLOAD_KEYS = {
    "job": (_check_str, "the job file, relative to the suite file"),
    "stacks": (_list_of(KNOWN_STACKS, "stacks"),
               "stacks this workload runs on (default: suite.stacks)"),
    "cores": (_check_cores, "core counts of this workload (default: "
                            "suite.cores)"),
}


def _raise(what):
    raise _Bad(what)


# --------------------------------------------------------------- parsing

def find_suite(name_or_path, profiles_dir=PROFILES_DIR):
    """A path to a TOML file, or a suite name looked up in profiles/."""
    if name_or_path.endswith(".toml") or os.sep in name_or_path:
        if not os.path.isfile(name_or_path):
            raise ProfileError(f"{name_or_path}: no such suite file")
        return os.path.abspath(name_or_path)
    path = os.path.join(profiles_dir, name_or_path + ".toml")
    if not os.path.isfile(path):
        known = ", ".join(list_suites(profiles_dir)) or "none"
        raise ProfileError(f"unknown suite {name_or_path!r}: no {path} "
                           f"(suites: {known})")
    return path


def list_suites(profiles_dir=PROFILES_DIR):
    try:
        names = os.listdir(profiles_dir)
    except OSError:
        return []
    return sorted(n[:-5] for n in names if n.endswith(".toml"))


def load_suite(name_or_path, machine_cores, profiles_dir=PROFILES_DIR):
    """Read, validate and resolve a suite; returns a plain dict."""
    path = find_suite(name_or_path, profiles_dir)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"{_rel(path)}: TOML syntax error: {e}") from None
    except OSError as e:
        raise ProfileError(f"{_rel(path)}: {e.strerror}") from None
    return parse_suite(data, path, machine_cores)


def parse_suite(data, path, machine_cores):
    """Validate an already-decoded TOML document (dict)."""
    where = _rel(path)
    _reject_unknown(data, {"suite", "workload", "gate"}, where, "")
    if not isinstance(data.get("suite"), dict):
        raise ProfileError(f"{where}: [suite]: missing table "
                           "(expected a [suite] section)")
    suite = _check_table(data["suite"], SUITE_KEYS, where, "suite")
    wl_tables = data.get("workload", {})
    if not isinstance(wl_tables, dict):
        raise ProfileError(f"{where}: workload: expected [workload.NAME] "
                           "tables")
    for name in wl_tables:
        if name not in KNOWN_WORKLOADS:
            raise ProfileError(f"{where}: workload.{name}: unknown workload "
                               f"(expected one of {', '.join(KNOWN_WORKLOADS)})")
    for name in suite["collector_overhead"]:
        if name not in suite["workloads"]:
            raise ProfileError(f"{where}: suite.collector_overhead: expected "
                               f"workloads listed in suite.workloads, "
                               f"got {name!r}")
    suite["workload"] = {
        name: _parse_workload(wl_tables.get(name, {}), name, path)
        for name in suite["workloads"]}
    for name, wl in suite["workload"].items():
        if "cores" in wl:
            wl["cores"], _dropped = resolve_cores(wl["cores"], machine_cores)
            if not wl["cores"]:
                raise ProfileError(f"{where}: workload.{name}.cores: expected "
                                   "at least one count <= this machine's "
                                   f"{machine_cores} cores")
    cores, dropped = resolve_cores(suite["cores"], machine_cores)
    if not cores:
        raise ProfileError(f"{where}: suite.cores: expected at least one "
                           f"count <= this machine's {machine_cores} cores, "
                           f"got {data['suite'].get('cores')!r}")
    suite["cores_spec"] = data["suite"].get("cores", "max")
    suite["cores"] = cores
    suite["warnings"] = []
    if dropped:
        suite["warnings"].append(
            f"{where}: suite.cores: skipping {dropped} (machine has "
            f"{machine_cores} cores)")
    suite["path"] = where
    suite["machine_cores"] = machine_cores
    suite["gate"] = _gate_table(data.get("gate", {}), where)
    return suite


def _gate_table(table, where):
    """The [gate] table, checked now, kept as written (the gate applies it
    over its defaults of the day)."""
    from . import gateconf
    try:
        gateconf.parse_conf(table, f"{where}: gate")
    except gateconf.GateError as e:
        raise ProfileError(str(e)) from None
    return dict(table)


def _parse_workload(table, name, path):
    where = _rel(path)
    if not isinstance(table, dict):
        raise ProfileError(f"{where}: workload.{name}: expected a table")
    job = table.get("job", f"jobs/{name}.ini")
    key = f"workload.{name}.job"
    try:
        _check_str(job)
    except _Bad as e:
        raise ProfileError(f"{where}: {key}: expected {e}, got {job!r}") \
            from None
    job_path = os.path.normpath(os.path.join(os.path.dirname(path), job))
    if not os.path.isfile(job_path):
        raise ProfileError(f"{where}: {key}: expected an existing tsload job "
                           f"file, {job_path} does not exist")
    options, own = {}, {}
    for k, v in table.items():
        if k in WORKLOAD_KEYS:
            own[k] = v
            continue
        if k not in TSLOAD_KEYS:
            raise ProfileError(
                f"{where}: workload.{name}.{k}: unknown key (expected "
                f"{', '.join(WORKLOAD_KEYS)} or a tsload option: "
                f"{', '.join(sorted(TSLOAD_KEYS))})")
        try:
            TSLOAD_KEYS[k](v)
        except _Bad as e:
            raise ProfileError(f"{where}: workload.{name}.{k}: expected {e}, "
                               f"got {v!r}") from None
        options[k] = v
    out = {"job": _rel(job_path), "job_options": options}
    for k in ("stacks", "cores"):
        if k in own:
            try:
                out[k] = WORKLOAD_KEYS[k][0](own[k])
            except _Bad as e:
                raise ProfileError(f"{where}: workload.{name}.{k}: expected "
                                   f"{e}, got {own[k]!r}") from None
    return out


def _check_table(table, keys, where, section):
    _reject_unknown(table, set(keys), where, section + ".")
    out = {}
    for key, (check, default, _help) in keys.items():
        if key not in table:
            if default is None:
                raise ProfileError(f"{where}: {section}.{key}: missing "
                                   f"(expected {_help})")
            out[key] = check(default) if key in ("cores", "runtime",
                                                  "ramp_time") else default
            continue
        try:
            out[key] = check(table[key])
        except _Bad as e:
            raise ProfileError(f"{where}: {section}.{key}: expected {e}, "
                               f"got {table[key]!r}") from None
    return out


def _reject_unknown(table, allowed, where, prefix):
    for key in table:
        if key not in allowed:
            raise ProfileError(f"{where}: {prefix}{key}: unknown key "
                               f"(expected one of {', '.join(sorted(allowed))})")


def _rel(path):
    path = os.path.abspath(path)
    if path.startswith(REPO_ROOT + os.sep):
        return os.path.relpath(path, REPO_ROOT)
    return path
