"""The run matrix (harness/plan.py)."""
import os
import tempfile
import unittest

import datafix
from harness import plan, reference

CONTRACT_KEYS = {"id", "stack", "workload", "cores", "rep", "runtime_s",
                 "ramp_s", "job", "job_options", "collectors"}


def suite(**kw):
    s = dict(datafix.SUITE)
    s["workload"] = {"shortconn": {"job": "profiles/jobs/shortconn.ini",
                                   "job_options": {"concurrency": 8}},
                     "nginx": {"job": "profiles/jobs/nginx.ini",
                               "job_options": {}}}
    s.update(kw)
    return s


class PlanTest(unittest.TestCase):
    def test_matrix_size_and_ids(self):
        s = suite(workloads=["shortconn", "nginx"], cores=[1, 2],
                  repetitions=3)
        cells = plan.build_plan(s)
        self.assertEqual(len(cells), 2 * 2 * 3)
        ids = [c["id"] for c in cells]
        self.assertEqual(len(set(ids)), len(ids))
        self.assertIn("linux.nginx.c2.r1", ids)
        for c in cells:
            self.assertEqual(set(c), CONTRACT_KEYS)
        sc = next(c for c in cells if c["workload"] == "shortconn")
        self.assertEqual(sc["job_options"], {"concurrency": 8})
        self.assertEqual(sc["job"], "profiles/jobs/shortconn.ini")
        self.assertEqual(sc["runtime_s"], 2.0)
        self.assertEqual(sc["ramp_s"], 0.5)

    def test_repetitions_are_the_outer_loop(self):
        cells = plan.build_plan(suite(workloads=["shortconn", "nginx"],
                                      cores=[1, 2], repetitions=2))
        reps = [c["rep"] for c in cells]
        self.assertEqual(reps, sorted(reps))
        first = [(c["workload"], c["cores"]) for c in cells if c["rep"] == 0]
        second = [(c["workload"], c["cores"]) for c in cells if c["rep"] == 1]
        self.assertEqual(first, second)

    def test_collector_overhead_cells_next_to_their_twin(self):
        cells = plan.build_plan(suite(cores=[1, 2], repetitions=2,
                                      collector_overhead=["shortconn"]))
        self.assertEqual(len(cells), 2 * 2 + 2)
        order = [c["collectors"] for c in cells if c["cores"] == 2]
        self.assertEqual(order, [True, False, False, True])  # alternated
        for i, c in enumerate(cells):
            if not c["collectors"]:
                twin = cells[i - 1] if c["rep"] % 2 == 0 else cells[i + 1]
                self.assertTrue(twin["collectors"])
                self.assertEqual(c["cores"], 2)
                self.assertEqual(c["id"], twin["id"] + ".nocoll")
                self.assertEqual((c["workload"], c["rep"]),
                                 (twin["workload"], twin["rep"]))

    def test_profiler_twins(self):
        cells = plan.build_plan(suite(cores=[2], repetitions=2,
                                      profilers=["record", "lock"],
                                      collector_overhead=["shortconn"]))
        ids = [c["id"] for c in cells]
        self.assertEqual(ids[:4], ["linux.shortconn.c2.r0", "linux.shortconn.c2.r0.nocoll",
                                   "linux.shortconn.c2.r0.no-record",
                                   "linux.shortconn.c2.r0.no-lock"])
        self.assertEqual(ids[4:8], ["linux.shortconn.c2.r1.no-lock",
                                    "linux.shortconn.c2.r1.no-record",
                                    "linux.shortconn.c2.r1.nocoll",
                                    "linux.shortconn.c2.r1"])   # order reversed
        full, nocoll, norec, nolock = cells[:4]
        self.assertEqual(full["profilers"], ["record", "lock"])
        self.assertNotIn("twin", full)
        self.assertNotIn("profilers", nocoll)
        self.assertEqual((norec["twin"], norec["profilers"]), ("no-record", ["lock"]))
        self.assertEqual((nolock["twin"], nolock["profilers"]), ("no-lock", ["record"]))
        self.assertTrue(norec["collectors"])
        self.assertGreater(plan.cell_estimate_s(full), plan.cell_estimate_s(nocoll))

    def test_reference_twins_beside_each_timed_linux_cell(self):
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "tsload")
            with open(src, "w") as f:
                f.write("#!/bin/sh\n")
            os.chmod(src, 0o755)
            reference.save(os.path.join(d, "ref"), tsload=src, refstack=False,
                           git={"sha": "0123abcd" * 5, "short": "0123abcd",
                                "dirty": False})
            s = suite(cores=[1], repetitions=2, reference=os.path.join(d, "ref"),
                      workloads=["shortconn", "nginx"],
                      stacks=["linux", "refstack:base"])
            cells = plan.build_plan(s)
            text = "\n".join(plan.format_plan(s, cells))
        ids = [c["id"] for c in cells if c["stack"] == "linux"]
        # each pair side by side, the checkout's first or second as
        # checkout_first draws it (shortconn: B A, then A B)
        self.assertEqual(ids[:4], ["linux.shortconn.c1.r0.reference",
                                   "linux.shortconn.c1.r0",
                                   "linux.nginx.c1.r0.reference",
                                   "linux.nginx.c1.r0"])
        self.assertEqual(ids[4:6], ["linux.shortconn.c1.r1",
                                    "linux.shortconn.c1.r1.reference"])
        twin = next(c for c in cells if c["id"] == ids[0])
        self.assertEqual((twin["twin"], twin["tsload"]),
                         ("reference", os.path.join(d, "ref", "loadgen",
                                                    "tsload")))
        # both sides of a pair run from a fresh copy; nothing else does
        self.assertEqual([c["id"] for c in cells if c.get("fresh_tsload")],
                         [c["id"] for c in cells if c["stack"] == "linux"])
        # refstack's code is not in the reference build: no twin
        self.assertFalse([c for c in cells if c["stack"] != "linux"
                          and c.get("twin")])
        self.assertIn("measured beside the reference build", text)
        # named but missing: no twins, the plan says so
        s = suite(reference="/nonexistent/ref")
        cells = plan.build_plan(s)
        self.assertFalse([c for c in cells if c.get("twin")])
        self.assertIn("no reference build", "\n".join(plan.format_plan(s, cells)))

    def test_checkout_first_balanced_and_drawn(self):
        """Once each in every two repetitions, not a fixed alternation, the
        same draw every time."""
        got = [plan.checkout_first("linux", "nginx", 1, r) for r in range(60)]
        for b in range(30):
            self.assertNotEqual(got[2 * b], got[2 * b + 1], b)
        starts = [got[2 * b] for b in range(30)]
        self.assertTrue(5 < sum(starts) < 25, starts)
        self.assertEqual(got, [plan.checkout_first("linux", "nginx", 1, r)
                               for r in range(60)])
        self.assertNotEqual(got, [plan.checkout_first("linux", "haproxy", 1, r)
                                  for r in range(60)])

    def test_workload_repetitions(self):
        s = suite(workloads=["shortconn", "nginx"], cores=[1], repetitions=4)
        s["workload"] = dict(s["workload"], nginx=dict(
            s["workload"]["nginx"], repetitions=2))
        ids = [c["id"] for c in plan.build_plan(s)]
        self.assertEqual([i for i in ids if ".nginx." in i],
                         ["linux.nginx.c1.r0", "linux.nginx.c1.r1"])
        self.assertEqual(len([i for i in ids if ".shortconn." in i]), 4)

    def test_refstack_twins_with_the_reference_shim(self):
        """A reference holding refstack's shim gives refstack cells twins
        that run it (and its tsload); the memif cells (no lab) none."""
        with tempfile.TemporaryDirectory() as d:
            shim = os.path.join(d, "shim")
            os.makedirs(shim)
            for f in ("tsload",) + reference.SHIM_FILES:
                path = os.path.join(shim if f != "tsload" else d, f)
                with open(path, "w") as out:
                    out.write("#!/bin/sh\n")
                os.chmod(path, 0o755)
            got = reference.save(os.path.join(d, "ref"),
                                 tsload=os.path.join(d, "tsload"),
                                 refstack=shim, git={"short": "0123abcd"})
            self.assertEqual(got["refstack"], "refstack")
            s = suite(cores=[1], repetitions=1, reference=os.path.join(d, "ref"),
                      workloads=["shortconn"], stacks=["linux", "refstack:full"])
            cells = plan.build_plan(s)
            text = "\n".join(plan.format_plan(s, cells))
        twins = {c["stack"]: c for c in cells if c.get("twin")}
        self.assertEqual(sorted(twins), ["linux", "refstack:full"])
        rs = twins["refstack:full"]
        self.assertEqual((rs["id"], rs["refstack"], rs["tsload"]),
                         ("refstack-full.shortconn.c1.r0.reference",
                          os.path.join(d, "ref", "refstack"),
                          os.path.join(d, "ref", "loadgen", "tsload")))
        self.assertNotIn("refstack", twins["linux"])
        self.assertIn("tsload and refstack's shim of 0123abcd", text)

    def test_no_overhead_cells_when_collectors_off(self):
        cells = plan.build_plan(suite(collectors=False,
                                      collector_overhead=["shortconn"]))
        self.assertTrue(all(not c["collectors"] for c in cells))
        self.assertEqual(len(cells), 2 * 3)

    def test_estimate(self):
        cells = plan.build_plan(suite(cores=[1], repetitions=2))
        per = 2.0 + 0.5 + plan.CELL_OVERHEAD_S["shortconn"]
        self.assertAlmostEqual(plan.estimate_s(cells),
                               plan.LAB_SETUP_S + 2 * per)
        self.assertEqual(plan.max_cores(plan.build_plan(suite())), 2)

    def test_format(self):
        self.assertEqual(plan.fmt_duration(0), "0:00")
        self.assertEqual(plan.fmt_duration(75.4), "1:15")
        self.assertEqual(plan.fmt_duration(3725), "1:02:05")
        lines = plan.format_plan(suite(warnings=["w1"]),
                                 plan.build_plan(suite()))
        self.assertIn("6 cells", lines[0])
        self.assertTrue(any("warning: w1" in line for line in lines))


if __name__ == "__main__":
    unittest.main()
