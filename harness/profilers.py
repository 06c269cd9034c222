"""perf profilers a profile can turn on around a cell's measured window.

    record  `perf record -g -e cpu-clock` on the server's cores -> folded
            stacks (perf's own stackcollapse script) -> shares of cycles by
            kind of work and the flame graph of the report
    lock    `perf lock record` on the server's cores, then
            `perf lock contention -i FILE`: the top contended kernel locks
            (live `perf lock contention -a` does not work here)

This machine has no hardware counters: cpu-clock and tracepoints only.
Each profiler is started after the window's snapshots and stopped before
the closing ones; its post-processing runs after the window.  The table
PROFILERS is the one list a profile's `profilers` key is checked against.
"""
import os
import re
import signal
import subprocess
import time

from harness import folded, procs

RECORD_HZ = 499          # samples per second per CPU (cpu-clock)
LOCK_TOP = 15            # rows of the kernel lock table kept per cell


def _perf_exec_path():
    try:
        p = subprocess.run(["perf", "--exec-path"], capture_output=True,
                           text=True, timeout=10)
        return p.stdout.strip() or "/usr/lib/perf-core"
    except (OSError, subprocess.SubprocessError):
        return "/usr/lib/perf-core"


class _Perf:
    """One perf process over the window, its output file, its own CPU."""

    name = None
    suffix = None

    def __init__(self, outdir, cell_id, cpus):
        self.outdir = outdir
        self.cpus = cpus
        self.path = os.path.join(outdir, "%s.%s" % (cell_id, self.suffix))
        self.proc = None
        self.cpu_s = None
        self.err = ""
        self.post_s = None

    def argv(self):
        raise NotImplementedError

    def start(self):
        for stale in (self.path, self.path + ".old"):    # perf keeps a .old copy
            if os.path.exists(stale):
                os.unlink(stale)
        try:
            self.proc = procs.spawn(self.argv(), stderr=subprocess.PIPE)
        except OSError as e:
            self.proc, self.err = None, str(e)

    def stop(self):
        if self.proc is None or self.cpu_s is not None:
            return
        cpu = procs.cpu_seconds(self.proc.pid)    # its cost inside the window
        procs.stop(self.proc.pid, proc=self.proc, sig=signal.SIGINT, timeout=10)
        self.cpu_s = round(sum(cpu), 3) if cpu else 0.0
        try:
            self.err = self.proc.stderr.read().decode(errors="replace")[-500:]
            self.proc.stderr.close()
        except (OSError, ValueError):
            pass

    def summary(self):
        if self.proc is None:
            return {"error": "perf could not be started: %s" % self.err}
        if not os.path.exists(self.path):
            return {"error": "perf wrote no %s: %s" % (
                os.path.basename(self.path), self.err.strip())}
        t = time.monotonic()
        try:
            out = self.process()
        except (OSError, subprocess.SubprocessError) as e:
            out = {"error": "%s: %s" % (self.name, e)}
        out["perf_cpu_s"] = self.cpu_s
        out["post_s"] = round(time.monotonic() - t, 3)
        return out

    def artefacts(self):
        return {}


class PerfRecord(_Perf):
    name = "record"
    suffix = "perf-record.data"

    def argv(self):
        return ["perf", "record", "-g", "-e", "cpu-clock", "-F", str(RECORD_HZ),
                "-a", "-C", self.cpus, "-o", self.path]

    def folded_path(self):
        return self.path[:-len(self.suffix)] + "folded"

    def process(self):
        script = os.path.join(_perf_exec_path(), "scripts", "python",
                              "stackcollapse.py")
        with open(self.folded_path(), "w") as f:
            p = subprocess.run(["perf", "script", "-i", self.path, "-s", script,
                                "--", "--kernel"], stdout=f,
                               stderr=subprocess.PIPE, text=True, timeout=300)
        stacks = folded.parse(open(self.folded_path()).read())
        if p.returncode != 0 or not stacks:
            return {"error": "perf script gave no stacks (exit %d): %s"
                    % (p.returncode, p.stderr.strip()[-300:])}
        out = folded.shares(stacks)
        out["top"] = folded.top_leaves(stacks)
        out["folded"] = os.path.basename(self.folded_path())
        out["hz"] = RECORD_HZ
        out["cpus"] = self.cpus
        return out

    def artefacts(self):
        out = {}
        if os.path.exists(self.folded_path()):
            out["perf_folded"] = os.path.basename(self.folded_path())
        if os.path.exists(self.path):
            out["perf_record"] = os.path.basename(self.path)
        return out


_UNITS = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
_LOCK_ROW = re.compile(
    r"^\s*(\d+)\s+([\d.]+)\s+(ns|us|ms|s)\s+([\d.]+)\s+(ns|us|ms|s)\s+"
    r"([\d.]+)\s+(ns|us|ms|s)\s+(\S+)\s+(.+?)\s*$")


def parse_lock_contention(text):
    """`perf lock contention` table -> [{"contended", "wait_total_us",
    "wait_max_us", "wait_avg_us", "type", "caller"}] in perf's order."""
    rows = []
    for line in text.splitlines():
        m = _LOCK_ROW.match(line)
        if not m:
            continue
        g = m.groups()
        rows.append({"contended": int(g[0]),
                     "wait_total_us": float(g[1]) * _UNITS[g[2]],
                     "wait_max_us": float(g[3]) * _UNITS[g[4]],
                     "wait_avg_us": float(g[5]) * _UNITS[g[6]],
                     "type": g[7], "caller": g[8]})
    return rows


class PerfLock(_Perf):
    """The trace is large (every contention on the cores, ~150 kB/s here):
    the contention table is kept as text and the trace removed."""

    name = "lock"
    suffix = "perf-lock.data"

    def argv(self):
        return ["perf", "lock", "record", "-a", "-C", self.cpus, "-o", self.path]

    def text_path(self):
        return self.path[:-len(".data")] + ".txt"

    def process(self):
        p = subprocess.run(["perf", "lock", "contention", "-i", self.path,
                            "-k", "wait_total", "-E", str(LOCK_TOP)],
                           capture_output=True, text=True, timeout=300)
        text = p.stdout + "\n" + p.stderr
        with open(self.text_path(), "w") as f:
            f.write(text)
        rows = parse_lock_contention(text)
        out = {"rows": rows, "cpus": self.cpus}
        if p.returncode != 0:
            out["error"] = "perf lock contention exit %d: %s" % (
                p.returncode, p.stderr.strip()[-300:])
        else:
            os.unlink(self.path)
        return out

    def artefacts(self):
        return {"perf_lock": os.path.basename(self.text_path())} \
            if os.path.exists(self.text_path()) else {}


PROFILERS = {"record": PerfRecord, "lock": PerfLock}
