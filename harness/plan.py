"""The run matrix: stack x workload x cores x repetition, as a list of cells.

Repetitions are the outer loop, so that slow drifts of the machine (other
work, thermal) spread over every configuration instead of biasing one; the
collector-overhead cells (collectors off) run right next to their twin with
collectors on, so the pair sees the same conditions, alternating the order
(on, off in even repetitions; off, on in odd ones) so a drift favours
neither side.
"""

# Seconds a cell costs beyond ramp + runtime (server start, readiness wait,
# collectors, teardown), rounded up from the local lab on a 2-core machine
# (0.2 - 0.4 s); the progress ETA rescales by what the run really takes.
CELL_OVERHEAD_S = {"shortconn": 1.0, "keepalive": 1.0, "nginx": 1.0,
                   "haproxy": 1.5, "memif": 2.0}
# cells that run a fixed amount of work instead of ramp + runtime
UNTIMED = ("memif",)
LAB_SETUP_S = 2.0


def cell_id(stack, workload, cores, rep, collectors=True):
    cid = f"{stack}.{workload}.c{cores}.r{rep}"
    return cid if collectors else cid + ".nocoll"


def make_cell(suite, stack, workload, cores, rep, collectors):
    wl = suite["workload"][workload]
    return {
        "id": cell_id(stack, workload, cores, rep, collectors),
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
    for rep in range(suite["repetitions"]):
        for stack in _stacks(suite):
            for workload in suite["workloads"]:
                wl = suite["workload"][workload]
                if stack not in wl.get("stacks", suite["stacks"]):
                    continue
                for cores in wl.get("cores", suite["cores"]):
                    group = [make_cell(suite, stack, workload, cores, rep,
                                       suite["collectors"])]
                    if (cores == top and suite["collectors"]
                            and workload in suite["collector_overhead"]):
                        off = make_cell(suite, stack, workload, cores, rep,
                                        False)
                        group = group + [off] if rep % 2 == 0 \
                            else [off] + group
                    cells.extend(group)
    return cells


def cell_estimate_s(cell):
    timed = cell["workload"] not in UNTIMED
    return (timed * (cell["ramp_s"] + cell["runtime_s"])
            + CELL_OVERHEAD_S.get(cell["workload"], 3.0))


def estimate_s(cells):
    """Estimated wall-clock seconds for a whole plan."""
    return LAB_SETUP_S + sum(cell_estimate_s(c) for c in cells)


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
    if suite.get("collector_overhead"):
        lines.append("  collector overhead measured on "
                     + ", ".join(suite["collector_overhead"]))
    lines.extend("  warning: " + w for w in suite.get("warnings", []))
    return lines


def fmt_duration(seconds):
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
