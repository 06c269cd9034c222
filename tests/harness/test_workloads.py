"""Workloads on the linux stack: one short real cell per workload (real
tsload, nginx, haproxy), collectors off, a server dying mid-run, Ctrl-C."""

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from harness import lab as L               # noqa: E402
from harness import procs                  # noqa: E402
from harness import workloads as W         # noqa: E402
from harness.workloads import servers as S  # noqa: E402
from harness.workloads import client as CL  # noqa: E402

CORES = min(2, os.cpu_count() or 1)
HAVE_TSLOAD = os.access(S.TSLOAD, os.X_OK)


def cell(workload, cores=1, runtime=1.5, ramp=0.5, collectors=True, **opts):
    opts.setdefault("concurrency", 8)
    return {"id": "linux.%s.c%d.r0%s" % (workload, cores, "" if collectors else ".nocoll"),
            "stack": "linux", "workload": workload, "cores": cores, "rep": 0,
            "runtime_s": runtime, "ramp_s": ramp,
            "job": "profiles/jobs/%s.ini" % workload, "job_options": opts,
            "collectors": collectors}


class CellChecksTest(unittest.TestCase):
    """Cells that cannot run are refused before anything starts."""

    class FakeLab:            # only .cores is read by check_cell
        cores = 1

    def test_stack_that_cannot_run_a_workload(self):
        from harness import registry
        # a refstack cell this build cannot run: without the shim nginx
        # (only shortconn runs, natively); with the shim and no forked
        # workers, nginx on 2 cores
        picks = [c for c in (dict(cell("nginx", cores=n), stack="refstack:base")
                             for n in range(1, CORES + 1)) if registry.cannot_run(c)]
        if not picks:
            self.skipTest("this build runs every refstack cell this machine has cores for")
        c = picks[0]

        class Lab:
            cores = c["cores"]
        with self.assertRaises(W.CannotRun) as cm:
            W.check_cell(Lab, c)
        self.assertIn("cannot run", str(cm.exception))
        self.assertIn(c["id"], str(cm.exception))
        res = W.run_cell(Lab, c, "/nonexistent")   # nothing starts
        self.assertEqual(res["status"], "cannot-run")
        self.assertIn("refstack", res["error"])

    def test_bad_workload_cores_job(self):
        for bad in ({"workload": "ftp"}, {"cores": 0}, {"cores": 2},
                    {"job": "profiles/jobs/nope.ini"}):
            c = cell("shortconn")
            c.update(bad)
            with self.assertRaises(W.CellError, msg=str(bad)):
                W.check_cell(self.FakeLab, c)

    def test_harness_keys_not_overridable(self):
        lab = L.Lab(1, prefix="tcps-tw0")          # never brought up
        c = cell("shortconn", port=1)
        from harness.workloads.client import client_argv
        with self.assertRaises(ValueError):
            client_argv(c, "x.ini", lab.addrs["server"], 1, "out.json")


class FreshTsloadTest(unittest.TestCase):
    """The two sides of a pair with the reference build run from fresh
    copies at paths of one length, removed after the cell."""

    def test_paths_of_one_length(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        builds = [os.path.join(d, "ts"), os.path.join(d, "a-longer", "tsload")]
        os.makedirs(os.path.dirname(builds[1]))
        for i, b in enumerate(builds):
            with open(b, "w") as f:
                f.write("#!/bin/sh\necho %d\n" % i)
            os.chmod(b, 0o755)
        c = cell("shortconn")
        with S.staged(c, "x.run", "x.json") as same:      # not asked for: untouched
            self.assertEqual(same, (c, "x.run", "x.json"))
        seen = []
        for b, cid in zip(builds, ("linux.nginx.c1.r0", "linux.nginx.c1.r0.reference")):
            side = dict(c, fresh_tsload=True, tsload=b, id=cid)
            rundir = os.path.join(d, cid + ".run")
            outfile = os.path.join(d, cid + ".tsload.json")
            os.makedirs(rundir)
            with S.staged(side, rundir, outfile) as (staged, run_at, out_at):
                path = S.tsload_of(staged)
                self.assertTrue(os.access(path, os.X_OK))
                with open(path, "rb") as f, open(S.tsload_of(side), "rb") as g:
                    self.assertEqual(f.read(), g.read())
                # what the programs write through the staged paths lands in
                # the cell's own files
                with open(os.path.join(run_at, "server.log"), "w") as f:
                    f.write("s")
                with open(out_at, "w") as f:
                    f.write("{}")
                self.assertEqual(S.unstage(staged, os.path.join(run_at, "server.log")),
                                 os.path.join(rundir, "server.log"))
                self.assertEqual(S.unstage(staged, "/elsewhere/x"), "/elsewhere/x")
                seen.append((path, run_at, out_at))
            self.assertFalse(os.path.exists(os.path.dirname(path)))
            self.assertTrue(os.path.exists(os.path.join(rundir, "server.log")))
            self.assertTrue(os.path.exists(outfile))
        for a, b in zip(*seen):
            self.assertEqual(len(a), len(b))
            self.assertNotEqual(a, b)


class ClientHelpersTest(unittest.TestCase):
    def test_parse_interval(self):
        line = "tsload: t=2.0 tps=8483.5 cps=8483.5 errors=3 p99_us=812.5 job=shortconn"
        self.assertEqual(CL.parse_interval(line), (2.0, 8483.5, 3))
        for other in ("tsload server: listening on 198.18.10.2:5001",
                      "tsload: Interrupt, stopping", "", "t=1 tps=2 errors=3"):
            self.assertIsNone(CL.parse_interval(other), other)

    def test_job_values_and_argv(self):
        job = os.path.join(ROOT, "profiles", "jobs", "shortconn.ini")
        self.assertEqual(CL.job_values(job), {"req_size": "64", "resp_size": "64"})
        c = cell("shortconn", runtime=2.5, ramp=0.5, concurrency=16, keepalive=True)
        argv = CL.client_argv(c, job, "198.18.10.2", 5001, "/tmp/x.json")
        self.assertEqual(argv[:2], [S.TSLOAD, job])
        for opt in ("--host=198.18.10.2", "--port=5001", "--runtime=2500ms",
                    "--ramp_time=500ms", "--log_interval=1s", "--output-format=json",
                    "--output=/tmp/x.json", "--concurrency=16", "--keepalive=1"):
            self.assertIn(opt, argv)

    def test_server_templates_render(self):
        self.assertEqual(S._affinity_masks(3), "001 010 100")
        conf = S.render("haproxy.cfg.in", {"threads": 2, "rundir": "/r", "maxconn": 1000,
                                           "cpu_map_lines": "", "listen": "a:1",
                                           "server_lines": ""})
        self.assertIn("option httpclose", conf)
        self.assertIn("nbthread 2", conf)
        with self.assertRaises(KeyError):               # a placeholder left unfilled
            S.render("nginx.conf.in", {"workers": 1})


@unittest.skipUnless(HAVE_TSLOAD, "loadgen/tsload not built (make -C loadgen)")
class RealCellsTest(unittest.TestCase):
    PREFIX = "tcps-t-w%d" % (os.getpid() % 10000)

    @classmethod
    def setUpClass(cls):
        for prefix in L.list_labs("tcps-t"):      # test labs of killed runs
            L.cleanup_stale(prefix)
        cls.lab = L.Lab(CORES, prefix=cls.PREFIX)
        cls.lab.up()
        cls.dir = tempfile.mkdtemp(prefix="tcps-test-workloads-")

    @classmethod
    def tearDownClass(cls):
        cls.lab.down()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_cell(self, c):
        ticks = []
        t0 = time.monotonic()
        res = W.run_cell(self.lab, c, self.dir, on_interval=lambda *a: ticks.append(a))
        res["_elapsed"] = time.monotonic() - t0
        res["_ticks"] = ticks
        # nothing of the cell is left running
        self.assertEqual(self.lab.status()["processes"], [], c["id"])
        return res

    def check_ok(self, res, c):
        self.assertEqual(res["status"], "ok", res["error"])
        self.assertIsNone(res["error"])
        job = res["tsload"]["jobs"][0]
        self.assertGreater(job["transactions"], 0)
        self.assertEqual(job["options"]["concurrency"], c["job_options"]["concurrency"])
        self.assertTrue(res["_ticks"], "no live interval line reached on_interval")
        for name, rel in res["artefacts"].items():
            self.assertTrue(os.path.exists(os.path.join(self.dir, rel)), name)
        self.assertIn("tsload", res["artefacts"])
        self.assertEqual(res["tuning"]["server_cpus"], procs.cpu_list(c["cores"]))
        self.assertEqual(res["tuning"]["lab"]["sysctls_set"], L.SYSCTLS)
        coll = res["collectors"]
        self.assertGreater(coll["procs"]["user_s"] + coll["procs"]["sys_s"], 0)
        self.assertGreater(coll["perf"]["events"]["task-clock"], 0)
        return job, coll

    def test_shortconn(self):
        c = cell("shortconn", cores=CORES)
        job, coll = self.check_ok(self.run_cell(c), c)
        # one connection per transaction: the server saw about as many
        # passive opens as tsload counted (the two windows agree to ~0.1 s;
        # the bound is loose for a loaded machine)
        self.assertGreaterEqual(coll["snmp"]["PassiveOpens"], 0.5 * job["connections"])
        self.assertEqual(coll["snmp"]["ActiveOpens"], 0)

    def test_keepalive(self):
        c = cell("keepalive")
        job, coll = self.check_ok(self.run_cell(c), c)
        # persistent connections: many transactions, almost no new connections
        self.assertLess(coll["snmp"]["PassiveOpens"], 0.1 * job["transactions"])

    def test_nginx(self):
        c = cell("nginx")
        res = self.run_cell(c)
        job, coll = self.check_ok(res, c)
        self.assertEqual(res["servers"]["nginx"], "1.22.1")
        self.assertEqual(job["errors"]["http_status"], 0)
        self.assertGreaterEqual(coll["snmp"]["PassiveOpens"], 0.5 * job["transactions"])
        self.assertIn("nginx", coll["procs"]["by_name"])
        self.assertIn("nginx_conf", res["artefacts"])

    def test_haproxy(self):
        c = cell("haproxy")
        res = self.run_cell(c)
        job, coll = self.check_ok(res, c)
        self.assertIn("haproxy", res["servers"])
        self.assertEqual(job["errors"]["http_status"], 0)
        # keep-alive off on both sides: an active open from the server host
        # and a passive open on the backend host for every request
        self.assertGreaterEqual(coll["snmp"]["ActiveOpens"], 0.5 * job["transactions"])
        self.assertGreaterEqual(coll["snmp_hosts"]["backend"]["PassiveOpens"],
                                0.5 * job["transactions"])
        self.assertIn("haproxy", coll["procs"]["by_name"])

    def test_fresh_tsload_is_what_runs(self):
        """Server and client of a pair's cell run from the fresh copy, with
        the staged paths, and their output is the cell's."""
        log = os.path.join(self.dir, "argv0.log")
        wrapper = os.path.join(self.dir, "tsload-wrapper")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\necho "$0" "$@" >>%s\nexec %s "$@"\n' % (log, S.TSLOAD))
        os.chmod(wrapper, 0o755)
        c = dict(cell("shortconn"), tsload=wrapper,
                 fresh_tsload=True)
        res = self.run_cell(c)
        self.check_ok(res, c)
        with open(log) as f:
            ran = [line.split() for line in f]
        self.assertEqual(len(ran), 2, ran)           # server and client
        staged = r"^%s/tcpscale-bin-[^/]{8}/" % tempfile.gettempdir()
        for argv in ran:
            self.assertRegex(argv[0], staged + "tsload$")
            self.assertFalse(os.path.exists(argv[0]))
        outputs = [a.split("=", 1)[1] for argv in ran for a in argv
                   if a.startswith("--output=")]
        self.assertRegex(outputs[0], staged + "run/tsload-server.json$")
        self.assertRegex(outputs[1], staged + "out.json$")
        # and what they wrote is the cell's, where an unstaged cell has it
        self.assertIn("tsload_server", res["artefacts"])
        self.assertTrue(res["artefacts"]["tsload_server"].startswith(c["id"] + ".run/"))

    def test_collectors_off(self):
        c = cell("shortconn", collectors=False)
        res = self.run_cell(c)
        self.assertEqual(res["status"], "ok", res["error"])
        self.assertEqual(res["collectors"], {})
        self.assertNotIn("perf", res["artefacts"])
        self.assertGreater(res["tsload"]["jobs"][0]["transactions"], 0)

    def _kill_server_later(self, name, delay):
        """SIGKILL the server `name` delay s after it started (not after the
        cell did: the cell's set-up takes its own time on a loaded machine)."""
        def kill():
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                found = [p for p in self.lab.status()["processes"] if p["name"] == name]
                if found:
                    break
                time.sleep(0.05)
            time.sleep(delay)
            for p in found:
                procs.signal_pid(p["pid"], signal.SIGKILL, p["start"])
        t = threading.Thread(target=kill, daemon=True)
        t.start()
        return t

    def test_dead_server_is_an_error_not_a_hang(self):
        c = cell("shortconn", runtime=20)
        t = self._kill_server_later("tsload-server", 1.5)
        res = self.run_cell(c)
        t.join()
        self.assertEqual(res["status"], "error")
        self.assertIn("tsload-server on host server", res["error"])
        self.assertIn(c["id"], res["error"])
        self.assertLess(res["_elapsed"], 12)

    def test_dead_origin_behind_haproxy(self):
        c = cell("haproxy", runtime=20)
        t = self._kill_server_later("origin", 1.5)
        res = self.run_cell(c)
        t.join()
        self.assertEqual(res["status"], "error")
        self.assertIn("origin on host backend", res["error"])
        self.assertLess(res["_elapsed"], 12)
        # the killed master's orphaned workers were found and killed too
        self.assertTrue(any(s.startswith("nginx pid") and s.endswith("on host backend")
                            for s in res["server_exit"]["strays_killed"]), res["server_exit"])
        self.assertEqual(self.lab.status()["hosts"]["backend"]["pids"], [])

    def silent_listener(self, name):
        """A program on the server host that listens on 198.18.10.2:80 and
        never accepts: the kernel completes handshakes, nothing answers."""
        return self.lab.spawn("server", ["/usr/bin/python3", "-c",
                                         "import socket,time; s=socket.socket(); "
                                         "s.setsockopt(socket.SOL_SOCKET, "
                                         "socket.SO_REUSEADDR, 1); "
                                         "s.bind(('198.18.10.2', 80)); s.listen(); "
                                         "time.sleep(60)"], name=name)

    def test_http_probe_waits_for_an_answer(self):
        """A listening socket whose program does not serve yet (nginx's
        master before its worker runs) takes handshakes in the kernel: the
        HTTP probe waits for a 200, the bare connect does not."""
        mute = self.silent_listener("mute")
        try:
            S.wait_accepting(self.lab, "client", [("198.18.10.2", 80)], [])
            t0 = time.monotonic()
            with self.assertRaises(S.ServerError) as e:
                S.wait_accepting(self.lab, "client", [("198.18.10.2", 80)], [],
                                 timeout=1.0, path=S.HTTP_PROBE_PATH)
            self.assertGreaterEqual(time.monotonic() - t0, 1.0)
            self.assertIn("198.18.10.2:80", str(e.exception))
        finally:
            self.lab.stop(mute)

    def test_server_that_cannot_start_names_host_and_cell(self):
        # something else already listens on the server's HTTP port
        blocker = self.silent_listener("blocker")
        try:
            S.wait_accepting(self.lab, "server", [("198.18.10.2", 80)], [])
            c = cell("nginx")
            res = W.run_cell(self.lab, c, self.dir)
        finally:
            self.lab.stop(blocker)
        self.assertEqual(res["status"], "error")
        self.assertIn(c["id"], res["error"])
        self.assertIn("cannot start nginx on host server: port 80 is already in use by "
                      "python3 pid %d" % blocker.pid, res["error"])
        self.assertIsNone(res["tsload"])
        self.assertEqual(self.lab.status()["processes"], [])

    def test_ctrl_c_keeps_what_was_measured(self):
        c = cell("shortconn", runtime=20)
        timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            res = self.run_cell(c)
        finally:
            timer.cancel()
        self.assertEqual(res["status"], "interrupted")
        self.assertIn(c["id"], res["error"])
        self.assertLess(res["_elapsed"], 12)
        self.assertIsNotNone(res["tsload"], "tsload's partial JSON was lost")
        self.assertTrue(res["tsload"]["interrupted"])


if __name__ == "__main__":
    unittest.main()
