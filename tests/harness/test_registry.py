"""The one list of stacks and workloads (harness/registry.py): names, feature
sets, what cannot run and why."""
import json
import os
import stat
import unittest

import datafix
from harness import plan, registry
from harness.workloads import refstack as RS

FEATURES = {"features": ["listen", "estab", "rfd", "fastfd"],
            "sets": {"base": [], "full": ["listen", "estab", "rfd", "fastfd"]}}


def fake_rsctl(test, answer):
    """An executable that answers `features --json` the way NEWS fixes it
    (the real rsctl gains the command with the feature switches)."""
    path = os.path.join(datafix.tempdir(test), "rsctl")
    datafix.write(path, "#!/bin/sh\n[ \"$1 $2\" = \"features --json\" ] || exit 2\n"
                  f"echo '{json.dumps(answer)}'\n")
    os.chmod(path, stat.S_IRWXU)
    registry.refstack_features.cache_clear()
    test.addCleanup(registry.refstack_features.cache_clear)
    return path


class StackNamesTest(unittest.TestCase):
    def test_linux_and_fixed_sets(self):
        self.assertEqual(registry.parse_stack("linux"), "linux")
        self.assertEqual(registry.parse_stack("refstack:base"), "refstack:base")
        self.assertEqual(registry.parse_stack("refstack:full"), "refstack:full")

    def test_errors_name_what_is_wrong(self):
        for name, want in (("refstack", "needs a feature set"),
                           ("refstack:", "needs a feature set"),
                           ("bsd", "unknown stack 'bsd'"),
                           ("linux:tuned", "takes no ':' variant"),
                           ("mtcp", "no mTCP installation is configured")):
            with self.subTest(name=name):
                with self.assertRaises(registry.StackError) as cm:
                    registry.parse_stack(name)
                self.assertIn(want, str(cm.exception))

    def test_feature_lists_are_checked_against_refstack(self):
        path = fake_rsctl(self, FEATURES)
        self.assertEqual(registry.refstack_features(path)["features"],
                         FEATURES["features"])
        # canonical order is refstack's own; all of them is "full"
        self.assertEqual(registry.refstack_set("rfd,listen", path), "listen,rfd")
        self.assertEqual(registry.refstack_set("fastfd,rfd,estab,listen", path), "full")
        for bad, want in (("listen,rdf", "unknown feature 'rdf' (features: "
                           "listen, estab, rfd, fastfd; sets: base, full)"),
                          ("rfd,rfd", "a feature named twice")):
            with self.subTest(bad=bad):
                with self.assertRaises(registry.StackError) as cm:
                    registry.refstack_set(bad, path)
                self.assertIn(want, str(cm.exception))

    def test_rsctl_without_features_says_so(self):
        path = fake_rsctl(self, {"no": "list"})
        with self.assertRaises(registry.StackError) as cm:
            registry.refstack_features(path)
        self.assertIn("no feature list", str(cm.exception))
        self.assertIn("only refstack:base", str(cm.exception))
        with self.assertRaises(registry.StackError) as cm:
            registry.refstack_features("/nonexistent/rsctl")
        self.assertIn("make -C refstack", str(cm.exception))

    def test_real_rsctl_lists_features_or_says_why_not(self):
        try:
            info = registry.refstack_features(registry.RSCTL)
        except registry.StackError as e:
            self.assertIn("refstack", str(e))
        else:
            self.assertTrue(info["features"])
            self.assertEqual(info["sets"]["base"], [])

    def test_slug_is_safe_in_paths_and_urls(self):
        self.assertEqual(registry.slug("refstack:listen,rfd"), "refstack-listen+rfd")
        self.assertEqual(registry.slug("linux"), "linux")
        s = dict(datafix.SUITE, stacks=["refstack:base"])
        cells = plan.build_plan(s)
        self.assertEqual(cells[0]["id"], "refstack-base.shortconn.c1.r0")
        self.assertEqual(cells[0]["stack"], "refstack:base")


class CannotRunTest(unittest.TestCase):
    def cell(self, stack, workload, cores=1):
        s = dict(datafix.SUITE, workload={workload: datafix.SUITE["workload"]["shortconn"]})
        return plan.make_cell(s, stack, workload, cores, 0, True)

    def test_linux_runs_every_workload(self):
        for wl in registry.WORKLOADS:
            if registry.own_runner(wl):       # memif: refstack only, no lab
                continue
            self.assertIsNone(registry.cannot_run(self.cell("linux", wl)))

    def test_memif_runs_refstack_sets(self):
        # memif_crr takes -f SET: every refstack feature set runs
        for stack in ("refstack:base", "refstack:full"):
            self.assertIsNone(registry.cannot_run(self.cell(stack, "memif")))
        self.assertIn("its stack must be refstack:SET", registry.cannot_run(
            self.cell("linux", "memif")))

    def test_refstack_says_why_cell_by_cell(self):
        if RS.has_shim():
            self.assertIsNone(registry.cannot_run(self.cell("refstack:full", "haproxy")))
            self.assertIsNone(registry.cannot_run(self.cell("refstack:base", "nginx")))
            # nginx's forked workers are cores of one stack (the shim's arena)
            self.assertIsNone(registry.cannot_run(self.cell("refstack:base", "nginx", cores=2)))
            return
        why = registry.cannot_run(self.cell("refstack:base", "nginx"))
        self.assertIn("refstack shim (refstack/rs-run) not built", why)
        opts = RS.app_options(RS.RS_CRRD)
        full = registry.cannot_run(self.cell("refstack:full", "shortconn"))
        two = registry.cannot_run(self.cell("refstack:base", "shortconn", cores=2))
        self.assertEqual(full is None, "--features" in opts, full)
        self.assertEqual(two is None, "--cores" in opts, two)
        if full:
            self.assertIn("--features", full)
        self.assertIsNone(registry.cannot_run(self.cell("refstack:base", "shortconn")))

    def test_plan_lists_what_cannot_run(self):
        # linux has no memif benchmark (refstack's, in one process)
        s = dict(datafix.SUITE, stacks=["linux"], workloads=["shortconn", "memif"],
                 cores=[1], repetitions=1,
                 workload={"shortconn": datafix.SUITE["workload"]["shortconn"],
                           "memif": {"job": "profiles/jobs/memif.ini", "job_options": {}}})
        cells = plan.build_plan(s)
        lines = plan.format_plan(s, cells)
        self.assertTrue(any("cannot run here (1 cells" in line for line in lines), lines)
        memif = next(c for c in cells if c["workload"] == "memif")
        self.assertLess(plan.cell_estimate_s(memif), 1)

    def test_plan_asks_for_the_lab_refstack_needs(self):
        s = dict(datafix.SUITE, stacks=["linux"], workloads=["haproxy"], cores=[1],
                 repetitions=1, workload={"haproxy": datafix.SUITE["workload"]["shortconn"]})
        self.assertFalse(plan.needs_offloads_off(plan.build_plan(s)))
        self.assertFalse(plan.needs_one_segment(plan.build_plan(s)))
        s["stacks"] = ["linux", "refstack:base"]
        cells = plan.build_plan(s)
        self.assertTrue(plan.needs_offloads_off(cells))
        # haproxy on refstack runs through the shim, its origins on the
        # client's segment
        self.assertEqual(plan.needs_one_segment(cells), RS.has_shim())


if __name__ == "__main__":
    unittest.main()
