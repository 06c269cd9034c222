"""Statistics (harness/analyze.py): known values and CI coverage."""
import math
import random
import unittest

import datafix
from harness import analyze


class SummaryTest(unittest.TestCase):
    def test_known_values(self):
        s = analyze.summarize([14, 10, 12])
        self.assertEqual(s["n"], 3)
        self.assertEqual(s["median"], 12)
        self.assertEqual((s["min"], s["max"]), (10, 14))
        self.assertAlmostEqual(s["mean"], 12)
        self.assertAlmostEqual(s["stdev"], 2)
        self.assertAlmostEqual(s["cv"], 2 / 12)
        half = 4.302653 * 2 / math.sqrt(3)     # t(0.975, 2)
        self.assertAlmostEqual(s["ci95"][0], 12 - half, places=5)
        self.assertAlmostEqual(s["ci95"][1], 12 + half, places=5)

    def test_single_and_empty(self):
        s = analyze.summarize([5.0])
        self.assertEqual((s["median"], s["stdev"], s["ci95"], s["cv"]),
                         (5.0, None, None, None))
        self.assertEqual(analyze.summarize([None])["n"], 0)

    def test_t_critical_values(self):
        # published table values (scipy.stats.t underneath)
        self.assertAlmostEqual(analyze.t_crit95(1), 12.706, places=3)
        self.assertAlmostEqual(analyze.t_crit95(30), 2.042, places=3)
        for df, want in ((40, 2.021), (60, 2.000), (120, 1.980)):
            self.assertAlmostEqual(analyze.t_crit95(df), want, places=3)
        self.assertAlmostEqual(analyze.t_crit95(10 ** 6), 1.95997, places=4)
        self.assertTrue(3.182 < analyze.t_crit95(2.5) < 4.303)
        prev = 100
        for df in (1, 1.5, 2, 5, 10, 29.5, 30, 31, 50, 1000):
            self.assertLess(analyze.t_crit95(df), prev)
            prev = analyze.t_crit95(df)
        with self.assertRaises(ValueError):
            analyze.t_crit95(0)

    def test_mean_ci_coverage(self):
        """~95% of t intervals from n=4 normal samples contain the mean."""
        rng = random.Random(7)
        trials, hit = 3000, 0
        for _ in range(trials):
            ci = analyze.summarize([rng.gauss(100, 10) for _ in range(4)])
            hit += ci["ci95"][0] <= 100 <= ci["ci95"][1]
        self.assertGreater(hit / trials, 0.93)
        self.assertLess(hit / trials, 0.97)


class RatioTest(unittest.TestCase):
    def test_clear_difference(self):
        r = analyze.ratio_ci([100, 101, 99, 100], [120, 121, 119, 120])
        self.assertAlmostEqual(r["ratio"], 1.2)
        self.assertGreater(r["ci95"][0], 1)
        self.assertEqual(r["verdict"], "higher")
        r = analyze.ratio_ci([120, 121, 119], [100, 101, 99])
        self.assertEqual(r["verdict"], "lower")

    def test_noise_is_same(self):
        r = analyze.ratio_ci([100, 130, 80], [110, 90, 120])
        self.assertEqual(r["verdict"], "same")
        self.assertLess(r["ci95"][0], 1)
        self.assertGreater(r["ci95"][1], 1)
        r = analyze.ratio_ci([5, 5], [5, 5])
        self.assertEqual((r["ratio"], r["ci95"], r["verdict"]),
                         (1.0, [1.0, 1.0], "same"))

    def test_not_enough_data(self):
        self.assertEqual(analyze.ratio_ci([100], [120])["verdict"], "n/a")
        self.assertAlmostEqual(analyze.ratio_ci([100], [120])["ratio"], 1.2)
        self.assertIsNone(analyze.ratio_ci([], [1, 2])["ratio"])
        self.assertIsNone(analyze.ratio_ci([0, 0], [1, 2])["ratio"])

    def test_same_vs_same_false_alarm_rate(self):
        """Equal true means: the verdict says higher/lower in ~5% of runs."""
        rng = random.Random(11)
        trials, alarms = 2000, 0
        for _ in range(trials):
            a = [rng.gauss(1000, 50) for _ in range(5)]
            b = [rng.gauss(1000, 50) for _ in range(5)]
            alarms += analyze.ratio_ci(a, b)["verdict"] != "same"
        self.assertLess(alarms / trials, 0.08)
        self.assertGreater(alarms / trials, 0.02)


class NonParametricTest(unittest.TestCase):
    def test_mann_whitney_and_bootstrap(self):
        a, b = [100, 101, 99, 98, 102], [120, 121, 119, 122, 118]
        r = analyze.compare_values(a, b)
        # exact two-sided p of complete separation, n = 5 + 5: 2 / C(10, 5)
        self.assertAlmostEqual(r["p_mw"], 2 / 252)
        lo, hi = r["boot_ci95"]
        self.assertTrue(1.15 < lo <= 120 / 100 <= hi < 1.25, (lo, hi))
        r = analyze.compare_values([100, 101, 99], [120, 121, 119])
        self.assertIsNone(r["boot_ci95"])       # too few for a bootstrap
        self.assertAlmostEqual(r["p_mw"], 0.1)  # 2 / C(6, 3)
        self.assertIsNone(analyze.mann_whitney_p([1], [2, 3]))


class RecordsTest(unittest.TestCase):
    def records(self):
        rs = [datafix.record("r", "shortconn", c, rep, cps)
              for c, rep, cps in ((1, 0, 1000), (1, 1, 1100), (1, 2, 900),
                                  (2, 0, 1800), (2, 1, 2000))]
        rs.append(datafix.record("r", "shortconn", 2, 2, 0, status="error"))
        rs += [datafix.record("r", "shortconn", 2, rep, cps, collectors=False)
               for rep, cps in ((0, 2000), (1, 2200))]
        return rs

    def test_summarize_cells(self):
        rows = analyze.summarize_cells(self.records())
        self.assertEqual([(r["cores"], r["n"], r["failed"]) for r in rows],
                         [(1, 3, 0), (2, 2, 1)])
        self.assertEqual(rows[0]["rate"]["median"], 1000)
        self.assertEqual(rows[1]["rate"]["median"], 1900)
        self.assertEqual(rows[0]["unit"], "conn/s")
        self.assertEqual(rows[0]["p99_us"]["median"], 400)

    def test_collector_overhead(self):
        rows = analyze.collector_overhead(self.records())
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["cores"], 2)
        self.assertAlmostEqual(rows[0]["ratio"], 1900 / 2100)

    def test_profiler_twins_stay_out_of_the_statistics(self):
        rs = self.records()
        for rep, cps in ((0, 2400), (1, 2600)):
            t = datafix.record("r", "shortconn", 2, rep, cps)
            t["cell"]["twin"] = "no-record"
            t["cell"]["id"] += ".no-record"
            rs.append(t)
        cannot = datafix.record("r", "shortconn", 1, 3, 5)
        cannot["status"] = "cannot-run"
        rs.append(cannot)
        rows = analyze.summarize_cells(rs)
        self.assertEqual([(r["cores"], r["n"], r["failed"]) for r in rows],
                         [(1, 3, 0), (2, 2, 1)])
        over = analyze.collector_overhead(rs)
        self.assertEqual([r["collector"] for r in over], ["all", "perf record"])
        self.assertAlmostEqual(over[1]["ratio"], 1900 / 2500)

    def test_compare(self):
        a = self.records()
        b = [datafix.record("b", "shortconn", 1, rep, cps)
             for rep, cps in ((0, 2000), (1, 2100), (2, 1900))]
        rows = analyze.compare(a, b)
        one = next(r for r in rows if r["cores"] == 1)
        self.assertAlmostEqual(one["rate"]["ratio"], 2.0)
        self.assertEqual(one["rate"]["verdict"], "higher")
        two = next(r for r in rows if r["cores"] == 2)
        self.assertEqual(two["b"]["n"], 0)
        self.assertEqual(two["rate"]["verdict"], "n/a")

    def test_collector_summaries(self):
        cpu = analyze.cpu_by_core(self.records())
        self.assertEqual(sorted(cpu[("linux", "shortconn", 2)]), [0, 1])
        self.assertAlmostEqual(cpu[("linux", "shortconn", 2)][1]["usr"], 21)
        cost = analyze.server_cost(self.records())[("linux", "shortconn", 1)]
        # 1 s of server CPU over 2 s x 1000 conn/s (the median cell)
        self.assertAlmostEqual(cost["cpu_s"], 1.0)
        self.assertAlmostEqual(cost["cpu_us_per_conn"], 500.0)
        self.assertAlmostEqual(cost["ctxsw_per_conn"], 0.25)
        self.assertEqual(cost["task_clock_ms"], 990.0)
        ka = [datafix.record("r", "keepalive", 1, 0, 1000)]
        ka[0]["metrics"].update(connections=64, transactions=4000)
        self.assertAlmostEqual(analyze.server_cost(ka)[
            ("linux", "keepalive", 1)]["cpu_us_per_conn"], 250.0)  # per req
        snmp = analyze.snmp_medians(self.records())
        self.assertEqual(snmp[("linux", "shortconn", 1)]["ActiveOpens"], 2000)


if __name__ == "__main__":
    unittest.main()
