"""E-divisive change points (harness/changepoint.py) on series with known
changes, and on noise."""
import random
import unittest

from harness import changepoint


def series(rng, *parts, cv=0.02):
    out = []
    for level, n in parts:
        out += [rng.gauss(level, level * cv) for _ in range(n)]
    return out


class DivergenceTest(unittest.TestCase):
    def test_q_by_hand(self):
        # X = [0, 0], Y = [1, 1]: between mean 1, within 0: Q = 2*2/4 * 2 = 2
        q, tau, kappa = changepoint.best_split([0.0, 0.0, 1.0, 1.0], 0, 4)
        self.assertEqual((tau, kappa), (2, 4))
        self.assertAlmostEqual(q, 2.0)

    def test_too_short(self):
        self.assertEqual(changepoint.best_split([1.0], 0, 1),
                         (None, None, None))
        self.assertEqual(changepoint.change_points([]), [])
        self.assertEqual(changepoint.change_points([5.0]), [])
        self.assertEqual(changepoint.change_points([3.0] * 10), [])


class ChangePointTest(unittest.TestCase):
    def test_one_step(self):
        rng = random.Random(1)
        z = series(rng, (100, 15), (88, 15))
        for test in changepoint.TESTS:
            with self.subTest(test=test):
                cps = changepoint.change_points(z, test=test)
                self.assertEqual([c["index"] for c in cps], [15])
                self.assertAlmostEqual(cps[0]["change"], -0.12, delta=0.02)
                self.assertLessEqual(cps[0]["p"], 0.001)

    def test_two_steps(self):
        rng = random.Random(2)
        z = series(rng, (100, 12), (80, 12), (110, 12))
        self.assertEqual([c["index"] for c in
                          changepoint.change_points(z)], [12, 24])

    def test_min_change(self):
        rng = random.Random(3)
        z = series(rng, (100, 20), (97, 20), cv=0.002)
        self.assertEqual(len(changepoint.change_points(z)), 1)
        self.assertEqual(changepoint.change_points(z, min_change=0.05), [])

    def test_noise_rarely_has_change_points(self):
        rng = random.Random(4)
        hits = sum(bool(changepoint.change_points(series(rng, (100, 30))))
                   for _ in range(200))
        self.assertLessEqual(hits, 10)     # p 0.001 after a max: ~3 % here

    def test_bad_test_name(self):
        with self.assertRaises(ValueError):
            changepoint.change_points([1.0, 2.0], test="ks")


if __name__ == "__main__":
    unittest.main()
