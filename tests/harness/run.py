#!/usr/bin/python3
"""Run every tests/harness/test_*.py with unittest; end with `N passed, N failed`.

TCPSCALE_QUICK=1 skips the long integration tests (quick dev loops only; the
default, and `make test`, runs them).  Arguments narrow the run to modules or
test names: run.py test_store test_plan.TestPlan.test_order
"""
import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)


class CountingResult(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.passed = 0
        self.seconds = {}
        self._last = time.monotonic()

    def stopTest(self, test):
        """Wall time since the previous test ended: class set-ups count."""
        super().stopTest(test)
        now = time.monotonic()
        self.seconds[test.id()] = now - self._last
        self._last = now

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def load(names):
    loader = unittest.TestLoader()
    if names:
        return loader.loadTestsFromNames(names)
    return loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)


def main(argv):
    # A shell that starts us in the background ignores SIGINT, and an
    # ignored signal stays ignored in every child: the Ctrl-C tests would
    # then test nothing.  A handler of our own resets to default on exec.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    suite = load(argv)
    t0 = time.monotonic()
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2,
                                     resultclass=CountingResult)
    res = runner.run(suite)
    failed = len(res.failures) + len(res.errors) + \
        len(res.unexpectedSuccesses)
    by_module = {}
    for name, secs in res.seconds.items():
        mod = name.split(".")[0]
        by_module[mod] = by_module.get(mod, 0.0) + secs
    print("seconds per module: " + ", ".join(
        f"{m} {s:.0f}" for m, s in sorted(by_module.items(), key=lambda kv: -kv[1])))
    print(f"harness tests: {time.monotonic() - t0:.1f} s")
    print(f"{res.passed} passed, {failed} failed, {len(res.skipped)} skipped")
    return 1 if failed or res.testsRun == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
