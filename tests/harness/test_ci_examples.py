"""The CI examples (examples/ci/): valid YAML, calling only the commands
that the tests run (test_gate_e2e.py runs the gate command of each file as
written, and `make bench SUITE=...`), and a nightly suite that fits in its
15 minutes with the gate's re-runs."""
import os
import tempfile
import unittest

import yaml

from harness import REPO_ROOT, escalate, gateconf, plan, profile, reference

EXAMPLES = os.path.join(REPO_ROOT, "examples", "ci")
BENCH = "make bench SUITE=nightly"
# GitHub: make's status (0 or 2); GitLab: the gate's own 0 / 1 / 3 / 2
GATES = {"github-actions-nightly.yml": 'make gate GATE_ARGS="-o gate-out"',
         "gitlab-ci-nightly.yml": "./tcpscale gate -o gate-out"}
SAVE = "./tcpscale reference save"
# CI plumbing around them (publishing the summary), no tcpscale command
PLUMBING = ('cat gate-out/summary.md >> "$GITHUB_STEP_SUMMARY"',)
NIGHTLY_BUDGET_S = 15 * 60


def ci_commands():
    """[(file, shell command)] of every example, in order."""
    out = []
    for name in sorted(os.listdir(EXAMPLES)):
        if not name.endswith(".yml"):
            continue
        with open(os.path.join(EXAMPLES, name)) as f:
            doc = yaml.safe_load(f)
        for job in (doc.get("jobs") or {}).values():          # GitHub
            out += [(name, s["run"]) for s in job["steps"] if "run" in s]
        for key, job in doc.items():                           # GitLab
            if isinstance(job, dict) and "script" in job:
                out += [(name, c) for c in job["script"]]
    return out


class CiExamplesTest(unittest.TestCase):
    def test_only_tested_commands(self):
        cmds = ci_commands()
        files = sorted(set(f for f, _ in cmds))
        self.assertEqual(files, ["github-actions-nightly.yml",
                                 "gitlab-ci-nightly.yml"])
        for name in files:
            mine = [c.strip() for f, c in cmds if f == name]
            tools = [c for c in mine if c not in PLUMBING]
            self.assertEqual(tools, [BENCH, GATES[name], SAVE], name)

    def test_outputs_match_what_the_gate_writes(self):
        with open(os.path.join(EXAMPLES, "gitlab-ci-nightly.yml")) as f:
            job = yaml.safe_load(f)["nightly-gate"]
        self.assertEqual(job["artifacts"]["reports"]["junit"],
                         "gate-out/junit.xml")
        self.assertEqual(job["allow_failure"]["exit_codes"], [3])
        self.assertEqual(job["variables"]["TCPSCALE_BRANCH"],
                         "$CI_COMMIT_REF_NAME")
        with open(os.path.join(EXAMPLES, "github-actions-nightly.yml")) as f:
            gh = yaml.safe_load(f)
        env = gh["jobs"]["gate"]["env"]
        self.assertIn("TCPSCALE_REPORTS", env)
        self.assertEqual(env["TCPSCALE_BRANCH"], "${{ github.ref_name }}")
        with open(os.path.join(EXAMPLES, "README.md")) as f:
            readme = f.read()
        for want in ("github-actions-nightly.yml", "gitlab-ci-nightly.yml",
                     BENCH, SAVE, "TCPSCALE_REPORTS", "TCPSCALE_BRANCH",
                     *GATES.values()):
            self.assertIn(want, readme)

    def test_nightly_fits_in_15_minutes_here(self):
        suite = profile.load_suite("nightly", 2)
        with tempfile.TemporaryDirectory() as d:     # with its reference
            reference.save(d + "/reference")
            suite["reference_dir"] = d + "/reference"
            cells = plan.build_plan(suite)
        self.assertEqual(sum(c.get("twin") == "reference" for c in cells),
                         3 * suite["repetitions"])
        conf = gateconf.parse_conf(suite["gate"], "nightly: gate")
        total = plan.estimate_s(cells) + conf["escalate_time"]
        self.assertLessEqual(total, NIGHTLY_BUDGET_S,
                             f"{plan.fmt_duration(total)} with re-runs")
        # a night slowed by other jobs' load: the re-runs get what is left
        self.assertLess(conf["job_time"], NIGHTLY_BUDGET_S)
        self.assertGreater(conf["job_time"], plan.estimate_s(cells))
        slow = {"started": 0.0, "finished": 13 * 60 + 25.0}
        left, why = escalate.time_budget(slow, conf)
        self.assertEqual(left, conf["job_time"] - slow["finished"])
        self.assertIn("job_time 840 s less the run's 805 s", why)
        self.assertEqual(escalate.time_budget({"started": 0.0,
                                               "finished": 480.0}, conf),
                         (conf["escalate_time"], "300 s"))
        kinds = set((c["stack"], c["workload"]) for c in cells)
        self.assertIn(("refstack:base", "memif"), kinds)
        self.assertNotIn(("linux", "memif"), kinds)
        self.assertEqual(sum(c["workload"] == "memif" for c in cells),
                         suite["workload"]["memif"]["repetitions"])


if __name__ == "__main__":
    unittest.main()
