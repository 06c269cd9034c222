"""End to end on the real lab: refstack:base and refstack:full beside linux
(lab -> run -> store -> report), with perf record and perf lock on every
cell: refstack owns the server's interface (the kernel there stays
silent), the report says which server ran, the flame graphs draw in
headless Chromium, the lock tables are filled, `compare RUN` divides by
linux.

Long: skipped with TCPSCALE_QUICK=1.  Its own lab prefix (tcps-st)."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import browser
from harness import REPO_ROOT, store
from harness.workloads import refstack as RS

TCPSCALE = os.path.join(REPO_ROOT, "tcpscale")
PREFIX = "tcps-st"
QUICK = os.environ.get("TCPSCALE_QUICK") == "1"

def suite_toml(name, stacks, workload, cores, runtime, ramp, extra=""):
    """A one-workload suite of one repetition, concurrency 16."""
    return "\n".join([
        "[suite]", f'name = "{name}"', f"stacks = {stacks!r}".replace("'", '"'),
        f'workloads = ["{workload}"]', f"cores = {cores!r}", "repetitions = 1",
        f'runtime = "{runtime}"', f'ramp_time = "{ramp}"', extra,
        f"[workload.{workload}]",
        f'job = "{REPO_ROOT}/profiles/jobs/{workload}.ini"', "concurrency = 16", ""])


SUITE = suite_toml("stacks-smoke", ["linux", "refstack:base", "refstack:full"],
                   "shortconn", [1], "2s", "0.5s", 'profilers = ["record", "lock"]')


def lab_namespaces():
    out = subprocess.run(["ip", "-o", "netns", "list"], capture_output=True,
                         text=True).stdout
    return [line.split()[0] for line in out.splitlines()
            if line.startswith(PREFIX + "-")]


@unittest.skipIf(QUICK, "TCPSCALE_QUICK=1: long integration test skipped")
class StacksEndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tcpscale-stacks-")
        cls.reports = os.path.join(cls.tmp, "reports")
        path = os.path.join(cls.tmp, "stacks.toml")
        with open(path, "w") as f:
            f.write(SUITE)
        env = dict(os.environ, TCPSCALE_REPORTS=cls.reports)
        t0 = time.monotonic()
        cls.proc = subprocess.run([TCPSCALE, "run", path, "--lab-prefix", PREFIX],
                                  capture_output=True, text=True, timeout=300, env=env)
        cls.seconds = time.monotonic() - t0
        cls.run_info, cls.recs, cls.run_dir = store.load_run(cls.reports, "latest")
        cls.by_id = {r["cell"]["id"]: r for r in cls.recs}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_run_completes_and_cleans_up(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr[-3000:])
        self.assertEqual(self.run_info["status"], "complete")
        self.assertEqual(lab_namespaces(), [])
        self.assertLess(self.seconds, 120)

    def test_refstack_base_owns_the_interface(self):
        rec = self.by_id["refstack-base.shortconn.c1.r0"]
        self.assertEqual(rec["status"], "ok", rec.get("error"))
        self.assertEqual(rec["cell"]["stack"], "refstack:base")
        self.assertGreater(rec["metrics"]["connections"], 100)
        t = rec["tuning"]
        self.assertFalse(t["refstack"]["kernel_address_on_interface"])
        self.assertEqual(t["refstack"]["features"], "base")
        if not RS.has_shim():
            self.assertIn("rs-crrd", t["server"]["program"])
        # the server host's kernel answered nothing: refstack did
        snmp = rec["collectors"]["snmp"]
        self.assertEqual((snmp["PassiveOpens"], snmp["OutRsts"]), (0, 0))
        # refstack's counters over the collectors' window (which starts and
        # ends within tsload's by up to a polling step and the snapshots)
        cnt = rec["collectors"]["stack"]["counters"]
        conns = rec["metrics"]["connections"]
        self.assertTrue(0.7 * conns < cnt["tcp_accepts"] < 1.3 * conns,
                        (cnt["tcp_accepts"], conns))
        # the lab is the same for every stack: offloads off, recorded
        self.assertTrue(rec["lab"]["offloads_off"])
        lx = self.by_id["linux.shortconn.c1.r0"]
        self.assertEqual(lx["status"], "ok", lx.get("error"))
        self.assertGreater(lx["collectors"]["snmp"]["PassiveOpens"], 100)

    def test_refstack_full_runs_or_says_why(self):
        rec = self.by_id["refstack-full.shortconn.c1.r0"]
        if "--features" in RS.app_options(RS.RS_CRRD) or RS.has_shim():
            self.assertEqual(rec["status"], "ok", rec.get("error"))
            self.assertEqual(rec["tuning"]["refstack"]["features"], "full")
        else:
            self.assertEqual(rec["status"], "cannot-run")
            self.assertIn("--features", rec["error"])

    def test_perf_record_and_lock_per_cell(self):
        for cid in ("linux.shortconn.c1.r0", "refstack-base.shortconn.c1.r0"):
            with self.subTest(cell=cid):
                col = self.by_id[cid]["collectors"]
                self.assertNotIn("error", col["record"])
                self.assertGreater(col["record"]["busy"], 50)
                self.assertAlmostEqual(sum(col["record"]["shares"].values()), 1.0)
                folded = os.path.join(self.run_dir, "raw",
                                      self.by_id[cid]["artefacts"]["perf_folded"])
                self.assertGreater(os.path.getsize(folded), 100)
                self.assertNotIn("error", col["lock"])
                self.assertIsInstance(col["lock"]["rows"], list)
        lx = self.by_id["linux.shortconn.c1.r0"]["collectors"]["lock"]["rows"]
        self.assertTrue(lx and all(r["contended"] >= 0 and r["caller"] for r in lx), lx)

    def test_report_and_compare(self):
        with open(os.path.join(self.run_dir, "report.md")) as f:
            md = f.read()
        self.assertIn("## Servers that ran", md)
        self.assertIn("## Stacks side by side (ratios to linux)", md)
        self.assertIn("## Ablation: refstack feature by feature", md)
        self.assertIn("#### linux shortconn at 1 core(s)", md)
        self.assertIn("kernel (perf lock)", md)
        env = dict(os.environ, TCPSCALE_REPORTS=self.reports)
        p = subprocess.run([TCPSCALE, "compare", self.run_info["run_id"]], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("| refstack:base | 1 | 1 |", p.stdout)

    def test_html_flame_graphs_draw(self):
        self.assertTrue(browser.available(), "chromium: run make deps")
        res = browser.check_page(os.path.join(self.run_dir, "report.html"))
        self.assertEqual(browser.broken_images(res), [])
        self.assertGreaterEqual(len(res["images"]), 3)
        flames = dict(res["flames"])
        self.assertIn("fg-linux-shortconn", flames)
        self.assertIn("fg-refstack-base-shortconn", flames)
        self.assertTrue(all(n > 10 for n in flames.values()), flames)


NGINX2 = suite_toml("nginx-workers", ["refstack:base"], "nginx", [2], "1s", "0.3s")


@unittest.skipIf(QUICK, "TCPSCALE_QUICK=1: long integration test skipped")
@unittest.skipUnless(RS.has_shim(), "refstack shim (refstack/rs-run) not built")
@unittest.skipIf((os.cpu_count() or 1) < 2, "one CPU: no 2-core cell")
class NginxWorkersOnRefstackTest(unittest.TestCase):
    """nginx at 2 cores on refstack: two forked workers, each a core of
    one stack, started through rs-run."""

    def test_two_workers_serve_through_rs_run(self):
        tmp = tempfile.mkdtemp(prefix="tcpscale-ngx2-")
        self.addCleanup(shutil.rmtree, tmp, True)
        reports, path = os.path.join(tmp, "reports"), os.path.join(tmp, "n.toml")
        with open(path, "w") as f:
            f.write(NGINX2)
        p = subprocess.run([TCPSCALE, "run", path, "--lab-prefix", PREFIX],
                           capture_output=True, text=True, timeout=180,
                           env=dict(os.environ, TCPSCALE_REPORTS=reports))
        self.assertEqual(p.returncode, 0, p.stdout[-2000:] + p.stderr[-2000:])
        _, recs, run_dir = store.load_run(reports, "latest")
        rec = recs[0]
        self.assertEqual((rec["cell"]["id"], rec["status"]),
                         ("refstack-base.nginx.c2.r0", "ok"), rec.get("error"))
        srv = rec["tuning"]["server"]
        self.assertEqual(srv["workers"], 2)
        self.assertIn("refstack/rs-run", srv["launcher"])
        self.assertIn("--cores 2", srv["launcher"])
        with open(os.path.join(run_dir, "raw", rec["artefacts"]["nginx_conf"])) as f:
            self.assertIn("worker_processes 2;", f.read())
        # each worker drove a core of the stack: frames reached both (the
        # fanout group), and the workers together accepted every connection
        per_core = rec["collectors"]["stack"]["per_core"]
        self.assertEqual(len({c["pid"] for c in per_core if c["counters"].get("rx_frames")}),
                         2, per_core)
        conns = rec["metrics"]["connections"]
        accepts = rec["collectors"]["stack"]["counters"]["tcp_accepts"]
        self.assertTrue(0.7 * conns < accepts < 1.3 * conns, (accepts, conns))
        self.assertGreater(rec["metrics"]["connections"], 100)
        self.assertEqual(lab_namespaces(), [])


TWINS = suite_toml("refstack-twins", ["refstack:base"], "shortconn", [1], "1s",
                   "0.3s", 'reference = "reference"').replace(
                       "repetitions = 1", "repetitions = 2")


@unittest.skipIf(QUICK, "TCPSCALE_QUICK=1: long integration test skipped")
@unittest.skipUnless(RS.has_shim(), "refstack shim (refstack/rs-run) not built")
class RefstackBesideItsReferenceTest(unittest.TestCase):
    """A reference build saved with refstack's shim gives refstack cells a
    twin on it (its rs-run, its library, its tsload), and the gate decides
    them pair by pair."""

    def test_twins_run_the_reference_shim(self):
        tmp = tempfile.mkdtemp(prefix="tcpscale-rstwin-")
        self.addCleanup(shutil.rmtree, tmp, True)
        reports, path = os.path.join(tmp, "reports"), os.path.join(tmp, "t.toml")
        with open(path, "w") as f:
            f.write(TWINS)
        env = dict(os.environ, TCPSCALE_REPORTS=reports)
        p = subprocess.run([TCPSCALE, "reference", "save"], capture_output=True,
                           text=True, env=env)
        self.assertIn("tsload and refstack's shim of", p.stdout, p.stderr)
        p = subprocess.run([TCPSCALE, "run", path, "--lab-prefix", PREFIX,
                            "--no-report"], capture_output=True, text=True,
                           timeout=180, env=env)
        self.assertEqual(p.returncode, 0, p.stdout[-2000:] + p.stderr[-2000:])
        run, recs, _ = store.load_run(reports, "latest")
        self.assertEqual(sorted((r["cell"]["id"], r["status"]) for r in recs),
                         [("refstack-base.shortconn.c1.r%d%s" % (i, t), "ok")
                          for i in (0, 1) for t in ("", ".reference")])
        shim = os.path.join(reports, "reference", "refstack", "rs-run")
        for r in recs:
            launcher = r["tuning"]["server"]["launcher"]
            if r["cell"].get("twin"):
                self.assertTrue(launcher.startswith(shim + " "), launcher)
            else:
                self.assertTrue(launcher.startswith("refstack/rs-run "), launcher)
        p = subprocess.run([TCPSCALE, "gate", run["run_id"], "--baseline",
                            "reference", "--escalate-reps", "0"],
                           capture_output=True, text=True, env=env)
        self.assertIn(p.returncode, (0, 3), p.stdout[-2000:] + p.stderr[-2000:])
        self.assertIn("against the reference build measured beside it", p.stdout)
        self.assertEqual(lab_namespaces(), [])


if __name__ == "__main__":
    unittest.main()
