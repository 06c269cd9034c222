"""The gate's decision (harness/gate.py, gateconf.py) on known samples, and
its outputs (harness/gateout.py) read back with real parsers."""
import math
import os
import random
import unittest
import xml.etree.ElementTree as ET

import datafix
from harness import collect, gate, gateconf, gateout, procs


def noisy(rng, center, cv, n):
    return [rng.gauss(center, center * cv) for _ in range(n)]


def rec(run_id, workload, cores, rep, rate, p99=1000.0, cpu_s=1.0,
        status="ok", instructions=None):
    r = datafix.record(run_id, workload, cores, rep, rate, status=status,
                       p99=p99)
    if status == "ok":
        r["collectors"]["procs"] = {"count": 1, "user_s": cpu_s, "sys_s": 0.0}
    if instructions is not None:
        r["metrics"]["instructions_per_conn"] = instructions
    return r


class ConfTest(unittest.TestCase):
    def test_defaults(self):
        c = gateconf.default_conf()
        self.assertEqual(c["min_effect"], {"rate": 0.05, "p99": 0.05,
                                           "cpu_per_conn": 0.05})
        self.assertEqual(c["exact_threshold"], 0.005)
        self.assertEqual((c["alpha"], c["unknown"], c["baseline"]),
                         (0.02, "fail", "history:5"))

    def test_table_and_overrides(self):
        c = gateconf.parse_conf({"min_effect": {"p99": "20%"},
                                 "unknown": "pass", "alpha": 0.05}, "f: gate")
        self.assertEqual(c["min_effect"]["p99"], 0.2)
        self.assertEqual(c["min_effect"]["rate"], 0.05)
        gateconf.override(c, "min_effect", "rate=8%", "--min-effect")
        gateconf.override(c, "min_effect", "3%", "--min-effect")
        self.assertEqual(c["min_effect"], {"rate": 0.03, "p99": 0.03,
                                           "cpu_per_conn": 0.03})
        c = gateconf.parse_conf({"pair_offset": {"p99": "2%"}}, "f: gate")
        self.assertEqual(c["pair_offset"], {"rate": 0.0, "p99": 0.02,
                                            "cpu_per_conn": 0.0})
        gateconf.override(c, "pair_offset", "rate=1.5%", "--pair-offset")
        self.assertEqual(c["pair_offset"]["rate"], 0.015)
        self.assertEqual(gateconf.parse_baseline("history"), ("history", 5))
        self.assertEqual(gateconf.parse_baseline("history:12"),
                         ("history", 12))
        self.assertEqual(gateconf.parse_baseline("20261201-0612"),
                         ("run", "20261201-0612"))

    def test_errors_name_the_key(self):
        cases = [({"min_effect": "lots"}, "f: gate.min_effect: expected a "
                                          "fraction"),
                 ({"min_effect": {"latency": "5%"}},
                  "f: gate.min_effect: expected metric names"),
                 ({"alpha": 0.7}, "f: gate.alpha: expected a fraction "
                                  "between 0 and 0.5"),
                 ({"unknown": "ignore"}, "f: gate.unknown: expected 'fail' "
                                         "or 'pass'"),
                 ({"baseline": "history:x"}, "f: gate.baseline: expected "
                                             "history:K"),
                 ({"escalate_step": 0}, "f: gate.escalate_step: expected "
                                        "at least 1"),
                 ({"typo": 1}, "f: gate.typo: unknown key")]
        for table, want in cases:
            with self.subTest(table=table):
                with self.assertRaises(gateconf.GateError) as cm:
                    gateconf.parse_conf(table, "f: gate")
                self.assertIn(want, str(cm.exception))
        with self.assertRaises(gateconf.GateError) as cm:
            gateconf.override(gateconf.default_conf(), "alpha", "x",
                              "--alpha")
        self.assertIn("--alpha: expected", str(cm.exception))


class DecideTest(unittest.TestCase):
    conf = gateconf.default_conf()

    def verdict(self, metric, base, cand, **kw):
        conf = dict(self.conf, **kw)
        return gate.decide(metric, base, cand, conf)

    def test_clear_regression_and_improvement(self):
        rng = random.Random(1)
        base = noisy(rng, 1000, 0.02, 7)
        d = self.verdict("rate", base, [v * 0.85 for v in noisy(
            rng, 1000, 0.02, 7)])
        self.assertEqual(d["verdict"], "regressed", d)
        self.assertLess(d["ci"][1], 1)
        self.assertLess(d["p"], 0.01)
        self.assertIn("worse", d["reason"])
        # a cost that went down is an improvement
        d = self.verdict("cpu_per_conn", base, [v * 0.85 for v in base])
        self.assertEqual(d["verdict"], "improved", d)
        d = self.verdict("p99", base, [v * 1.2 for v in base])
        self.assertEqual(d["verdict"], "regressed", d)

    def test_same_when_a_regression_is_ruled_out(self):
        rng = random.Random(2)
        d = self.verdict("rate", noisy(rng, 1000, 0.005, 7),
                         noisy(rng, 1000, 0.005, 7))
        self.assertEqual(d["verdict"], "same", d)
        self.assertGreater(d["ci"][0], 0.95)

    def test_significant_but_below_the_minimum_effect(self):
        rng = random.Random(3)
        base = noisy(rng, 1000, 0.002, 9)
        d = self.verdict("rate", base, [v * 0.98 for v in base])
        self.assertLess(d["p"], 0.01)
        self.assertEqual(d["verdict"], "same", d)    # 2 % < 5 %
        d = self.verdict("rate", base, [v * 0.98 for v in base],
                         min_effect={"rate": 0.01, "p99": 0.05,
                                     "cpu_per_conn": 0.05})
        self.assertEqual(d["verdict"], "regressed", d)

    def test_unknown_when_data_cannot_decide(self):
        rng = random.Random(4)
        d = self.verdict("rate", noisy(rng, 1000, 0.2, 5),
                         noisy(rng, 900, 0.2, 5))
        self.assertEqual(d["verdict"], "unknown", d)
        self.assertIn("interval reaches", d["reason"])
        d = self.verdict("rate", [1000.0], [500.0, 510.0])
        self.assertEqual(d["verdict"], "unknown")
        self.assertIn("too few repetitions (baseline 1", d["reason"])

    def test_deterministic(self):
        rng = random.Random(5)
        base, cand = noisy(rng, 100, 0.05, 7), noisy(rng, 95, 0.05, 7)
        self.assertEqual(self.verdict("rate", base, cand),
                         self.verdict("rate", base, cand))

    def test_run_to_run_spread_of_the_history(self):
        """Repetitions of a run share its machine load: a candidate inside
        the spread of the baseline runs is not a regression, however tight
        its own repetitions."""
        rng = random.Random(8)
        runs = [noisy(rng, level, 0.005, 7)
                for level in (1000, 1060, 940, 1030, 970)]
        pool = [v for r in runs for v in r]
        cand = noisy(rng, 900, 0.005, 7)
        d = gate.decide("rate", pool, cand, self.conf, runs)
        self.assertEqual(d["verdict"], "unknown", d)
        self.assertIn("within the run-to-run spread of the baseline runs",
                      d["reason"])
        self.assertGreater(d["run_spread"], 0.10)
        quiet = [noisy(rng, 1000, 0.005, 7) for _ in range(5)]
        d = gate.decide("rate", [v for r in quiet for v in r], cand,
                        self.conf, quiet)
        self.assertEqual(d["verdict"], "regressed", d)
        self.assertIn("runs spread", d["reason"])
        self.assertLess(d["run_spread"], 0.03)

    def test_exact_metric_threshold(self):
        base = [17292.19, 17292.19, 17292.18]
        d = self.verdict("instructions", base, [v * 1.01 for v in base])
        self.assertEqual(d["verdict"], "regressed", d)
        self.assertIn("1.0% more (threshold 0.5%)", d["reason"])
        d = self.verdict("instructions", base, [v * 1.003 for v in base])
        self.assertEqual(d["verdict"], "same", d)
        d = self.verdict("instructions", base, [v * 0.98 for v in base])
        self.assertEqual(d["verdict"], "improved", d)
        d = self.verdict("instructions", base, [17292.0, 17500.0])
        self.assertEqual(d["verdict"], "unknown")
        self.assertIn("not repeatable", d["reason"])

    def test_false_alarm_rate_on_normal_noise(self):
        """Same distribution on both sides: regressed well under alpha."""
        rng = random.Random(6)
        hits = sum(self.verdict("rate", noisy(rng, 100, 0.1, 7),
                                noisy(rng, 100, 0.1, 7))["verdict"]
                   == "regressed" for _ in range(400))
        self.assertLessEqual(hits, 4)


class CellsTest(unittest.TestCase):
    def runs(self, factor=1.0, failed=()):
        rng = random.Random(7)
        base, cand = [], []
        for wl in ("shortconn", "nginx"):
            for rep in range(7):
                base.append(rec("a", wl, 1, rep, rng.gauss(1000, 10),
                                p99=rng.gauss(500, 5),
                                cpu_s=rng.gauss(1.0, 0.01)))
                status = "error" if (wl, rep) in failed else "ok"
                cand.append(rec("b", wl, 1, rep,
                                rng.gauss(1000, 10) * (factor if wl ==
                                                       "nginx" else 1),
                                p99=rng.gauss(500, 5),
                                cpu_s=rng.gauss(1.0, 0.01), status=status))
        return base, cand

    def test_rows_cells_and_exit_codes(self):
        conf = gateconf.default_conf()
        base, cand = self.runs()
        rows = gate.compare_cells(base, cand, conf)
        self.assertEqual(sorted(set(r["metric"] for r in rows)),
                         ["cpu_per_conn", "p99", "rate"])
        self.assertEqual(gate.exit_code(rows, conf), gate.EXIT_PASS,
                         [r for r in rows if r["verdict"] != "same"])
        base, cand = self.runs(factor=0.8)
        rows = gate.compare_cells(base, cand, conf)
        self.assertEqual(gate.cell_verdicts(rows)["linux.nginx.c1"],
                         "regressed")
        self.assertEqual(gate.cell_verdicts(rows)["linux.shortconn.c1"],
                         "same")
        self.assertEqual(gate.exit_code(rows, conf), gate.EXIT_REGRESSED)

    def test_unknown_exit_and_pass_setting(self):
        conf = gateconf.default_conf()
        base, cand = self.runs()
        cand = [r for r in cand if r["cell"]["workload"] == "shortconn"
                or r["cell"]["rep"] == 0]           # nginx: 1 repetition
        rows = gate.compare_cells(base, cand, conf)
        self.assertEqual(gate.overall(rows), "unknown")
        self.assertEqual(gate.exit_code(rows, conf), gate.EXIT_UNKNOWN)
        conf["unknown"] = "pass"
        self.assertEqual(gate.exit_code(rows, conf), gate.EXIT_PASS)

    def test_failed_repetitions_are_named(self):
        conf = gateconf.default_conf()
        base, cand = self.runs(failed=[("nginx", r) for r in range(7)])
        rows = gate.compare_cells(base, cand, conf)
        bad = [r for r in rows if r["cell"] == "linux.nginx.c1"]
        self.assertTrue(bad)
        for r in bad:
            self.assertEqual(r["verdict"], "unknown")
            self.assertIn("7 of 7 candidate repetitions failed: cell x: "
                          "server died", r["reason"])

    def test_cell_missing_from_baseline(self):
        conf = gateconf.default_conf()
        base, cand = self.runs()
        rows = gate.compare_cells([r for r in base if r["cell"]["workload"]
                                   == "shortconn"], cand, conf)
        r = next(r for r in rows if r["cell"] == "linux.nginx.c1")
        self.assertEqual(r["verdict"], "unknown")
        self.assertIn("no baseline repetitions", r["reason"])

    def test_disturbed_repetitions_left_out(self):
        conf = gateconf.default_conf()
        base, cand = self.runs()
        for r in base + cand:
            r["collectors"]["others"] = {"share": 0.02}
        for r in cand:
            if r["cell"]["rep"] < 2:
                r["collectors"]["others"] = {"share": 0.45}
                r["metrics"]["rate"] *= 0.5     # what a busy machine does
        rows = gate.compare_cells(base, cand, conf)
        self.assertEqual(gate.exit_code(rows, conf), gate.EXIT_PASS,
                         [r for r in rows if r["verdict"] != "same"])
        r = next(r for r in rows if r["metric"] == "rate"
                 and r["cell"] == "linux.nginx.c1")
        self.assertEqual((r["n_cand"], r["disturbed"]), (5, 2))
        self.assertIn("candidate: 2 of 7 left out, other processes took "
                      "45%, 45% of the machine", r["reason"])
        conf["max_other_load"] = 1.0            # count them all
        rows = gate.compare_cells(base, cand, conf)
        r = next(r for r in rows if r["metric"] == "rate"
                 and r["cell"] == "linux.nginx.c1")
        self.assertEqual((r["n_cand"], r["disturbed"]), (7, 0))
        self.assertNotEqual(r["verdict"], "same", r)

    def test_instruction_metric_where_present(self):
        conf = gateconf.default_conf()
        base = [rec("a", "shortconn", 1, i, 1000, instructions=17000.0)
                for i in range(3)]
        cand = [rec("b", "shortconn", 1, i, 1000, instructions=17200.0)
                for i in range(3)]
        rows = gate.compare_cells(base, cand, conf)
        r = next(r for r in rows if r["metric"] == "instructions")
        self.assertEqual(r["verdict"], "regressed", r)

    def test_reruns_only_for_statistical_metrics(self):
        from harness import escalate
        row = {"verdict": "unknown", "n_base": 3, "n_cand": 3}
        self.assertTrue(escalate._can_help(dict(row, metric="rate")))
        self.assertFalse(escalate._can_help(dict(row, metric="instructions")))
        self.assertFalse(escalate._can_help(dict(row, metric="rate", n_base=1)))

    def test_instructions_against_the_newest_baseline_run(self):
        """A history spanning a change of the code (18,409 then 16,370): an
        exact count is compared with the newest run, not called "not
        repeatable"."""
        conf = gateconf.default_conf()
        old = [rec("a", "memif", 1, i, 1000, instructions=18409.0)
               for i in range(3)]
        new = [rec("b", "memif", 1, i, 1000, instructions=16370.0)
               for i in range(3)]
        for r in new:
            r["started"] += 500
        cand = [rec("c", "memif", 1, i, 1000, instructions=16370.0)
                for i in range(3)]
        rows = gate.compare_cells(old + new, cand, conf)
        r = next(r for r in rows if r["metric"] == "instructions")
        self.assertEqual((r["verdict"], r["n_base"]), ("same", 3), r)
        rows = gate.compare_cells(new + old, [dict(c, metrics=dict(
            c["metrics"], instructions_per_conn=16500.0)) for c in cand], conf)
        r = next(r for r in rows if r["metric"] == "instructions")
        self.assertEqual(r["verdict"], "regressed", r)


def reference_twin(r, factor=1.0):
    """r measured on the reference build (its level scaled by factor)."""
    t = datafix.record(r["run_id"], r["cell"]["workload"], r["cell"]["cores"],
                       r["cell"]["rep"], r["metrics"]["rate"] * factor,
                       p99=r["metrics"]["p99_us"] / factor)
    t["cell"]["twin"] = "reference"
    t["cell"]["id"] += ".reference"
    t["collectors"] = dict(r["collectors"], procs=dict(
        r["collectors"]["procs"],
        user_s=r["collectors"]["procs"]["user_s"] / factor))
    return t


class ReferenceTwinTest(unittest.TestCase):
    """A cell measured beside the reference build is decided against the
    twins of its own run: the machine's level moves both alike, and the
    history (another level) is not used."""

    def run_(self, change=1.0, n=18, wander=0.15, seed=3):
        rng = random.Random(seed)
        cand, refs = [], []
        for rep in range(n):
            level = rng.lognormvariate(0, wander)     # the machine moves
            c = rec("b", "nginx", 1, rep, 1000 * level * change *
                    rng.gauss(1, 0.02), p99=500 / level, cpu_s=1.0 / level)
            cand.append(c)
            refs.append(reference_twin(c, rng.gauss(1, 0.02) / change))
        return cand, refs

    def rows(self, cand, refs, base=()):
        return {r["metric"]: r for r in gate.compare_cells(
            list(base), cand + refs, gateconf.default_conf())}

    def test_regression_caught_against_the_twins(self):
        r = self.rows(*self.run_(change=0.8))["rate"]
        self.assertEqual(r["verdict"], "regressed", r)
        self.assertEqual((r["baseline"], r["n_base"], r["n_cand"]),
                         ("reference", 18, 18))
        self.assertNotIn("run_spread", r)
        self.assertIn("against the reference build measured beside it",
                      r["reason"])
        self.assertAlmostEqual(r["ratio"], 0.8, delta=0.1)

    def test_same_build_is_never_regressed(self):
        rows = self.rows(*self.run_())
        self.assertNotIn("regressed", [r["verdict"] for r in rows.values()])

    def test_history_not_used_for_time_metrics(self):
        cand, refs = self.run_(change=0.8)
        base = [rec("a", "nginx", 1, i, 500.0) for i in range(7)]
        rows = self.rows(cand, refs, base)       # the history is slower
        self.assertEqual(rows["rate"]["verdict"], "regressed", rows["rate"])
        cand = [dict(c, metrics=dict(c["metrics"],
                                     instructions_per_conn=17000.0))
                for c in cand]
        base = [dict(b, metrics=dict(b["metrics"],
                                     instructions_per_conn=17000.0))
                for b in base]
        r = self.rows(cand, refs, base)["instructions"]
        self.assertEqual((r["verdict"], r["n_base"]), ("same", 7))

    def test_pairs_under_load_kept(self):
        """Other processes' load is shared by the two sides of a pair: every
        pair counts, the reason says how many ran under load."""
        cand, refs = self.run_(change=0.8)
        for r in cand[:3] + refs[:2]:
            r["collectors"]["others"] = {"share": 0.5}
        r = self.rows(cand, refs)["rate"]
        self.assertEqual((r["n_base"], r["n_cand"], r["under_load"]), (18, 18, 3))
        self.assertEqual(r["verdict"], "regressed")
        self.assertIn("in 3 pairs other processes took over 10% of the machine",
                      r["reason"])

    def test_pairs_cancel_the_shared_drift(self):
        """The machine's level moves 15 % from one repetition to the next,
        shared by the two sides of a pair: a 5 % change is caught pair by
        pair, and the same build is "same", not "unknown"."""
        r = self.rows(*self.run_(change=0.94, n=30))["rate"]
        self.assertEqual((r["verdict"], r["paired"]), ("regressed", True), r)
        self.assertIn("30 pairs", r["reason"])
        rows = self.rows(*self.run_(n=30))
        self.assertEqual({m: r["verdict"] for m, r in rows.items()},
                         dict.fromkeys(rows, "same"), rows)

    def test_pair_offset_widens_the_interval(self):
        """A steady 7 % between the two sides with little scatter is a
        regression for the pairs alone; with a run-to-run offset of 5 %
        (two copies of one build can sit that far apart in a run) it is
        not, and the reason says why."""
        rng = random.Random(5)
        pairs = [(1000 * 0.93 * rng.gauss(1, 0.01), 1000.0) for _ in range(40)]
        r = gate.decide_paired(pairs, "higher", 0.05, 0.01)
        self.assertEqual(r["verdict"], "regressed", r)
        w = gate.decide_paired(pairs, "higher", 0.05, 0.01, offset=0.05)
        self.assertEqual(w["verdict"], "unknown", w)
        self.assertIn("run-to-run offset 5.0%", w["reason"])
        self.assertLess(w["ci"][0], r["ci"][0])
        self.assertGreater(w["ci"][1], 1.0)
        self.assertAlmostEqual(w["ratio"], r["ratio"])
        # a large change stays a regression
        big = [(0.7 * c, b) for c, b in pairs]
        self.assertEqual(gate.decide_paired(big, "higher", 0.05, 0.01,
                                            offset=0.05)["verdict"],
                         "regressed")

    def test_undecidable_by_the_offset_alone(self):
        """A 3 % run-to-run offset on p99 (1.645 x 3 % is the 5 % minimum
        effect): no number of pairs makes a no-change estimate "same", so
        it is not re-run but settled at once; without the offset, or with
        an estimate far enough out, more pairs can decide it."""
        from harness import escalate
        rng = random.Random(11)
        pairs = [(1000 * rng.lognormvariate(0.01, 0.05), 1000.0)
                 for _ in range(60)]
        r = gate.decide_paired(pairs, "lower", 0.05, 0.01, offset=0.03)
        self.assertEqual((r["verdict"], r["undecidable"]), ("unknown", True))
        self.assertIn("more pairs cannot decide it", r["reason"])
        row = dict(r, metric="p99")
        self.assertFalse(escalate._can_help(row))
        free = gate.decide_paired(pairs, "lower", 0.05, 0.01)
        self.assertFalse(free["undecidable"])
        self.assertFalse(gate._undecidable(0.0, 0.05, 0.01, 0.02))
        self.assertFalse(gate._undecidable(0.12, 0.05, 0.01, 0.03))
        self.assertFalse(gate._undecidable(-0.12, 0.05, 0.01, 0.03))
        self.assertTrue(gate._undecidable(0.06, 0.05, 0.01, 0.03))
        conf = gateconf.default_conf()
        other = dict(row, metric="rate", undecidable=False)
        got = gate.settle([row, other], conf, gate.UNDECIDABLE,
                          only_undecidable=True)
        self.assertEqual(got[0]["verdict"], "same", got[0])
        self.assertEqual(got[0]["settled"], gate.UNDECIDABLE)
        self.assertIn("not re-run (more pairs cannot decide it) no "
                      "regression of 5.0%", got[0]["reason"])
        self.assertIs(got[1], other)

    def test_settled_at_the_cap(self):
        """At the re-run cap an unknown metric is decided by its estimate:
        under the minimum effect worse it is "same"; at least that much
        worse (not significant) it stays unknown; regressed, too few
        pairs and exact metrics are left as they were."""
        rng = random.Random(7)
        noisy = [(1000 * rng.lognormvariate(0, 0.3), 1000.0) for _ in range(20)]
        r = gate.decide_paired(noisy, "higher", 0.05, 0.01)
        self.assertEqual(r["verdict"], "unknown", r)
        conf = gateconf.default_conf()
        row = dict(r, metric="rate", ratio=0.98)   # 2 % worse
        worse = dict(row, ratio=0.9)          # 11 % worse, not significant
        few = dict(row, n_cand=1, n_base=1)
        exact = {"metric": "instructions", "verdict": "unknown", "ratio": 1.0,
                 "n_base": 3, "n_cand": 3, "reason": "not repeatable"}
        reg = dict(row, verdict="regressed", ratio=0.5)
        got = gate.settle([row, worse, few, exact, reg], conf,
                          "30 repetitions added per cell")
        self.assertEqual([g["verdict"] for g in got],
                         ["same", "unknown", "unknown", "unknown", "regressed"])
        self.assertEqual(got[0]["settled"], "30 repetitions added per cell")
        self.assertIn("at the re-run cap (30 repetitions added per cell) "
                      "no regression of 5.0%: 2.0% worse", got[0]["reason"])
        self.assertIn("still unknown at the re-run cap", got[1]["reason"])
        self.assertNotIn("settled", got[1])
        self.assertEqual(got[2:], [few, exact, reg])

    def test_pairs_by_repetition(self):
        """A repetition without its twin (failed) is not paired with
        another's."""
        cand, refs = self.run_(change=0.8)
        r = self.rows(cand, refs[1:])["rate"]
        self.assertEqual(r["n_base"], 17)
        self.assertEqual(r["verdict"], "regressed")


class LoadAdjustmentTest(unittest.TestCase):
    """A side that met more of the other processes' load ran slower: the
    pairs' log ratios are adjusted for the difference (gate.adjust_for_load)."""

    def pairs(self, n, effect=0.0, slope=-2.0, seed=3):
        rng = random.Random(seed)
        x = [rng.gauss(0.03, 0.06) for _ in range(n)]
        d = [effect + slope * xi + rng.gauss(0, 0.05) for xi in x]
        return [(1000.0 * math.exp(v), 1000.0) for v in d], x

    def test_slope_found_and_taken_out(self):
        pairs, x = self.pairs(60)
        d = [math.log(c / b) for c, b in pairs]
        b, sd_b = gate.load_slope(d, x)
        self.assertAlmostEqual(b, -2.0, delta=3 * sd_b)
        self.assertTrue(0 < sd_b < 0.5, sd_b)
        adj, extra, b2 = gate.adjust_for_load(d, x)
        self.assertEqual(b2, b)
        self.assertAlmostEqual(extra, abs(sum(x) / len(x)) * sd_b)
        raw = gate.decide_paired(pairs, "higher", 0.05, 0.01)
        got = gate.decide_paired(pairs, "higher", 0.05, 0.01, load=x)
        # the load imbalance made the same build look slower
        self.assertLess(raw["ratio"], 0.985)
        self.assertAlmostEqual(got["ratio"], 1.0, delta=0.015)
        self.assertLess(got["ci"][1] - got["ci"][0],
                        raw["ci"][1] - raw["ci"][0])
        self.assertIn("adjusted for the others' load", got["reason"])
        # both directions of a pair give one slope
        self.assertEqual(gate.load_slope([-v for v in d], [-v for v in x]),
                         (b, sd_b))

    def test_a_real_change_is_kept(self):
        pairs, x = self.pairs(60, effect=-0.10)
        got = gate.decide_paired(pairs, "higher", 0.05, 0.01, load=x)
        self.assertAlmostEqual(got["ratio"], math.exp(-0.10), delta=0.015)
        self.assertEqual(got["verdict"], "regressed")

    def test_not_below_normal_pairs_nor_without_load(self):
        pairs, x = self.pairs(gate.NORMAL_PAIRS - 1)
        d = [math.log(c / b) for c, b in pairs]
        self.assertEqual(list(gate.adjust_for_load(d, x)[0]), d)
        pairs, _x = self.pairs(40)
        d = [math.log(c / b) for c, b in pairs]
        self.assertEqual(gate.adjust_for_load(d, [0.0] * 40)[1:], (0.0, 0.0))
        self.assertEqual(gate.load_slope(d, [0.3] * 40), (0.0, 0.0))


class FamilyLevelTest(unittest.TestCase):
    """A cell's statistical metrics are tested together: a cell whose build
    did not change is regressed with probability at most alpha / 2, each
    metric at the level that holds their maximum to it (max-T)."""

    def test_level_holds_the_cell_to_alpha(self):
        import numpy as np
        from scipy import stats
        rng = np.random.default_rng(5)
        for rho in (0.0, 0.4, 0.8):
            corr = np.full((3, 3), rho)
            np.fill_diagonal(corr, 1.0)
            level = gate.max_t_level(corr, 0.02)
            self.assertTrue(0.02 / 3 <= level <= 0.02, (rho, level))
            # an independent (pseudo-random) check of the quasi-random one
            z = rng.multivariate_normal(np.zeros(3), corr, 400000)
            got = np.mean(z.max(axis=1) > stats.norm.isf(level / 2))
            self.assertAlmostEqual(got, 0.01, delta=0.0008)
        self.assertEqual(gate.max_t_level(np.eye(1), 0.02), 0.02)
        # more correlation, a laxer level per metric; about alpha / k
        # (Bonferroni) at none or less
        levels = [gate.max_t_level(np.full((3, 3), r) + (1 - r) * np.eye(3),
                                   0.02) for r in (-0.4, 0.0, 0.5, 0.95)]
        self.assertEqual(levels, sorted(levels))
        self.assertAlmostEqual(levels[0], 0.02 / 3, delta=0.0002)
        self.assertGreater(levels[-1], 0.012)

    def test_rank_corr(self):
        self.assertEqual(gate.rank_corr([[1, 2, 3, 4], [2, 4, 6, 9]])[0, 1],
                         1.0)
        self.assertEqual(gate.rank_corr([[1, 2, 3, 4], [5, 5, 5, 5]])[0, 1],
                         0.0)

    def test_rows_carry_the_cells_level(self):
        """Beside the reference build the level comes from the metrics'
        correlation (rate and CPU per connection move together here:
        laxer than Bonferroni); against another run it is Bonferroni."""
        cand, refs = ReferenceTwinTest().run_(change=0.8)
        conf = gateconf.default_conf()
        rows = gate.compare_cells([], cand + refs, conf)
        levels = {r["level"] for r in rows if r["metric"] != "instructions"}
        self.assertEqual(len(levels), 1, rows)
        level = levels.pop()
        self.assertGreater(level, conf["alpha"] / 3)
        self.assertLessEqual(level, conf["alpha"])
        self.assertEqual(level, gate.family_level(
            ["rate", "p99", "cpu_per_conn"], conf, refs, cand))
        base, cand = CellsTest().runs()
        rows = gate.compare_cells(base, cand, conf)
        self.assertEqual({r["level"] for r in rows}, {conf["alpha"] / 3})


class OtherLoadTest(unittest.TestCase):
    def test_busy_minus_accounted(self):
        def stat(busy, steal):
            return {"cpu": {}, "cpu0": dict(zero, user=busy, steal=steal),
                    "cpu1": dict(zero, system=busy)}
        zero = dict.fromkeys(("user", "nice", "system", "idle", "iowait",
                              "irq", "softirq", "steal"), 0)
        hz = os.sysconf("SC_CLK_TCK")
        before = {"t": 0.0, "stat": stat(0, 0),
                  "accounted": {(10, 1): 50, (11, 1): 0}}
        after = {"t": 2.0, "stat": stat(hz, hz // 10),
                 "accounted": {(10, 1): 50 + hz // 2, (12, 5): hz // 2}}
        out = collect.others_summary(before, after)
        # 2 s busy on 2 cores, 1 s of it ours (pid 10 + new pid 12)
        self.assertEqual(out["cpu_s"], 1.0)
        self.assertEqual(out["share"], 0.25)
        self.assertEqual(out["steal_share"], 0.025)

    def test_accounted_cpu_has_this_process(self):
        acc = procs.accounted_cpu(os.getpid())
        self.assertIn(os.getpid(), [pid for pid, _start in acc])
        self.assertIn(2, [pid for pid, _start in acc])    # kthreadd


class OutputTest(unittest.TestCase):
    def result(self):
        conf = gateconf.default_conf()
        base, cand = CellsTest().runs(factor=0.8)
        rows = gate.compare_cells(base, cand, conf)
        return {"gate_id": "b.gate1", "created": 0, "created_iso":
                "2026-12-01T00:00:00Z", "candidate": "b", "git": "01234567",
                "baseline": {"spec": "a", "runs": ["a"], "warnings": []},
                "conf": conf, "rows": rows, "cells": gate.cell_verdicts(rows),
                "verdict": gate.overall(rows), "exit_code": 1,
                "escalation": {}, "warnings": ["w1"]}

    def test_terminal_and_markdown(self):
        res = self.result()
        term = gateout.format_terminal(res)
        self.assertTrue(term[0].startswith(
            "tcpscale gate: REGRESSED — 1 regressed, 0 unknown, 0 improved, "
            "1 same (cells); candidate b (01234567) vs a (1 run)"), term[0])
        self.assertIn("warning: w1", term)
        self.assertTrue(any(line.startswith("regressed  linux.nginx.c1")
                            for line in term))
        md = gateout.format_markdown(res)
        self.assertTrue(md[0].startswith("### tcpscale gate: REGRESSED"))
        table = [line for line in md if line.startswith("| **regressed**")]
        self.assertTrue(table)
        self.assertIn("<details><summary>every cell and metric</summary>", md)

    def test_junit_parses(self):
        res = self.result()
        root = ET.fromstring(gateout.format_junit(res))
        self.assertEqual(root.tag, "testsuite")
        cases = root.findall("testcase")
        self.assertEqual(len(cases), len(res["rows"]))
        self.assertEqual(int(root.get("tests")), len(cases))
        failed = [c for c in cases if c.find("failure") is not None]
        self.assertEqual(int(root.get("failures")), len(failed))
        self.assertTrue(failed)
        self.assertTrue(all(c.get("classname") == "linux.nginx.c1"
                            for c in failed))
        props = {p.get("name"): p.get("value")
                 for p in root.find("properties")}
        self.assertEqual(props["verdict"], "regressed")


if __name__ == "__main__":
    unittest.main()
