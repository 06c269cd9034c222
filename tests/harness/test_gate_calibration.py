"""The gate's false alarms and power on the calibration fixture: real
nightly runs of this machine, every timed cell measured beside the
reference build (here the same build, so every pair is same-vs-same),
tests/harness/fixtures/gate-calibration.json (its "how" says how they were
made), replayed by harness.calibrate with the gate's own decision and the
nightly suite's settings.  BENCHMARKS.md ("The gate") has the full table
(`./tcpscale calibrate`)."""
import unittest

from harness import calibrate, gateconf, profile



class CalibrationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fx = calibrate.load_fixture(calibrate.DEFAULT_FIXTURE)
        suite = profile.load_suite("nightly", 2)
        cls.suite = suite
        cls.conf = gateconf.parse_conf(suite["gate"], "nightly: gate")
        cls.res = calibrate.evaluate(cls.fx, cls.conf, history_k=5)
        cls.rates = calibrate.rates(cls.res)

    def test_fixture_is_real_nightly_runs_beside_the_reference(self):
        self.assertEqual(self.fx["suite"], "nightly")
        self.assertGreaterEqual(len(self.fx["runs"]), 3)
        for word in ("tcpscale run nightly", "quiet", "reference save"):
            self.assertIn(word, self.fx["how"])
        reps = self.suite["repetitions"]
        for run in self.fx["runs"]:
            self.assertEqual(run["reference"], self.suite["reference"])
            self.assertEqual(len(run["cells"]), 4, run["run_id"])
            for cell, recs in run["cells"].items():
                twins = [r for r in recs if r["cell"].get("twin")]
                self.assertTrue(all(r["status"] == "ok" for r in recs))
                workload = recs[0]["cell"]["workload"]
                want = self.suite["workload"][workload].get("repetitions",
                                                            reps)
                self.assertEqual(len(recs) - len(twins), want,
                                 (run["run_id"], cell))
                want = 0 if "memif" in cell else reps
                self.assertEqual(len(twins), want, (run["run_id"], cell))

    def test_false_alarms_at_most_one_percent(self):
        for mode in ("reference", "run"):
            self.assertLessEqual(self.rates[(mode, 0.0)],
                                 calibrate.MAX_FALSE_ALARMS, mode)
        # 3 time cells x 3 runs, each seen from both sides
        self.assertGreaterEqual(self.res[("reference", 0.0)]["cells"], 18)

    def test_power_on_instruction_cells(self):
        exact = calibrate.kind_rates(self.res, "exact")
        for d in calibrate.INJECTIONS:
            self.assertGreaterEqual(exact[("run", d)], calibrate.MIN_POWER, d)
        self.assertEqual(exact[("run", 0.0)], 0.0)

    def test_power_on_time_cells(self):
        """At the suite's own repetitions, without re-runs: a 10 % change
        of the time metrics is caught in 90 % of the cells or more."""
        stat = calibrate.kind_rates(self.res, "stat")
        got = [stat[("reference", d)] for d in (0.0,) + calibrate.INJECTIONS]
        self.assertEqual(got, sorted(got))
        self.assertGreaterEqual(stat[("reference", 0.10)], calibrate.MIN_POWER)
        self.assertGreaterEqual(stat[("reference", 0.20)], calibrate.MIN_POWER)

    def test_bounds_are_reported(self):
        lines, ok = calibrate.check_bounds(self.res)
        self.assertIn("reference: false alarms 0.00% of cells (bound 1%): "
                      "met", lines)
        power = next(x for x in lines if x.startswith("run: power"))
        self.assertIn("instruction cells 100.0%", power)
        self.assertEqual(ok, all(x.endswith("met") for x in lines))
        self.assertTrue(ok, lines)


if __name__ == "__main__":
    unittest.main()
