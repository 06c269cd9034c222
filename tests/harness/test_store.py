"""Records: JSON files and reports/results.sqlite (harness/store.py),
with the real sqlite3 module and the real sqlite3 command-line tool."""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import unittest

import datafix
from harness import store


class RecordTest(unittest.TestCase):
    def test_metrics_from_tsload(self):
        rec = datafix.record("r1", "shortconn", 2, 1, 1234.5, p50=80.0,
                             p99=900.0, errors=3)
        m = rec["metrics"]
        self.assertEqual(rec["schema"], store.SCHEMA)
        self.assertEqual(rec["cell"]["id"], "linux.shortconn.c2.r1")
        self.assertEqual((m["cps"], m["rate"], m["rate_unit"]),
                         (1234.5, 1234.5, "conn/s"))
        self.assertEqual((m["p50_us"], m["p99_us"], m["errors"]),
                         (80.0, 900.0, 3))
        self.assertEqual(m["p999_us"], 1350.0)
        self.assertEqual(rec["env"]["kernel"], "6.1.0-test")
        self.assertEqual(rec["servers"], {"nginx": "1.22.1"})
        self.assertIn("snmp", rec["collectors"])
        self.assertEqual(rec["duration_s"], 3.0)

    def test_keepalive_rate_is_requests(self):
        m = datafix.record("r", "keepalive", 1, 0, 500)["metrics"]
        self.assertEqual(m["rate_unit"], "req/s")

    def test_failed_cell_has_no_metrics(self):
        rec = datafix.record("r", "shortconn", 1, 0, 0, status="error")
        self.assertEqual(rec["status"], "error")
        self.assertEqual(rec["metrics"], {})
        self.assertIn("server died", rec["error"])

    def test_multi_job_sums(self):
        ts = datafix.tsload_json(100, 10, 20)
        ts["jobs"].append(dict(ts["jobs"][0], cps=50.0, tps=50.0))
        ts["jobs"].append({"role": "server", "cps": 999})
        m = store.extract_metrics(ts, "shortconn")
        self.assertEqual(m["cps"], 150.0)
        self.assertEqual(store.extract_metrics(None, "shortconn"), {})

    def test_check_record(self):
        rec = datafix.record("r", "shortconn", 1, 0, 1)
        self.assertIs(store.check_record(rec), rec)
        with self.assertRaises(store.StoreError) as cm:
            store.check_record(dict(rec, schema=99), "x.json")
        self.assertIn("x.json: schema 99", str(cm.exception))
        bad = dict(rec)
        del bad["metrics"]
        with self.assertRaises(store.StoreError):
            store.check_record(bad)


class StoreTest(unittest.TestCase):
    def setUp(self):
        self.dir = datafix.tempdir(self)

    def records(self, n=3):
        return [datafix.record("x", "shortconn", 1, rep, 1000 + rep)
                for rep in range(n)]

    def test_run_id_and_dirs(self):
        rid = store.new_run_id("abcdef12", now=1763912400)
        self.assertEqual(rid, "20251123-154000-abcdef12")
        self.assertTrue(re.match(r"^\d{8}-\d{6}-nogit$", store.new_run_id()))
        a, da = store.create_run_dir(self.dir, rid)
        b, db = store.create_run_dir(self.dir, rid)
        self.assertEqual((a, b), (rid, rid + "-2"))
        self.assertTrue(os.path.isdir(os.path.join(db, "records")))
        self.assertTrue(os.path.isdir(os.path.join(db, "raw")))

    def test_save_and_load_roundtrip(self):
        run_id, run_dir = datafix.store_run(self.dir, "20261123-1", 
                                            self.records())
        files = sorted(os.listdir(os.path.join(run_dir, "records")))
        self.assertEqual(files, [f"linux.shortconn.c1.r{i}.json"
                                 for i in range(3)])
        run, recs, rd = store.load_run(self.dir, run_id)
        self.assertEqual(rd, run_dir)
        self.assertEqual(run["status"], "complete")
        self.assertEqual([r["metrics"]["cps"] for r in recs],
                         [1000, 1001, 1002])
        on_disk = store.read_json(os.path.join(run_dir, "records", files[0]))
        self.assertEqual(on_disk, recs[0])

    def test_database_rows(self):
        run_id, _ = datafix.store_run(self.dir, "20261123-1", self.records(),
                                      status="interrupted")
        db = sqlite3.connect(store.db_path(self.dir))
        rows = db.execute("SELECT cell_id, workload, cores, rep, status, cps, "
                          "p99_us FROM records WHERE run_id=? ORDER BY rep",
                          (run_id,)).fetchall()
        self.assertEqual(rows[1], ("linux.shortconn.c1.r1", "shortconn", 1, 1,
                                   "ok", 1001.0, 400.0))
        full = json.loads(db.execute("SELECT record_json FROM records LIMIT 1")
                          .fetchone()[0])
        self.assertEqual(full["schema"], 1)
        run = db.execute("SELECT status, n_cells, git_sha FROM runs").fetchone()
        self.assertEqual(run, ("interrupted", 3, "0123456789abcdef"))
        db.close()
        # the database is a plain SQLite file other tools can read
        if shutil.which("sqlite3"):
            out = subprocess.run(["sqlite3", store.db_path(self.dir),
                                  "SELECT count(*) FROM records"],
                                 capture_output=True, text=True, check=True)
            self.assertEqual(out.stdout.strip(), "3")

    def test_history_across_runs(self):
        datafix.store_run(self.dir, "20261123-1", self.records(2))
        datafix.store_run(self.dir, "20261124-1", self.records(3),
                          status="interrupted")
        runs = store.list_runs(self.dir)
        self.assertEqual([r["run_id"] for r in runs],
                         ["20261123-1", "20261124-1"])
        self.assertEqual(runs[1]["status"], "interrupted")
        # re-saving a record replaces its row instead of duplicating it
        run, recs, run_dir = store.load_run(self.dir, "20261123-1")
        store.save_record(self.dir, run_dir, recs[0])
        db = sqlite3.connect(store.db_path(self.dir))
        self.assertEqual(db.execute("SELECT count(*) FROM records")
                         .fetchone()[0], 5)
        db.close()

    def test_resolve_run(self):
        datafix.store_run(self.dir, "20261123-100000-aa", self.records(1))
        datafix.store_run(self.dir, "20261123-110000-bb", self.records(1))
        self.assertEqual(store.resolve_run(self.dir, "latest")[0],
                         "20261123-110000-bb")
        self.assertEqual(store.resolve_run(self.dir, "20261123-10")[0],
                         "20261123-100000-aa")
        path = os.path.join(self.dir, "20261123-100000-aa")
        self.assertEqual(store.resolve_run(self.dir, path),
                         ("20261123-100000-aa", path))
        for bad, why in (("2026", "several"), ("1999", "no run")):
            with self.assertRaises(store.StoreError) as cm:
                store.resolve_run(self.dir, bad)
            self.assertIn(why, str(cm.exception))

    def test_load_from_database_when_files_are_gone(self):
        run_id, run_dir = datafix.store_run(self.dir, "20261123-1",
                                            self.records())
        shutil.rmtree(run_dir)
        run, recs, _ = store.load_run(self.dir, run_id)
        self.assertEqual(run["run_id"], run_id)
        self.assertEqual(len(recs), 3)

    def test_killed_runs_are_marked(self):
        dead = subprocess.Popen(["true"])
        dead.wait()
        for rid, owner in (("20261123-1", {"pid": dead.pid, "start": 1}),
                           ("20261123-2", store.owner_of_this_process())):
            run_id, run_dir = datafix.store_run(self.dir, rid,
                                                self.records(2),
                                                status="running")
            run = store.read_json(os.path.join(run_dir, "run.json"))
            run.update(owner=owner, n_done=2)
            store.save_run(self.dir, run_dir, run)
        self.assertEqual(store.mark_killed_runs(self.dir), ["20261123-1"])
        runs = {r["run_id"]: r["status"] for r in store.list_runs(self.dir)}
        self.assertEqual(runs, {"20261123-1": "killed",
                                "20261123-2": "running"})
        run, recs, _ = store.load_run(self.dir, "20261123-1")
        self.assertEqual(run["status"], "killed")
        self.assertIn("2 finished cells are kept", run["error"])
        self.assertEqual(len(recs), 2)
        self.assertEqual(store.mark_killed_runs(self.dir), [])

    def test_corrupt_record_names_file(self):
        run_id, run_dir = datafix.store_run(self.dir, "20261123-1",
                                            self.records(1))
        path = os.path.join(run_dir, "records", "linux.shortconn.c1.r0.json")
        with open(path, "w") as f:
            f.write("{not json")
        with self.assertRaises(store.StoreError) as cm:
            store.load_run(self.dir, run_id)
        self.assertIn(path, str(cm.exception))


if __name__ == "__main__":
    unittest.main()


class EnvTest(unittest.TestCase):
    """Environment capture on this machine (harness/env.py)."""

    def test_capture(self):
        from harness import REPO_ROOT, env
        e = env.capture()
        self.assertEqual(e["kernel"], os.uname().release)
        self.assertEqual(e["cores"], os.cpu_count())
        self.assertTrue(e["cpu_model"])
        self.assertGreater(e["mem_kib"], 0)
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT,
                             capture_output=True, text=True).stdout.strip()
        self.assertEqual(e["git"]["sha"], sha)
        self.assertEqual(e["git"]["short"], sha[:8])
        self.assertRegex(e["tools"]["python"], r"^3\.\d+")
        if shutil.which("nginx"):
            self.assertRegex(e["tools"]["nginx"], r"^\d+\.\d+")
        self.assertIn("net.core.somaxconn", e["sysctls"])
        json.dumps(e)  # plain data
        lines = env.format_env(e)
        self.assertIn(f"kernel {e['kernel']}", lines[0])
