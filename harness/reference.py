"""The reference build: a stored copy of the code a suite measures beside
the checkout's, repetition by repetition, so that the gate compares the
two inside one run instead of across runs (on a shared machine the runs'
own levels move by tens of percent; two builds measured side by side see
the same machine).

    ./tcpscale reference save [DIR]    # after a passing gate on main
    ./tcpscale reference show [DIR]    # DIR: default reports/reference

A reference is a folder holding loadgen/tsload and reference.json (the
commit it was built from, when it was saved).  It stands for the code of
the linux cells (tsload is their only code under test); the stacks of this
repository (refstack) are not swapped, so their cells get no reference twin.
"""
import os
import shutil
import time

from . import REPO_ROOT, REPORTS_DIR, store
from . import env as envmod

DEFAULT_NAME = "reference"      # in the reports folder
TSLOAD = os.path.join("loadgen", "tsload")
INFO = "reference.json"
# stacks whose code under test is all in the reference build
STACKS = ("linux",)


class ReferenceBuildError(Exception):
    """A reference that cannot be saved or read: exit 2."""


def reports_dir():
    return os.environ.get("TCPSCALE_REPORTS") or REPORTS_DIR


def path_of(spec, reports=None):
    """A suite's `reference`: absolute, or relative to the reports folder
    (where the history lives, and what a CI machine keeps between jobs)."""
    return spec if os.path.isabs(spec) else \
        os.path.join(os.path.abspath(reports or reports_dir()), spec)


def info(folder):
    """reference.json of a usable reference, or None."""
    if not os.access(os.path.join(folder, TSLOAD), os.X_OK):
        return None
    try:
        got = store.read_json(os.path.join(folder, INFO))
    except (OSError, ValueError, store.StoreError):
        return None
    return got if isinstance(got, dict) else None


def save(folder, tsload=None, git=None):
    """Copy the checkout's tsload build into folder (replacing what was
    there only once the copy is complete); returns reference.json.
    tsload, git: another build and the commit it was made from."""
    src = tsload or os.path.join(REPO_ROOT, TSLOAD)
    if not os.access(src, os.X_OK):
        raise ReferenceBuildError(f"{src}: not built (run: make -C loadgen)")
    git = git or envmod.git_info()
    tmp = folder.rstrip("/") + ".new"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "loadgen"))
    shutil.copy2(src, os.path.join(tmp, TSLOAD))
    got = {"git": {k: git.get(k) for k in ("sha", "short", "branch",
                                           "dirty")},
           "saved": time.time(), "saved_iso": time.strftime(
               "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "tsload": TSLOAD}
    store.write_json(os.path.join(tmp, INFO), got)
    old = folder.rstrip("/") + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(folder):
        os.rename(folder, old)
    os.rename(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return got


def for_suite(suite):
    """(folder, reference.json) the suite measures beside the checkout, or
    (folder, None) when it names one that is not there, (None, None) when
    it names none."""
    spec = suite.get("reference") or ""
    if not spec:
        return None, None
    folder = suite.get("reference_dir") or path_of(spec)
    return folder, info(folder)


def format_info(folder, got):
    if got is None:
        return [f"{folder}: no reference build (./tcpscale reference save "
                f"{folder})"]
    g = got.get("git") or {}
    return [f"{folder}: tsload of {g.get('short')}"
            + (" with uncommitted changes" if g.get("dirty") else "")
            + f" ({g.get('branch') or 'no branch'}), saved "
              f"{got.get('saved_iso')}"]
