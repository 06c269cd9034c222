"""Process helpers for the lab: run commands, spawn and stop processes by PID.

Every process is identified by (pid, start time) so that a PID reused by the
kernel after a crash is never signalled by mistake.  Nothing here kills by
name.
"""

import os
import signal
import subprocess
import time

_CLK_TCK = os.sysconf("SC_CLK_TCK")


class ProcError(Exception):
    """A helper command failed; the message names the command."""


def run(argv, check=True, timeout=30, input_text=None):
    """Run argv, return CompletedProcess (text); raise ProcError on failure."""
    try:
        res = subprocess.run(argv, capture_output=True, text=True,
                             timeout=timeout, input=input_text)
    except FileNotFoundError:
        raise ProcError("%s: command not found" % argv[0]) from None
    except subprocess.TimeoutExpired:
        raise ProcError("%s: timed out after %ss" % (" ".join(argv), timeout)) from None
    if check and res.returncode != 0:
        msg = (res.stderr or res.stdout).strip().splitlines()
        raise ProcError("%s: exit %d: %s" % (" ".join(argv), res.returncode,
                                             msg[-1] if msg else "no output"))
    return res


def netns_argv(netns, argv, cpus=None):
    """Wrap argv so it runs in netns (if any), pinned to cpus (if any).

    `ip netns exec` and `taskset` both exec(), so the PID of the spawned
    process is the PID of the final program."""
    out = []
    if netns:
        out += ["ip", "netns", "exec", netns]
    if cpus:
        out += ["taskset", "-c", cpus]
    return out + list(argv)


def spawn(argv, netns=None, cpus=None, stdout=None, stderr=None, env=None, cwd=None,
          pass_fds=()):
    """Start a process in its own session (Ctrl-C on the terminal does not
    reach it; the harness stops it in order).  Returns the Popen."""
    full = netns_argv(netns, argv, cpus)
    return subprocess.Popen(full, stdin=subprocess.DEVNULL,
                            stdout=stdout if stdout is not None else subprocess.DEVNULL,
                            stderr=stderr if stderr is not None else subprocess.DEVNULL,
                            env=env, cwd=cwd, start_new_session=True,
                            pass_fds=pass_fds)


def cpu_list(cores):
    """Cores 0..cores-1 as a taskset/cpus_allowed list."""
    return "0" if cores == 1 else "0-%d" % (cores - 1)


def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return data[data.rfind(")") + 2:].split()


def start_time(pid):
    """Process start time in clock ticks since boot (None if gone)."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_alive(pid, started=None):
    """True if pid runs and (if given) has the recorded start time; zombies
    count as dead."""
    fields = _stat_fields(pid)
    if not fields or fields[0] == "Z":
        return False
    return started is None or int(fields[19]) == started


def cpu_seconds(pid):
    """(user_s, sys_s) of a process including all its threads, or None."""
    fields = _stat_fields(pid)
    if not fields:
        return None
    return int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def accounted_cpu(root):
    """{(pid, start time): CPU clock ticks} of `root` and its descendants
    (own time + reaped children's) and of the kernel threads (own time):
    what the machine spent on this measurement, the lab's packet work in
    ksoftirqd included.  The machine's busy time minus this is what its
    other processes took (harness.collect.others_summary)."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat_fields(int(name))
            if fields:
                table[int(name)] = fields
    children = {}
    for pid, f in table.items():
        children.setdefault(int(f[1]), []).append(pid)
    ours, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in ours:
            ours.add(pid)
            todo.extend(children.get(pid, []))
    out = {}
    for pid, f in table.items():
        kernel = pid == 2 or int(f[1]) == 2
        if pid in ours or kernel:
            out[(pid, int(f[19]))] = sum(int(x) for x in
                                         f[11:13 if kernel else 15])
    return out


def ticks_s(ticks):
    return ticks / _CLK_TCK


def descendants(pids):
    """pids plus all their live descendants (scan of /proc)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        out.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(out)


def signal_pid(pid, sig, started=None):
    """Send sig to pid if it is still the same process; True if sent."""
    if not is_alive(pid, started):
        return False
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def wait_gone(pid, timeout, proc=None):
    """Wait until pid has exited (reaping it if it is our child)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return True
        elif not is_alive(pid):
            return True
        time.sleep(0.02)
    return False


def stop(pid, started=None, proc=None, sig=signal.SIGTERM, timeout=5.0):
    """Stop one process: sig, wait up to timeout, then SIGKILL.  Returns
    the exit code if it was our child, else None."""
    if proc is not None and proc.poll() is not None:
        return proc.returncode
    if signal_pid(pid, sig, started) and not wait_gone(pid, timeout, proc):
        signal_pid(pid, signal.SIGKILL, started)
        wait_gone(pid, 5.0, proc)
    if proc is not None:
        try:
            return proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None
    return None


def kill_tree(pid, started=None, timeout=3.0):
    """SIGTERM then SIGKILL a process and all its descendants (by PID)."""
    if not is_alive(pid, started):
        return []
    tree = [(p, start_time(p)) for p in descendants([pid])]
    for p, st in tree:
        signal_pid(p, signal.SIGTERM, st)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(is_alive(p, st) for p, st in tree):
        time.sleep(0.02)
    for p, st in tree:
        signal_pid(p, signal.SIGKILL, st)
    return [p for p, _ in tree]


def forget_time_wait(exec_argv):
    """Destroy the host's TIME_WAIT sockets (`ss -K`, ~1 s per 15,000), so
    that a cell does not inherit the previous cell's: a SYN of one stack
    that reuses a 4-tuple the peer still holds in TIME_WAIT from another
    stack's connection carries timestamps unrelated to the old ones, fails
    the peer's PAWS check and is answered with an ACK of the old
    connection (RST, then a SYN retry), which is the previous cell's
    doing, not this one's.  Only a host that stacks under test connect to
    needs it (haproxy's origins): the Linux client's own TIME_WAIT sockets
    never meet another stack's SYNs.  exec_argv(argv) runs a command on the host and returns a
    CompletedProcess.  Returns how many TIME_WAIT sockets are left: a
    kernel that cannot destroy them (no CONFIG_INET_DIAG_DESTROY, or one
    without TIME_WAIT support in it) leaves them, and the caller says so."""
    exec_argv(["ss", "-K", "-t", "-n", "state", "time-wait"])
    left = exec_argv(["ss", "-H", "-t", "-n", "state", "time-wait"])
    return len([ln for ln in (left.stdout or "").splitlines() if ln.strip()])
