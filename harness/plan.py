"""The run matrix: stack x workload x cores x repetition, as a list of cells.

Repetitions are the outer loop, so that slow drifts of the machine (other
work, thermal) spread over every configuration instead of biasing one; the
collector-overhead cells (collectors off) run right next to their twin with
collectors on, so the pair sees the same conditions, alternating the order
(on, off in even repetitions; off, on in odd ones) so a drift favours
neither side.  With profilers (perf record, perf lock) each one's cost is
measured the same way: a twin without that profiler beside the full cell
(id suffix .no-record, .no-lock; "twin" names what is left out).  A
suite with a reference build (harness.reference) runs every timed linux
cell a second time right beside it with the reference's tsload (twin
"reference", id suffix .reference), first or second at random in each
two repetitions (checkout_first),
so that the gate compares builds measured in the same seconds; refstack
cells too when the reference holds refstack's shim (the twin runs the
reference's stack and tsload).

A stack that cannot run a workload here (harness.registry.cannot_run) is
planned all the same, so the report lists it cell by cell; it costs no
lab time.
"""

import random

from . import reference, registry

# Seconds a cell costs beyond ramp + runtime (server start, readiness wait,
# collectors, teardown), rounded up from the local lab on a 2-core machine
# (medians of 363 cells of a quiet nightly run, 2026-12-01: shortconn
# 0.44 s, nginx 0.41 s, haproxy 0.90 s, memif 1.9 s in all); the progress
# ETA rescales by what the run really takes.
CELL_OVERHEAD_S = {"shortconn": 0.6, "keepalive": 0.6, "nginx": 0.6,
                   "haproxy": 1.1, "memif": 2.0}
LAB_SETUP_S = 2.0
# post-processing after the window (perf script, perf lock contention) and
# the perf start/stop, measured on the local lab (2 cores)
PROFILER_OVERHEAD_S = {"record": 1.5, "lock": 1.0}
CANNOT_RUN_S = 0.1


def cell_id(stack, workload, cores, rep, collectors=True):
    cid = f"{registry.slug(stack)}.{workload}.c{cores}.r{rep}"
    return cid if collectors else cid + ".nocoll"


def make_cell(suite, stack, workload, cores, rep, collectors, profilers=None,
              twin=None):
    wl = suite["workload"][workload]
    cell = {
        "id": cell_id(stack, workload, cores, rep, collectors)
        + (f".{twin}" if twin else ""),
        "stack": stack,
        "workload": workload,
        "cores": cores,
        "rep": rep,
        "runtime_s": float(suite["runtime"]),
        "ramp_s": float(suite["ramp_time"]),
        "job": wl["job"],
        "job_options": dict(wl["job_options"]),
        "collectors": bool(collectors),
    }
    if collectors and profilers:
        cell["profilers"] = list(profilers)
    if twin:
        cell["twin"] = twin
    return cell


def _reference_twin(suite, stack, workload, cores, rep, builds):
    """The cell run with the reference build (twin "reference": its tsload,
    for refstack its shim too), or None where the reference does not stand
    for the code under test."""
    own = builds.get(registry.split(stack)[0])
    if not own or registry.own_runner(workload):
        return None
    cell = make_cell(suite, stack, workload, cores, rep, suite["collectors"],
                     suite.get("profilers") or [], twin="reference")
    cell.update(own)
    return cell


def checkout_first(stack, workload, cores, rep):
    """Whether, in repetition rep, a cell runs before its twin on the
    reference build: once each in every two repetitions (a drift favours
    neither side), which one first drawn at random, seeded by the cell and
    the two repetitions (a plan, and the pairs the gate adds, are the same
    every time).  A fixed A B, B A alternation lines the sides up with
    whatever else alternates in the sequence."""
    block = rep // 2
    draw = random.Random(f"{registry.slug(stack)}.{workload}.c{cores}.{block}")
    return (draw.random() < 0.5) == (rep % 2 == 0)


def _group(suite, stack, workload, cores, rep, top, builds):
    """A cell, at the top core count its collector-overhead twins (the
    order alternating between repetitions: A B, then B A), and its twin on
    the reference build (in the order of checkout_first)."""
    profs = suite.get("profilers") or []
    on = suite["collectors"]
    group = [make_cell(suite, stack, workload, cores, rep, on, profs)]
    if cores == top and on and workload in suite["collector_overhead"]:
        group.append(make_cell(suite, stack, workload, cores, rep, False))
        for p in profs:
            group.append(make_cell(suite, stack, workload, cores, rep, True,
                                   [q for q in profs if q != p],
                                   twin=f"no-{p}"))
    ref = _reference_twin(suite, stack, workload, cores, rep, builds)
    if ref:
        # both sides of the pair run from a fresh copy at a path of one
        # length (workloads.servers.staged)
        group[0]["fresh_tsload"] = ref["fresh_tsload"] = True
        group.append(ref)
        return group if checkout_first(stack, workload, cores, rep) \
            else group[::-1]
    return group if rep % 2 == 0 else group[::-1]


def _stacks(suite):
    """Every stack of the suite: suite.stacks, then those only a workload
    table names."""
    out = list(suite["stacks"])
    for w in suite["workloads"]:
        out += [s for s in suite["workload"][w].get("stacks", [])
                if s not in out]
    return out


def build_plan(suite):
    """Cells in execution order (plain dicts, see harness contract)."""
    cells = []
    top = max(suite["cores"])
    builds = reference.builds(*reference.for_suite(suite))
    for rep in range(suite["repetitions"]):
        for stack in _stacks(suite):
            for workload in suite["workloads"]:
                wl = suite["workload"][workload]
                if stack not in wl.get("stacks", suite["stacks"]) \
                        or rep >= wl.get("repetitions", rep + 1):
                    continue
                for cores in wl.get("cores", suite["cores"]):
                    cells.extend(_group(suite, stack, workload, cores, rep,
                                        top, builds))
    return cells


def cell_estimate_s(cell):
    if registry.cannot_run(cell):
        return CANNOT_RUN_S
    timed = not registry.own_runner(cell["workload"])
    return (timed * (cell["ramp_s"] + cell["runtime_s"])
            + CELL_OVERHEAD_S.get(cell["workload"], 3.0)
            + sum(PROFILER_OVERHEAD_S.get(p, 2.0)
                  for p in cell.get("profilers", ())))


def estimate_s(cells):
    """Estimated wall-clock seconds for a whole plan."""
    return LAB_SETUP_S + sum(cell_estimate_s(c) for c in cells)


def needs_offloads_off(cells):
    """Does a stack of the plan need GRO/GSO/TSO off on the client link?"""
    return any(getattr(registry.adapter(s), "NEEDS_OFFLOADS_OFF", False)
               for s in set(c["stack"] for c in cells))


def needs_one_segment(cells):
    """Does a cell that can run need the origins on the client's segment
    (a stack owning only the server's client-facing interface, haproxy)?"""
    return any(c["workload"] in getattr(registry.adapter(c["stack"]),
                                        "ONE_SEGMENT_WORKLOADS", ())
               and not registry.cannot_run(c) for c in cells)


def max_cores(cells):
    return max((c["cores"] for c in cells), default=1)


def format_plan(suite, cells):
    """Lines describing the plan (for `run --dry-run` and the run header)."""
    lines = [f"suite {suite['name']} ({suite['path']}): "
             f"{len(cells)} cells, estimated {fmt_duration(estimate_s(cells))}",
             f"  stacks {', '.join(_stacks(suite))}; workloads "
             f"{', '.join(suite['workloads'])}; cores "
             f"{', '.join(str(c) for c in suite['cores'])}; "
             f"{suite['repetitions']} repetitions of "
             f"{suite['ramp_time']:g}s ramp + {suite['runtime']:g}s"]
    if suite.get("profilers"):
        lines.append("  profilers (perf) on every cell: "
                     + ", ".join(suite["profilers"]))
    if suite.get("collector_overhead"):
        lines.append("  collector overhead measured on "
                     + ", ".join(suite["collector_overhead"]))
    folder, got = reference.for_suite(suite)
    if folder:
        lines.append("  measured beside the reference build: "
                     + reference.format_info(folder, got)[0]
                     + ("" if got else "; the gate compares with the "
                        "history instead"))
    lines.extend("  warning: " + w for w in suite.get("warnings", []))
    lines.extend(cannot_run_lines(cells))
    return lines


def cannot_run_lines(cells):
    """Cells a stack cannot run here, grouped by reason."""
    why = {}
    for c in cells:
        reason = registry.cannot_run(c)
        if reason:
            why.setdefault(reason, []).append(c["id"])
    out = []
    for reason, ids in sorted(why.items()):
        out.append(f"  cannot run here ({len(ids)} cells, reported as "
                   f"such): {reason}")
    return out


def fmt_duration(seconds):
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
