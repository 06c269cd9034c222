"""The ablation and comparison reports rendered from stored records
(harness/stackcmp.py, report_stacks.py, viewer.py), `tcpscale compare RUN`
within one run, and the HTML in headless Chromium (flame graphs draw,
plots load)."""
import os
import subprocess
import unittest

import browser
import datafix
from harness import REPO_ROOT, report, stackcmp, store, viewer

TCPSCALE = os.path.join(REPO_ROOT, "tcpscale")
# rate per (stack, cores); refstack:listen gains 20 % over base
RATES = {("linux", 1): 1000, ("linux", 2): 1800,
         ("refstack:base", 1): 1500, ("refstack:base", 2): 2400,
         ("refstack:listen", 1): 1800, ("refstack:listen", 2): 2880,
         ("refstack:full", 1): 2100, ("refstack:full", 2): 3600}
NOISE = (0.98, 1.0, 1.02)
FOLDED = {"linux": "tsload;[unknown];__sys_connect_[k];tcp_v4_connect_[k] 60\n"
                   "nginx;[unknown];epoll_wait;ep_poll_[k] 30\n"
                   "nginx;[unknown];accept4;alloc_empty_file_[k] 10\n"
                   "cc1;[unknown];main 25\n",
          "refstack": "rs-crrd;main;rs_poll;tcp_v4_rcv 70\n"
                      "rs-crrd;main;rs_epoll_wait 20\n"
                      "rs-crrd;main;pthread_mutex_lock 10\n"}


def stack_counters(stack, conns):
    """refstack's counters for `conns` connections: base takes the shared
    listen lock on every accept, listen accepts locally; the accept-queue
    lock is counted as the features branch spells it (lock_<name> for the
    acquisitions, no wait times); base drops on a full hand-off queue."""
    fset = stack.split(":")[1]
    local = fset in ("listen", "full")
    return {"tcp_accepts": conns, "lookup_estab_global": 4 * conns,
            "accept_local": conns if local else 0,
            "accept_global": 0 if local else conns,
            "xcore_handoffs": 0 if fset == "full" else conns // 10,
            "lock_listen_acquired": 0 if local else conns,
            "lock_listen_contended": 0 if local else conns // 20,
            "lock_listen_wait_ns": 0 if local else 50_000 * (conns // 20),
            "lock_listen_wait_max_ns": 0 if local else 900_000,
            "lock_acceptq": 0 if local else 2 * conns,
            "lock_acceptq_contended": 0 if local else conns // 100,
            "drop_handoff_full": 0 if local else 30, "drop_tcp_csum": 0}


def make_records():
    recs = []
    for rep, k in enumerate(NOISE):
        for (stack, cores), rate in RATES.items():
            r = datafix.record("r", "shortconn", cores, rep, rate * k, stack=stack)
            conns = r["metrics"]["connections"]
            col = r["collectors"]
            kind = stack.split(":")[0]
            col["record"] = {"shares": {"TCP/IP": 0.6 if kind == "linux" else 0.7,
                                        "locks": 0.1, "epoll": 0.3 if kind == "linux" else 0.2,
                                        "VFS/file": 0.0, "application": 0.0,
                                        "other kernel": 0.0},
                             "busy": 100, "samples": 120, "idle": 20}
            r["artefacts"]["perf_folded"] = r["cell"]["id"] + ".folded"
            if kind == "refstack":
                col["stack"] = {"counters": stack_counters(stack, conns), "per_core": []}
                r["tuning"]["server"] = {"program": "rs-crrd (refstack's native crr server)"}
                r["tuning"]["refstack"] = {"features": stack.split(":")[1]}
            else:
                r["tuning"]["server"] = {"program": "tsload --server", "threads": cores}
            col["lock"] = {"rows": [{"contended": 90, "wait_total_us": 1530.0,
                                     "wait_max_us": 22.6, "wait_avg_us": 17.0,
                                     "type": "spinlock", "caller": "inet_accept+0x41"}]}
            col["procs"] = {"user_s": 0.2, "sys_s": 0.8 if kind == "linux" else 0.3,
                            "count": 1}
            recs.append(r)
    # a cell this stack cannot run, as the runner records it
    c = datafix.record("r", "shortconn", 1, 0, 1, stack="refstack:base")
    c["cell"]["workload"], c["cell"]["id"] = "haproxy", "refstack-base.haproxy.c1.r0"
    c.update(status="cannot-run", metrics={}, collectors={},
             error="cell refstack-base.haproxy.c1.r0: cannot run: refstack shim "
                   "(refstack/rs-run) not built")
    recs.append(c)
    return recs


class StacksReportTest(unittest.TestCase):
    def setUp(self):
        self.dir = datafix.tempdir(self)
        self.run_id, self.run_dir = datafix.store_run(self.dir, "20261201-120000-abc",
                                                      make_records())
        for rec in store.load_run(self.dir, self.run_id)[1]:
            name = (rec.get("artefacts") or {}).get("perf_folded")
            if name:
                datafix.write(os.path.join(self.run_dir, "raw", name),
                              FOLDED[rec["cell"]["stack"].split(":")[0]])
        self.run, self.recs, _ = store.load_run(self.dir, self.run_id)

    def test_ablation_gain_and_counters_per_connection(self):
        rows = stackcmp.ablation(self.recs)
        by = {(r["features"], r["cores"]): r for r in rows}
        self.assertEqual([r["features"] for r in rows if r["cores"] == 1],
                         ["base", "listen", "full"])
        listen = by[("listen", 1)]
        self.assertAlmostEqual(listen["gain"]["ratio"], 1.2)
        self.assertEqual(listen["gain"]["verdict"], "higher")
        self.assertLess(listen["gain"]["ci95"][0], 1.2)
        self.assertAlmostEqual(by[("base", 1)]["gain"]["ratio"], 1.0)
        self.assertAlmostEqual(listen["per_conn"]["accept_local"], 1.0)
        self.assertAlmostEqual(by[("base", 1)]["per_conn"]["accept_global"], 1.0)
        self.assertAlmostEqual(by[("base", 2)]["per_conn"]["lookup_estab_global"], 4.0)
        self.assertNotIn("lock_listen_acquired", listen["per_conn"])  # the lock table's
        # every lock's acquisitions summed, both spellings: 1 + 2 per connection
        self.assertAlmostEqual(by[("base", 1)]["per_conn"]["shared-lock acquisitions"], 3.0)
        self.assertAlmostEqual(listen["per_conn"]["shared-lock acquisitions"], 0.0)
        self.assertAlmostEqual(by[("base", 1)]["per_conn"]["contended acquisitions"],
                               0.06, delta=0.002)
        # drops by reason, the zero ones left out
        self.assertEqual(by[("base", 1)]["drops"], {"drop_handoff_full": 30})
        self.assertEqual(listen["drops"], {})

    def test_versus_linux(self):
        rows = stackcmp.versus(self.recs)
        full = next(r for r in rows if r["stack"] == "refstack:full" and r["cores"] == 2)
        self.assertEqual(full["baseline"], "linux")
        self.assertAlmostEqual(full["rate_ratio"]["ratio"], 2.0)
        self.assertEqual(full["rate_ratio"]["verdict"], "higher")
        # server CPU per connection: 0.5 s vs 1.0 s over 2x the connections
        self.assertAlmostEqual(full["cpu_per_conn_ratio"]["ratio"], 0.25, places=3)
        self.assertAlmostEqual(full["p99_ratio"]["ratio"], 1.0)
        lx = next(r for r in rows if r["stack"] == "linux")
        self.assertIsNone(lx["rate_ratio"])

    def test_lock_table_same_columns_for_both(self):
        prof = stackcmp.profiles(self.recs, self.run_dir)
        base = prof[("refstack:base", "shortconn", 1)]["locks"]
        sources = [r["source"] for r in base]
        self.assertIn("refstack (counters)", sources)
        self.assertIn("kernel (perf lock)", sources)
        own = next(r for r in base if r["source"] == "refstack (counters)")
        conns = 1500 * 2          # datafix: 2 s windows
        self.assertAlmostEqual(own["contended"], conns // 20, delta=10)
        self.assertAlmostEqual(own["wait_max_us"], 900.0)
        self.assertAlmostEqual(own["wait_avg_us"], 50.0)
        self.assertEqual(set(own) - {"acquired"}, set(base[-1]) - {"acquired"})
        # a lock counted without wait times (lock_<name>, _contended): no waits
        acq = next(r for r in base if r["lock"] == "acceptq")
        self.assertAlmostEqual(acq["acquired"], 2 * conns, delta=10)
        self.assertIsNone(acq["wait_total_us"])
        self.assertIsNone(acq["wait_avg_us"])
        self.assertIsNotNone(prof[("linux", "shortconn", 2)]["tree"])

    def test_lock_table_keeps_the_stacks_own_locks_below_a_full_kernel_top(self):
        prof = stackcmp.profiles(self.recs, self.run_dir)
        key = ("refstack:base", "shortconn", 1)
        recs = stackcmp._groups(self.recs)[key]
        own = [r for r in stackcmp.lock_table(recs) if r["source"] == "refstack (counters)"]
        cut = stackcmp.lock_table(recs, top=1)
        self.assertEqual(sum(r["source"] == "kernel (perf lock)" for r in cut), 1)
        self.assertEqual([r["lock"] for r in cut if r["source"] == "refstack (counters)"],
                         [r["lock"] for r in own])
        self.assertTrue(own)
        self.assertEqual(len(prof[key]["locks"]), len(stackcmp.lock_table(recs)))

    def test_report_sections(self):
        md_path, _ = report.write_report(self.run, self.recs, self.run_dir)
        with open(md_path) as f:
            md = f.read()
        for head in ("## Servers that ran", "## Stacks side by side (ratios to linux)",
                     "## Ablation: refstack feature by feature",
                     "## Scalability: Universal Scalability Law",
                     "## Where the cycles went (perf record)", "## Lock contention",
                     "## Cells that cannot run here"):
            self.assertIn(head, md)
        self.assertIn("| listen | 1 | 3 | 1,800 | 1.200 [", md)
        self.assertIn("accept_local / conn", md)
        self.assertIn("too few points for a USL fit: 2 distinct core counts", md)
        self.assertIn("| refstack:base | shortconn | 1 | rs-crrd (refstack's native crr server) "
                      "(features base) |", md)
        self.assertIn("| linux | shortconn | 2 | tsload --server, 2 threads |", md)
        self.assertIn("ablation-shortconn.png", md)
        self.assertIn("| refstack (counters) | listen | refstack lock listen | 3,000 | 150 |", md)
        # other programs on the server's cores (linux's folded stacks: cc1 25 of 125)
        self.assertIn("| 0.0% | 0.0% | 20.0% |", md)
        self.assertIn("cell linux.shortconn.c1.r0: 20.0% of the busy samples on the "
                      "server's cores were other programs (cc1 20.0%)", md)
        self.assertNotIn("cell refstack-base.shortconn.c1.r0: ", md)
        self.assertRegex(md, r"\| refstack \(counters\) \| acceptq \| refstack lock acceptq "
                             r"\| 6,000 \| 29\.7 \| – \| – \| – \|")
        # the mechanism's columns first, in a fixed order
        self.assertIn("shared-lock acquisitions / conn | contended acquisitions / conn | "
                      "xcore_handoffs / conn | lookup_estab_global / conn | "
                      "accept_local / conn | accept_global / conn |", md)
        self.assertIn("| base | 1 | drop_handoff_full | 30 | 10.000 |", md)

    def test_collector_errors_name_cell_collector_and_host(self):
        recs = [dict(r) for r in self.recs if r["status"] == "ok"][:2]
        recs[0]["collectors"] = dict(recs[0]["collectors"],
                                     lock={"error": "perf lock contention exit 1: no data"})
        recs[1]["collectors"] = dict(recs[1]["collectors"],
                                     stack={"error": "rsctl found no statistics segment"})
        recs[1]["lab"] = {"kind": "ansible", "server": "lab-srv1"}
        lines = report.collector_errors(recs)
        self.assertEqual(lines, [
            f"cell {recs[0]['cell']['id']}, collector lock (host server): "
            "perf lock contention exit 1: no data",
            f"cell {recs[1]['cell']['id']}, collector stack (host lab-srv1): "
            "rsctl found no statistics segment"])
        md_path, _ = report.write_report(self.run, recs, self.run_dir)
        with open(md_path) as f:
            self.assertIn("## Collector errors", f.read())

    def test_lock_tables_say_when_refstack_counts_no_locks(self):
        recs = []
        for r in self.recs:
            r = dict(r, collectors=dict(r["collectors"]))
            st = r["collectors"].get("stack")
            if st:
                r["collectors"]["stack"] = dict(st, counters={
                    k: v for k, v in st["counters"].items() if not k.startswith("lock_")})
            recs.append(r)
        md_path, _ = report.write_report(self.run, recs, self.run_dir)
        with open(md_path) as f:
            md = f.read()
        self.assertEqual(md.count("refstack's own per-lock counters: none in these cells"),
                         6)                     # 3 feature sets x 2 core counts
        self.assertNotIn("shared-lock acquisitions / conn", md)

    def test_compare_within_one_run(self):
        env = dict(os.environ, TCPSCALE_REPORTS=self.dir)
        p = subprocess.run([TCPSCALE, "compare", self.run_id], capture_output=True,
                           text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(f"stacks of run {self.run_id}", p.stdout)
        self.assertIn("| refstack:full | 2 | 3 | 3,600 | 2.000 [", p.stdout)
        p = subprocess.run([TCPSCALE, "compare", self.run_id, "--baseline",
                            "refstack:base"], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertIn("| linux | 1 | 3 | 1,000 | 0.667 [", p.stdout)

    def test_html_flame_graphs_draw_and_plots_load(self):
        self.assertTrue(browser.available(), "chromium: run make deps")
        self.assertTrue(viewer.available(), "node_modules: run make deps")
        _, page = report.write_report(self.run, self.recs, self.run_dir)
        self.assertTrue(os.path.exists(os.path.join(self.run_dir, "assets",
                                                    "d3-flamegraph.min.js")))
        res = browser.check_page(page)
        self.assertEqual(browser.broken_images(res), [])
        self.assertTrue(any("ablation-shortconn.png" == i[0] for i in res["images"]))
        flames = dict(res["flames"])
        self.assertEqual(sorted(flames), ["fg-linux-shortconn", "fg-refstack-base-shortconn",
                                          "fg-refstack-full-shortconn",
                                          "fg-refstack-listen-shortconn"])
        # every frame of the merged tree is a rectangle
        self.assertTrue(all(n >= 4 for n in flames.values()), flames)


if __name__ == "__main__":
    unittest.main()
