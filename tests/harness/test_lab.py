"""The netns lab: up/down/status, cleanup on error, Ctrl-C, SIGTERM and
after a killed run.  Needs root (network namespaces)."""

import ipaddress
import os
import signal
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from harness import lab as L       # noqa: E402
from harness import procs          # noqa: E402

PY = "/usr/bin/python3"
BENCH_NET = ipaddress.ip_network("198.18.0.0/15")


def netns_names():
    out = subprocess.run(["ip", "-o", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_prefix(tag):
    """A lab prefix of this test process: concurrent test runs never meet."""
    return "tcps-t-%s%d" % (tag, os.getpid() % 10000)


def sweep_stale_test_labs():
    """Remove test labs left by killed test runs (live ones are skipped)."""
    for prefix in L.list_labs("tcps-t"):
        L.cleanup_stale(prefix)


def lab_netns(prefix):
    return {"%s-%s" % (prefix, r) for r in L.ROLES}


# A child that brings a lab up, starts a long sleep in the server host,
# reports READY, then waits to be killed.
CHILD = r"""
import sys, time
sys.path.insert(0, %r)
from harness.lab import Lab
lab = Lab(1, prefix=sys.argv[1])
with lab:
    p = lab.spawn("server", ["sleep", "1000"], name="sleeper")
    print("READY", p.pid, flush=True)
    time.sleep(1000)
""" % ROOT


# Five connections the server side closes first: five TIME_WAIT sockets.
TIME_WAIT_MAKER = r"""
import socket, sys
addr = %r
s = socket.socket(); s.bind((addr, 0)); s.listen(8)
for _ in range(5):
    c = socket.create_connection(s.getsockname()); a, _ = s.accept()
    a.close(); c.recv(1); c.close()
"""


def start_child(prefix):
    child = subprocess.Popen([PY, "-c", CHILD, prefix], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    line = child.stdout.readline().split()
    if not line or line[0] != "READY":
        child.kill()
        child.wait()
        raise AssertionError("child lab did not come up: %r" % line)
    return child, int(line[1])


def info_offloads(info, prefix):
    return " ".join("%s: %s" % kv for kv in info["offloads"]["server/%s-s0" % prefix].items())


class LabTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        sweep_stale_test_labs()

    def tearDown(self):
        for prefix in getattr(self, "prefixes", []):
            L.cleanup_stale(prefix)

    def use(self, prefix):
        self.prefixes = getattr(self, "prefixes", []) + [prefix]
        L.cleanup_stale(prefix)
        return prefix

    def test_up_status_down(self):
        prefix = self.use(test_prefix("a"))
        lab = L.Lab(2, prefix=prefix)
        info = lab.up()
        try:
            self.assertTrue(lab_netns(prefix) <= netns_names())
            self.assertEqual(info["queues_per_veth"], 2)
            for host in info["hosts"].values():
                for dev, iface in host["ifaces"].items():
                    self.assertEqual(iface["queues"], {"rx": 2, "tx": 2}, dev)
                    for a in iface["addrs"]:
                        self.assertIn(ipaddress.ip_address(a), BENCH_NET)
            self.assertEqual(set(info["hosts"]["server"]["ifaces"]),
                             {prefix + "-s0", prefix + "-s1"})      # the dual NIC
            for role in L.ROLES:
                self.assertEqual(info["sysctls"][role], L.SYSCTLS, role)
            self.assertIn("generic-receive-offload", info["offloads"]["server/%s-s0" % prefix])
            st = lab.status()
            self.assertTrue(st["up"])
            self.assertEqual(st["owner_pid"], os.getpid())
            self.assertIn("198.18.10.2/24", st["hosts"]["server"]["addrs"][prefix + "-s0"])
            # client <-> server and server <-> backend are linked, client <-/-> backend
            lab.exec("client", ["ping", "-c1", "-W2", L.ADDRS["server"]])
            lab.exec("server", ["ping", "-c1", "-W2", L.ADDRS["backend"]])
            res = lab.exec("client", ["ping", "-c1", "-W1", L.ADDRS["backend"]], check=False)
            self.assertNotEqual(res.returncode, 0)
        finally:
            lab.down()
        self.assertFalse(lab_netns(prefix) & netns_names())
        self.assertFalse(os.path.exists(os.path.join(L.STATE_DIR, prefix + ".json")))
        self.assertFalse(os.path.exists(os.path.join(L.STATE_DIR, prefix + ".lock")))
        self.assertFalse(lab.status()["up"])
        lab.down()                                      # idempotent

    def test_down_kills_spawned_processes(self):
        prefix = self.use(test_prefix("b"))
        with L.Lab(1, prefix=prefix) as lab:
            p = lab.spawn("backend", ["sleep", "1000"], name="sleeper")
            st = lab.status()
            self.assertIn(p.pid, st["hosts"]["backend"]["pids"])
            self.assertEqual([e["pid"] for e in st["processes"]], [p.pid])
        self.assertIsNotNone(p.poll())
        self.assertFalse(procs.is_alive(p.pid))

    def test_cells_start_without_time_wait(self):
        """A host's TIME_WAIT sockets from one cell are gone when the next starts."""
        from harness import workloads as W
        prefix = self.use(test_prefix("t"))
        with L.Lab(1, prefix=prefix) as lab:
            lab.exec("backend", [PY, "-c", TIME_WAIT_MAKER % L.ADDRS["backend"]])
            tw = lambda: lab.exec("backend", ["ss", "-H", "-tn", "state", "time-wait"]).stdout
            self.assertEqual(len(tw().splitlines()), 5)
            result = {}
            W._forget_time_wait(lab, result)
            self.assertEqual(tw(), "")
            self.assertNotIn("time_wait_left", result)

    def test_error_inside_lab_cleans_up(self):
        prefix = self.use(test_prefix("c"))
        with self.assertRaises(RuntimeError):
            with L.Lab(1, prefix=prefix):
                raise RuntimeError("boom")
        self.assertFalse(lab_netns(prefix) & netns_names())

    def test_second_owner_refused_and_live_lab_not_stale(self):
        prefix = self.use(test_prefix("d"))
        with L.Lab(1, prefix=prefix):
            with self.assertRaises(L.LabError) as cm:
                L.Lab(1, prefix=prefix).up()
            self.assertIn("in use by pid %d" % os.getpid(), str(cm.exception))
            self.assertEqual(L.cleanup_stale(prefix), [])
            self.assertTrue(lab_netns(prefix) <= netns_names())

    def test_cleanup_after_killed_run(self):
        prefix = self.use(test_prefix("e"))
        child, sleeper = start_child(prefix)
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        self.assertTrue(lab_netns(prefix) <= netns_names())
        self.assertTrue(procs.is_alive(sleeper))
        st = L.Lab(1, prefix=prefix).status()
        self.assertTrue(st["stale"])
        self.assertIn(prefix, L.list_labs("tcps-t"))
        removed = L.cleanup_stale(prefix)
        for ns in lab_netns(prefix):
            self.assertIn("netns " + ns, removed)
        self.assertTrue(any("process %d" % sleeper in r for r in removed), removed)
        self.assertFalse(lab_netns(prefix) & netns_names())
        self.assertTrue(procs.wait_gone(sleeper, 3))
        self.assertFalse(os.path.exists(os.path.join(L.STATE_DIR, prefix + ".json")))
        self.assertNotIn(prefix, L.list_labs("tcps-t"))
        self.assertFalse(os.path.exists(os.path.join(L.STATE_DIR, prefix + ".lock")))

    def test_next_up_cleans_stale_lab(self):
        prefix = self.use(test_prefix("f"))
        child, sleeper = start_child(prefix)
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        with L.Lab(1, prefix=prefix) as lab:
            self.assertIn("netns %s-server" % prefix, lab.info["stale_removed"])
            self.assertTrue(procs.wait_gone(sleeper, 3))
        self.assertFalse(lab_netns(prefix) & netns_names())

    def _signal_cleans(self, prefix, sig):
        child, sleeper = start_child(prefix)
        child.send_signal(sig)
        try:
            child.wait(timeout=15)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()
        self.assertFalse(lab_netns(prefix) & netns_names())
        self.assertTrue(procs.wait_gone(sleeper, 3))

    def test_ctrl_c_cleans_up(self):
        self._signal_cleans(self.use(test_prefix("g")), signal.SIGINT)

    def test_sigterm_cleans_up(self):
        self._signal_cleans(self.use(test_prefix("h")), signal.SIGTERM)

    def test_one_segment_with_offloads_off(self):
        """Client, server and the backend's origins on one L2 segment (for a
        stack that owns only the server's client-facing interface)."""
        prefix = self.use(test_prefix("s"))
        with L.Lab(1, prefix=prefix, offloads_off=True, one_segment=True) as lab:
            info = lab.info
            self.assertTrue(info["one_segment"] and info["offloads_off"])
            self.assertEqual(info["backend_addrs"], L.SEGMENT_BACKEND)
            self.assertEqual(lab.addrs["backend"], "198.18.10.21")
            for role in ("client", "server"):     # both reach an origin address
                res = lab.exec(role, ["ping", "-c1", "-W2", "198.18.10.24"], check=False)
                self.assertEqual(res.returncode, 0, (role, res.stdout, res.stderr))
            k = lab.exec("backend", ["ethtool", "-k", prefix + "-b1"]).stdout
            self.assertIn("tcp-segmentation-offload: off", k)
            self.assertIn("generic-receive-offload: off", info_offloads(info, prefix))
            for a in info["backend_addrs"] + info["client_source_addrs"]:
                self.assertIn(ipaddress.ip_address(a), BENCH_NET)
        self.assertFalse(lab_netns(prefix) & netns_names())

    def test_bad_arguments(self):
        with self.assertRaises(L.LabError):
            L.Lab(0)
        with self.assertRaises(L.LabError):
            L.Lab(1, prefix="bad prefix!")
        with self.assertRaises(L.LabError):
            L.Lab(1, prefix="much-too-long-prefix")


if __name__ == "__main__":
    unittest.main()
