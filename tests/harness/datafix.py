"""Test data for the DATA half's unit tests: run_cell()-shaped results and
records built from them (small dicts with the contract's shape)."""
import os
import tempfile

from harness import plan, store

ENV = {"host": "testhost", "kernel": "6.1.0-test", "arch": "x86_64",
       "os": "Debian GNU/Linux 12 (bookworm)", "cpu_model": "Test CPU",
       "cores": 2, "mem_kib": 24 * 1048576,
       "git": {"sha": "0123456789abcdef", "short": "01234567", "dirty": False},
       "tools": {"python": "3.11.2", "nginx": "1.22.1"}, "sysctls": {}}


def tsload_json(cps, p50, p99, errors=0, elapsed=2.0):
    n = int(cps * elapsed)
    lat = {"count": n, "min": p50 / 2, "max": p99 * 2, "mean": p50,
           "stddev": p50 / 4,
           "percentiles": {"50": p50, "90": (p50 + p99) / 2, "99": p99,
                           "99.9": p99 * 1.5}}
    return {"tsload_version": "0.1", "timestamp": 1763900000,
            "interrupted": False, "global_options": {},
            "jobs": [{"jobname": "crr", "role": "client", "options": {},
                      "elapsed_s": elapsed, "transactions": n,
                      "connections": n, "tps": cps, "cps": cps,
                      "errors": {"total": errors},
                      "latency_us": {"connect": lat, "response": lat,
                                     "total": lat},
                      "timeseries": [], "cpu": {}}]}


def result(cps, p50=100.0, p99=400.0, cores=1, status="ok", errors=0):
    cpu = {"all": {"usr": 20.0, "sys": 30.0, "softirq": 10.0, "idle": 40.0}}
    for c in range(cores):
        cpu[f"cpu{c}"] = {"usr": 20.0 + c, "sys": 30.0, "softirq": 10.0,
                          "irq": 0.0, "idle": 40.0 - c}
    return {"status": status,
            "error": None if status == "ok" else "cell x: server died",
            "tsload": tsload_json(cps, p50, p99, errors)
            if status == "ok" else None,
            "collectors": {"cpu": cpu,
                           "softirq": {"cpu0": {"NET_RX": 10, "NET_TX": 5}},
                           "snmp": {"ActiveOpens": int(cps * 2),
                                    "PassiveOpens": int(cps * 2),
                                    "RetransSegs": 0, "ListenOverflows": 0},
                           "procs": {"count": 1, "user_s": 0.25,
                                     "sys_s": 0.75},
                           "perf": {"events": {"context-switches": 500.0,
                                               "task-clock": 990.0}}},
            "tuning": {"sysctls": {"net.core.somaxconn": "65535"}},
            "servers": {"nginx": "1.22.1"},
            "artefacts": {"tsload": "x.tsload.json"}}


SUITE = {"name": "t", "path": "profiles/t.toml", "stacks": ["linux"],
         "workloads": ["shortconn"], "cores": [1, 2], "repetitions": 3,
         "runtime": 2.0, "ramp_time": 0.5, "collectors": True,
         "collector_overhead": [], "warnings": [],
         "workload": {"shortconn": {"job": "profiles/jobs/shortconn.ini",
                                    "job_options": {}}}}


def record(run_id, workload, cores, rep, cps, collectors=True, status="ok",
           stack="linux", t=1000.0, **kw):
    s = dict(SUITE, workload={workload: SUITE["workload"]["shortconn"]})
    cell = plan.make_cell(s, stack, workload, cores, rep, collectors)
    return store.build_record(run_id, cell,
                              result(cps, cores=cores, status=status, **kw),
                              ENV, {"kind": "netns"}, t + rep, t + rep + 3)


def run_dict(run_id, cells, status="complete"):
    return {"schema": 1, "run_id": run_id, "suite": SUITE, "plan": cells,
            "env": ENV, "lab": {"kind": "netns"}, "status": status,
            "started": 1000.0, "finished": 1100.0, "n_done": len(cells),
            "n_ok": len(cells), "n_failed": 0, "error": None}


def store_run(reports_dir, run_id, records, status="complete"):
    """Save records and their run the way suite.py does."""
    run_id, run_dir = store.create_run_dir(reports_dir, run_id)
    for r in records:
        r["run_id"] = run_id
        store.save_record(reports_dir, run_dir, r)
    run = run_dict(run_id, [r["cell"] for r in records], status)
    store.save_run(reports_dir, run_dir, run)
    return run_id, run_dir


def tempdir(test):
    d = tempfile.TemporaryDirectory(prefix="tcpscale-test-")
    test.addCleanup(d.cleanup)
    return d.name


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path
