"""The Ansible lab for real: hosts that are network namespaces each running
a real sshd (tests/harness/sshlab.py), reached by Ansible over SSH with a
key made here; the smoke suite through `tcpscale run --inventory`, the
tuning role run twice (the second changes nothing) and in --check mode, a
failed task and an unreachable host (at deploy, and between cells) stopping
a run, Ctrl-C (SIGINT to the run's process group, as a terminal sends it)
in a cell's measured window, ansible-lint on the whole tree; each run that
stops keeps its finished cells and leaves no process on the hosts.  Needs root; long parts are skipped with TCPSCALE_QUICK=1.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import sshlab                                # noqa: E402
from harness import REPO_ROOT, store         # noqa: E402
from harness import ansible_run as A         # noqa: E402

TCPSCALE = os.path.join(REPO_ROOT, "tcpscale")
QUICK = os.environ.get("TCPSCALE_QUICK") == "1"
ANSIBLE_ENV = {"ANSIBLE_CONFIG": os.path.join(A.ANSIBLE_DIR, "ansible.cfg")}
# two cells of 0.5 s: enough to see a run stop after its first cell
FAIL_SUITE = """
[suite]
name = "ansible-fail"
stacks = ["linux"]
workloads = ["shortconn", "haproxy"]
cores = [1]
repetitions = 1
runtime = "0.5s"
ramp_time = "0s"
[workload.shortconn]
job = "{jobs}/shortconn.ini"
concurrency = 4
[workload.haproxy]
job = "{jobs}/haproxy.ini"
concurrency = 4
"""


def leftovers(lab):
    """Processes on the lab's hosts other than sshd (its listener and sessions)."""
    return {h: [p for p in lab.host_processes(h) if p[1] not in ("sshd", None)]
            for h in sshlab.HOSTS}


def wait_for_line(path, pattern, proc, timeout=120):
    """Until a line of the file matches (the run's live output); the match."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path) as f:
            m = re.search(pattern, f.read(), re.M)
        if m:
            return m
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    with open(path) as f:
        raise AssertionError("no line %r (exit %s) in:\n%s" % (pattern, proc.poll(),
                                                                 f.read()[-3000:]))


def wait_for_processes(lab, wanted, proc, timeout=120):
    """Until each host runs a process named wanted[host] (None: any); the processes.
    Polled, not slept for: under load the window's programs start late."""
    deadline = time.monotonic() + timeout
    while True:
        running = leftovers(lab)
        if all(any(name is None or p[1] == name for p in running[h]) for h, name in wanted.items()):
            return running
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("not running %r (run exit %s): %r" % (wanted, proc.poll(), running))
        time.sleep(0.05)


def records(reports):
    runs = store.list_runs(reports)
    run, recs, _ = store.load_run(reports, runs[-1]["run_id"])
    return run, {r["cell"]["id"]: r for r in recs}


@unittest.skipIf(QUICK, "TCPSCALE_QUICK=1: long integration test skipped")
class AnsibleLabTest(unittest.TestCase):
    """One sshd-namespace lab, one smoke run through it, then the rest."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tcpscale-ansible-")
        cls.lab = sshlab.SshLab("tcps-a%d" % (os.getpid() % 10000),
                                os.path.join(cls.tmp, "lab"), cores=2).up()
        cls.reports = os.path.join(cls.tmp, "reports")
        home = os.path.join(cls.tmp, "lint-home")   # ansible-lint beside the smoke run
        cls.lint = subprocess.Popen(
            ["ansible-lint", "--offline", "--nocolor"], cwd=A.ANSIBLE_DIR, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=dict(os.environ, HOME=home, ANSIBLE_HOME=home, XDG_CACHE_HOME=home, **ANSIBLE_ENV))
        cls.smoke = cls.tcpscale("run", "smoke", "--inventory", sshlab.INVENTORY)

    @classmethod
    def tearDownClass(cls):
        if cls.lint.poll() is None:
            cls.lint.kill()
            cls.lint.wait()
        cls.lab.down()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def tcpscale(cls, *args, reports=None, timeout=600):
        return cls.lab.run([TCPSCALE] + list(args), timeout=timeout, extra_env={
            "TCPSCALE_REPORTS": reports or cls.reports})

    def playbook(self, name, *args):
        res = self.lab.run(["ansible-playbook", "-i", sshlab.INVENTORY,
                            os.path.join(A.PLAYBOOKS, name)] + list(args),
                           extra_env=dict(ANSIBLE_ENV, ANSIBLE_STDOUT_CALLBACK="tcpscale_json"))
        data = json.loads(res.stdout[res.stdout.find("{"):])
        return res, data

    def read_mask(self, host, path):
        out = subprocess.run(["ip", "netns", "exec", self.lab.netns[host], "cat", path],
                             capture_output=True, text=True)
        return out.stdout.strip()

    # -- the smoke suite through the inventory -------------------------------------
    def test_smoke_runs_on_the_inventory(self):
        p = self.smoke
        self.assertEqual(p.returncode, 0, p.stdout[-2000:] + p.stderr[-3000:])
        self.assertIn("complete: 3 ok, 0 failed", p.stdout)
        run, recs = records(self.reports)
        self.assertEqual(run["lab"]["kind"], "ansible")
        self.assertEqual(run["lab"]["inventory"], sshlab.INVENTORY)
        self.assertEqual(sorted(recs), ["linux.haproxy.c1.r0", "linux.nginx.c1.r0",
                                        "linux.shortconn.c1.r0"])
        for cid, rec in recs.items():
            self.assertEqual(rec["status"], "ok", rec["error"])
            self.assertEqual(rec["lab"]["kind"], "ansible", cid)      # the record says which lab
            self.assertGreater(rec["metrics"]["rate"], 0, cid)
            self.assertGreater(rec["metrics"]["transactions"], 0, cid)
            self.assertEqual(rec["metrics"]["errors"], 0, cid)
            coll = rec["collectors"]
            self.assertGreater(coll["snmp"]["PassiveOpens"], 0, cid)
            self.assertIn("client", coll["snmp_hosts"])
            self.assertGreater(coll["snmp_hosts"]["client"]["ActiveOpens"], 0, cid)
            self.assertGreater(coll["procs"]["count"], 0, cid)
            tsload = os.path.join(self.reports, rec["run_id"], "raw", rec["artefacts"]["tsload"])
            self.assertTrue(os.path.exists(tsload), tsload)
        self.assertIn("nginx", recs["linux.nginx.c1.r0"]["servers"])
        self.assertEqual(recs["linux.haproxy.c1.r0"]["tuning"]["server"]["program"], "haproxy")
        # the environment is the lab hosts' (the machine under test first), not the controller's
        env = recs["linux.nginx.c1.r0"]["env"]
        self.assertEqual((env["host"], env["cores"]), ("server1", os.cpu_count()))
        self.assertEqual(sorted(env["hosts"]), sorted(sshlab.HOSTS))
        nics = env["hosts"]["server1"]["nics"]
        self.assertEqual(sorted(nics), ["data0", "data1", "mgmt0"])
        self.assertEqual(nics["data0"]["driver"], "veth")
        self.assertEqual((nics["data0"]["rx_queues"], nics["data0"]["tx_queues"]), (2, 2))
        self.assertEqual(env["hosts"]["client1"]["role"], "client")
        self.assertEqual(env["controller"]["host"], os.uname().nodename)
        self.assertEqual(len(env["loadavg"]), 3)     # read on server1 by the deploy
        self.assertEqual(env["loadavg"], env["hosts"]["server1"]["loadavg"])
        report = os.path.join(self.reports, run["run_id"], "report.md")
        with open(report) as f:
            text = f.read()
        self.assertIn("Lab (Ansible inventory", text)
        self.assertRegex(text, r"- server server1: .*, kernel %s .*; NICs: data0 \(veth, "
                               % re.escape(os.uname().release))
        self.assertIn("- controller ", text)
        self.assertIn("What the tuning role found and set on server1 (1 cores, first cell)", text)
        self.assertRegex(text, r"data0/channels: rx 1 tx 1 \((set, was |unchanged)")

    def test_tuning_is_recorded_with_what_cannot_apply(self):
        _run, recs = records(self.reports)
        hosts = recs["linux.shortconn.c1.r0"]["tuning"]["hosts"]
        self.assertEqual(sorted(hosts), ["backend1", "client1", "server1"])
        srv = hosts["server1"]
        # a veth has no IRQs and no ntuple filters: recorded, not failed, not faked
        self.assertTrue(srv["data0/irq_affinity"]["status"].startswith("not applicable"), srv)
        self.assertTrue(srv["data1/ntuple"]["status"].startswith("not applicable"), srv)
        self.assertIn(srv["data0/channels"]["status"], ("set", "unchanged"))
        self.assertEqual(srv["data0/channels"]["want"], "rx 1 tx 1")
        self.assertEqual(srv["data0/rx-0/rps_cpus"]["want"], "1")
        self.assertIn(srv["sysctl/net.core.somaxconn"]["status"], ("set", "unchanged"))

    def test_no_process_left_on_the_hosts(self):
        self.assertEqual(leftovers(self.lab), {h: [] for h in sshlab.HOSTS})

    # -- the tuning role -------------------------------------------------------------
    def test_tuning_twice_changes_nothing_and_check_mode_writes_nothing(self):
        res, first = self.playbook("tune.yml", "-e", "tcpscale_tune_cores=2")
        self.assertEqual(res.returncode, 0, res.stderr[-2000:])
        second_res, second = self.playbook("tune.yml", "-e", "tcpscale_tune_cores=2")
        self.assertEqual(second_res.returncode, 0, second_res.stderr[-2000:])
        self.assertEqual({h: s["changed"] for h, s in second["stats"].items()},
                         {h: 0 for h in sshlab.HOSTS})
        statuses = {e["status"] for t in second["global_custom_stats"]["tuning"].values()
                    for e in t.values()}
        self.assertLessEqual({s.split(":")[0] for s in statuses}, {"unchanged", "not applicable"})
        rps = "/sys/class/net/data0/queues/rx-1/rps_cpus"
        self.assertEqual(int(self.read_mask("server1", rps).replace(",", ""), 16), 2)
        # --check with another core count: says what it would set, sets nothing
        res, check = self.playbook("tune.yml", "-e", "tcpscale_tune_cores=1", "--check")
        self.assertEqual(res.returncode, 0, res.stderr[-2000:])
        srv = check["global_custom_stats"]["tuning"]["server1"]
        self.assertEqual(srv["data0/channels"]["status"], "would set")
        self.assertEqual(srv["data0/rx-1/rps_cpus"]["status"], "would set")
        self.assertEqual(int(self.read_mask("server1", rps).replace(",", ""), 16), 2)

    def test_tuning_an_interface_the_host_lacks_names_host_and_task(self):
        inv = os.path.join(self.tmp, "bad-iface.yml")
        with open(sshlab.INVENTORY) as f:
            text = f.read().replace("tcpscale_tune_ifaces: [data0, data1]",
                                    "tcpscale_tune_ifaces: [data0, nosuch0]")
        with open(inv, "w") as f:
            f.write(text)
        res = self.lab.run(["/usr/bin/python3", "-c", (
            "import sys; sys.path.insert(0, %r); from harness import ansible_run as A; "
            "r = A.playbook(%r, 'tune.yml', {'tcpscale_tune_cores': 1}, %r); print(r.error())")
            % (REPO_ROOT, inv, os.path.join(self.tmp, "bad-iface.json"))])
        self.assertIn("host server1, task 'tcpscale_tune : Tune the host for the cell': "
                      "interface nosuch0 (tcpscale_tune_ifaces) does not exist", res.stdout)

    # -- failures stop the run ----------------------------------------------------------
    def _fail_suite(self):
        path = os.path.join(self.tmp, "ansible-fail.toml")
        with open(path, "w") as f:
            f.write(FAIL_SUITE.format(jobs=os.path.join(REPO_ROOT, "profiles", "jobs")))
        return path

    def test_failed_task_stops_the_run_and_keeps_finished_cells(self):
        inv = os.path.join(self.tmp, "bad-origin.yml")
        with open(sshlab.INVENTORY) as f:   # an origin address backend1 does not have
            text = f.read().replace("[198.18.11.2, 198.18.11.3]", "[198.18.11.2, 198.18.11.9]")
        with open(inv, "w") as f:
            f.write(text)
        reports = os.path.join(self.tmp, "reports-fail")
        p = self.tcpscale("run", self._fail_suite(), "--inventory", inv, reports=reports)
        self.assertEqual(p.returncode, 1, p.stdout[-2000:])
        self.assertIn("failed: 1 ok, 1 failed, 2 of 2 cells", p.stdout)
        self.assertIn("host backend1, task 'tcpscale_cell : Start the cell's servers': origin "
                      "on host backend1 exited with code", p.stdout)
        run, recs = records(reports)
        self.assertEqual(run["status"], "failed")
        self.assertIn("host backend1", run["error"])
        self.assertEqual(recs["linux.shortconn.c1.r0"]["status"], "ok")
        self.assertGreater(recs["linux.shortconn.c1.r0"]["metrics"]["rate"], 0)
        self.assertEqual(recs["linux.haproxy.c1.r0"]["status"], "error")
        self.assertEqual(leftovers(self.lab), {h: [] for h in sshlab.HOSTS})

    def _start_run(self, suite, name):
        reports = os.path.join(self.tmp, "reports-" + name)
        out, err = (os.path.join(self.tmp, "%s.%s" % (name, x)) for x in ("out", "err"))
        proc = self.lab.start([TCPSCALE, "run", suite, "--inventory", sshlab.INVENTORY],
                              out, err, extra_env={"TCPSCALE_REPORTS": reports})
        return proc, reports, out, err

    def _finish_run(self, proc, out):
        try:
            proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        with open(out) as f:
            return f.read()

    def test_host_unreachable_after_a_cell_stops_the_run_naming_it(self):
        proc, reports, out, err = self._start_run(self._fail_suite(), "unreachable")
        try:
            wait_for_line(err, r"^\[cell 1/2\] ok +linux\.shortconn", proc)
            self.lab.kill_sshd("backend1")          # and its sessions: Ansible's too
            text = self._finish_run(proc, out)
        finally:
            if "backend1" not in self.lab.sshd:
                self.lab._start_sshd("backend1")
                self.lab.wait_ssh("backend1")
        self.assertEqual(proc.returncode, 1, text[-2000:])
        self.assertRegex(text, r"failed: cell linux\.haproxy\.c1\.r0: host backend1, "
                               r"task 'tcpscale_cell : Start the cell's servers': "
                               r"unreachable: ")
        run, recs = records(reports)
        self.assertEqual(run["status"], "failed")
        self.assertIn("host backend1", run["error"])
        self.assertEqual(recs["linux.shortconn.c1.r0"]["status"], "ok")
        self.assertGreater(recs["linux.shortconn.c1.r0"]["metrics"]["rate"], 0)
        self.assertEqual(recs["linux.haproxy.c1.r0"]["status"], "error")
        self.assertEqual(leftovers(self.lab), {h: [] for h in sshlab.HOSTS})

    def test_host_unreachable_at_deploy_stops_the_run_naming_it(self):
        reports = os.path.join(self.tmp, "reports-unreachable-deploy")
        self.lab.kill_sshd("backend1")
        try:
            p = self.tcpscale("run", self._fail_suite(), "--inventory", sshlab.INVENTORY,
                              reports=reports)
        finally:
            self.lab._start_sshd("backend1")
            self.lab.wait_ssh("backend1")
        self.assertEqual(p.returncode, 1, p.stdout[-2000:])
        self.assertRegex(p.stdout, r"error: lab: deploy: host backend1, task '[^']+': "
                                   r"unreachable: ")
        run, _recs = records(reports)
        self.assertEqual(run["status"], "failed")
        self.assertEqual(leftovers(self.lab), {h: [] for h in sshlab.HOSTS})

    def test_ctrl_c_stops_the_run_keeps_cells_names_where_and_cleans_the_hosts(self):
        suite = os.path.join(self.tmp, "ansible-ctrl-c.toml")
        with open(self._fail_suite()) as f, open(suite, "w") as g:
            # a window long enough for a loaded machine to start the client in it
            g.write(f.read().replace('runtime = "0.5s"', 'runtime = "8s"'))
        proc, reports, out, err = self._start_run(suite, "ctrl-c")
        # the live progress names the task while it runs: Ctrl-C in cell 2's window
        wait_for_line(err, r"^\[cell 2/2\] linux haproxy[^\n]*\n(  .*\n)*"
                           r"  cell: task 'tcpscale_cell : Run the measured window'", proc)
        wait_for_processes(self.lab, {"client1": "tsload", "backend1": None}, proc)
        os.killpg(proc.pid, signal.SIGINT)          # what a terminal's Ctrl-C does
        text = self._finish_run(proc, out)
        self.assertEqual(proc.returncode, 130, text[-2000:])
        self.assertRegex(text, r"error: cell linux\.haproxy\.c1\.r0 interrupted \(Ctrl-C or "
                               r"SIGTERM\) in cell: task 'tcpscale_cell : Run the measured "
                               r"window' on host\(s\) [a-z0-9, ]*client1[a-z0-9, ]*; its "
                               r"processes were stopped on every host")
        self.assertIn("interrupted: the ", text)
        run, recs = records(reports)
        self.assertEqual(run["status"], "interrupted")
        # the tree deployed again, unchanged since the smoke run: no change on any host
        self.assertEqual(run["lab"]["deploy_changed"], {h: 0 for h in sshlab.HOSTS})
        self.assertEqual(recs["linux.shortconn.c1.r0"]["status"], "ok")
        self.assertGreater(recs["linux.shortconn.c1.r0"]["metrics"]["rate"], 0)
        self.assertEqual(recs["linux.haproxy.c1.r0"]["status"], "interrupted")
        self.assertEqual(leftovers(self.lab), {h: [] for h in sshlab.HOSTS})
        with self.assertRaises(ProcessLookupError):  # nothing of the run on the controller
            os.killpg(proc.pid, 0)

    # -- the mtcp stack on a lab without mTCP -------------------------------------------
    def test_mtcp_without_an_installation_says_what_to_configure(self):
        inv = os.path.join(self.tmp, "mtcp.yml")
        with open(sshlab.INVENTORY) as f:
            text = f.read().replace("          tcpscale_cores: 2\n", "          tcpscale_cores: 2\n"
                                    "          tcpscale_mtcp_home: /nonexistent/mtcp\n")
        with open(inv, "w") as f:
            f.write(text)
        suite = self._fail_suite().replace("ansible-fail", "mtcp")
        with open(self._fail_suite()) as f, open(suite, "w") as g:
            g.write(f.read().replace('["linux"]', '["mtcp"]').replace('"haproxy"]', '"nginx"]')
                    .replace("[workload.haproxy]", "[workload.nginx]")
                    .replace("haproxy.ini", "nginx.ini"))
        reports = os.path.join(self.tmp, "reports-mtcp")
        p = self.tcpscale("run", suite, "--inventory", inv, reports=reports)
        self.assertEqual(p.returncode, 1, p.stdout[-2000:] + p.stderr[-2000:])
        _run, recs = records(reports)
        sc, ngx = recs["mtcp.shortconn.c1.r0"], recs["mtcp.nginx.c1.r0"]
        self.assertEqual(sc["status"], "cannot-run")
        self.assertIn("no mTCP equivalent", sc["error"])
        self.assertEqual(ngx["status"], "error")
        self.assertIn("stack mtcp: missing /nonexistent/mtcp/apps/example/epserver on host "
                      "server1 (build mTCP's example apps there", ngx["error"])

    # -- lint ------------------------------------------------------------------------
    def test_ansible_lint_passes_on_the_whole_tree(self):
        out, _ = self.lint.communicate(timeout=300)
        self.assertEqual(self.lint.returncode, 0, out[-3000:])
        self.assertIn("Passed", out)


if __name__ == "__main__":
    unittest.main()
