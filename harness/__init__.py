"""tcpscale harness: plan, lab, run, collect, store, analyze, report.

Each pipeline stage is one module with a plain-data (dict/JSON) interface:

    profile -> plan -> suite (lab + run_cell) -> store -> analyze -> report
"""
import os

__version__ = "0.1"

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILES_DIR = os.path.join(REPO_ROOT, "profiles")
REPORTS_DIR = os.path.join(REPO_ROOT, "reports")
