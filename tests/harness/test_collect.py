"""Collectors: the parsers on fixed input, and real deltas around real
traffic (curl against nginx in the lab)."""

import os
import subprocess
import shutil
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from harness import collect as C           # noqa: E402
from harness import lab as L               # noqa: E402
from harness.workloads import servers as S  # noqa: E402

STAT_A = """cpu  100 0 50 800 10 0 40 0 0 0
cpu0 60 0 30 400 5 0 20 0 0 0
cpu1 40 0 20 400 5 0 20 0 0 0
intr 12345
"""
STAT_B = """cpu  200 0 100 1000 10 0 90 0 0 0
cpu0 110 0 60 500 5 0 40 0 0 0
cpu1 90 0 45 500 5 0 45 0 0 0
intr 22345
"""
SOFTIRQ_A = """                    CPU0       CPU1
          HI:          1          0
      NET_TX:         10         20
      NET_RX:        100        200
"""
SOFTIRQ_B = """                    CPU0       CPU1
          HI:          1          0
      NET_TX:         15         20
      NET_RX:        150        290
"""
SNMP_A = """Ip: Forwarding DefaultTTL
Ip: 2 64
Tcp: RtoAlgorithm ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab RetransSegs OutRsts
Tcp: 1 10 20 0 1 3 5 2
TcpExt: ListenOverflows ListenDrops TW
TcpExt: 0 0 100
"""
SNMP_B = """Ip: Forwarding DefaultTTL
Ip: 2 64
Tcp: RtoAlgorithm ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab RetransSegs OutRsts
Tcp: 1 15 1020 0 1 9 7 2
TcpExt: ListenOverflows ListenDrops TW
TcpExt: 3 4 1100
"""
PERF = """# started on Mon Nov 23 15:00:00 2026

1006.81,msec,cpu-clock,1006807363,100.00,2.000,CPUs utilized
1006.81,msec,task-clock,1006806191,100.00,2.000,CPUs utilized
338,,context-switches,1006806463,100.00,335.715,/sec
<not supported>,,page-faults,0,100.00,,
"""


class ParserTest(unittest.TestCase):
    def test_cpu(self):
        s = C.cpu_summary(C.parse_proc_stat(STAT_A), C.parse_proc_stat(STAT_B))
        self.assertEqual(set(s), {"all", "cpu0", "cpu1"})
        self.assertEqual(s["cpu0"]["usr"], 25.0)      # 50 of 200 ticks
        self.assertEqual(s["cpu0"]["sys"], 15.0)
        self.assertEqual(s["cpu0"]["softirq"], 10.0)
        self.assertEqual(s["cpu0"]["idle"], 50.0)
        self.assertEqual(s["cpu0"]["busy"], 50.0)
        self.assertEqual(s["cpu1"]["usr"], 25.0)

    def test_softirq(self):
        s = C.softirq_summary(C.parse_softirqs(SOFTIRQ_A), C.parse_softirqs(SOFTIRQ_B))
        self.assertEqual(s["cpu0"], {"NET_RX": 50, "NET_TX": 5})
        self.assertEqual(s["cpu1"], {"NET_RX": 90, "NET_TX": 0})
        self.assertEqual(s["all"], {"NET_RX": 140, "NET_TX": 5})

    def test_snmp(self):
        s = C.snmp_summary(C.parse_snmp(SNMP_A), C.parse_snmp(SNMP_B))
        self.assertEqual(s["ActiveOpens"], 5)
        self.assertEqual(s["PassiveOpens"], 1000)
        self.assertEqual(s["RetransSegs"], 2)
        self.assertEqual(s["ListenOverflows"], 3)
        self.assertEqual(s["ListenDrops"], 4)
        self.assertEqual(s["TW"], 1000)
        self.assertNotIn("CurrEstab", s)             # a gauge, not a counter
        self.assertNotIn("TWKilled", s)              # absent in the input

    def test_perf(self):
        ev, units = C.parse_perf_csv(PERF)
        self.assertEqual(ev["task-clock"], 1006.81)
        self.assertEqual(units["task-clock"], "msec")
        self.assertEqual(ev["context-switches"], 338)
        self.assertNotIn("page-faults", ev)

    def test_procs(self):
        b = {1: ("nginx", 1.0, 2.0), 2: ("nginx", 0.5, 0.5)}
        a = {1: ("nginx", 1.5, 3.0), 2: ("nginx", 0.5, 1.0), 3: ("nginx", 0.1, 0.2)}
        s = C.procs_summary(b, a)
        self.assertEqual((s["user_s"], s["sys_s"], s["count"]), (0.6, 1.7, 3))
        self.assertEqual(s["by_name"]["nginx"]["count"], 3)


class RealCollectorsTest(unittest.TestCase):
    """Collectors around 60 HTTP requests (new connection each) to nginx."""

    PREFIX = "tcps-t-c%d" % (os.getpid() % 10000)
    N = 60

    @classmethod
    def setUpClass(cls):
        for prefix in L.list_labs("tcps-t"):      # test labs of killed runs
            L.cleanup_stale(prefix)
        cls.lab = L.Lab(2, prefix=cls.PREFIX)
        cls.lab.up()
        cls.dir = tempfile.mkdtemp(prefix="tcps-test-collect-")

    @classmethod
    def tearDownClass(cls):
        cls.lab.down()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def traffic(self, coll):
        lab = self.lab
        srv = S.start_nginx(lab, "server", "nginx", self.dir, 2,
                            [(lab.addrs["server"], S.HTTP_PORT)], cpus="0-1")
        try:
            S.wait_accepting(lab, "client", srv["probe"], [srv])
            coll.start([srv["proc"].pid])
            url = "http://%s/%s" % (lab.addrs["server"], S.STATIC_FILE)
            res = lab.exec("client", ["curl", "-s", "-w", "%{http_code}\n"]
                           + ["-o", "/dev/null", url] * self.N)
            self.assertEqual(res.stdout.split(), ["200"] * self.N)
            coll.stop()
        finally:
            lab.stop(srv["proc"])
        return coll.summary()

    def test_deltas_around_real_traffic(self):
        s = self.traffic(C.Collectors(self.lab, self.dir, "collect-on"))
        self.assertGreater(s["window_s"], 0)
        ncpu = os.cpu_count()
        self.assertEqual(set(s["cpu"]), {"all"} | {"cpu%d" % i for i in range(ncpu)})
        for core in s["cpu"].values():
            total = core["usr"] + core["sys"] + core["softirq"] + core["irq"] + \
                core["iowait"] + core["steal"] + core["idle"]
            self.assertAlmostEqual(total, 100.0, delta=0.5)
        self.assertGreater(s["softirq"]["all"]["NET_RX"], 0)
        # curl keeps no connection alive: one passive open per request on
        # the server, one active open on the client, none on the backend.
        self.assertGreaterEqual(s["snmp"]["PassiveOpens"], self.N)
        self.assertEqual(s["snmp"]["PassiveOpens"], s["snmp_hosts"]["server"]["PassiveOpens"])
        self.assertGreaterEqual(s["snmp_hosts"]["client"]["ActiveOpens"], self.N)
        self.assertEqual(s["snmp_hosts"]["backend"]["PassiveOpens"], 0)
        self.assertIn("TW", s["snmp"])
        self.assertEqual(s["procs"]["count"], 3)             # master + 2 workers
        self.assertIn("nginx", s["procs"]["by_name"])
        self.assertNotIn("error", s["perf"])
        self.assertTrue(s["perf"]["target"].startswith("pids:"))
        self.assertGreater(s["perf"]["events"]["task-clock"], 0)
        self.assertGreater(s["perf"]["events"]["context-switches"], 0)

    def test_perf_on_the_cores_under_test(self):
        coll = C.Collectors(self.lab, self.dir, "collect-cpus", perf_mode="cpus", cpus="0")
        s = self.traffic(coll)
        self.assertEqual(s["perf"]["target"], "cpus:0")
        self.assertNotIn("error", s["perf"])
        self.assertGreater(s["perf"]["events"]["cpu-clock"], 0)
        with self.assertRaises(ValueError):
            C.Collectors(self.lab, self.dir, "x", perf_mode="everything")

    def test_a_window_shorter_than_perf_start_up_is_counted(self):
        """A 20 ms window, less than perf's start-up on a loaded machine:
        perf counts from start() on (it acks before the window opens)."""
        busy = subprocess.Popen(["sh", "-c", "while :; do :; done"])
        try:
            coll = C.Collectors(self.lab, self.dir, "collect-short")
            coll.start([busy.pid])
            time.sleep(0.02)
            coll.stop()
        finally:
            busy.kill()
            busy.wait()
        s = coll.summary()
        self.assertNotIn("error", s["perf"])
        self.assertGreater(s["perf"]["events"]["task-clock"], 0)

    def test_disabled_collectors_return_nothing(self):
        coll = C.Collectors(self.lab, self.dir, "collect-off", enabled=False)
        self.assertEqual(self.traffic(coll), {})
        self.assertEqual(coll.artefacts(), {})


if __name__ == "__main__":
    unittest.main()


class StackCountersTest(unittest.TestCase):
    """refstack's counters (rsctl --json) -> deltas over the window."""

    RSCTL = ('{"instances":[{"pid":41,"ncores":2,"cores":['
             '{"core":0,"counters":{"tcp_accepts":10,"lock_listen_wait_max_ns":500}},'
             '{"core":1,"counters":{"tcp_accepts":5,"lock_listen_wait_max_ns":900}}]},'
             '{"pid":99,"ncores":1,"cores":[{"core":0,"counters":{"tcp_accepts":1000}}]}]}')

    def test_parse_keeps_the_servers_instances(self):
        from harness.workloads import refstack
        snap = refstack.parse_rsctl(self.RSCTL, {41})
        self.assertEqual(snap["counters"]["tcp_accepts"], 15)
        self.assertEqual([c["core"] for c in snap["per_core"]], [0, 1])

    def test_deltas_and_gauges(self):
        from harness import collect
        before = {"counters": {"tcp_accepts": 15, "lock_listen_wait_max_ns": 1400},
                  "per_core": [{"pid": 41, "core": 0, "counters": {"tcp_accepts": 10}}]}
        after = {"counters": {"tcp_accepts": 115, "lock_listen_wait_max_ns": 2000},
                 "per_core": [{"pid": 41, "core": 0, "counters": {"tcp_accepts": 70}}]}
        s = collect.stack_counters_summary(before, after)
        self.assertEqual(s["counters"]["tcp_accepts"], 100)
        self.assertEqual(s["counters"]["lock_listen_wait_max_ns"], 2000)  # a level
        self.assertEqual(s["per_core"][0]["counters"]["tcp_accepts"], 60)
        self.assertIn("error", collect.stack_counters_summary({"error": "gone"}, after))
