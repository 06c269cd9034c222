"""The tsload client of a cell: command line, live interval lines, result."""

import json
import os
import re
import subprocess
import threading

from harness.workloads.servers import TSLOAD

# Keys the harness sets itself; a profile's job_options may not override them.
HARNESS_KEYS = ("host", "port", "runtime", "ramp_time", "log_interval", "output",
                "output-format", "role", "server")

# tsload's live line, one per job and interval (loadgen/src/tsl_main.c):
# tsload: t=1.0 tps=8483.0 cps=8483.0 errors=0 p99_us=812.5 job=shortconn
_INTERVAL = re.compile(r"^tsload: t=([0-9.]+) tps=([0-9.]+) .*\berrors=([0-9]+)\b")


def parse_interval(line):
    """One live interval line of tsload's stderr -> (t_s, tps, errors in
    the interval), or None for any other line."""
    m = _INTERVAL.match(line)
    if not m:
        return None
    return float(m.group(1)), float(m.group(2)), int(m.group(3))


def job_values(job_path, keys=("req_size", "resp_size")):
    """First value of each of keys in a job file (its [global] section comes
    first in ours), for the server side of the crr/rr workloads."""
    out = {}
    try:
        with open(job_path) as f:
            for line in f:
                k, sep, v = line.strip().partition("=")
                if sep and k.strip() in keys and k.strip() not in out:
                    out[k.strip()] = v.strip()
    except OSError:
        pass
    return out


def client_argv(cell, job_path, host, port, outfile, tsload=TSLOAD):
    """The tsload command line of one cell."""
    for k in cell.get("job_options", {}):
        if k in HARNESS_KEYS:
            raise ValueError("cell %s: job option %r is set by the harness" % (cell["id"], k))
    argv = [tsload, job_path, "--host=%s" % host, "--port=%d" % port,
            "--runtime=%dms" % round(cell["runtime_s"] * 1000),
            "--ramp_time=%dms" % round(cell["ramp_s"] * 1000),
            "--log_interval=1s", "--output-format=json", "--output=%s" % outfile]
    for k, v in cell.get("job_options", {}).items():
        if isinstance(v, bool):
            v = int(v)
        argv.append("--%s=%s" % (k, v))
    return argv


class ClientRun:
    """A running tsload client whose stderr is followed in a thread."""

    def __init__(self, lab, cell, argv, outfile, on_interval=None):
        self.lab = lab
        self.cell = cell
        self.outfile = outfile
        self.on_interval = on_interval
        self.lines = []
        self.intervals = []
        self.callback_error = None
        self.proc = lab.spawn("client", argv, name="tsload", stderr=subprocess.PIPE)
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()

    def _follow(self):
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.lines = (self.lines + [line])[-50:]
            iv = parse_interval(line)
            if iv is None:
                continue
            self.intervals.append(iv)
            if self.on_interval is not None and self.callback_error is None:
                try:
                    self.on_interval(*iv)
                except Exception as e:      # a broken status line must not kill the cell
                    self.callback_error = repr(e)

    def poll(self):
        return self.proc.poll()

    def stop(self, sig, timeout):
        """Ask tsload to stop (it writes its JSON on SIGINT/SIGTERM)."""
        return self.lab.stop(self.proc, sig=sig, timeout=timeout)

    def finish(self):
        self.thread.join(timeout=2)
        try:
            self.proc.stderr.close()
        except OSError:
            pass

    def stderr_tail(self, n=3):
        lines = [l for l in self.lines if parse_interval(l) is None and l.strip()]
        return " | ".join(lines[-n:])

    def result(self):
        """tsload's JSON, or None with the reason."""
        if not os.path.exists(self.outfile):
            return None, "tsload wrote no %s" % os.path.basename(self.outfile)
        try:
            with open(self.outfile) as f:
                return json.load(f), None
        except ValueError as e:
            return None, "tsload output %s is not JSON: %s" % (os.path.basename(self.outfile), e)
