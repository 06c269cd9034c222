"""The memif cell: refstack's instruction count per connection, from
callgrind, with no lab and no clock (see profiles/jobs/memif.ini).

    result = run_cell(cell, outdir)

Same result shape as the lab workloads, with "metrics" instead of tsload's
JSON: {"instructions_per_conn", "instructions_small", "instructions_large",
"connections_small", "connections_large", "concurrency"}.
"""
import functools
import os
import re
import shutil
import signal
import subprocess

from harness import REPO_ROOT
from harness.workloads.client import job_values

JOB_KEYS = ("program", "concurrency", "connections")
TIMEOUT_S = 300
_SUMMARY = re.compile(r"^summary:\s+([0-9]+)\s*$", re.M)


def _job_path(job):
    return job if os.path.isabs(job) else os.path.join(REPO_ROOT, job)


def settings(cell):
    """program, concurrency, connections from the job file and the cell."""
    vals = job_values(_job_path(cell["job"]), JOB_KEYS)
    vals.update({k: str(v) for k, v in cell.get("job_options", {}).items()
                 if k in JOB_KEYS})
    prog = vals.get("program", "refstack/build/bench/memif_crr")
    try:
        conc, conns = int(vals.get("concurrency", 16)), \
            int(vals.get("connections", 3000))
    except ValueError:
        raise ValueError(f"cell {cell['id']}: {cell['job']}: concurrency and "
                         "connections must be whole numbers") from None
    if conns < 30 or conc < 1:
        raise ValueError(f"cell {cell['id']}: connections must be >= 30 and "
                         "concurrency >= 1")
    return {"program": prog if os.path.isabs(prog)
            else os.path.join(REPO_ROOT, prog),
            "concurrency": conc, "connections": conns}


def feature_set(cell):
    stack, _, fset = cell["stack"].partition(":")
    if stack != "refstack" or not fset:
        raise ValueError(f"cell {cell['id']}: the memif workload measures "
                         "refstack: its stack must be refstack:SET (e.g. "
                         f"refstack:base), got {cell['stack']!r}")
    return fset


@functools.lru_cache(maxsize=None)
def _set_refused(program, fset):
    """None, or why the benchmark refuses feature set fset: one connection
    with -f SET, run for real (a build without -f, or a set it does not
    know, exits non-zero with its reason)."""
    try:
        p = subprocess.run([program, "-f", fset, "-n", "1"],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
    if p.returncode == 0:
        return None
    return " ".join((p.stdout + p.stderr).strip().splitlines()[-2:]) or \
        f"exit status {p.returncode}"


def cannot_run(cell):
    """None, or why this memif cell cannot run here."""
    try:
        s, fset = settings(cell), feature_set(cell)
    except ValueError as e:
        return str(e)
    if not shutil.which("valgrind"):
        return f"cell {cell['id']}: valgrind is not installed (make deps)"
    if not os.access(s["program"], os.X_OK):
        return (f"cell {cell['id']}: {s['program']} not built "
                "(run: make -C refstack)")
    why = fset != "base" and _set_refused(s["program"], fset)
    if why:
        return (f"cell {cell['id']}: {os.path.basename(s['program'])} -f "
                f"{fset} fails ({why}; a stale build? make -C refstack)")
    return None


def _callgrind(argv, out_file, cid):
    """Total instructions (Ir) of one run of argv under callgrind."""
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
           ] + argv
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except BaseException:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        raise
    if proc.returncode != 0:
        tail = " ".join((out + err).strip().splitlines()[-3:])
        raise ValueError(f"cell {cid}: {' '.join(argv)} under callgrind "
                         f"exited with {proc.returncode}: {tail}")
    try:
        with open(out_file) as f:
            m = _SUMMARY.search(f.read())
    except OSError as e:
        raise ValueError(f"cell {cid}: {out_file}: {e.strerror}") from None
    if not m:
        raise ValueError(f"cell {cid}: no 'summary:' line in {out_file}")
    return int(m.group(1))


def measure(cell, outdir):
    s = settings(cell)
    fset = feature_set(cell)
    cid = cell["id"]
    small, large = s["connections"] // 3, s["connections"]
    argv = [s["program"], "-c", str(s["concurrency"])]
    if fset != "base":
        argv += ["-f", fset]
    ir = {}
    for n in (small, large):
        ir[n] = _callgrind(argv + ["-n", str(n)],
                           os.path.join(outdir, f"{cid}.callgrind.{n}"), cid)
    return {"instructions_per_conn": (ir[large] - ir[small]) / (large - small),
            "instructions_small": ir[small], "instructions_large": ir[large],
            "connections_small": small, "connections_large": large,
            "concurrency": s["concurrency"]}, \
        {f"callgrind_{n}": f"{cid}.callgrind.{n}" for n in (small, large)}


def run_cell(cell, outdir):
    os.makedirs(outdir, exist_ok=True)
    result = {"status": "ok", "error": None, "tsload": None, "collectors": {},
              "tuning": {"stack": cell["stack"], "io": "memif",
                         "tool": "valgrind --tool=callgrind"},
              "servers": {}, "artefacts": {}, "metrics": {}}
    why = cannot_run(cell)
    if why:
        return dict(result, status="cannot-run", error=why)
    try:
        result["metrics"], result["artefacts"] = measure(cell, outdir)
        result["tuning"].update(settings(cell))
    except ValueError as e:
        result["status"], result["error"] = "error", str(e)
    except subprocess.TimeoutExpired:
        result["status"] = "error"
        result["error"] = (f"cell {cell['id']}: callgrind still running "
                           f"after {TIMEOUT_S} s; stopped")
    except KeyboardInterrupt:
        result["status"] = "interrupted"
        result["error"] = f"cell {cell['id']} interrupted"
    return result
