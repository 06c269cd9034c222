"""The ./tcpscale command line, run as a real subprocess."""
import os
import subprocess
import unittest

import datafix
from harness import REPO_ROOT

TCPSCALE = os.path.join(REPO_ROOT, "tcpscale")


def tcpscale(*args, reports=None):
    env = dict(os.environ)
    if reports:
        env["TCPSCALE_REPORTS"] = reports
    return subprocess.run([TCPSCALE] + list(args), capture_output=True,
                          text=True, timeout=120, env=env)


class CliTest(unittest.TestCase):
    def setUp(self):
        self.dir = datafix.tempdir(self)

    def test_help_for_every_command(self):
        p = tcpscale("--help")
        self.assertEqual(p.returncode, 0)
        for cmd in ("run", "report", "compare", "list", "lab"):
            self.assertIn(cmd, p.stdout)
            q = tcpscale(cmd, "--help")
            self.assertEqual(q.returncode, 0, cmd)
            self.assertIn(f"usage: tcpscale {cmd}", q.stdout)

    def test_no_command_is_a_usage_error(self):
        p = tcpscale()
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage: tcpscale", p.stderr)

    def test_dry_run_prints_plan(self):
        p = tcpscale("run", "smoke", "--dry-run")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("suite smoke (profiles/smoke.toml): 3 cells, "
                      "estimated", p.stdout)
        self.assertIn("  linux.shortconn.c1.r0", p.stdout)
        self.assertIn("  linux.haproxy.c1.r0", p.stdout)

    def test_suite_by_path_and_bad_suite(self):
        good = datafix.write(os.path.join(self.dir, "s.toml"), """
[suite]
name = "s"
workloads = ["shortconn"]
cores = [1]
[workload.shortconn]
job = "%s/profiles/jobs/shortconn.ini"
""" % REPO_ROOT)
        p = tcpscale("run", good, "--dry-run")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("3 cells", p.stdout)  # 3 repetitions by default
        bad = datafix.write(os.path.join(self.dir, "b.toml"),
                            "[suite]\nname = \"b\"\nworkloads = [\"x\"]\n")
        p = tcpscale("run", bad)
        self.assertEqual(p.returncode, 2)
        self.assertIn(f"tcpscale run: {bad}: suite.workloads: expected",
                      p.stderr)
        p = tcpscale("run", "no-such-suite")
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown suite 'no-such-suite'", p.stderr)
        self.assertIn("default", p.stderr)

    def test_list_report_compare_from_stored_records(self):
        p = tcpscale("list", reports=self.dir)
        self.assertEqual(p.returncode, 0)
        self.assertIn("no runs recorded yet", p.stdout)
        a = [datafix.record("a", "shortconn", 1, r, 1000 + 10 * r)
             for r in range(3)]
        b = [datafix.record("b", "shortconn", 1, r, 900 + 10 * r)
             for r in range(3)]
        ida, dira = datafix.store_run(self.dir, "20261123-100000-aaaa", a)
        idb, _ = datafix.store_run(self.dir, "20261123-110000-bbbb", b)
        p = tcpscale("list", reports=self.dir)
        self.assertEqual(p.stdout.splitlines()[1][:20], ida[:20])
        self.assertIn("complete", p.stdout)
        self.assertIn("3/3", p.stdout)
        p = tcpscale("report", "20261123-10", reports=self.dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split(), [os.path.join(dira, "report.md"),
                                            os.path.join(dira, "report.html")])
        self.assertTrue(os.path.exists(os.path.join(
            dira, "throughput-shortconn.png")))
        p = tcpscale("compare", ida, "latest", reports=self.dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(f"B = {idb} vs A = {ida}", p.stdout)
        self.assertIn("| linux | shortconn | 1 | 1,010 (n=3) | 910 (n=3) | "
                      "0.901 [", p.stdout)
        self.assertIn("| lower |", p.stdout)
        p = tcpscale("report", "nope", reports=self.dir)
        self.assertEqual(p.returncode, 2)
        self.assertIn("tcpscale report: run 'nope' matches no run", p.stderr)

    def test_list_suites(self):
        p = tcpscale("list", "--suites")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"default\s+\d+ cells")
        self.assertRegex(p.stdout, r"smoke\s+3 cells")


if __name__ == "__main__":
    unittest.main()
