"""tcpscale command line: argparse + a cmd_* dispatch table.

Only this module sees the argparse namespace; every command unpacks it and
calls the pipeline modules with plain values.
"""
import argparse
import json
import os
import signal
import sys

from . import REPORTS_DIR, __version__
from . import plan as planmod
from . import profile, report, store
from .gateconf import GateError
from .reference import ReferenceBuildError

DEFAULT_LAB_PREFIX = "tcps"


def machine_cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _reports_dir(args):
    return os.path.abspath(args.reports or os.environ.get("TCPSCALE_REPORTS")
                           or REPORTS_DIR)


def _lab_prefix(args):
    return args.lab_prefix or os.environ.get("TCPSCALE_LAB_PREFIX") \
        or DEFAULT_LAB_PREFIX


def _print_lines(lines, stream=None):
    stream = stream or sys.stdout
    for line in lines:
        print(line, file=stream)


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


# ---------------------------------------------------------------- commands

def _lab_cores(args):
    """Cores a suite's "max" means: this machine's, or the inventory's server's."""
    if not args.inventory:
        return machine_cores()
    from . import registry
    from .lab import LabError
    from .remote import lab_config, server_cores
    try:
        registry.LAB_CONFIG.update(lab_config(args.inventory))
        return server_cores(args.inventory)
    except LabError as e:
        raise profile.ProfileError(f"--inventory: {e}") from None


def cmd_run(args):
    if args.resume:
        return _resume(args)
    if args.suite is None:
        raise profile.ProfileError("name a SUITE to run (or --resume RUN)")
    suite = profile.load_suite(args.suite, _lab_cores(args))
    if suite["reference"]:
        from . import reference
        suite["reference_dir"] = reference.path_of(suite["reference"],
                                                   _reports_dir(args))
    cells = planmod.build_plan(suite)
    if args.dry_run:
        _print_lines(planmod.format_plan(suite, cells))
        _print_lines(f"  {c['id']}" for c in cells)
        return 0
    if not args.inventory and os.geteuid() != 0:
        print("tcpscale run: the lab needs root (network namespaces); "
              "run as root", file=sys.stderr)
        return 1
    from . import suite as suitemod
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    code, _run, lines = suitemod.run_suite(
        suite, cells, _reports_dir(args), sys.stderr,
        lab_prefix=_lab_prefix(args), make_report=not args.no_report,
        inventory=args.inventory and os.path.abspath(args.inventory))
    _print_lines(lines)
    return code


def _resume(args):
    if args.suite is not None or args.dry_run:
        raise profile.ProfileError("--resume RUN takes no SUITE and no --dry-run "
                                   "(the run's own plan is resumed)")
    if not args.inventory and os.geteuid() != 0:
        print("tcpscale run: the lab needs root (network namespaces); "
              "run as root", file=sys.stderr)
        return 1
    from . import suite as suitemod
    _lab_cores(args)                      # the inventory's lab configuration
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        code, _run, lines = suitemod.resume_suite(
            _reports_dir(args), args.resume, sys.stderr,
            lab_prefix=_lab_prefix(args), make_report=not args.no_report,
            inventory=args.inventory and os.path.abspath(args.inventory))
    except suitemod.ResumeError as e:
        print(f"tcpscale run --resume: {e}", file=sys.stderr)
        return 2
    _print_lines(lines)
    return code


def cmd_report(args):
    reports_dir = _reports_dir(args)
    run, records, run_dir = store.load_run(reports_dir, args.run)
    if not os.path.isdir(run_dir):
        os.makedirs(run_dir)
    md, page = report.write_report(run, records, run_dir,
                                   with_plots=not args.no_plots)
    print(md)
    print(page)
    return 0


def cmd_compare(args):
    reports_dir = _reports_dir(args)
    run_a, recs_a, _ = store.load_run(reports_dir, args.run_a)
    if args.run_b is None:
        from . import report_stacks, stackcmp
        rows = stackcmp.versus(recs_a, args.baseline)
        if len({r["stack"] for r in rows}) < 2:
            print(f"tcpscale compare: run {run_a['run_id']} has "
                  f"{len({r['stack'] for r in rows})} stack with finished "
                  "cells; name a second run to compare runs", file=sys.stderr)
            return 2
        lines = report_stacks.format_versus(
            rows, f"tcpscale compare: stacks of run {run_a['run_id']}")
    else:
        run_b, recs_b, _ = store.load_run(reports_dir, args.run_b)
        lines = report.format_compare(run_a, recs_a, run_b, recs_b)
    if args.output:
        with open(args.output, "w") as f:
            f.write("\n".join(lines) + "\n")
        print(args.output)
    else:
        _print_lines(lines)
    return 0


def cmd_list(args):
    if args.suites:
        for name in profile.list_suites():
            try:
                s = profile.load_suite(name, machine_cores())
                cells = planmod.build_plan(s)
                print(f"{name:<12} {len(cells):>4} cells  "
                      f"~{planmod.fmt_duration(planmod.estimate_s(cells)):>7}"
                      f"  {s['description']}")
            except profile.ProfileError as e:
                print(f"{name:<12} invalid: {e}")
        return 0
    reports_dir = _reports_dir(args)
    if os.path.exists(store.db_path(reports_dir)):
        store.mark_killed_runs(reports_dir)
    _print_lines(report.format_list(store.list_runs(reports_dir)))
    return 0


def cmd_lab(args):
    from . import lab as labmod
    prefix = _lab_prefix(args)
    if args.action == "status":
        st = labmod.Lab(args.cores or 1, prefix=prefix).status()
        if args.json:
            print(json.dumps(st, indent=1, sort_keys=True))
        else:
            _print_lines(format_lab_status(st))
        return 0
    if os.geteuid() != 0:
        print("tcpscale lab: needs root (network namespaces)", file=sys.stderr)
        return 1
    if args.action == "down":
        removed = labmod.cleanup_stale(prefix)
        print("removed: " + (", ".join(map(str, removed)) or "nothing"))
        return 0
    return _lab_up_hold(labmod, prefix, args.cores or machine_cores())


def format_lab_status(st):
    """Human lines for `lab status`."""
    state = "stale" if st.get("stale") else "up" if st.get("up") else "down"
    out = [f"lab {st.get('prefix')}: {state}"
           + (f" (owner pid {st['owner_pid']})" if st.get("owner_pid")
              else "")]
    for role, h in sorted((st.get("hosts") or {}).items()):
        if not h.get("exists"):
            out.append(f"  {role:<8} {h.get('netns')}: absent")
            continue
        addrs = "; ".join(f"{dev} {' '.join(a)}" for dev, a in
                          sorted((h.get("addrs") or {}).items()))
        out.append(f"  {role:<8} {h.get('netns')}: {addrs or 'no addresses'}"
                   f", {len(h.get('pids') or [])} processes")
    for p in st.get("processes") or []:
        out.append(f"  process {p.get('pid')} {p.get('name', '?')} "
                   f"on {p.get('host', '?')}")
    if st.get("stale"):
        out.append("  stale: remove it with `tcpscale lab down`")
    return out


def _lab_up_hold(labmod, prefix, cores):
    """`lab up`: build the lab and hold it until Ctrl-C (the lab belongs to
    a live process; a killed holder leaves a stale lab `lab down` removes)."""
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    lab = labmod.Lab(cores, prefix=prefix)
    try:
        info = lab.up()
        print(json.dumps(info, indent=1, sort_keys=True))
        print(f"lab {prefix} is up; press Ctrl-C to take it down",
              file=sys.stderr, flush=True)
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        lab.down()
        print(f"lab {prefix} is down", file=sys.stderr)
    return 0


# `tcpscale gate` options: one per gate setting (harness/gateconf.py), with
# the command-line type of those that are not strings.
_GATE_CLI_TYPES = {"escalate_reps": int, "escalate_step": int,
                   "metrics": lambda s: [m.strip() for m in s.split(",")]}


def cmd_gate(args):
    from . import gatecmd, gateconf, gateout
    reports_dir = _reports_dir(args)
    options = {k: getattr(args, k) for k in gateconf.GATE_KEYS}
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    res = gatecmd.run_gate(reports_dir, args.candidate, options, sys.stderr,
                           lab_prefix=_lab_prefix(args), output=args.output)
    _print_lines(gateout.format_terminal(res))
    print(f"\nsummary {res['output']}/summary.md, junit "
          f"{res['output']}/junit.xml; stored as {res['gate_id']}; "
          f"exit {res['exit_code']}")
    return res["exit_code"]


def cmd_history(args):
    from . import history
    key = history.parse_cell(args.cell)
    hist = history.analyze_cell(
        _reports_dir(args), key, max_pvalue=args.pvalue, test=args.test,
        suite=args.suite, branch=args.branch, host=args.host,
        last=args.last)
    if args.json:
        print(json.dumps(hist, indent=1, sort_keys=True))
    else:
        _print_lines(history.format_history(hist, args.metric))
    if args.plot and hist["metrics"]:
        from .plots import plt
        if plt is None:
            print("tcpscale history: no plot: matplotlib is not installed",
                  file=sys.stderr)
            return 1
        print(history.plot_cell(hist, args.plot, plt))
    return 0


def cmd_calibrate(args):
    from . import calibrate, gateconf
    if args.make:
        fx = calibrate.make_fixture(_reports_dir(args), args.make, args.how,
                                    args.add)
        calibrate.dump(fx, args.output or calibrate.DEFAULT_FIXTURE)
        print(args.output or calibrate.DEFAULT_FIXTURE)
        return 0
    fx = calibrate.load_fixture(args.fixture or calibrate.DEFAULT_FIXTURE)
    conf = calibrate.suite_conf(fx)
    for key in ("alpha", "min_effect", "pair_offset"):
        for v in getattr(args, key) or []:
            gateconf.override(conf, key, v, f"--{key.replace('_', '-')}")
    res = calibrate.evaluate(fx, conf, history_k=args.history_k)
    _print_lines(calibrate.format_evaluation(fx, res, conf))
    _print_lines(calibrate.format_nights(fx, res))
    _print_lines(calibrate.format_offsets(fx, conf))
    _print_lines(calibrate.format_z(calibrate.held_out_z(fx, conf)))
    _print_lines(calibrate.format_independent(fx, res))
    _print_lines(calibrate.format_model(fx, conf))
    lines, ok = calibrate.check_bounds(res)
    _print_lines([""] + lines)
    return 0 if ok else 1


def cmd_reference(args):
    from . import reference
    folder = os.path.abspath(args.folder or os.path.join(
        _reports_dir(args), reference.DEFAULT_NAME))
    if args.action == "save":
        got = reference.save(folder)
        _print_lines(["saved " + reference.format_info(folder, got)[0]])
        return 0
    got = reference.info(folder)
    _print_lines(reference.format_info(folder, got))
    return 0 if got else 1


COMMANDS = {"run": cmd_run, "report": cmd_report, "compare": cmd_compare,
            "list": cmd_list, "lab": cmd_lab, "gate": cmd_gate,
            "history": cmd_history, "calibrate": cmd_calibrate,
            "reference": cmd_reference}


# ------------------------------------------------------------------ parser

def _common(p):
    p.add_argument("--reports", metavar="DIR",
                   help="reports folder (default: $TCPSCALE_REPORTS or "
                        "reports/ in the repository)")


def build_parser():
    p = argparse.ArgumentParser(
        prog="tcpscale",
        description="Benchmark TCP stacks under short-lived connections: "
                    "plan, run, store, report, compare.")
    p.add_argument("--version", action="version",
                   version=f"tcpscale {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    r = sub.add_parser("run", help="run a benchmark suite and report it",
                       description="Run SUITE (a name in profiles/ or a path "
                                   "to a TOML file) on the local lab, store a "
                                   "record per cell, write the report.")
    r.add_argument("suite", metavar="SUITE", nargs="?")
    r.add_argument("--resume", metavar="RUN",
                   help="run the cells of a stopped run (interrupted, killed, "
                        "failed) that have no finished record, into that run: "
                        "a long suite in parts")
    r.add_argument("--dry-run", action="store_true",
                   help="print the plan and its estimated duration only")
    r.add_argument("--no-report", action="store_true",
                   help="store records but do not write the report")
    r.add_argument("--lab-prefix", metavar="P",
                   help="lab namespace prefix (default tcps)")
    r.add_argument("--inventory", metavar="FILE",
                   help="run on the hosts of this Ansible inventory instead of "
                        "the local lab (see ansible/README.md)")
    _common(r)

    r = sub.add_parser("report", help="regenerate a run's report",
                       description="Regenerate report.md and report.html of "
                                   "RUN from its stored records.")
    r.add_argument("run", metavar="RUN",
                   help="run id, unique prefix, 'latest' or a run folder")
    r.add_argument("--no-plots", action="store_true")
    _common(r)

    r = sub.add_parser("compare", help="compare two runs, or the stacks of one",
                       description="RUN_A RUN_B: per cell, ratio B/A of "
                                   "throughput and p99 latency with 95% "
                                   "confidence intervals.  RUN alone: its "
                                   "stacks side by side, each as a ratio to "
                                   "--baseline (rate, latency, server CPU "
                                   "per connection).")
    r.add_argument("run_a", metavar="RUN_A")
    r.add_argument("run_b", metavar="RUN_B", nargs="?")
    r.add_argument("--baseline", metavar="STACK", default="linux",
                   help="the stack the others are divided by, within one run "
                        "(default linux)")
    r.add_argument("-o", "--output", metavar="FILE",
                   help="write the Markdown table to FILE")
    _common(r)

    r = sub.add_parser("list", help="list stored runs (or suites)",
                       description="List the runs in the results database.")
    r.add_argument("--suites", action="store_true",
                   help="list the suites in profiles/ instead")
    _common(r)

    r = sub.add_parser("lab", help="local lab of network namespaces",
                       description="up: build the lab and hold it until "
                                   "Ctrl-C; down: remove a (stale) lab; "
                                   "status: what exists now.")
    r.add_argument("action", choices=("up", "down", "status"))
    r.add_argument("--cores", type=int, metavar="N",
                   help="queues per veth (default: all cores)")
    r.add_argument("--lab-prefix", metavar="P",
                   help="lab namespace prefix (default tcps)")
    r.add_argument("--json", action="store_true",
                   help="status as JSON")
    _gate_parsers(sub)
    return p


def _gate_parsers(sub):
    from . import gateconf
    r = sub.add_parser(
        "gate", help="judge a run against a baseline (exit 0/1/3)",
        description="Per cell and metric: regressed / improved / same / "
                    "unknown (rank test + bootstrap interval of the ratio "
                    "of medians against a minimum effect; instruction "
                    "counts against an exact threshold).  Unknown cells "
                    "are re-run up to a cap.  Exit 0 pass, 1 regression, "
                    "3 unknown only (--unknown pass: 0), 2 usage error.  "
                    "Defaults come from the candidate suite's [gate] table.")
    r.add_argument("candidate", metavar="CANDIDATE", nargs="?",
                   default="latest", help="run id, unique prefix or 'latest' "
                                          "(default)")
    for key, (_check, default, helptext) in gateconf.GATE_KEYS.items():
        shown = default if not isinstance(default, list) \
            else ",".join(default)
        r.add_argument("--" + key.replace("_", "-"), dest=key,
                       metavar=key.split("_")[-1].upper(),
                       type=_GATE_CLI_TYPES.get(key, str),
                       action="append" if key in gateconf.PER_METRIC
                       else "store",
                       help=(f"{helptext} (default {shown}"
                             + ("; METRIC=X for one metric, repeatable)"
                                if key in gateconf.PER_METRIC else ")"))
                       .replace("%", "%%"))
    r.add_argument("-o", "--output", metavar="DIR",
                   help="write summary.md, junit.xml and gate.json here "
                        "(default reports/<run>/gate/<gate id>/)")
    r.add_argument("--lab-prefix", metavar="P",
                   help="lab namespace prefix for re-runs (default tcps)")
    _common(r)

    r = sub.add_parser(
        "history", help="a cell's history and change points",
        description="Per metric: the cell's median in every run (oldest "
                    "first) and the change points found by E-divisive means "
                    "with a significance test, with the commits they fall "
                    "between.")
    r.add_argument("cell", metavar="CELL",
                   help="STACK.WORKLOAD.cCORES, e.g. linux.shortconn.c1")
    r.add_argument("--metric", action="append",
                   choices=list(gateconf.METRICS), help="only this metric "
                                                        "(repeatable)")
    r.add_argument("--suite", help="runs of this suite (default: the suite "
                                   "of the newest run with the cell)")
    r.add_argument("--branch", help="runs on this branch only")
    r.add_argument("--host", help="runs on this host only")
    r.add_argument("--last", type=int, metavar="N", help="the last N runs")
    r.add_argument("--test", choices=("ttest", "permutation"),
                   default="ttest", help="significance test (default ttest)")
    r.add_argument("--pvalue", type=float, default=0.001,
                   help="significance threshold (default 0.001)")
    r.add_argument("--plot", metavar="PNG", help="also plot it to PNG")
    r.add_argument("--json", action="store_true")
    _common(r)

    r = sub.add_parser(
        "calibrate", help="the gate's false alarms and power on real runs",
        description="Replay the gate on a calibration fixture: same-vs-same "
                    "splits (false alarms) and injected regressions of 5, "
                    "10, 20 % (power); exit 1 if false alarms exceed 1 % "
                    "or power at 10 % is below 90 %.  --make RUN... builds "
                    "a fixture from stored runs.")
    r.add_argument("fixture", metavar="FIXTURE", nargs="?",
                   help="default tests/harness/fixtures/gate-calibration.json")
    r.add_argument("--make", nargs="+", metavar="RUN",
                   help="make a fixture from these runs")
    r.add_argument("--how", default="", help="how the runs were made "
                                             "(kept in the fixture)")
    r.add_argument("-o", "--output", metavar="FILE",
                   help="where --make writes the fixture")
    r.add_argument("--add", metavar="FIXTURE",
                   help="with --make: keep this fixture's runs and add the "
                        "new ones (its how, then --how)")
    r.add_argument("--history-k", type=int, default=5, metavar="K",
                   help="runs in a history baseline (default 5)")
    r.add_argument("--alpha", action="append")
    r.add_argument("--min-effect", dest="min_effect", action="append")
    r.add_argument("--pair-offset", dest="pair_offset", action="append")
    _common(r)

    r = sub.add_parser(
        "reference", help="the reference build measured beside the checkout",
        description="save: copy the checkout's tsload build (and refstack's "
                    "shim, when built) to FOLDER, which a suite's "
                    "`reference` names; show: what FOLDER holds (exit 1 if "
                    "nothing usable).  Default FOLDER: reference in the "
                    "reports folder.")
    r.add_argument("action", choices=("save", "show"))
    r.add_argument("folder", metavar="FOLDER", nargs="?")
    _common(r)


def main(argv=None):
    # Ctrl-C must stop a run cleanly even when a script started us in the
    # background (which leaves SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (profile.ProfileError, store.StoreError, GateError,
            ReferenceBuildError) as e:
        print(f"tcpscale {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tcpscale {args.command}: interrupted", file=sys.stderr)
        return 130
