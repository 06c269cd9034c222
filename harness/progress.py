"""Live progress of a run, like fio's status line.

On a terminal one line is rewritten in place every second:

    [cell 3/12] linux shortconn c=2 r=1  elapsed 0:42 ETA 3:10  rate 12,345 conn/s

and a permanent line is printed when each cell ends.  Without a terminal
(CI logs) only the cell start and end lines are printed.  On an Ansible
lab the status line also says which task runs on which hosts
("cell: task 'tcpscale_cell : Run the measured window' on host(s) client1"),
and without a terminal each task's start is a line of its own.  format_* functions
return strings; only Progress writes to its stream.
"""
import threading
import time

from . import registry
from .plan import cell_estimate_s, fmt_duration


def format_status(i, n, cell, elapsed_s, eta_s, rate, unit, errors):
    s = (f"[cell {i}/{n}] {cell['stack']} {cell['workload']} "
         f"c={cell['cores']} r={cell['rep']}"
         + ("" if cell.get("collectors", True) else " collectors-off")
         + (f" {cell['twin']}" if cell.get("twin") else "")
         + f"  elapsed {fmt_duration(elapsed_s)} ETA {fmt_duration(eta_s)}")
    if rate is not None:
        s += f"  rate {rate:,.0f} {unit}"
    if errors:
        s += f"  errors {errors}"
    return s


def format_cell_end(i, n, record):
    cid = record["cell"]["id"]
    m = record.get("metrics") or {}
    head = f"[cell {i}/{n}] {record['status']:<11} {cid}"
    if record["status"] == "ok":
        s = f"{head}  {m.get('rate', 0):,.0f} {m.get('rate_unit', '')}"
        if m.get("p99_us") is not None:
            s += f"  p99 {m['p99_us']:,.0f} us"
        if m.get("errors"):
            s += f"  errors {m['errors']}"
        return s + f"  ({record['duration_s']:.1f} s)"
    return f"{head}  {record.get('error') or ''}".rstrip()


class Progress:
    """Status line + per-cell lines for one run; thread-safe."""

    def __init__(self, cells, stream, tty=None):
        self.cells = cells
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.t_start = time.monotonic()
        self.i = 0
        self.cell = None
        self.cell_start = None
        self.rate = None
        self.errors = 0
        self.done_est = 0.0       # estimated seconds of finished cells
        self.done_real = 0.0      # their real duration
        self.where = None         # an Ansible lab: the task and hosts running
        self.last_task = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = None

    # -- estimates ------------------------------------------------------
    def eta_s(self):
        scale = self.done_real / self.done_est if self.done_est else 1.0
        rest = sum(cell_estimate_s(c) for c in self.cells[self.i:])
        if self.cell is not None:
            in_cell = time.monotonic() - self.cell_start
            rest += max(0.0, cell_estimate_s(self.cell) - in_cell)
        return rest * scale

    def line(self):
        if self.cell is None:
            return "[lab] " + (self.where or "")
        unit = registry.WORKLOADS[self.cell["workload"]].unit \
            if self.cell and self.cell["workload"] in registry.WORKLOADS else "conn/s"
        s = format_status(self.i, len(self.cells), self.cell,
                          time.monotonic() - self.t_start, self.eta_s(),
                          self.rate, unit, self.errors)
        return s + ("  " + self.where if self.where else "")

    # -- events ---------------------------------------------------------
    def start_cell(self, index, cell):
        with self._lock:
            self.i, self.cell = index + 1, cell
            self.cell_start = time.monotonic()
            self.rate, self.errors = None, 0
            self.where = self.last_task = None
            if self.tty:
                self._status()
            else:
                self._print(self.line())
        if self.tty and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def interval(self, t_s, tps, errors):
        """run_cell's on_interval callback (any thread)."""
        with self._lock:
            self.rate, self.errors = tps, errors
            if self.tty and self.cell is not None:
                self._status()

    def task(self, tracker):
        """An Ansible lab's playbook events (harness.ansible_run.Tracker)."""
        with self._lock:
            self.where = tracker.where()
            if self.tty:
                self._status()
            elif (tracker.name, tracker.task) != self.last_task and tracker.task:
                self._print("  %s: task '%s'" % (tracker.name, tracker.task))
            self.last_task = (tracker.name, tracker.task)

    def end_cell(self, record):
        with self._lock:
            if self.cell is not None:
                self.done_est += cell_estimate_s(self.cell)
                self.done_real += time.monotonic() - self.cell_start
            self.cell = self.where = None
            self._print(format_cell_end(self.i, len(self.cells), record))

    def message(self, text):
        with self._lock:
            self._print(text)

    def close(self):
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        with self._lock:
            if self.tty:
                self.stream.write("\r\033[K")
                self.stream.flush()

    # -- output ---------------------------------------------------------
    def _tick(self):
        while not self._stop.wait(1.0):
            with self._lock:
                if self.cell is not None or self.where:
                    self._status()

    def _status(self):
        self.stream.write("\r\033[K" + self.line())
        self.stream.flush()

    def _print(self, text):
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        if self.tty and (self.cell is not None or self.where):
            self._status()
        self.stream.flush()
