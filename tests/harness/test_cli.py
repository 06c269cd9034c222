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


class ProgressTest(unittest.TestCase):
    """The live status line and the end-of-run summary (exact text)."""

    def cells(self):
        from harness import plan
        return plan.build_plan(dict(datafix.SUITE, repetitions=2))

    def test_status_line(self):
        from harness import progress
        cell = self.cells()[1]
        self.assertEqual(
            progress.format_status(3, 12, cell, 42, 190, 12345.4, "conn/s",
                                   0),
            "[cell 3/12] linux shortconn c=2 r=0  elapsed 0:42 ETA 3:10  "
            "rate 12,345 conn/s")
        off = dict(cell, collectors=False)
        self.assertIn("c=2 r=0 collectors-off  elapsed 0:00 ETA 0:01  "
                      "errors 7", progress.format_status(
                          1, 2, off, 0, 1, None, "conn/s", 7))

    def test_log_mode_and_tty_mode(self):
        import io
        from harness import progress
        cells = self.cells()
        rec = datafix.record("r", "shortconn", 1, 0, 1500.0)
        out = io.StringIO()
        p = progress.Progress(cells, out, tty=False)
        p.start_cell(0, cells[0])
        eta_start = p.eta_s()
        p.interval(1.0, 1400.0, 0)
        p.end_cell(rec)
        self.assertLess(p.eta_s(), eta_start)
        p.close()
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 2)  # no interval spam in a log
        self.assertTrue(lines[0].startswith("[cell 1/4] linux shortconn c=1"))
        self.assertRegex(lines[1], r"^\[cell 1/4\] ok +linux\.shortconn\.c1"
                                   r"\.r0  1,500 conn/s  p99 400 us  "
                                   r"\(3\.0 s\)$")
        out = io.StringIO()
        p = progress.Progress(cells, out, tty=True)
        p.start_cell(0, cells[0])
        p.interval(1.0, 1400.0, 2)
        p.close()
        self.assertIn("\r\033[K[cell 1/4]", out.getvalue())
        self.assertIn("rate 1,400 conn/s  errors 2", out.getvalue())

    def test_ansible_tasks_and_hosts_in_the_progress(self):
        import io
        from harness import progress
        from harness.ansible_run import Tracker
        cells = self.cells()
        for tty in (False, True):
            out = io.StringIO()
            p = progress.Progress(cells, out, tty=tty)
            deploy = Tracker("deploy", p.task)
            deploy.event({"ev": "task", "task": "tcpscale_deploy : Unpack the tree"})
            p.start_cell(0, cells[0])
            t = Tracker("cell", p.task)
            for ev in ({"ev": "task", "task": "tcpscale_cell : Run the measured window"},
                       {"ev": "start", "host": "server1", "task": "tcpscale_cell : Run the measured window"},
                       {"ev": "start", "host": "client1", "task": "tcpscale_cell : Run the measured window"},
                       {"ev": "end", "host": "server1", "task": "tcpscale_cell : Run the measured window",
                        "status": "ok"}):
                t.event(ev)
            self.assertEqual(t.where(), "cell: task 'tcpscale_cell : Run the measured window' "
                                        "on host(s) client1")
            p.close()
            text = out.getvalue()
            if tty:        # the status line names the task and the hosts still in it
                self.assertIn("\r\033[K[lab] deploy: task 'tcpscale_deploy : Unpack the tree'",
                              text)
                self.assertIn("  cell: task 'tcpscale_cell : Run the measured window' "
                              "on host(s) client1, server1", text)
                self.assertTrue(text.split("\r\033[K")[-2].endswith("on host(s) client1"))
            else:          # a log gets one line per task, not per host event
                self.assertEqual(text.splitlines(), [
                    "  deploy: task 'tcpscale_deploy : Unpack the tree'",
                    text.splitlines()[1],
                    "  cell: task 'tcpscale_cell : Run the measured window'"])

    def test_summary(self):
        from harness import suite
        recs = [datafix.record("r", "shortconn", 1, rep, 1000 + rep)
                for rep in range(2)]
        recs.append(datafix.record("r", "shortconn", 2, 0, 0,
                                   status="error"))
        recs.append(datafix.record("r", "shortconn", 2, 1, 0,
                                   status="interrupted"))
        run = datafix.run_dict("r1", self.cells(), status="interrupted")
        run.update(n_done=3, n_ok=2, n_failed=1)
        lines = suite.format_summary(run, recs, ("/x/report.md",
                                                 "/x/report.html"))
        text = "\n".join(lines)
        self.assertIn("run r1 interrupted: 2 ok, 1 failed, 1 interrupted, 3 of 4 cells "
                      "in 1:40", text)
        self.assertIn("interrupted: the 3 finished cells are kept", text)
        self.assertRegex(text, r"linux +shortconn +1 +2 +1,000 conn/s")
        self.assertIn("failed: cell x: server died", text)
        self.assertIn("report: /x/report.md", text)
        self.assertLessEqual(len(lines), 24)  # one screen


@unittest.skipIf(os.geteuid() != 0, "the lab needs root")
class LabCommandTest(unittest.TestCase):
    """`tcpscale lab up|status|down`, including a holder killed with -9."""
    PREFIX = "tcps-cli"

    def ns(self):
        out = subprocess.run(["ip", "-o", "netns", "list"],
                             capture_output=True, text=True).stdout
        return sorted(line.split()[0] for line in out.splitlines()
                      if line.startswith(self.PREFIX + "-"))

    def wait_for(self, cond, seconds=20):
        import time
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if cond():
                return True
            time.sleep(0.1)
        return False

    def test_up_status_killed_holder_down(self):
        import signal
        holder = subprocess.Popen([TCPSCALE, "lab", "up", "--cores", "1",
                                   "--lab-prefix", self.PREFIX],
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            self.assertTrue(self.wait_for(lambda: len(self.ns()) == 3))
            self.assertTrue(self.wait_for(lambda: "lab tcps-cli: up" in tcpscale(
                "lab", "status", "--lab-prefix", self.PREFIX).stdout))
            p = tcpscale("lab", "status", "--lab-prefix", self.PREFIX)
            self.assertIn(f"(owner pid {holder.pid})", p.stdout)
            self.assertIn("tcps-cli-s0 198.18.10.2/24; tcps-cli-s1 "
                          "198.18.11.1/24", p.stdout)
            holder.send_signal(signal.SIGKILL)  # no chance to clean up
            holder.wait(timeout=10)
            p = tcpscale("lab", "status", "--lab-prefix", self.PREFIX)
            self.assertIn("lab tcps-cli: stale", p.stdout)
            p = tcpscale("lab", "down", "--lab-prefix", self.PREFIX)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("tcps-cli-server", p.stdout)
            self.assertEqual(self.ns(), [])
            p = tcpscale("lab", "status", "--lab-prefix", self.PREFIX)
            self.assertIn("lab tcps-cli: down", p.stdout)
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
            tcpscale("lab", "down", "--lab-prefix", self.PREFIX)
