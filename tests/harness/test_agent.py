"""harness.agent on this host: a cell's programs stopped and packed by
`finish` (what the Ansible cell role runs on every lab host)."""
import argparse
import os
import sys
import tarfile
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from harness import agent                         # noqa: E402


class FinishTest(unittest.TestCase):
    def test_finish_packs_every_exit_code_and_no_half_written_file(self):
        with tempfile.TemporaryDirectory() as d:
            cell = os.path.join(d, "cell")
            os.makedirs(cell)
            for i in range(5):   # the waiters write their codes after stop returns
                agent._start_one(cell, "prog%d" % i, ["sleep", "30"], None)
            with open(os.path.join(cell, "late.rc.tmp"), "w") as f:
                f.write("0\n")  # a waiter caught writing: the file may vanish under tar
            out = os.path.join(cell, "cell.tar.gz")
            res = agent.cmd_finish(argparse.Namespace(dir=cell, out=out))
            self.assertEqual(len(res["stopped"]), 5)
            with tarfile.open(out) as tar:
                names = tar.getnames()
                for i in range(5):
                    self.assertIn("prog%d.rc" % i, names)
                    self.assertEqual(tar.extractfile("prog%d.rc" % i).read(), b"-15\n")
            self.assertFalse([n for n in names if n.endswith(".tmp")], names)


if __name__ == "__main__":
    unittest.main()
