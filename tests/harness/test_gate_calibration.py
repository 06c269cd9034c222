"""The gate's own proof on the committed calibration fixture of real runs
(tests/harness/fixtures/gate-calibration.json, made as BENCHMARKS.md "The
gate" says): at most 1 % of cells "regressed" on same-vs-same splits, at
least 90 % caught at a 10 % injected regression, with the nightly suite's
gate settings — the figures BENCHMARKS.md reports."""
import unittest

from harness import calibrate, gateconf, profile


class CalibrationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fx = calibrate.load_fixture(calibrate.DEFAULT_FIXTURE)
        suite = profile.load_suite(cls.fx["suite"], 2)
        cls.conf = gateconf.parse_conf(suite["gate"], "nightly: gate")
        cls.res = calibrate.evaluate(cls.fx, cls.conf)
        cls.rates = calibrate.rates(cls.res)

    def test_fixture_is_real_runs(self):
        self.assertGreaterEqual(len(self.fx["runs"]), 8)
        self.assertIn("quiet", self.fx["how"])
        for run in self.fx["runs"]:
            self.assertEqual(run["status"], "complete", run["run_id"])
            self.assertTrue(run["git"])
            self.assertEqual(len(run["cells"]), 7, run["run_id"])

    def test_false_alarms_at_most_one_percent(self):
        fa = self.rates[("history:5", 0.0)]
        self.assertLessEqual(fa, calibrate.MAX_FALSE_ALARMS,
                             "\n".join(calibrate.format_evaluation(
                                 self.fx, self.res, self.conf)))

    def test_power_at_ten_percent(self):
        power = self.rates[("history:5", 0.10)]
        self.assertGreaterEqual(power, calibrate.MIN_POWER,
                                "\n".join(calibrate.format_evaluation(
                                    self.fx, self.res, self.conf)))
        self.assertLessEqual(self.rates[("history:5", 0.05)], power)
        self.assertGreaterEqual(self.rates[("history:5", 0.20)], power)

    def test_bounds_checker(self):
        lines, ok = calibrate.check_bounds(self.res)
        self.assertTrue(ok, lines)
        self.assertTrue(any(line.startswith("history:5: false alarms")
                            for line in lines))

    def test_injection(self):
        self.assertEqual(calibrate.inject([100.0], "rate", 0.1), [90.0])
        self.assertEqual(calibrate.inject([100.0], "cpu_per_conn", 0.1),
                         [110.00000000000001])


if __name__ == "__main__":
    unittest.main()
