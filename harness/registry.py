"""Which stacks and workloads exist: the one place the profile parser, the
plan and the runner all read.

A stack in a profile is a kind, optionally with a variant after a colon:

    linux              the host kernel's TCP (tuning recorded per cell)
    refstack:SET       the reference stack with a feature set (base, full,
                       or a comma list such as listen,rfd); SET is required
    mtcp               an mTCP installation, only when one is configured

Each kind is one entry of STACKS.  Its adapter module
(harness/workloads/<adapter>.py) runs the workloads on that stack:

    SERVERS = {workload: start(lab, cell, rundir, job_path, servers)
               -> (servers under test, settings)}
    cannot_run(cell) -> None, or why this cell cannot run here (a missing
                        program, a missing feature), said cell by cell
    cell_lab(lab, cell) -> context manager: what the stack changes in the
                        lab for one cell (refstack takes the kernel address
                        off the server's interface), undone on exit
    tuning(lab, cell, settings) -> dict recorded in the cell's record
    counters(servers) -> None or {"counters": {name: n}, "per_core": [...]}:
                        the stack's own counters, read before and after the
                        measured window
    NEEDS_OFFLOADS_OFF  (optional) True if the stack needs GRO/GSO/TSO off
                        on the client link; the lab then does it for every
                        cell of the run, so all stacks see the same lab
    ONE_SEGMENT_WORKLOADS (optional) workloads whose backends must sit on
                        the client's L2 segment (the stack owns one
                        interface); the run's lab is then one segment

Adding a stack is one entry here plus its adapter module.
"""
import functools
import importlib
import json
import os
import subprocess
from dataclasses import dataclass
from typing import Callable, Optional

from . import REPO_ROOT

RSCTL = os.path.join(REPO_ROOT, "refstack", "rsctl")


class StackError(Exception):
    """A stack name that cannot be used; the message says why."""


# ---------------------------------------------------------------- workloads

@dataclass(frozen=True)
class Workload:
    port: int            # the server's port on the lab
    unit: str            # the rate tsload reports: conn/s or req/s
    help: str
    # a module of harness.workloads that runs the cell itself, without the
    # lab, ramp or runtime (run_cell(cell, outdir), cannot_run(cell))
    runner: Optional[str] = None


WORKLOADS = {
    "shortconn": Workload(5001, "conn/s", "connect, 64 B request, 64 B "
                          "response, close; tsload on both ends"),
    "nginx": Workload(80, "conn/s", "nginx serving a 64 B file, "
                      "keep-alive off, one worker per core"),
    "haproxy": Workload(80, "conn/s", "haproxy forwarding to nginx origins, "
                        "keep-alive off on both sides"),
    "keepalive": Workload(5002, "req/s", "control: request/response on "
                          "persistent connections"),
    "memif": Workload(0, "instr", "refstack's memif benchmark under "
                      "callgrind: instructions per connection (no lab)",
                      runner="memif"),
}


def own_runner(workload):
    """The module that runs this workload without the lab, or None."""
    w = WORKLOADS.get(workload)
    if w is None or w.runner is None:
        return None
    return importlib.import_module("harness.workloads." + w.runner)


# ------------------------------------------------------------------ stacks

@dataclass(frozen=True)
class StackKind:
    help: str
    adapter: str                                  # harness.workloads.<adapter>
    # variant text (None if absent) -> canonical variant; raises StackError
    variant: Callable[[Optional[str]], Optional[str]]
    # None when usable, else what is missing (checked when a profile names it)
    configured: Callable[[], Optional[str]] = lambda: None


def _no_variant(kind):
    def check(v):
        if v is not None:
            raise StackError(f"stack {kind!r} takes no ':' variant, got "
                             f"{kind}:{v}")
        return None
    return check


@functools.lru_cache(maxsize=None)
def refstack_features(rsctl=RSCTL):
    """{"features": [...], "sets": {"base": [], "full": [...]}} from
    `rsctl features --json`; raises StackError naming what is missing."""
    if not os.access(rsctl, os.X_OK):
        raise StackError(f"refstack: {os.path.relpath(rsctl, REPO_ROOT)} is "
                         "not built (run: make -C refstack)")
    try:
        p = subprocess.run([rsctl, "features", "--json"], capture_output=True,
                           text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        raise StackError(f"refstack: {rsctl} features --json: {e}") from None
    try:
        data = json.loads(p.stdout) if p.returncode == 0 else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("features"), list):
        said = ((p.stderr or p.stdout).strip().splitlines() or ["no output"])[0]
        raise StackError(
            f"refstack: `rsctl features --json` gave no feature list (exit "
            f"{p.returncode}: {said[:160]}); this refstack build has no "
            "feature switches, so only refstack:base and refstack:full can be "
            "named (and only base run)")
    return data


def refstack_set(v, rsctl=RSCTL):
    """Canonical spelling of a feature set: base, full, or the features in
    refstack's own order (rfd,listen -> listen,rfd)."""
    if v is None or not v.strip():
        raise StackError("stack 'refstack' needs a feature set: refstack:base, "
                         "refstack:full or refstack:A,B (e.g. refstack:listen,rfd)")
    v = v.strip()
    if v in ("base", "full"):    # fixed spellings; whether this build can
        return v                 # run them is the adapter's cannot_run()
    feats = refstack_features(rsctl)["features"]
    names = [n.strip() for n in v.split(",")]
    bad = [n for n in names if n not in feats]
    if bad or len(set(names)) != len(names):
        what = f"unknown feature {', '.join(map(repr, bad))}" if bad \
            else "a feature named twice"
        raise StackError(f"refstack:{v}: {what} (features: "
                         f"{', '.join(feats)}; sets: base, full)")
    chosen = [f for f in feats if f in names]
    return "full" if len(chosen) == len(feats) else ",".join(chosen)


# What the lab configuration says about stacks that need it, set by the
# command line before a profile is read (from --inventory: the server's
# tcpscale_mtcp_home); empty for the local lab.
LAB_CONFIG = {}


def _mtcp_configured():
    from harness.workloads import mtcp
    return mtcp.configured(LAB_CONFIG)


STACKS = {
    "linux": StackKind("the host kernel's TCP; tuning recorded per cell",
                       "linux", _no_variant("linux")),
    "refstack": StackKind("the reference stack with a feature set, on the "
                          "server's interface (no kernel address on it)",
                          "refstack", refstack_set),
    "mtcp": StackKind("an mTCP installation of your own",
                      "mtcp", _no_variant("mtcp"), _mtcp_configured),
}


def split(name):
    """"refstack:listen,rfd" -> ("refstack", "listen,rfd")."""
    kind, sep, variant = name.partition(":")
    return kind, (variant if sep else None)


def parse_stack(name):
    """Check a stack name; return its canonical spelling.  Raises
    StackError naming what is wrong or missing."""
    if not isinstance(name, str):
        raise StackError(f"a stack name such as {', '.join(names_help())}, "
                         f"got {name!r}")
    kind, variant = split(name.strip())
    if kind not in STACKS:
        raise StackError(f"unknown stack {name!r} (stacks: "
                         f"{', '.join(names_help())})")
    entry = STACKS[kind]
    canon = entry.variant(variant)
    missing = entry.configured()
    if missing:
        raise StackError(missing)
    return kind if canon is None else f"{kind}:{canon}"


def names_help():
    return ["linux", "refstack:SET", "mtcp"]


def slug(stack):
    """A stack name usable in file names and URLs:
    refstack:listen,rfd -> refstack-listen+rfd."""
    return stack.replace(":", "-").replace(",", "+")


def adapter(stack):
    """The adapter module that runs workloads on this stack."""
    kind, _ = split(stack)
    if kind not in STACKS:
        raise StackError(f"unknown stack {stack!r}")
    return importlib.import_module("harness.workloads." + STACKS[kind].adapter)


def cannot_run(cell):
    """None if the cell's stack can run its workload here, else why not."""
    own = own_runner(cell["workload"])
    if own:
        return own.cannot_run(cell)
    try:
        mod = adapter(cell["stack"])
    except StackError as e:
        return str(e)
    if cell["workload"] not in mod.SERVERS:
        return (f"stack {cell['stack']} cannot run workload "
                f"{cell['workload']} ({mod.missing_workload(cell['workload'])})")
    return mod.cannot_run(cell)
