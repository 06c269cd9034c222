"""Reports (harness/report.py, plots.py): content, real PNG plots, and the
HTML checked in headless Chromium (it renders and every image loads)."""
import os
import unittest

import browser
import datafix
from harness import report, store

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_records():
    recs = []
    for wl in ("shortconn", "nginx"):
        for c in (1, 2):
            for rep in range(3):
                recs.append(datafix.record("x", wl, c, rep,
                                           1000 * c + 50 * rep))
    recs += [datafix.record("x", "shortconn", 2, rep, 2300, collectors=False)
             for rep in range(2)]
    recs.append(datafix.record("x", "nginx", 2, 3, 0, status="error"))
    return recs


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.dir = datafix.tempdir(self)
        self.run_id, self.run_dir = datafix.store_run(
            self.dir, "20261123-150000-abc", make_records())
        run, recs, rd = store.load_run(self.dir, self.run_id)
        self.md_path, self.html_path = report.write_report(run, recs, rd)
        with open(self.md_path) as f:
            self.md = f.read()

    def test_markdown_content(self):
        md = self.md
        self.assertIn("# tcpscale report: 20261123-150000-abc", md)
        self.assertIn("## Environment", md)
        self.assertIn("kernel 6.1.0-test", md)
        self.assertIn("### shortconn", md)
        self.assertIn("### nginx", md)
        # shortconn 2 cores: 2000, 2050, 2100 -> median 2,050; 1 core 1,050
        self.assertIn("| linux | 2 | 3 | 2,050 | 2,000 – 2,100 |", md)
        self.assertIn("| 1.95x |", md)
        # the failed nginx cell is counted and listed
        self.assertIn("| linux | 2 | 3 (1 failed) |", md)
        self.assertIn("linux.nginx.c2.r3: error — cell x: server died", md)
        # latency table: fixture p50 100 / p99 400 in every repetition
        self.assertIn("| linux | 1 | 3 | 100 | 100 – 100 | 0.0% | 400 | "
                      "400 – 400 | 400 – 400 | 0.0% |", md)
        self.assertIn("## Per-core utilisation", md)
        self.assertIn("## TCP counter deltas", md)
        self.assertIn("ActiveOpens", md)
        self.assertIn("## Server cost", md)
        self.assertIn("| linux | shortconn | 1 | 1.00 | 476.2 | 0.24 | 990 |",
                      md)
        self.assertIn("## Collector overhead", md)
        self.assertIn("| linux | shortconn | 2 | all | 2,050 | 2,300 |", md)
        self.assertIn("[records/linux.shortconn.c1.r0.json]"
                      "(records/linux.shortconn.c1.r0.json)", md)
        self.assertIn("(raw/x.tsload.json)", md)

    def test_plots_are_png(self):
        for name in ("throughput-shortconn.png", "throughput-nginx.png",
                     "cpu-linux-shortconn-c2.png"):
            with open(os.path.join(self.run_dir, name), "rb") as f:
                self.assertEqual(f.read(8), PNG_MAGIC, name)
            self.assertIn(f"]({name})", self.md)

    def test_interrupted_run_says_so(self):
        run, recs, rd = store.load_run(self.dir, self.run_id)
        run["status"] = "interrupted"
        md, _ = report.write_report(run, recs[:3], rd, with_plots=False)
        with open(md) as f:
            text = f.read()
        self.assertIn("status **interrupted**", text)
        self.assertIn("This run was interrupted", text)

    def test_compare_and_list(self):
        b_recs = [datafix.record("b", "shortconn", 1, rep, 2000 + rep)
                  for rep in range(3)]
        b_id, _ = datafix.store_run(self.dir, "20261123-160000-def", b_recs)
        ra, rs_a, _ = store.load_run(self.dir, self.run_id)
        rb, rs_b, _ = store.load_run(self.dir, b_id)
        lines = report.format_compare(ra, rs_a, rb, rs_b)
        self.assertIn("- A: testhost, kernel 6.1.0-test, Test CPU x 2, code "
                      "01234567, suite t, status complete", lines)
        self.assertFalse(any("warning" in line for line in lines))
        rb["env"] = dict(rb["env"], kernel="6.2")
        self.assertIn("- warning: the runs differ in kernel: a ratio mixes "
                      "the change under test with that",
                      report.format_compare(ra, rs_a, rb, rs_b))
        row = next(line for line in lines
                   if line.startswith("| linux | shortconn | 1 |"))
        self.assertIn("1,050 (n=3)", row)
        self.assertIn("| 1.906 [", row)
        self.assertIn("| higher |", row)
        lst = report.format_list(store.list_runs(self.dir))
        self.assertEqual(len(lst), 3)
        self.assertIn("20261123-160000-def", lst[2])
        self.assertEqual(report.format_list([])[0][:15], "no runs recorde")

    @unittest.skipUnless(browser.available(), "chromium not installed")
    def test_html_renders_in_chromium_with_images(self):
        res = browser.check_page(self.html_path)
        self.assertEqual(res["title"], "tcpscale 20261123-150000-abc")
        self.assertGreaterEqual(len(res["images"]), 4)
        self.assertEqual(browser.broken_images(res), [])
        self.assertGreaterEqual(res["tables"], 4)

    @unittest.skipUnless(browser.available(), "chromium not installed")
    def test_chromium_check_catches_a_missing_image(self):
        os.unlink(os.path.join(self.run_dir, "throughput-nginx.png"))
        res = browser.check_page(self.html_path)
        self.assertEqual(browser.broken_images(res), ["throughput-nginx.png"])


if __name__ == "__main__":
    unittest.main()
