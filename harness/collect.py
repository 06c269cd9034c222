"""Collectors around one measured window.

    c = Collectors(lab, outdir, cell_id, enabled=True)
    c.start(server_pids)      # snapshots + perf stat on the server processes
    ... measured window ...
    c.stop()                  # snapshots again, perf stopped
    c.summary()               # plain dict, see below

Summaries (all deltas over the window):
  cpu      {"cpu0": {"usr","sys","softirq","irq","iowait","steal","idle","busy"} in %, ..., "all": {...}}
  softirq  {"cpu0": {"NET_RX": n, "NET_TX": n}, ..., "all": {...}}
  snmp     TCP counter deltas in the server namespace {"ActiveOpens": n, ...}
  snmp_hosts  the same for every lab host {"client": {...}, "server": {...}, "backend": {...}}
  procs    server processes' CPU {"user_s", "sys_s", "count", "by_name": {...}}
  perf     `perf stat` software events on the server processes {"events": {...}, "units": {...}}
  stack    the stack's own counters (refstack: rsctl), deltas over the window:
           {"counters": {name: n}, "per_core": [...]}; absent for linux
  record   `perf record` on the server's cores (harness.profilers), when
           the cell's profilers include it: shares of cycles, top leaves,
           the folded stacks file
  lock     `perf lock` on the server's cores: top contended kernel locks
  others   what the machine's other processes took during the window: its
           busy time minus the harness's, the lab's and kernel threads'
           {"cpu_s", "share"} and the hypervisor's steal {"steal_s",
           "steal_share"}; shares of cores x window
  window_s length of the window measured by the collectors
  cost     the collectors' own cost: wall time of the two snapshots (outside
           the window) and CPU seconds of `perf stat` (inside it)

The parsers are pure functions of the files' text so that they can be tested
on fixed input.
"""

import os
import select
import signal
import subprocess
import time

from harness import procs
from harness.profilers import PROFILERS

SNMP_KEYS = {
    "Tcp": ("ActiveOpens", "PassiveOpens", "AttemptFails", "EstabResets",
            "RetransSegs", "InSegs", "OutSegs", "OutRsts", "InErrs"),
    "TcpExt": ("ListenOverflows", "ListenDrops", "TW", "TWRecycled", "TWKilled",
               "TCPAbortOnData", "TCPAbortOnClose", "TCPTimeouts", "SyncookiesSent",
               "TCPReqQFullDrop", "TCPBacklogDrop"),
}
PERF_EVENTS = ("cpu-clock", "task-clock", "context-switches", "cpu-migrations", "page-faults")
PERF_START_S = 20       # perf's own start-up, seconds at most (a loaded machine)
_STAT_COLS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


# -- parsers -------------------------------------------------------------------
def parse_proc_stat(text):
    """/proc/stat -> {"cpu": {...}, "cpu0": {...}, ...} in clock ticks."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("cpu"):
            vals = [int(v) for v in parts[1:1 + len(_STAT_COLS)]]
            vals += [0] * (len(_STAT_COLS) - len(vals))
            out[parts[0]] = dict(zip(_STAT_COLS, vals))
    return out


def _pct(before, after):
    d = {k: after[k] - before[k] for k in _STAT_COLS}
    total = sum(d.values()) or 1
    res = {"usr": 100.0 * (d["user"] + d["nice"]) / total,
           "sys": 100.0 * d["system"] / total,
           "softirq": 100.0 * d["softirq"] / total,
           "irq": 100.0 * d["irq"] / total,
           "iowait": 100.0 * d["iowait"] / total,
           "steal": 100.0 * d["steal"] / total,
           "idle": 100.0 * d["idle"] / total}
    res = {k: round(v, 2) for k, v in res.items()}
    res["busy"] = round(100.0 - res["idle"] - res["iowait"], 2)
    return res


def cpu_summary(before, after):
    """Per-core utilisation in % between two parse_proc_stat() snapshots."""
    out = {}
    for name in after:
        if name in before:
            out["all" if name == "cpu" else name] = _pct(before[name], after[name])
    return out


def parse_softirqs(text):
    """/proc/softirqs -> {"NET_RX": [per cpu], "NET_TX": [...], ...}."""
    lines = text.splitlines()
    ncpu = len(lines[0].split()) if lines else 0
    out = {}
    for line in lines[1:]:
        parts = line.split()
        if parts and parts[0].endswith(":"):
            out[parts[0][:-1]] = [int(v) for v in parts[1:1 + ncpu]]
    return out


def softirq_summary(before, after, kinds=("NET_RX", "NET_TX")):
    """Per-core deltas of the NET softirqs between two parse_softirqs()."""
    out, total = {}, {k: 0 for k in kinds}
    for kind in kinds:
        for i, (a, b) in enumerate(zip(before.get(kind, []), after.get(kind, []))):
            out.setdefault("cpu%d" % i, {})[kind] = b - a
            total[kind] += b - a
    out["all"] = total
    return out


def parse_snmp(text):
    """/proc/net/snmp or /proc/net/netstat (header/value line pairs) ->
    {"Tcp": {"ActiveOpens": n, ...}, "TcpExt": {...}, ...}."""
    out = {}
    lines = text.splitlines()
    for head, vals in zip(lines, lines[1:]):
        hk, _, hnames = head.partition(":")
        vk, _, vnums = vals.partition(":")
        if hk != vk or hk in out:
            continue
        names, nums = hnames.split(), vnums.split()
        if len(names) == len(nums) and all(n.lstrip("-").isdigit() for n in nums):
            out[hk] = dict(zip(names, (int(n) for n in nums)))
    return out


def snmp_summary(before, after):
    """Deltas of the TCP counters in SNMP_KEYS (missing counters left out)."""
    out = {}
    for group, keys in SNMP_KEYS.items():
        a, b = before.get(group, {}), after.get(group, {})
        for k in keys:
            if k in a and k in b:
                out[k] = b[k] - a[k]
    return out


def parse_perf_csv(text):
    """`perf stat -x,` output -> ({event: value}, {event: unit}).
    Events perf could not count are left out."""
    events, units = {}, {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(",")
        if len(parts) < 3:
            continue
        value, unit, name = parts[0], parts[1], parts[2]
        try:
            events[name] = float(value)
        except ValueError:
            continue
        units[name] = unit
    return events, units


def _perf_enable(ctl, ack, timeout):
    """Tell a perf started with -D -1 --control to count and wait for its
    ack.  None when it counts, else why not."""
    try:
        os.write(ctl, b"enable\n")
        ready, _, _ = select.select([ack], [], [], timeout)
        got = os.read(ack, 64) if ready else None
    except OSError as e:
        return "perf's control pipe: %s" % e.strerror
    if got is None:
        return "perf did not start counting within %d s" % timeout
    if not got.startswith(b"ack"):
        return "perf exited before it counted"
    return None


def procs_summary(before, after):
    """Server processes' CPU seconds between two {pid: (name, user_s, sys_s)}."""
    out = {"user_s": 0.0, "sys_s": 0.0, "count": 0, "by_name": {}}
    for pid, (name, u1, s1) in after.items():
        u0, s0 = before.get(pid, (name, 0.0, 0.0))[1:]
        du, ds = max(0.0, u1 - u0), max(0.0, s1 - s0)
        out["user_s"] += du
        out["sys_s"] += ds
        out["count"] += 1
        b = out["by_name"].setdefault(name, {"user_s": 0.0, "sys_s": 0.0, "count": 0})
        b["user_s"] += du
        b["sys_s"] += ds
        b["count"] += 1
    out["user_s"] = round(out["user_s"], 3)
    out["sys_s"] = round(out["sys_s"], 3)
    for b in out["by_name"].values():
        b["user_s"], b["sys_s"] = round(b["user_s"], 3), round(b["sys_s"], 3)
    return out


def _is_gauge(name):
    """Counters that hold a level (a maximum), not a running total."""
    return name.endswith("_max") or "_max_" in name


def stack_counters_summary(before, after):
    """Deltas of the stack's own counters between two snapshots (a gauge,
    such as a maximum wait, is taken from the closing snapshot)."""
    if before.get("error") or after.get("error"):
        return {"error": before.get("error") or after.get("error")}
    b, a = before.get("counters", {}), after.get("counters", {})
    total = {k: (v if _is_gauge(k) else v - b.get(k, 0)) for k, v in a.items()}
    prev = {(c["pid"], c["core"]): c["counters"] for c in before.get("per_core", [])}
    per_core = []
    for c in after.get("per_core", []):
        pb = prev.get((c["pid"], c["core"]), {})
        per_core.append({"pid": c["pid"], "core": c["core"], "counters": {
            k: (v if _is_gauge(k) else v - pb.get(k, 0)) for k, v in c["counters"].items()}})
    return {"counters": total, "per_core": per_core}


# -- snapshots -------------------------------------------------------------------
def _read(path):
    with open(path) as f:
        return f.read()


def _snmp_snapshot(lab, role):
    """TCP counters inside the namespace of `role`."""
    res = lab.exec(role, ["cat", "/proc/net/snmp", "/proc/net/netstat"], check=False)
    return parse_snmp(res.stdout)


def _procs_snapshot(pids):
    out = {}
    for pid in procs.descendants(pids):
        t = procs.cpu_seconds(pid)
        if t is not None:
            out[pid] = (procs.comm(pid) or "?", t[0], t[1])
    return out


_BUSY_COLS = ("user", "nice", "system", "irq", "softirq")


def others_summary(before, after):
    """What the machine's other processes took during the window: its busy
    time (/proc/stat, every core) minus what this measurement accounts for
    (the harness, the lab's processes, kernel threads; procs.accounted_cpu),
    and the time the hypervisor gave to other guests (steal); in seconds
    and as shares of the machine (cores x the time between the two
    snapshots, which hold the window)."""
    cores = [k for k in after["stat"] if k != "cpu" and k in before["stat"]]

    def delta(col):
        return sum(after["stat"][c][col] - before["stat"][c][col]
                   for c in cores)
    busy = sum(delta(col) for col in _BUSY_COLS)
    acc_b, acc_a = before["accounted"], after["accounted"]
    ours = sum(t - acc_b.get(k, 0) for k, t in acc_a.items())
    cpu_s = procs.ticks_s(max(busy - ours, 0))
    steal_s = procs.ticks_s(max(delta("steal"), 0))
    machine = (after["t"] - before["t"]) * len(cores)
    out = {"cpu_s": round(cpu_s, 3), "steal_s": round(steal_s, 3),
           "share": None, "steal_share": None}
    if machine > 0:
        out["share"] = round(cpu_s / machine, 4)
        out["steal_share"] = round(steal_s / machine, 4)
    return out


class Collectors:
    """Collectors around one measured window; disabled ones cost nothing."""

    def __init__(self, lab, outdir, cell_id, enabled=True, roles=None, perf_mode="procs",
                 cpus=None, profilers=(), stack_counters=None):
        """perf_mode "procs": perf stat on the server processes (their own
        events); "cpus": perf stat -a on `cpus` (the cores under test, every
        process on them, no per-task counter switching).  profilers: names
        in harness.profilers.PROFILERS, run on `cpus`.  stack_counters:
        servers -> snapshot of the stack's own counters (or None)."""
        if perf_mode not in ("procs", "cpus"):
            raise ValueError("perf_mode %r: expected procs or cpus" % (perf_mode,))
        self.perf_mode = perf_mode
        self.cpus = cpus
        self.lab = lab
        self.outdir = outdir
        self.cell_id = cell_id
        self.enabled = enabled
        self.roles = roles or ["client", "server", "backend"]
        self.before = {}
        self.after = {}
        self.perf_proc = None
        self.perf_ctl = self.perf_ack = None
        self.perf_start_err = None
        self.perf_path = None
        self.perf_target = None
        self.t0 = self.t1 = None
        self.pids = []
        self.snapshot_s = 0.0
        self.perf_cpu_s = None
        self.stack_counters = stack_counters
        self.servers = []
        self.profilers = [PROFILERS[p](outdir, cell_id, cpus or "0") for p in profilers] \
            if enabled else []

    def start(self, server_pids, servers=()):
        if not self.enabled:
            return
        self.pids = list(server_pids)
        self.servers = list(servers)
        t = time.monotonic()
        self.before = self._snapshot()
        self.snapshot_s = time.monotonic() - t
        for prof in self.profilers:
            prof.start()
        self._start_perf()
        self.t0 = time.monotonic()

    def stop(self):
        if not self.enabled or self.t0 is None or self.t1 is not None:
            return
        self.t1 = time.monotonic()
        self._stop_perf()
        for prof in self.profilers:
            prof.stop()
        t = time.monotonic()
        self.after = self._snapshot()
        self.snapshot_s += time.monotonic() - t

    def _snapshot(self):
        snap = {"t": time.monotonic(),
                "accounted": procs.accounted_cpu(os.getpid()),
                "stat": parse_proc_stat(_read("/proc/stat")),
                "softirqs": parse_softirqs(_read("/proc/softirqs")),
                "procs": _procs_snapshot(self.pids),
                "snmp": {}}
        for role in self.roles:
            snap["snmp"][role] = _snmp_snapshot(self.lab, role)
        if self.stack_counters is not None:
            snap["stack"] = self.stack_counters(self.servers)
        return snap

    def _start_perf(self):
        live = [p for p in procs.descendants(self.pids) if procs.is_alive(p)]
        self.perf_path = os.path.join(self.outdir, "%s.perf.txt" % self.cell_id)
        argv = ["perf", "stat", "-x,", "-e", ",".join(PERF_EVENTS), "-o", self.perf_path]
        if self.perf_mode == "cpus" and self.cpus:
            self.perf_target = "cpus:" + self.cpus
            argv += ["-a", "-C", self.cpus]
        elif live:
            self.perf_target = "pids:" + ",".join(str(p) for p in live)
            argv += ["-p", ",".join(str(p) for p in live)]
        else:
            self.perf_target = "system"
            argv += ["-a"]
        # Started disabled (-D -1) and enabled through its control pipe:
        # perf acks once its counters are open, so the window never
        # starts before perf counts (its start-up takes seconds on a
        # loaded machine; stopped before it, it printed nothing).
        ctl_r, self.perf_ctl = os.pipe()
        self.perf_ack, ack_w = os.pipe()
        argv += ["-D", "-1", "--control", "fd:%d,%d" % (ctl_r, ack_w)]
        try:
            self.perf_proc = procs.spawn(argv, stderr=subprocess.PIPE,
                                         pass_fds=(ctl_r, ack_w))
        except OSError:
            self.perf_proc = None
            self._close_perf_control()
        finally:
            os.close(ctl_r)
            os.close(ack_w)
        if self.perf_proc is not None:
            self.perf_start_err = _perf_enable(self.perf_ctl, self.perf_ack,
                                               PERF_START_S)

    def _stop_perf(self):
        if self.perf_proc is None:
            return
        cpu = procs.cpu_seconds(self.perf_proc.pid)
        self.perf_cpu_s = round(sum(cpu), 3) if cpu else None
        procs.stop(self.perf_proc.pid, proc=self.perf_proc, sig=signal.SIGINT, timeout=5)
        self.perf_rc = self.perf_proc.returncode
        try:
            self.perf_err = self.perf_proc.stderr.read().decode(errors="replace")[-500:]
            self.perf_proc.stderr.close()
        except (OSError, ValueError):
            self.perf_err = ""
        self._close_perf_control()

    def _close_perf_control(self):
        for fd in (self.perf_ctl, self.perf_ack):
            if fd is not None:
                os.close(fd)
        self.perf_ctl = self.perf_ack = None

    def _perf_summary(self):
        if self.perf_proc is None:
            return {"error": "perf could not be started"}
        try:
            events, units = parse_perf_csv(_read(self.perf_path))
        except OSError as e:
            return {"error": "perf output %s: %s" % (self.perf_path, e.strerror)}
        out = {"target": self.perf_target, "events": events, "units": units,
               "perf_cpu_s": self.perf_cpu_s}
        if not events:
            why = self.perf_start_err or (self.perf_err or "").strip()
            out["error"] = "perf counted nothing: " + why
        return out

    def artefacts(self):
        out = {}
        for prof in self.profilers:
            out.update(prof.artefacts())
        if self.enabled and self.perf_path and os.path.exists(self.perf_path):
            out["perf"] = os.path.basename(self.perf_path)
        return out

    def summary(self):
        """Plain-dict summaries, or {} when collectors are disabled / never started."""
        if not self.enabled or not self.before or not self.after:
            return {}
        b, a = self.before, self.after
        hosts = {r: snmp_summary(b["snmp"][r], a["snmp"][r]) for r in self.roles}
        out = {"window_s": round(self.t1 - self.t0, 3),
                "cost": {"snapshots_wall_s": round(self.snapshot_s, 3),
                         "perf_cpu_s": self.perf_cpu_s},
                "cpu": cpu_summary(b["stat"], a["stat"]),
                "softirq": softirq_summary(b["softirqs"], a["softirqs"]),
                "snmp": hosts.get("server", {}),
                "snmp_hosts": hosts,
                "procs": procs_summary(b["procs"], a["procs"]),
                "perf": self._perf_summary(),
                "others": others_summary(b, a)}
        if b.get("stack") is not None:
            out["stack"] = stack_counters_summary(b["stack"], a.get("stack") or {})
        for prof in self.profilers:
            out[prof.name] = prof.summary()
        return out
