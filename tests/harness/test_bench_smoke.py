"""End to end: `./tcpscale run smoke` on the real lab with real tsload,
nginx and haproxy; then the report (in headless Chromium), the database,
`list`/`report`/`compare` from stored records, and Ctrl-C mid-run.

Long: skipped with TCPSCALE_QUICK=1 (quick dev loops only).  The lab uses
its own prefix (tcps-e2e) so it never touches another lab on the machine.
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

import browser
import datafix
from harness import REPO_ROOT, plan, registry, store

TCPSCALE = os.path.join(REPO_ROOT, "tcpscale")
TSLOAD = os.path.join(REPO_ROOT, "loadgen", "tsload")
MEMIF_JOB = os.path.join(REPO_ROOT, "profiles", "jobs", "memif.ini")
PREFIX = "tcps-e2e"
QUICK = os.environ.get("TCPSCALE_QUICK") == "1"


def lab_namespaces():
    out = subprocess.run(["ip", "-o", "netns", "list"], capture_output=True,
                         text=True).stdout
    return [line.split()[0] for line in out.splitlines()
            if line.startswith(PREFIX + "-")]


def tcpscale(reports, *args, timeout=300):
    env = dict(os.environ, TCPSCALE_REPORTS=reports)
    return subprocess.run([TCPSCALE] + list(args), capture_output=True,
                          text=True, timeout=timeout, env=env)


def run_records(run_dir):
    d = os.path.join(run_dir, "records")
    return {n[:-5]: store.read_json(os.path.join(d, n))
            for n in sorted(os.listdir(d))}


@unittest.skipIf(QUICK, "TCPSCALE_QUICK=1: long integration test skipped")
class BenchSmokeTest(unittest.TestCase):
    """One real smoke run shared by the checks below."""

    @classmethod
    def setUpClass(cls):
        if not os.access(TSLOAD, os.X_OK):
            raise AssertionError(f"{TSLOAD} is not built (make -C loadgen)")
        cls.tmp = tempfile.mkdtemp(prefix="tcpscale-e2e-")
        cls.reports = os.path.join(cls.tmp, "reports")
        t0 = time.monotonic()
        cls.proc = tcpscale(cls.reports, "run", "smoke",
                            "--lab-prefix", PREFIX)
        cls.seconds = time.monotonic() - t0
        runs = store.list_runs(cls.reports)
        cls.run_id = runs[-1]["run_id"] if runs else None
        cls.run_dir = os.path.join(cls.reports, cls.run_id or "none")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_run_succeeds_and_cleans_up(self):
        p = self.proc
        self.assertEqual(p.returncode, 0, p.stderr[-3000:] + p.stdout[-3000:])
        self.assertIn("[cell 3/3]", p.stderr)
        self.assertIn(f"run {self.run_id} complete: 3 ok, 0 failed", p.stdout)
        self.assertIn("report: " + os.path.join(self.run_dir, "report.md"),
                      p.stdout)
        self.assertEqual(lab_namespaces(), [])
        self.assertLess(self.seconds, 120)

    def test_records_hold_real_measurements(self):
        recs = run_records(self.run_dir)
        self.assertEqual(sorted(recs), ["linux.haproxy.c1.r0",
                                        "linux.nginx.c1.r0",
                                        "linux.shortconn.c1.r0"])
        for cid, rec in recs.items():
            with self.subTest(cell=cid):
                self.assertEqual(rec["status"], "ok", rec.get("error"))
                m = rec["metrics"]
                self.assertGreater(m["cps"], 50)
                self.assertGreater(m["connections"], 100)
                self.assertGreater(m["p99_us"], 0)
                self.assertGreaterEqual(m["p99_us"], m["p50_us"])
                self.assertEqual(rec["env"]["cores"], os.cpu_count())
                self.assertTrue(rec["env"]["kernel"])
                self.assertEqual(rec["lab"]["prefix"], PREFIX)
                col = rec["collectors"]
                self.assertIn("cpu0", col["cpu"])
                snmp = col["snmp"]
                self.assertGreater(json.dumps(snmp).count(":"), 3)
                tsload_path = os.path.join(self.run_dir, "raw",
                                           rec["artefacts"]["tsload"])
                self.assertTrue(os.path.exists(tsload_path), tsload_path)
        hap = recs["linux.haproxy.c1.r0"]
        self.assertIn("haproxy", hap["servers"])

    def test_database_and_run_json(self):
        run = store.read_json(os.path.join(self.run_dir, "run.json"))
        self.assertEqual((run["status"], run["n_done"], run["n_ok"]),
                         ("complete", 3, 3))
        db = sqlite3.connect(store.db_path(self.reports))
        rows = db.execute("SELECT workload, status, cps FROM records WHERE "
                          "run_id = ? ORDER BY workload",
                          (self.run_id,)).fetchall()
        status = db.execute("SELECT status FROM runs WHERE run_id = ?",
                            (self.run_id,)).fetchone()
        db.close()
        self.assertEqual([r[:2] for r in rows], [("haproxy", "ok"),
                                                 ("nginx", "ok"),
                                                 ("shortconn", "ok")])
        self.assertTrue(all(r[2] > 0 for r in rows))
        self.assertEqual(status, ("complete",))

    def test_report(self):
        with open(os.path.join(self.run_dir, "report.md")) as f:
            md = f.read()
        for wl in ("shortconn", "nginx", "haproxy"):
            self.assertIn(f"### {wl}", md)
            self.assertIn(f"throughput-{wl}.png", md)
        self.assertIn("## Per-core utilisation", md)
        self.assertIn("PassiveOpens", md)
        if browser.available():
            res = browser.check_page(os.path.join(self.run_dir,
                                                  "report.html"))
            self.assertGreaterEqual(len(res["images"]), 4)
            self.assertEqual(browser.broken_images(res), [])

    def test_regenerate_list_compare(self):
        os.unlink(os.path.join(self.run_dir, "report.md"))
        p = tcpscale(self.reports, "report", self.run_id)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.run_dir,
                                                    "report.md")))
        p = tcpscale(self.reports, "list")
        self.assertIn(self.run_id, p.stdout)
        self.assertIn("complete", p.stdout)
        p = tcpscale(self.reports, "compare", self.run_id, self.run_id)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("| linux | nginx | 1 |", p.stdout)
        self.assertIn("| 1.000", p.stdout)


@unittest.skipIf(QUICK, "TCPSCALE_QUICK=1: long integration test skipped")
class InterruptTest(unittest.TestCase):
    """Ctrl-C mid-run keeps every finished cell, says so, leaves no lab."""

    def test_ctrl_c_keeps_finished_cells(self):
        if not os.access(TSLOAD, os.X_OK):
            self.fail(f"{TSLOAD} is not built (make -C loadgen)")
        tmp = datafix.tempdir(self)
        reports = os.path.join(tmp, "reports")
        suite = datafix.write(os.path.join(tmp, "two.toml"), f"""
[suite]
name = "interrupt"
workloads = ["shortconn"]
cores = [1]
repetitions = 4
runtime = "3s"
ramp_time = "0.5s"
[workload.shortconn]
job = "{REPO_ROOT}/profiles/jobs/shortconn.ini"
concurrency = 8
""")
        env = dict(os.environ, TCPSCALE_REPORTS=reports)
        # its own session: the signal goes to the whole process group, as a
        # terminal's Ctrl-C does
        p = subprocess.Popen([TCPSCALE, "run", suite, "--lab-prefix", PREFIX],
                             env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and p.poll() is None:
                done = [os.path.join(d, "records") for d in
                        (os.path.join(reports, x) for x in
                         (os.listdir(reports) if os.path.isdir(reports)
                          else []))
                        if os.path.isdir(os.path.join(d, "records"))]
                if done and os.listdir(done[0]):
                    break
                time.sleep(0.2)
            time.sleep(1.5)  # into the second cell
            os.killpg(p.pid, signal.SIGINT)
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.assertEqual(p.returncode, 130, err[-3000:])
        run_id = store.list_runs(reports)[-1]["run_id"]
        run, recs, run_dir = store.load_run(reports, run_id)
        self.assertEqual(run["status"], "interrupted")
        self.assertIn("interrupted: the ", out)
        self.assertIn(f"tcpscale run --resume {run_id}", out)
        ok = [r for r in recs if r["status"] == "ok"]
        self.assertGreaterEqual(len(ok), 1)
        self.assertLess(len(ok), 4)
        self.assertTrue(all(r["metrics"]["cps"] > 0 for r in ok))
        with open(os.path.join(run_dir, "report.md")) as f:
            self.assertIn("This run was interrupted", f.read())
        self.assertEqual(store.list_runs(reports)[-1]["status"],
                         "interrupted")
        self.assertEqual(lab_namespaces(), [])


    def test_sigkill_keeps_finished_cells_and_next_start_cleans(self):
        """kill -9: no cleanup at all; records so far stay, `list` says
        killed, and resuming the run removes the stale lab and runs the
        cells it had not finished."""
        tmp = datafix.tempdir(self)
        reports = os.path.join(tmp, "reports")
        suite = datafix.write(os.path.join(tmp, "k.toml"), f"""
[suite]
name = "killed"
workloads = ["shortconn"]
cores = [1]
repetitions = 3
runtime = "2s"
ramp_time = "0.2s"
[workload.shortconn]
job = "{REPO_ROOT}/profiles/jobs/shortconn.ini"
concurrency = 8
""")
        env = dict(os.environ, TCPSCALE_REPORTS=reports)
        p = subprocess.Popen([TCPSCALE, "run", suite, "--lab-prefix", PREFIX],
                             env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and p.poll() is None:
                runs = store.list_runs(reports) if os.path.isdir(reports) \
                    else []
                if runs and (runs[-1]["n_done"] or 0) >= 1:
                    break
                time.sleep(0.2)
            time.sleep(0.5)
            p.kill()
            p.wait(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(len(lab_namespaces()), 3)  # left behind by kill -9
        out = tcpscale(reports, "list").stdout
        self.assertIn("killed", out)
        run, recs, _ = store.load_run(reports, "latest")
        self.assertEqual(run["status"], "killed")
        self.assertGreaterEqual(len([r for r in recs
                                     if r["status"] == "ok"]), 1)
        # resuming it finds the stale lab and cleans it before its own, runs
        # only the cells without a finished record, into the same run
        kept = {r["cell"]["id"]: r["started"] for r in recs if r["status"] == "ok"}
        q = tcpscale(reports, "run", "--resume", run["run_id"], "--lab-prefix", PREFIX)
        self.assertEqual(q.returncode, 0, q.stderr[-3000:])
        self.assertIn("removed a stale lab", q.stderr)
        self.assertIn(f"resuming {3 - len(kept)} of 3 cells ({len(kept)} kept)", q.stderr)
        self.assertEqual(lab_namespaces(), [])
        run2, recs2, run_dir = store.load_run(reports, run["run_id"])
        self.assertEqual(run2["status"], "complete")
        self.assertEqual(sorted(r["status"] for r in recs2), ["ok"] * 3)
        for r in recs2:
            if r["cell"]["id"] in kept:           # kept, not run again
                self.assertEqual(r["started"], kept[r["cell"]["id"]])
        self.assertEqual(run2["resumed"][0]["status_before"], "killed")
        with open(os.path.join(run_dir, "report.md")) as f:
            self.assertIn("Resumed ", f.read())
        # nothing left to resume: refused, naming the run
        q = tcpscale(reports, "run", "--resume", run["run_id"], "--lab-prefix", PREFIX)
        self.assertEqual(q.returncode, 2)
        self.assertIn(f"run {run['run_id']} (complete) has a record for every", q.stderr)


@unittest.skipIf(QUICK, "TCPSCALE_QUICK=1: long integration test skipped")
class CannotRunCellTest(unittest.TestCase):
    """A cell its stack cannot run is recorded as such with the reason,
    cell by cell, and the others run; it is not a failure."""

    def cannot_run_cell(self):
        """linux's memif cell: memif is refstack's in-process benchmark
        (callgrind over two stacks in one process), linux has none."""
        base = dict(datafix.SUITE, workload={"memif": {"job": MEMIF_JOB, "job_options": {}}})
        return plan.make_cell(base, "linux", "memif", 1, 0, True)

    def test_cannot_run_cell_is_reported_not_crashed(self):
        if not os.access(TSLOAD, os.X_OK):
            self.fail(f"{TSLOAD} is not built (make -C loadgen)")
        cell = self.cannot_run_cell()
        self.assertIn("its stack must be refstack:SET", registry.cannot_run(cell))
        tmp = datafix.tempdir(self)
        reports = os.path.join(tmp, "reports")
        suite = datafix.write(os.path.join(tmp, "mixed.toml"), f"""
[suite]
name = "mixed"
stacks = ["linux"]
workloads = ["nginx", "memif"]
cores = [1]
repetitions = 1
runtime = "1s"
ramp_time = "0.2s"
[workload.nginx]
job = "{REPO_ROOT}/profiles/jobs/nginx.ini"
concurrency = 8
[workload.memif]
job = "{MEMIF_JOB}"
""")
        p = tcpscale(reports, "run", suite, "--lab-prefix", PREFIX)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        self.assertIn("1 ok, 0 failed, 1 cannot run, 2 of 2 cells", p.stdout)
        self.assertIn("cannot run: ", p.stdout)
        self.assertIn(cell["id"], p.stderr)
        run, recs, run_dir = store.load_run(reports, "latest")
        self.assertEqual(run["status"], "complete")
        by_id = {r["cell"]["id"]: r for r in recs}
        rs = by_id[cell["id"]]
        self.assertEqual(rs["status"], "cannot-run")
        self.assertEqual(rs["cell"]["stack"], "linux")
        self.assertIn(registry.cannot_run(cell), rs["error"])
        self.assertEqual(by_id["linux.nginx.c1.r0"]["status"], "ok")
        with open(os.path.join(run_dir, "report.md")) as f:
            md = f.read()
        self.assertIn("## Cells that cannot run here", md)
        self.assertIn(cell["id"], md)
        self.assertNotIn("## Cells that did not finish", md)
        self.assertEqual(lab_namespaces(), [])


if __name__ == "__main__":
    unittest.main()
