#!/usr/bin/python3
"""shim_diag.py NETNS RSCTL PID... — why a shared-stack server serves nothing.

For the processes of one shim stack (nginx's master and workers), printed
as comment lines (# ...):
  - each process and thread: state, the CPU it last ran on, CPU time, the
    system call it is in (/proc/PID/syscall), where it sleeps (wchan), and
    the AF_PACKET sockets it holds (the fanout group's members: frames the
    kernel steers to a socket whose process does not poll wait there);
  - each core a process drives (publishes in its statistics segment):
    whether it is polled (publishes and polls advancing over 0.5 s: an
    idle core sleeps, so this says something under load only), its
    tables, the counters that move a connection between cores (accepts,
    passive opens, parking, adoption, hand-offs, drops) and its listening
    sockets with their accept queues;
  - the packet sockets of the namespace (/proc/net/packet).
Run inside nothing: it enters NETNS for rsctl and /proc/net/packet itself.
"""
import json
import os
import subprocess
import sys
import time

KEYS = ("polls", "rx_frames", "tcp_passive_opens", "tcp_accepts",
        "accept_local", "accept_global", "tcp_parked", "tcp_adopted",
        "handoff_rx", "xcore_handoffs", "steer_home", "steer_away",
        "tcp_rst_tx", "drop_no_tcb", "drop_parked_full", "tcp_tw_reused")


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        return "?(%s)" % e.strerror


def stat_fields(path):
    s = read(path)
    if ")" not in s:
        return None
    rest = s[s.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); field n is rest[n - 3]
    return {"state": rest[0], "cpu": rest[39 - 3] if len(rest) > 36 else "?",
            "ticks": int(rest[14 - 3]) + int(rest[15 - 3])}


def packet_inodes(ns):
    out = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/net/packet"],
                         capture_output=True, text=True).stdout
    lines = out.splitlines()
    inodes = set()
    for ln in lines[1:]:
        f = ln.split()
        if f:
            inodes.add(f[-1])
    return lines, inodes


def held_packet_sockets(pid, inodes):
    n = []
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return n
    for fd in fds:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            n.append("fd %s inode %s" % (fd, link[8:-1]))
    return n


def rsctl(ns, tool, pid, sockets):
    cmd = ["ip", "netns", "exec", ns, tool, "-p", str(pid), "--json", "-t", "300"]
    if not sockets:
        cmd += ["tables", "counters"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    try:
        return json.loads(r.stdout)["instances"][0]
    except (ValueError, KeyError, IndexError):
        return {"error": (r.stderr or r.stdout).strip()[:200]}


def main():
    ns, tool, pids = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3:]]
    packet_lines, inodes = packet_inodes(ns)
    first = {p: rsctl(ns, tool, p, False) for p in pids}
    time.sleep(0.5)
    second = {p: rsctl(ns, tool, p, True) for p in pids}
    for p in pids:
        st = stat_fields("/proc/%d/stat" % p)
        if st is None:
            print("# pid %d: gone" % p)
            continue
        tasks = sorted(os.listdir("/proc/%d/task" % p), key=int)
        print("# pid %d (%s): state %s, last on CPU %s, CPU ticks %d, %d thread(s), "
              "packet sockets: %s" % (p, read("/proc/%d/comm" % p), st["state"], st["cpu"],
                                      st["ticks"], len(tasks),
                                      ", ".join(held_packet_sockets(p, inodes)) or "none"))
        for t in tasks:
            tp = "/proc/%d/task/%s" % (p, t)
            ts = stat_fields(tp + "/stat") or {"state": "?", "cpu": "?", "ticks": 0}
            print("#   thread %s (%s): state %s, CPU %s, ticks %d, syscall %s, wchan %s" % (
                t, read(tp + "/comm"), ts["state"], ts["cpu"], ts["ticks"],
                read(tp + "/syscall").split(" ")[0], read(tp + "/wchan") or "0"))
        a, b = first[p], second[p]
        if "error" in a or "error" in b:
            print("#   rsctl: %s" % (a.get("error") or b.get("error")))
            continue
        ca = {c["core"]: c for c in a["cores"]}
        for c in b["cores"]:
            if not c["publishes"]:
                continue
            o = ca.get(c["core"], c)
            dp = c["publishes"] - o["publishes"]
            dpoll = c["counters"]["polls"] - o["counters"]["polls"]
            print("#   core %d: %s (publishes +%d, polls +%d in 0.5 s), tables %s" % (
                c["core"], "polled" if dpoll else "no poll", dp, dpoll,
                json.dumps(c.get("tables", {}), separators=(",", ":"))))
            print("#     counters: %s" % " ".join(
                "%s=%d(+%d)" % (k, c["counters"][k], c["counters"][k] - o["counters"][k])
                for k in KEYS if k in c["counters"]))
            rec = {k: v for k, v in c["counters"].items() if k.endswith("_recovered") and v}
            if rec:
                print("#     locks recovered: %s" % rec)
        socks = b.get("sockets", [])
        for s in socks:
            if s.get("state") == "LISTEN":
                print("#   listener core %s fd %s %s accept_queue %s" % (
                    s.get("core"), s.get("fd"), s.get("local"), s.get("accept_queue")))
        nconn = sum(1 for s in socks if s.get("state") != "LISTEN")
        print("#   sockets: %d listening, %d others%s" % (
            len(socks) - nconn, nconn, " (stale list)" if b.get("sockets_stale") else ""))
    print("# /proc/net/packet in %s:" % ns)
    for ln in packet_lines:
        print("#   " + ln)


if __name__ == "__main__":
    main()
