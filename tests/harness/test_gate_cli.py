"""`tcpscale gate` and `tcpscale history` as real subprocesses on stored
runs: exit statuses, messages, outputs, the database, and bad input that
must leave every file as it was."""
import contextlib
import copy
import hashlib
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import unittest
import xml.etree.ElementTree as ET

import datafix
from harness import REPO_ROOT, plan, store
from harness.cli import main

TCPSCALE = os.path.join(REPO_ROOT, "tcpscale")
WORKLOADS = ("shortconn", "nginx")


def tcpscale(reports, *args):
    """The command line as a real process."""
    env = dict(os.environ, TCPSCALE_REPORTS=reports)
    return subprocess.run([TCPSCALE] + list(args), capture_output=True,
                          text=True, timeout=120, env=env)


def cli(reports, *args):
    """The same in this process (what main() prints and returns), to spare
    a Python start-up per case."""
    out, err = io.StringIO(), io.StringIO()
    old = os.environ.get("TCPSCALE_REPORTS")
    os.environ["TCPSCALE_REPORTS"] = reports
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as e:          # argparse errors
                code = e.code
    finally:
        if old is None:
            del os.environ["TCPSCALE_REPORTS"]
        else:
            os.environ["TCPSCALE_REPORTS"] = old
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return subprocess.CompletedProcess(args, code, out.getvalue(),
                                       err.getvalue())


def make_run(reports, n, rate=1000.0, reps=7, branch="main", seed=None,
             failed=(), suite="nightly", cv=0.01):
    """Run number n (started 1000 + 100 n, commit c<n>) of a suite."""
    rng = random.Random(seed if seed is not None else n)
    env = copy.deepcopy(datafix.ENV)
    env["git"] = {"sha": f"c{n:07d}" + "0" * 32, "short": f"c{n:07d}",
                  "dirty": False, "branch": branch}
    run_id = f"20261201-{n:06d}-c{n:07d}"
    t0 = 1000.0 + 100 * n
    s = dict(datafix.SUITE, name=suite,
             workload={w: datafix.SUITE["workload"]["shortconn"]
                       for w in WORKLOADS})
    records = []
    for rep in range(reps):
        for wl in WORKLOADS:
            cell = plan.make_cell(s, "linux", wl, 1, rep, True)
            status = "error" if (wl, rep) in failed else "ok"
            r = datafix.result(rng.gauss(rate, rate * cv),
                               p99=rng.gauss(500, 500 * cv), status=status)
            if status == "ok":
                r["collectors"]["procs"]["user_s"] = rng.gauss(0.25,
                                                               0.25 * cv)
            rec = store.build_record(run_id, cell, r, env, {}, t0 + rep,
                                     t0 + rep + 1)
            records.append(rec)
    run_id, run_dir = store.create_run_dir(reports, run_id)
    for r in records:
        store.save_record(reports, run_dir, r)
    run = datafix.run_dict(run_id, [r["cell"] for r in records])
    run.update(suite=dict(s, gate={}), env=env, started=t0, finished=t0 + 50)
    store.save_run(reports, run_dir, run)
    return run_id, run_dir


def snapshot(root):
    out = {}
    for d, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(
                    fh.read()).hexdigest()
    return out


class GateCliTest(unittest.TestCase):
    def setUp(self):
        self.reports = datafix.tempdir(self)

    def gate(self, *args):
        return cli(self.reports, "gate", *args)

    def test_same_passes_and_regression_fails(self):
        a, _ = make_run(self.reports, 1)
        b, b_dir = make_run(self.reports, 2)
        p = self.gate("--baseline", a, b)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("tcpscale gate: PASS — 0 regressed, 0 unknown", p.stdout)
        c, c_dir = make_run(self.reports, 3, rate=800.0)
        p = tcpscale(self.reports, "gate", "--baseline", a)   # latest = c
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("tcpscale gate: REGRESSED — 2 regressed", p.stdout)
        self.assertIn(f"candidate {c} (c0000003) vs {a} (1 run)", p.stdout)
        out = os.path.join(c_dir, "gate", f"{c}.gate1")
        root = ET.parse(os.path.join(out, "junit.xml")).getroot()
        self.assertGreaterEqual(int(root.get("failures")), 2)
        with open(os.path.join(out, "summary.md")) as f:
            self.assertIn("| **regressed** | linux.nginx.c1 | rate |",
                          f.read())
        # a second gate of the same run is stored beside the first
        p = self.gate("--baseline", a, c, "-o",
                      os.path.join(self.reports, "ci-out"))
        self.assertEqual(p.returncode, 1)
        self.assertTrue(os.path.exists(os.path.join(self.reports, "ci-out",
                                                    "junit.xml")))
        db = sqlite3.connect(store.db_path(self.reports))
        gates = db.execute("SELECT gate_id, verdict, exit_code FROM gates "
                           "ORDER BY gate_id").fetchall()
        rows = db.execute("SELECT cell, metric, verdict FROM verdicts WHERE "
                          "gate_id = ? AND metric = 'rate'",
                          (f"{c}.gate2",)).fetchall()
        db.close()
        self.assertEqual(gates, [(f"{b}.gate1", "same", 0),
                                 (f"{c}.gate1", "regressed", 1),
                                 (f"{c}.gate2", "regressed", 1)])
        self.assertEqual(sorted(rows), [("linux.nginx.c1", "rate",
                                         "regressed"),
                                        ("linux.shortconn.c1", "rate",
                                         "regressed")])

    def test_history_baseline(self):
        for n in range(1, 5):
            make_run(self.reports, n)
        make_run(self.reports, 5, branch="feature", rate=500.0)
        c, _ = make_run(self.reports, 6, rate=870.0)
        p = self.gate("--baseline", "history:3")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("vs history:3 (3 runs)", p.stdout)
        with open(os.path.join(self.reports, c, "gate", f"{c}.gate1",
                               "gate.json")) as f:
            res = json.load(f)
        self.assertEqual(res["baseline"]["runs"],
                         ["20261201-000004-c0000004",
                          "20261201-000003-c0000003",
                          "20261201-000002-c0000002"])
        p = self.gate("--baseline", "history:10", "--unknown", "pass")
        self.assertIn("history shorter than asked for: linux.nginx.c1 "
                      "(4 of 10 runs)", p.stdout)

    def test_min_effect_from_the_command_line(self):
        a, _ = make_run(self.reports, 1, cv=0.002)
        make_run(self.reports, 2, rate=970.0, cv=0.002)
        p = self.gate("--baseline", a, "--metrics", "rate")
        self.assertEqual(p.returncode, 0, p.stdout)
        p = self.gate("--baseline", a, "--metrics", "rate",
                      "--min-effect", "rate=2%")
        self.assertEqual(p.returncode, 1, p.stdout)

    def test_unknown_exit_3_or_pass(self):
        a, _ = make_run(self.reports, 1)
        make_run(self.reports, 2, reps=1)
        p = self.gate("--baseline", a)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("too few repetitions (baseline 7, candidate 1", p.stdout)
        self.assertIn("re-runs of unknown cells: none (the checkout is at",
                      p.stdout)
        p = self.gate("--baseline", a, "--unknown", "pass")
        self.assertEqual(p.returncode, 0, p.stdout)

    def test_failed_cells_named(self):
        a, _ = make_run(self.reports, 1)
        make_run(self.reports, 2, failed=[("nginx", r) for r in range(7)])
        p = self.gate("--baseline", a)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("warning: candidate cell linux.nginx.c1.r0 error: "
                      "cell x: server died", p.stdout)
        self.assertIn("7 of 7 candidate repetitions failed", p.stdout)

    def test_usage_errors(self):
        p = tcpscale(self.reports, "gate")             # no runs at all
        self.assertEqual(p.returncode, 2)
        self.assertIn("tcpscale gate: no runs in", p.stderr)
        a, _ = make_run(self.reports, 1)
        cases = [(["--alpha", "2"], "--alpha: expected a fraction"),
                 (["--baseline", "nosuchrun"],
                  "run 'nosuchrun' matches no run"),
                 (["--baseline", "history:x"],
                  "--baseline: expected history:K"),
                 (["--min-effect", "much"], "--min-effect: expected"),
                 (["--metrics", "rate,latency"],
                  "--metrics: expected a non-empty list of metrics"),
                 (["--escalate-reps", "many"], "invalid int value"),
                 ([], "empty history: no run of suite 'nightly' on host "
                      "testhost and branch 'main' before"),
                 (["--baseline", a], "baseline and candidate are the same "
                                     "run"),
                 (["--baseline", "reference"], "has no cell measured beside "
                                               "a reference build")]
        before = snapshot(self.reports)
        for args, want in cases:
            with self.subTest(args=args):
                p = self.gate(*args)
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn(want, p.stderr)
        self.assertEqual(snapshot(self.reports), before)

    def test_corrupt_database_is_left_alone(self):
        a, _ = make_run(self.reports, 1)
        make_run(self.reports, 2)
        with open(store.db_path(self.reports), "r+b") as f:
            f.seek(0)
            f.write(b"this is not sqlite")
        before = snapshot(self.reports)
        p = self.gate("--baseline", a)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("results.sqlite: not a usable SQLite database",
                      p.stderr)
        self.assertIn("left as it is", p.stderr)
        self.assertEqual(snapshot(self.reports), before)

    def test_record_of_an_older_schema(self):
        a, a_dir = make_run(self.reports, 1)
        make_run(self.reports, 2)
        path = os.path.join(a_dir, "records", "linux.nginx.c1.r3.json")
        rec = store.read_json(path)
        rec["schema"] = 0
        store.write_json(path, rec)
        before = snapshot(self.reports)
        p = self.gate("--baseline", a)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn(f"{path}: schema 0 (this tcpscale reads schema 1)",
                      p.stderr)
        self.assertEqual(snapshot(self.reports), before)

    def test_older_schema_in_history_is_left_out(self):
        make_run(self.reports, 1)
        make_run(self.reports, 2)
        b, _ = make_run(self.reports, 3)
        db = sqlite3.connect(store.db_path(self.reports))
        rj = db.execute("SELECT record_json FROM records WHERE run_id = ? "
                        "LIMIT 1", ("20261201-000001-c0000001",)).fetchone()
        rec = json.loads(rj[0])
        db.execute("UPDATE records SET record_json = ? WHERE run_id = ? AND "
                   "cell_id = ?", (json.dumps(dict(rec, schema=0)),
                                   rec["run_id"], rec["cell"]["id"]))
        db.commit()
        db.close()
        p = self.gate("--baseline", "history:5", "--unknown", "pass")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("warning: history: run 20261201-000001-c0000001 left "
                      "out:", p.stdout)
        self.assertIn("schema 0 (this tcpscale reads schema 1)", p.stdout)


class HistoryCliTest(unittest.TestCase):
    def test_change_point_between_commits(self):
        reports = datafix.tempdir(self)
        for n in range(1, 13):
            make_run(reports, n, rate=1000.0 if n <= 6 else 850.0, reps=3)
        p = tcpscale(reports, "history", "linux.shortconn.c1", "--metric",
                     "rate", "--plot", os.path.join(reports, "h.png"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("history of linux.shortconn.c1 (suite nightly)",
                      p.stdout)
        self.assertIn("rate (connections/s", p.stdout)
        self.assertIn("12 runs, 1 change points", p.stdout)
        self.assertIn("between c0000006 and c0000007", p.stdout)
        self.assertTrue(os.path.getsize(os.path.join(reports, "h.png")) > 1000)
        p = cli(reports, "history", "linux.shortconn.c1", "--json")
        hist = json.loads(p.stdout)
        cps = hist["metrics"]["cpu_per_conn"]["change_points"]
        self.assertEqual([c["index"] for c in cps], [6])    # 1/rate too
        self.assertEqual(hist["metrics"]["p99"]["change_points"], [])
        p = cli(reports, "history", "shortconn")
        self.assertEqual(p.returncode, 2)
        self.assertIn("expected STACK.WORKLOAD.cCORES", p.stderr)

    def test_report_plots_the_history(self):
        reports = datafix.tempdir(self)
        for n in range(1, 9):
            rid, run_dir = make_run(reports, n, rate=1000.0 if n <= 4
                                    else 800.0, reps=3)
        p = cli(reports, "report", rid)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(run_dir, "report.md")) as f:
            md = f.read()
        self.assertIn("## History and change points", md)
        self.assertIn("| linux.nginx.c1 | rate | -20.0% | c0000004 .. "
                      "c0000005 |", md)
        self.assertIn("![linux.nginx.c1 history](history-linux.nginx.c1.png)",
                      md)
        self.assertTrue(os.path.exists(os.path.join(
            run_dir, "history-linux.nginx.c1.png")))


if __name__ == "__main__":
    unittest.main()
