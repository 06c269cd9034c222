"""USL fit (harness/usl.py) on synthetic data with known sigma and kappa."""
import random
import unittest

from harness import usl


def synthetic(lam, sigma, kappa, cores, reps=3, noise=0.0, seed=5):
    rng = random.Random(seed)
    return [(n, float(usl.usl(n, lam, sigma, kappa)) * (1 + rng.gauss(0, noise)))
            for n in cores for _ in range(reps)]


class UslFitTest(unittest.TestCase):
    def test_exact_data_gives_the_parameters_back(self):
        f = usl.fit(synthetic(1000, 0.05, 0.002, (1, 2, 4, 8, 16, 32), reps=1))
        self.assertTrue(f["ok"])
        self.assertAlmostEqual(f["lambda"], 1000, places=3)
        self.assertAlmostEqual(f["sigma"], 0.05, places=6)
        self.assertAlmostEqual(f["kappa"], 0.002, places=7)
        self.assertEqual(f["n_star"], 21)          # floor(sqrt(0.95 / 0.002))
        self.assertAlmostEqual(f["r2"], 1.0, places=9)
        self.assertAlmostEqual(f["x_star"], float(usl.usl(21, 1000, 0.05, 0.002)))

    def test_noisy_data_within_the_standard_errors(self):
        f = usl.fit(synthetic(1000, 0.08, 0.001, range(1, 25), reps=3, noise=0.01))
        self.assertTrue(f["ok"])
        for name, true in (("lambda", 1000), ("sigma", 0.08), ("kappa", 0.001)):
            with self.subTest(param=name):
                self.assertLess(abs(f[name] - true), 4 * f["se"][name] + 1e-12,
                                (f[name], f["se"][name]))
                self.assertGreater(f["se"][name], 0)
        self.assertIn(f["n_star"], range(26, 36))  # true: floor(sqrt(920)) = 30

    def test_bounds_hold_for_superlinear_data(self):
        # throughput rising faster than linear: sigma and kappa at their bound 0
        f = usl.fit([(n, 100.0 * n ** 1.1) for n in (1, 2, 4, 8)])
        self.assertTrue(f["ok"])
        self.assertGreaterEqual(f["sigma"], 0.0)
        self.assertGreaterEqual(f["kappa"], 0.0)
        self.assertLess(f["kappa"], 1e-6)
        self.assertIsNone(usl.peak(0.1, 0.0))

    def test_too_few_core_counts(self):
        f = usl.fit([(1, 100.0), (1, 110.0), (2, 180.0), (2, 190.0)])
        self.assertFalse(f["ok"])
        self.assertEqual((f["have"], f["needs"]), (2, 4))
        self.assertIn("too few points for a USL fit: 2 distinct core counts (1, 2)",
                      f["reason"])
        self.assertIn("needs at least 4", f["reason"])
        # the efficiency still comes from the points: 185 / (2 * 105)
        self.assertAlmostEqual(f["efficiency"][2], 185 / 210)
        self.assertFalse(usl.fit([])["ok"])

    def test_efficiency_and_curve(self):
        pts = synthetic(500, 0.1, 0.0, (1, 2, 4, 8), reps=1)
        f = usl.fit(pts)
        self.assertAlmostEqual(f["efficiency"][1], 1.0)
        self.assertAlmostEqual(f["efficiency"][8], 1 / (1 + 0.1 * 7), places=6)
        xs, ys = usl.curve(f, 10, steps=11)
        self.assertEqual((xs[0], xs[-1]), (1.0, 10.0))
        self.assertAlmostEqual(ys[0], 500, places=3)


if __name__ == "__main__":
    unittest.main()
