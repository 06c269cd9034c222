"""The gate on real runs: real A/A runs (same code, same cells) with the
unknown cells re-run by the gate, a real slowdown of the rate (tsload held
to half the baseline's rate) caught, and refstack's memif instruction
count catching a real 1 % code-cost regression.

Long: skipped with TCPSCALE_QUICK=1.  Own lab prefix (tcps-gate).
"""
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import unittest

import test_ci_examples
from harness import REPO_ROOT, store

TCPSCALE = os.path.join(REPO_ROOT, "tcpscale")
PREFIX = "tcps-gate"
QUICK = os.environ.get("TCPSCALE_QUICK") == "1"
REFSTACK = os.path.join(REPO_ROOT, "refstack")

AA_SUITE = """
[suite]
name = "gate-aa"
stacks = ["linux"]
workloads = ["shortconn"]
cores = [1]
repetitions = %d
runtime = "1s"
ramp_time = "0.5s"

[workload.shortconn]
job = "%s/profiles/jobs/shortconn.ini"
concurrency = 16

[gate]
baseline = "history:2"
escalate_reps = 0
"""

MEMIF_SUITE = """
[suite]
name = "gate-memif"
stacks = ["refstack:base"]
workloads = ["memif"]
cores = [1]
repetitions = 2

[workload.memif]
job = "%s"
"""

# memif_crr with a known extra cost: a loop of volatile increments before
# every connect() (a macro over the benchmark's own source, so refstack is
# untouched).  About 1 % of the ~15,800 instructions of a connection.
COSTLIER_C = """
#include "refstack.h"
static void burn(void)
{
	for (volatile int i = 0; i < %d; i++)
		;
}
#define rs_connect(...) (burn(), rs_connect(__VA_ARGS__))
#include "memif_crr.c"
"""


def tcpscale(reports, *args, timeout=300):
    env = dict(os.environ, TCPSCALE_REPORTS=reports, TCPSCALE_BRANCH="main")
    return subprocess.run([TCPSCALE] + list(args), capture_output=True,
                          text=True, timeout=timeout, env=env)


def latest(reports):
    return store.list_runs(reports)[-1]["run_id"]


@unittest.skipIf(QUICK, "TCPSCALE_QUICK=1: long integration test skipped")
class GateRealRunsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tcpscale-gate-e2e-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.reports = os.path.join(self.tmp, "reports")

    def suite(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_suite(self, path):
        p = tcpscale(self.reports, "run", path, "--no-report",
                     "--lab-prefix", PREFIX)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr[-2000:])
        return latest(self.reports)

    def make(self, command):
        """A command of the CI examples, as written, in the checkout."""
        env = dict(os.environ, TCPSCALE_REPORTS=self.reports,
                   TCPSCALE_BRANCH="main", TCPSCALE_LAB_PREFIX=PREFIX)
        return subprocess.run(command, shell=True, cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=600)

    def test_aa_runs_with_reruns(self):
        """Same code three times: never 'regressed'.  The candidate's 2
        repetitions cannot decide against the history of the two runs
        before it, so the gate re-runs the cell (2 more repetitions) into
        the candidate run and decides on 4 against 4."""
        a_toml = self.suite("a.toml", AA_SUITE % (2, REPO_ROOT))
        p = self.make(f"make bench SUITE={a_toml}")
        self.assertEqual(p.returncode, 0, p.stdout[-2000:] + p.stderr[-2000:])
        self.run_suite(a_toml)
        b = self.run_suite(self.suite("b.toml", AA_SUITE % (2, REPO_ROOT)))
        out = os.path.join(self.tmp, "gate")
        # every repetition counts, however busy the machine is (make test
        # runs beside other work): the run-to-run bound has to hold it
        p = tcpscale(self.reports, "gate", "--baseline", "history:2", b,
                     "--escalate-reps", "2", "--escalate-step", "2",
                     "--max-other-load", "100%", "--lab-prefix", PREFIX,
                     "-o", out)
        self.assertIn(p.returncode, (0, 3), p.stdout + p.stderr[-2000:])
        self.assertNotIn("regressed  ", p.stdout)
        self.assertIn("vs history:2 (2 runs)", p.stdout)
        # 2 repetitions against 4 usually cannot decide, so the cell is re-run;
        # when the candidate ran well clear of the history (faster: a 5 %
        # regression is already ruled out) it is "same" at once, no re-run
        rerun = "re-runs of unknown cells: 1 round(s), 2 repetitions added" in p.stdout
        n_cand = 4 if rerun else 2
        with open(os.path.join(out, "gate.json")) as f:
            res = json.load(f)
        self.assertEqual(sorted(r["metric"] for r in res["rows"]),
                         ["cpu_per_conn", "p99", "rate"])
        for r in res["rows"]:
            self.assertEqual((r["n_base"], r["n_cand"]), (4, n_cand), r)
            self.assertNotEqual(r["verdict"], "regressed", r)
            if not rerun:
                self.assertNotEqual(r["verdict"], "unknown", r)
        run, records, _ = store.load_run(self.reports, b)
        for r in records:              # the other work beside each one
            others = r["collectors"]["others"]
            self.assertGreaterEqual(others["share"], 0)
            self.assertLessEqual(others["share"], 1.05)
        self.assertEqual(sorted(r["cell"]["id"] for r in records),
                         [f"linux.shortconn.c1.r{i}" for i in range(n_cand)])
        self.assertEqual(run["status"], "complete")
        self.assertEqual(len(run["plan"]), n_cand)
        if rerun:
            self.assertEqual(run["escalations"][0]["cells"],
                             ["linux.shortconn.c1.r2", "linux.shortconn.c1.r3"])
        else:
            self.assertFalse(run.get("escalations"))
        db = sqlite3.connect(store.db_path(self.reports))
        n = db.execute("SELECT count(*) FROM records WHERE run_id = ?",
                       (b,)).fetchone()[0]
        stored = db.execute("SELECT count(*) FROM verdicts").fetchone()[0]
        db.close()
        self.assertEqual((n, stored), (n_cand, 3))
        self.ci_gate_commands()

    def ci_gate_commands(self):
        """The gate command of each CI example, as written (the suite's
        [gate] table gives the baseline), on the same runs."""
        out = os.path.join(REPO_ROOT, "gate-out")
        self.assertFalse(os.path.exists(out), f"{out} is in the way")
        self.addCleanup(shutil.rmtree, out, True)
        for name, cmd in sorted(test_ci_examples.GATES.items()):
            self.assertIn((name, cmd), test_ci_examples.ci_commands())
            p = self.make(cmd)
            # not 1: make reports any failure as 2, so the text says it
            self.assertIn(p.returncode, (0, 2, 3), p.stdout + p.stderr)
            self.assertNotIn("REGRESSED", p.stdout)
            self.assertIn("vs history:2 (2 runs)", p.stdout)
            self.assertTrue(os.path.exists(os.path.join(out, "junit.xml")))
            shutil.rmtree(out)

    def test_real_slowdown_caught(self):
        """A real slowdown of the server side's rate: the candidate's
        tsload is held (open loop) to half the median rate the
        baseline run reached; against that run the gate says regressed (exit 1),
        the rate at under 0.6 of the baseline's.  12 repetitions a side: a metric's level is alpha / 3 =
        0.0067 here (no reference build), which 6 a side reach only when
        no repetition of the two runs overlaps (p 0.0022; with one, 0.0043),
        and under heavy load (other jobs moving the baseline's repetitions
        by half) 8 a side fell short too (p 0.01)."""
        a = self.run_suite(self.suite("sa.toml", AA_SUITE % (12, REPO_ROOT)))
        _run, records, _ = store.load_run(self.reports, a)
        half = int(statistics.median(r["metrics"]["rate"]
                                     for r in records) / 2)
        slow = AA_SUITE.replace("concurrency = 16",
                                f"concurrency = 16\nrate = {half}")
        b = self.run_suite(self.suite("sb.toml", slow % (12, REPO_ROOT)))
        p = tcpscale(self.reports, "gate", "--baseline", a, b,
                     "--escalate-reps", "0", "--max-other-load", "100%")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr[-2000:])
        lines = p.stdout.splitlines()
        self.assertTrue(any(x.startswith("regressed  linux.shortconn.c1")
                            for x in lines), p.stdout)
        row = next(x for x in lines if x.split()[1:3] ==
                   ["linux.shortconn.c1", "rate"])
        ratio = float(row.split()[5])
        self.assertLess(ratio, 0.6, p.stdout)

    def test_paired_with_the_reference_build(self):
        """Each repetition right beside the same cell on the reference
        build: same build on both sides is never 'regressed'; a reference
        build that is really slower (a tsload held to half the rate) makes
        the checkout's build 'improved' on the rate, against the twins of
        its own run, with no history at all.  The reference is saved by the
        CI examples' own command.  20 pairs: below 20 the signed-rank test
        and the bootstrap's percentile interval must pass too (at 8 the
        test's smallest p, 0.0078, is above a metric's share of the cell's
        alpha; at 10 under heavy load the interval reached below 1)."""
        text = (AA_SUITE % (20, REPO_ROOT)).replace(
            'ramp_time = "0.5s"', 'ramp_time = "0.5s"\nreference = "reference"')
        path = self.suite("p.toml", text)
        p = self.make(test_ci_examples.SAVE)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        a = self.run_suite(path)
        run, records, _ = store.load_run(self.reports, a)
        twins = [r["cell"]["id"] for r in records if r["cell"].get("twin")]
        self.assertEqual(len(twins), 20)
        res = self.gate_json(a)
        for r in res["rows"]:
            self.assertEqual((r["baseline"], r["n_base"] <= 20), ("reference",
                                                                 True), r)
            self.assertNotEqual(r["verdict"], "regressed", r)
        half = int(statistics.median(r["metrics"]["rate"] for r in records
                                     if r["cell"].get("twin")) / 2)
        slow = os.path.join(self.reports, "reference", "loadgen", "tsload")
        real = slow + ".real"
        os.rename(slow, real)
        with open(slow, "w") as f:      # the client only (not --server)
            f.write(f'#!/bin/sh\ncase " $* " in *" --server "*) '
                    f'exec {real} "$@";; esac\n'
                    f'exec {real} "$@" --rate={half}\n')
        os.chmod(slow, 0o755)
        b = self.run_suite(path)
        res = self.gate_json(b)
        rate = next(r for r in res["rows"] if r["metric"] == "rate")
        self.assertEqual(rate["verdict"], "improved", rate)
        self.assertGreater(rate["ratio"], 1.2, rate)   # the reference: half

    def gate_json(self, run_id):
        out = os.path.join(self.tmp, "gate-" + run_id)
        p = tcpscale(self.reports, "gate", run_id, "--baseline", "reference",
                     "--escalate-reps", "0", "--max-other-load", "100%",
                     "-o", out)
        self.assertIn(p.returncode, (0, 3), p.stdout + p.stderr[-2000:])
        with open(os.path.join(out, "gate.json")) as f:
            return json.load(f)

    def test_memif_instructions_catch_one_percent(self):
        build = os.path.join(self.tmp, "costlier")
        os.makedirs(build)
        src = os.path.join(build, "memif_costlier.c")
        with open(src, "w") as f:
            f.write(COSTLIER_C % 34)
        binary = os.path.join(build, "memif_costlier")
        # -O3 -flto as refstack's Makefile builds memif_crr (its objects
        # carry the LTO code; without -flto the link takes their plain
        # code, a different program, not the same one plus ~1 %)
        cc = subprocess.run(
            ["cc", "-O3", "-flto=auto", "-std=c11", "-D_GNU_SOURCE", "-I",
             os.path.join(REFSTACK, "include"), "-I",
             os.path.join(REFSTACK, "bench"), src,
             os.path.join(REFSTACK, "librefstack.a"), "-o", binary,
             "-lpthread"], capture_output=True, text=True)
        self.assertEqual(cc.returncode, 0, cc.stderr)
        jobs = {}
        for name, prog in (("base", os.path.join(
                REFSTACK, "build", "bench", "memif_crr")), ("cost", binary)):
            jobs[name] = self.suite(f"{name}.ini", "[global]\nprogram=%s\n"
                                    "concurrency=16\nconnections=900\n"
                                    "[memif]\n" % prog)
        a = self.run_suite(self.suite("ma.toml", MEMIF_SUITE % jobs["base"]))
        b = self.run_suite(self.suite("mb.toml", MEMIF_SUITE % jobs["base"]))
        c = self.run_suite(self.suite("mc.toml", MEMIF_SUITE % jobs["cost"]))
        p = tcpscale(self.reports, "gate", "--baseline", a, b)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("same       refstack-base.memif.c1", p.stdout)
        p = tcpscale(self.reports, "gate", "--baseline", a, c)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        row = next(line for line in p.stdout.splitlines()
                   if line.startswith("regressed  refstack-base.memif.c1"))
        ratio = float(row.split()[5])
        self.assertGreater(ratio, 1.006, row)        # about 1 % more
        self.assertLess(ratio, 1.02, row)


if __name__ == "__main__":
    unittest.main()
