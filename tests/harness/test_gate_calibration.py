"""The gate's false alarms and power on the calibration fixture: real
repetitions of 6 nightly runs of this machine (tests/harness/fixtures/
gate-calibration.json, its "how" says how they were made), replayed by
harness.calibrate with the gate's own decision and the nightly suite's
settings.  BENCHMARKS.md ("The gate") has the full table
(`./tcpscale calibrate`)."""
import unittest

from harness import calibrate, gateconf, profile

# Time metrics (rate, p99, server CPU) on this shared 2-core machine move
# 10-20 % between repetitions and up to 2x between runs: at 7 repetitions
# a 10 % regression of them is caught in about 1 cell of 10 (BENCHMARKS.md),
# far from the 90 % bound, which only the instruction count meets here.
# What is asserted for them is the measured floor, so that a gate that
# catches less than it does today fails.
MIN_TIME_POWER_20 = 0.15


class CalibrationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fx = calibrate.load_fixture(calibrate.DEFAULT_FIXTURE)
        suite = profile.load_suite("nightly", 2)
        cls.conf = gateconf.parse_conf(suite["gate"], "nightly: gate")
        cls.res = calibrate.evaluate(cls.fx, cls.conf, history_k=5)
        cls.rates = calibrate.rates(cls.res)

    def test_fixture_is_real_nightly_runs(self):
        self.assertEqual(self.fx["suite"], "nightly")
        self.assertGreaterEqual(len(self.fx["runs"]), 6)
        self.assertIn("tcpscale run nightly", self.fx["how"])
        for run in self.fx["runs"]:
            self.assertEqual(len(run["cells"]), 7, run["run_id"])
            for cell, recs in run["cells"].items():
                self.assertEqual(len(recs), 7, (run["run_id"], cell))
                self.assertTrue(all(r["status"] == "ok" for r in recs))

    def test_false_alarms_at_most_one_percent(self):
        for mode in ("run", "history:5"):
            self.assertLessEqual(self.rates[(mode, 0.0)],
                                 calibrate.MAX_FALSE_ALARMS, mode)
            self.assertGreater(self.res[(mode, 0.0)]["cells"], 40, mode)

    def test_power_on_instruction_cells(self):
        exact = calibrate.kind_rates(self.res, "exact")
        for mode in ("run", "history:5"):
            for d in calibrate.INJECTIONS:
                self.assertGreaterEqual(exact[(mode, d)], calibrate.MIN_POWER,
                                        (mode, d))
            self.assertEqual(exact[(mode, 0.0)], 0.0, mode)

    def test_power_on_time_cells_grows_with_the_regression(self):
        stat = calibrate.kind_rates(self.res, "stat")
        for mode in ("run", "history:5"):
            got = [stat[(mode, d)] for d in (0.0,) + calibrate.INJECTIONS]
            self.assertEqual(got, sorted(got), mode)
            self.assertGreater(got[-1], got[0], mode)
            self.assertGreaterEqual(stat[(mode, 0.20)], MIN_TIME_POWER_20,
                                    mode)

    def test_bounds_are_reported(self):
        lines, ok = calibrate.check_bounds(self.res)
        self.assertIn("run: false alarms 0.48% of cells (bound 1%): met",
                      lines)
        power = next(x for x in lines if x.startswith("run: power"))
        self.assertIn("instruction cells 100.0%", power)
        self.assertEqual(ok, all(x.endswith("met") for x in lines))


if __name__ == "__main__":
    unittest.main()
