"""A repetition that fails is run again, and the failed attempt is kept
(harness.suite, RETRIES): the run loop with a stand-in for run_cell."""
import io
import unittest

from harness import gate, plan, store, suite
from harness.progress import Progress

import datafix


class RetryTest(unittest.TestCase):
    def setUp(self):
        self.dir = datafix.tempdir(self)

    def run_loop(self, outcomes):
        """The cells of datafix.SUITE through _cells_loop; outcomes: per
        cell id, the statuses its attempts return in turn (then "ok")."""
        cells = plan.build_plan(datafix.SUITE)
        run = suite.new_run(datafix.SUITE, cells, datafix.ENV)
        run_id, run_dir = store.create_run_dir(self.dir, "20261202-000000-t")
        run["run_id"] = run_id
        calls = []

        def run_cell(_lab, cell, _raw, on_interval=None):
            calls.append(cell["id"])
            left = outcomes.get(cell["id"], [])
            status = left.pop(0) if left else "ok"
            res = datafix.result(1000.0, status=status)
            if status != "ok":
                res["error"] = f"cell {cell['id']}: tsload completed no " \
                               "transaction (errors: {})"
            return res
        ctx = {"run": run, "cells": cells, "records": [],
               "progress": Progress(cells, io.StringIO(), False),
               "reports_dir": self.dir, "run_dir": run_dir,
               "raw_dir": f"{run_dir}/raw"}
        suite._cells_loop(ctx, None, run_cell, Exception)
        return run, ctx["records"], calls, cells

    def test_failed_repetition_is_run_again_and_kept(self):
        cid = "linux.shortconn.c1.r1"
        run, records, calls, cells = self.run_loop({cid: ["error"]})
        self.assertEqual(calls.count(cid), 2)
        self.assertEqual((run["n_ok"], run["n_failed"], run["n_retried"],
                          run["n_done"]), (len(cells), 0, 1, len(cells)))
        kept = [r for r in records if r["cell"]["id"] == cid + ".failed1"]
        self.assertEqual(len(kept), 1)
        self.assertEqual(kept[0]["status"], "error")
        self.assertEqual(kept[0]["cell"]["retried_as"], cid)
        self.assertTrue(suite.is_retried(kept[0]))
        # what it measured is stored, beside the attempt that stands
        _run, stored, _d = store.load_run(self.dir, run["run_id"])
        self.assertEqual(sorted(r["cell"]["id"] for r in stored),
                         sorted([c["id"] for c in cells] + [cid + ".failed1"]))
        # the gate counts the repetition once, not as a failure
        self.assertFalse(gate.gated(kept[0]))
        rows = gate.compare_cells(records, records, {**_conf()})
        self.assertTrue(all(r["failed"] == 0 for r in rows), rows)
        lines = suite.format_summary(dict(run, finished=run["started"]),
                                     records, None)
        self.assertIn("0 failed, 1 failed attempts run again", lines[1])
        self.assertTrue(any(x.startswith("failed, then run again (kept as "
                                         f"{cid}.failed1)") for x in lines))

    def test_a_repetition_failing_every_time_fails_the_run(self):
        cid = "linux.shortconn.c2.r0"
        run, records, calls, _cells = self.run_loop(
            {cid: ["error"] * (suite.RETRIES + 1)})
        self.assertEqual(calls.count(cid), suite.RETRIES + 1)
        self.assertEqual((run["n_failed"], run["n_retried"]),
                         (1, suite.RETRIES))
        last = [r for r in records if r["cell"]["id"] == cid]
        self.assertEqual([r["status"] for r in last], ["error"])
        self.assertFalse(suite.is_retried(last[0]))


def _conf():
    from harness import gateconf
    return gateconf.default_conf()


if __name__ == "__main__":
    unittest.main()
