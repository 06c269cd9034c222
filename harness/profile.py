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

    profilers = ["record", "lock"]   # perf record / perf lock per cell

    [workload.shortconn]
    job = "jobs/shortconn.ini"   # relative to the profile's folder
    concurrency = 64             # any tsload option (tsload --dump-options=json)

Stacks and workloads are the ones harness.registry declares; a workload
table's keys are checked against tsload's own option table, read from
`tsload --dump-options=json`.  Every suite key is declared once in a table
below (name, checker, default, help); unknown keys and bad values raise
ProfileError naming the file, the key and what was expected.
"""
import functools
import json
import os
import re
import subprocess
import tomllib

from . import PROFILES_DIR, REPO_ROOT, registry
from .profilers import PROFILERS

KNOWN_WORKLOADS = tuple(registry.WORKLOADS)
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


def _check_stacks(v):
    """Stack names through the registry, in their canonical spelling."""
    if not isinstance(v, list) or not v:
        raise _Bad("a non-empty list of stacks (" + ", ".join(registry.names_help()) + ")")
    out = []
    for item in v:
        try:
            out.append(registry.parse_stack(item))
        except registry.StackError as e:
            raise _Bad(f"a list of usable stacks; {e}") from None
    if len(set(out)) != len(out):
        raise _Bad(f"a list of stacks without duplicates, got {v!r}")
    return out


def _check_names(v):
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise _Bad("a list of stack names (may be empty)")
    return list(v)


def _optional_stacks(suite, where):
    """Add each optional stack that can be used here; say why for the rest."""
    for name in suite["optional_stacks"]:
        try:
            canon = registry.parse_stack(name)
        except registry.StackError as e:
            suite["warnings"].append(f"{where}: suite.optional_stacks: {name} "
                                     f"left out: {e}")
            continue
        if canon not in suite["stacks"]:
            suite["stacks"].append(canon)


def _check_profilers(v):
    if not isinstance(v, list) or any(p not in PROFILERS for p in v) \
            or len(set(v)) != len(v):
        raise _Bad(f"a list of profilers from {', '.join(PROFILERS)} "
                   "(may be empty), without duplicates")
    return list(v)


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
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item)
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
            # the caller quotes the whole value; name the item only in a list
            raise _Bad(_CORES_WHAT + (f"; item {item!r} is none of these" if isinstance(v, list) else ""))
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
    "stacks": (_check_stacks, ["linux"], "stacks under test"),
    "optional_stacks": (_check_names, [], "stacks added when they can be used "
                        "here (e.g. mtcp once configured), else left out with "
                        "a warning"),
    "workloads": (_list_of(KNOWN_WORKLOADS, "workloads"), None,
                  "workloads to run"),
    "cores": (_check_cores, ["max"], "core counts to sweep"),
    "repetitions": (_int_in(1, 100), 3, "repetitions of every cell"),
    "runtime": (_duration_in(0.5, 3600), 10.0, "measured seconds per cell"),
    "ramp_time": (_duration_in(0, 600), 1.0, "warm-up seconds per cell"),
    "collectors": (_check_bool, True, "run the collectors around each cell"),
    "profilers": (_check_profilers, [], "perf profilers around each cell "
                  "(with collectors): record (flame graphs), lock (contention)"),
    "collector_overhead": (_overhead_list, [],
                           "workloads that also run with collectors off "
                           "at the top core count, to measure their cost"),
    "reference": (_check_str, "", "a reference build (folder of `tcpscale "
                  "reference save`, relative to the repository) measured "
                  "beside every timed linux cell, repetition by repetition; "
                  "the gate compares the two inside the run"),
}

# -------------------------------------------------- tsload's option table

TSLOAD = os.environ.get("TCPSCALE_TSLOAD") or os.path.join(REPO_ROOT, "loadgen", "tsload")
# options the harness sets itself, or that make no sense for a lab client
NOT_PROFILE_KEYS = ("name", "role", "host", "port", "runtime", "ramp_time",
                    "log_interval", "backlog")


@functools.lru_cache(maxsize=None)
def _dump_options(path, mtime):
    try:
        p = subprocess.run([path, "--dump-options=json"], capture_output=True,
                           text=True, timeout=10)
        return {o["name"]: o for o in json.loads(p.stdout)["options"]}
    except (OSError, subprocess.SubprocessError, ValueError, KeyError,
            TypeError):
        return None


def tsload_options(path=None):
    """{name: option} from `tsload --dump-options=json`, without the keys
    the harness sets itself; raises ProfileError if tsload cannot say."""
    path = path or TSLOAD
    try:
        opts = _dump_options(path, os.stat(path).st_mtime)
    except OSError:
        opts = None
    if opts is None:
        raise ProfileError(f"cannot check tsload options: {_rel(path)} is not "
                           "built or has no --dump-options=json (run: make -C "
                           "loadgen)")
    return {k: v for k, v in opts.items() if k not in NOT_PROFILE_KEYS}


_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$",
                      re.I)
_SIZE_MULT = {None: 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1 << 20,
              "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}
_TIME_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(us|ms|s|m|h)?\s*$")
_TIME_US = {"us": 1, "ms": 1e3, "s": 1e6, None: 1e6, "m": 6e7, "h": 3.6e9}


def _number_of(opt, v):
    """The value of v in the option's unit (tsload's own parse rules), or
    raise _Bad saying what the option takes."""
    kind = opt["type"]
    if isinstance(v, bool) and kind != "bool":
        raise _Bad(_what(opt))
    if kind == "bool":
        if v in (True, False, 0, 1) or (isinstance(v, str) and v.lower() in
                                         ("0", "1", "true", "false", "yes", "no", "on", "off")):
            return None
        raise _Bad(_what(opt))
    if kind == "int" and isinstance(v, int):
        return v
    if kind == "float" and isinstance(v, (int, float)):
        return v
    rx, mult = {"size": (_SIZE_RE, _SIZE_MULT), "time": (_TIME_RE, _TIME_US)}.get(kind, (None, None))
    if rx is not None:
        if isinstance(v, (int, float)):
            return v * mult[None]
        m = rx.match(v) if isinstance(v, str) else None
        if m:
            return float(m.group(1)) * mult[m.group(2) and m.group(2).lower()]
    raise _Bad(_what(opt))


def _fmt(x):
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _what(opt):
    kind = opt["type"]
    if kind == "enum":
        return " or ".join(opt["choices"])
    if kind == "str":
        return "a non-empty string"
    if kind == "bool":
        return "true or false (or 0/1)"
    lo, hi = opt["min"], opt["max"]
    if kind == "time":
        return f"a time such as \"500ms\" or \"5s\" from {lo / 1e6:g}s to {hi / 1e6:g}s"
    if kind == "size":
        return f"a size such as 64 or \"4k\" from {_fmt(lo)} to {_fmt(hi)} bytes"
    return f"{'an integer' if kind == 'int' else 'a number'} from {_fmt(lo)} to {_fmt(hi)}"


def check_tsload_value(opt, v):
    """Check one workload option against tsload's table; raises _Bad."""
    if opt["type"] == "enum":
        if v not in opt["choices"]:
            raise _Bad(_what(opt))
        return v
    if opt["type"] == "str":
        return _check_str(v)
    x = _number_of(opt, v)
    if x is not None and not opt["min"] <= x <= opt["max"]:
        raise _Bad(_what(opt))
    return v


# keys of a [workload.NAME] table besides tsload's: (checker, help)
WORKLOAD_KEYS = {
    "job": (_check_str, "the job file, relative to the suite file"),
    "stacks": (_check_stacks,
               "stacks this workload runs on (default: suite.stacks)"),
    "cores": (_check_cores, "core counts of this workload (default: "
                            "suite.cores)"),
    "repetitions": (_int_in(1, 100), "repetitions of this workload's cells, "
                    "at most suite.repetitions (default: all; e.g. fewer for "
                    "an exact metric)"),
}


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
    _optional_stacks(suite, where)
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
    known = tsload_options() if set(table) - set(WORKLOAD_KEYS) else {}
    for k, v in table.items():
        if k in WORKLOAD_KEYS:
            own[k] = v
            continue
        if k not in known:
            raise ProfileError(
                f"{where}: workload.{name}.{k}: unknown key (expected "
                f"{', '.join(WORKLOAD_KEYS)} or a tsload option: "
                f"{', '.join(sorted(known))})")
        try:
            check_tsload_value(known[k], v)
        except _Bad as e:
            raise ProfileError(f"{where}: workload.{name}.{k}: expected {e}, "
                               f"got {v!r}") from None
        options[k] = v
    out = {"job": _rel(job_path), "job_options": options}
    for k in ("stacks", "cores", "repetitions"):
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
