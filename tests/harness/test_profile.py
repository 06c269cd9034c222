"""Suite parsing and validation (harness/profile.py) on real TOML files."""
import os
import re
import unittest

import datafix
import tomllib

from harness import PROFILES_DIR, REPO_ROOT, plan, profile, registry

GOOD = """
[suite]
name = "t"
description = "test suite"
stacks = ["linux"]
workloads = ["shortconn", "nginx"]
cores = "1..max"
repetitions = 2
runtime = "500ms"
ramp_time = 1
collector_overhead = ["shortconn"]

[workload.shortconn]
job = "jobs/sc.ini"
concurrency = 8
close = "rst"

[workload.nginx]
job = "jobs/nginx.ini"
"""


class ProfileTest(unittest.TestCase):
    def setUp(self):
        self.dir = datafix.tempdir(self)
        datafix.write(os.path.join(self.dir, "jobs", "sc.ini"), "[crr]\n")
        datafix.write(os.path.join(self.dir, "jobs", "nginx.ini"), "[h]\n")

    def suite_file(self, text, name="t.toml"):
        return datafix.write(os.path.join(self.dir, name), text)

    def load(self, text, cores=2):
        return profile.load_suite(self.suite_file(text), cores)

    def error(self, text, cores=2):
        path = self.suite_file(text)
        with self.assertRaises(profile.ProfileError) as cm:
            profile.load_suite(path, cores)
        msg = str(cm.exception)
        self.assertIn(path, msg)  # every error names the file
        return msg

    def test_workload_options_come_from_tsload(self):
        # the option table is tsload's own (--dump-options=json): its bounds,
        # not a copy (tsl_opt.c: threads <= 1024, concurrency <= 10^7)
        opts = profile.tsload_options()
        with open(os.path.join(REPO_ROOT, "loadgen", "src", "tsl_opt.c")) as f:
            names = set(re.findall(r'^\s*\{"(\w+)", TSL_OT_', f.read(), re.M))
        self.assertEqual(set(opts), names - set(profile.NOT_PROFILE_KEYS))
        self.assertEqual(opts["threads"]["max"], 1024)
        s = self.load(GOOD.replace("concurrency = 8", "concurrency = 10000000"))
        self.assertEqual(s["workload"]["shortconn"]["job_options"]["concurrency"],
                         10 ** 7)
        for bad, want in (("threads = 4096", "expected an integer from 1 to 1024"),
                          ('timeout = "soon"', "expected a time such as"),
                          ('req_size = "4q"', "expected a size such as"),
                          ("port = 80", "workload.shortconn.port: unknown key"),
                          ("runtime = 3", "workload.shortconn.runtime: unknown key")):
            with self.subTest(bad=bad):
                self.assertIn(want, self.error(GOOD.replace("concurrency = 8", bad)))
        self.load(GOOD.replace("concurrency = 8", 'req_size = "4k"\ntimeout = "2s"'))

    def test_options_without_tsload_say_so(self):
        with self.assertRaises(profile.ProfileError) as cm:
            profile.tsload_options(os.path.join(self.dir, "no-tsload"))
        self.assertIn("cannot check tsload options", str(cm.exception))
        self.assertIn("make -C loadgen", str(cm.exception))

    def test_good_suite(self):
        s = self.load(GOOD)
        self.assertEqual(s["name"], "t")
        self.assertEqual(s["workloads"], ["shortconn", "nginx"])
        self.assertEqual(s["cores"], [1, 2])
        self.assertEqual(s["repetitions"], 2)
        self.assertAlmostEqual(s["runtime"], 0.5)
        self.assertEqual(s["ramp_time"], 1.0)
        self.assertTrue(s["collectors"])
        wl = s["workload"]["shortconn"]
        self.assertEqual(wl["job_options"], {"concurrency": 8, "close": "rst"})
        self.assertTrue(wl["job"].endswith("jobs/sc.ini"))
        self.assertEqual(s["workload"]["nginx"]["job_options"], {})

    def test_cores_range_to_machine(self):
        self.assertEqual(self.load(GOOD, cores=24)["cores"],
                         list(range(1, 25)))
        s = self.load(GOOD.replace('"1..max"', '[1, 2, 4, 8]'), cores=2)
        self.assertEqual(s["cores"], [1, 2])
        self.assertIn("[4, 8]", s["warnings"][0])
        self.assertEqual(self.load(GOOD.replace('"1..max"', '"max"'),
                                   cores=6)["cores"], [6])
        self.assertEqual(self.load(GOOD.replace('"1..max"', '"2..4"'),
                                   cores=8)["cores"], [2, 3, 4])
        self.assertEqual(self.load(GOOD.replace('"1..max"', '"1"'))["cores"], [1])

    def test_cores_all_above_machine(self):
        msg = self.error(GOOD.replace('"1..max"', '[4, 8]'), cores=2)
        self.assertIn("suite.cores", msg)
        self.assertIn("2 cores", msg)

    def test_bad_cores_spec(self):
        for bad in ('"8..2"', '"lots"', '[0]', '[true]', '[]', '2.5'):
            msg = self.error(GOOD.replace('"1..max"', bad))
            self.assertIn("suite.cores", msg)
            self.assertIn("expected core counts", msg)
            self.assertEqual(msg.count("got"), 1, msg)   # the value quoted once

    def test_unknown_suite_key(self):
        msg = self.error(GOOD.replace("repetitions = 2",
                                      "repetitions = 2\nrepetition = 3"))
        self.assertIn("suite.repetition: unknown key", msg)
        self.assertIn("repetitions", msg)  # lists what was expected

    def test_unknown_top_level_table(self):
        msg = self.error(GOOD + "\n[sutie]\nx = 1\n")
        self.assertIn("sutie: unknown key", msg)

    def test_bad_values(self):
        cases = [("repetitions = 2", "repetitions = 0",
                  "suite.repetitions: expected an integer from 1 to 100"),
                 ("repetitions = 2", 'repetitions = "3"',
                  "suite.repetitions: expected an integer"),
                 ('runtime = "500ms"', 'runtime = "ten"',
                  "suite.runtime: expected a duration"),
                 ('runtime = "500ms"', 'runtime = "2h"',
                  "suite.runtime: expected a duration from"),
                 ('stacks = ["linux"]', 'stacks = ["bsd"]',
                  "suite.stacks: expected a list of usable stacks; unknown "
                  "stack 'bsd' (stacks: linux, refstack:SET, mtcp)"),
                 ('stacks = ["linux"]', 'stacks = ["refstack"]',
                  "stack 'refstack' needs a feature set: refstack:base"),
                 ('stacks = ["linux"]', 'stacks = ["mtcp"]',
                  "mtcp: no mTCP installation is configured"),
                 ('stacks = ["linux"]', 'stacks = ["linux:fast"]',
                  "stack 'linux' takes no ':' variant"),
                 ('description = "test suite"', 'profilers = ["dtrace"]',
                  "suite.profilers: expected a list of profilers from record, lock"),
                 ('stacks = ["linux"]', 'stacks = ["linux", "linux"]',
                  "without duplicates"),
                 ('workloads = ["shortconn", "nginx"]', 'workloads = []',
                  "suite.workloads: expected a non-empty list"),
                 ('collector_overhead = ["shortconn"]',
                  'collector_overhead = ["haproxy"]',
                  "suite.collector_overhead: expected workloads listed"),
                 ('description = "test suite"', 'collectors = "yes"',
                  "suite.collectors: expected true or false")]
        for old, new, want in cases:
            with self.subTest(new=new):
                self.assertIn(want, self.error(GOOD.replace(old, new)))

    def test_missing_required(self):
        msg = self.error(GOOD.replace('workloads = ["shortconn", "nginx"]',
                                      "").replace(
            'collector_overhead = ["shortconn"]', ""))
        self.assertIn("suite.workloads: missing", msg)
        self.assertIn("[suite]: missing table", self.error("# empty\n"))

    def test_workload_table_errors(self):
        msg = self.error(GOOD.replace("concurrency = 8", "concurency = 8"))
        self.assertIn("workload.shortconn.concurency: unknown key", msg)
        self.assertIn("concurrency", msg)
        msg = self.error(GOOD.replace('close = "rst"', 'close = "slam"'))
        self.assertIn("workload.shortconn.close: expected fin or rst", msg)
        msg = self.error(GOOD.replace("concurrency = 8", "concurrency = -1"))
        self.assertIn("workload.shortconn.concurrency: expected an integer",
                      msg)
        msg = self.error(GOOD + "\n[workload.ftp]\njob = \"x.ini\"\n")
        self.assertIn("workload.ftp: unknown workload", msg)
        msg = self.error(GOOD.replace("concurrency = 8", "repetitions = 0"))
        self.assertIn("workload.shortconn.repetitions: expected an integer "
                      "from 1 to 100", msg)

    def test_missing_job_file(self):
        msg = self.error(GOOD.replace("jobs/sc.ini", "jobs/none.ini"))
        self.assertIn("workload.shortconn.job", msg)
        self.assertIn("none.ini does not exist", msg)

    def test_toml_syntax_error_names_line(self):
        msg = self.error(GOOD.replace("repetitions = 2", "repetitions = = 2"))
        self.assertIn("TOML syntax error", msg)
        self.assertIn("line 8", msg)

    def test_find_suite_by_name_and_path(self):
        self.suite_file(GOOD, "mine.toml")
        self.assertEqual(profile.find_suite("mine", self.dir),
                         os.path.join(self.dir, "mine.toml"))
        with self.assertRaises(profile.ProfileError) as cm:
            profile.find_suite("nosuch", self.dir)
        self.assertIn("unknown suite 'nosuch'", str(cm.exception))
        self.assertIn("mine", str(cm.exception))
        with self.assertRaises(profile.ProfileError):
            profile.find_suite(os.path.join(self.dir, "gone.toml"))


class ShippedSuitesTest(unittest.TestCase):
    """The suites in profiles/ parse, and default fits its time budget."""

    def test_shipped_suites_parse(self):
        names = profile.list_suites(PROFILES_DIR)
        for want in ("default", "smoke", "ablation", "compare"):
            self.assertIn(want, names)
        try:
            registry.refstack_features()
            features = True
        except registry.StackError:
            features = False
        for name in names:
            with self.subTest(suite=name):
                if name == "ablation" and not features:
                    # single features need a refstack with feature switches
                    with self.assertRaises(profile.ProfileError) as cm:
                        profile.load_suite(name, 2)
                    self.assertIn("no feature switches", str(cm.exception))
                    continue
                s = profile.load_suite(name, 2)
                self.assertEqual(s["name"], name)

    def test_ablation_and_compare_suites(self):
        with open(os.path.join(PROFILES_DIR, "ablation.toml"), "rb") as f:
            data = tomllib.load(f)["suite"]
        feats = ["refstack:" + f for f in ("listen", "estab", "rfd", "fastfd")]
        self.assertEqual(data["stacks"], ["refstack:base"] + feats
                         + ["refstack:full", "linux"])
        self.assertEqual(data["profilers"], ["record", "lock"])
        self.assertEqual(data["workloads"], ["shortconn", "nginx", "haproxy"])
        s = profile.load_suite("compare", 2)
        self.assertEqual(s["stacks"][:2], ["linux", "refstack:full"])
        self.assertEqual(s["profilers"], ["record", "lock"])
        # mtcp joins when configured, else a warning says what is missing
        self.assertTrue("mtcp" in s["stacks"] or any(
            "mtcp left out: mtcp: no mTCP installation" in w for w in s["warnings"]))
        cells = plan.build_plan(s)
        self.assertTrue(any(c.get("twin") == "no-record" for c in cells))

    def test_default_within_10_minutes_on_2_cores(self):
        s = profile.load_suite("default", 2)
        cells = plan.build_plan(s)
        self.assertEqual(s["cores"], [1, 2])
        self.assertEqual(set(s["workloads"]),
                         {"shortconn", "nginx", "haproxy", "keepalive"})
        self.assertLessEqual(plan.estimate_s(cells), 600)

    def test_smoke_is_every_workload_at_one_core(self):
        s = profile.load_suite("smoke", 2)
        cells = plan.build_plan(s)
        self.assertEqual(sorted(c["workload"] for c in cells),
                         ["haproxy", "nginx", "shortconn"])
        self.assertTrue(all(c["cores"] == 1 for c in cells))
        self.assertLessEqual(plan.estimate_s(cells), 60)


if __name__ == "__main__":
    unittest.main()
