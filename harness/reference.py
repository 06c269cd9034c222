"""The reference build: a stored copy of the code a suite measures beside
the checkout's, repetition by repetition, so that the gate compares the
two inside one run instead of across runs (on a shared machine the runs'
own levels move by tens of percent; two builds measured side by side see
the same machine).

    ./tcpscale reference save [DIR]    # after a passing gate on main
    ./tcpscale reference show [DIR]    # DIR: default reports/reference

A reference is a folder holding loadgen/tsload, refstack's shim when it
was built (refstack/rs-run and the library it preloads, which rs-run finds
beside itself) and reference.json (the commit it was built from, when it
was saved).  It stands for the code of the linux cells (tsload is their
only code under test) and, when it holds the shim, of the refstack cells
that run on it (tsload and the stack); a reference without the shim gives
refstack cells no twin.
"""
import os
import shutil
import time

from . import REPO_ROOT, REPORTS_DIR, store
from . import env as envmod

DEFAULT_NAME = "reference"      # in the reports folder
TSLOAD = os.path.join("loadgen", "tsload")
REFSTACK = "refstack"
# what refstack's cells run through the shim (refstack.py's launcher)
SHIM_FILES = ("rs-run", "librefstack-preload.so")
INFO = "reference.json"


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


def _shim_built(folder):
    return all(os.access(os.path.join(folder, f), os.R_OK)
               for f in SHIM_FILES)


def save(folder, tsload=None, git=None, refstack=None):
    """Copy the checkout's tsload build, and refstack's shim if it is built,
    into folder (replacing what was there only once the copy is complete);
    returns reference.json.  tsload, git: another build and the commit it
    was made from; refstack: another folder with the shim's files, or
    False for none."""
    src = tsload or os.path.join(REPO_ROOT, TSLOAD)
    if not os.access(src, os.X_OK):
        raise ReferenceBuildError(f"{src}: not built (run: make -C loadgen)")
    if refstack is None:
        refstack = os.path.join(REPO_ROOT, REFSTACK)
    shim = bool(refstack) and _shim_built(refstack)
    git = git or envmod.git_info()
    tmp = folder.rstrip("/") + ".new"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "loadgen"))
    shutil.copy2(src, os.path.join(tmp, TSLOAD))
    if shim:
        os.makedirs(os.path.join(tmp, REFSTACK))
        for f in SHIM_FILES:
            shutil.copy2(os.path.join(refstack, f),
                         os.path.join(tmp, REFSTACK, f))
    got = {"git": {k: git.get(k) for k in ("sha", "short", "branch",
                                           "dirty")},
           "saved": time.time(), "saved_iso": time.strftime(
               "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "tsload": TSLOAD,
           "refstack": REFSTACK if shim else None}
    store.write_json(os.path.join(tmp, INFO), got)
    old = folder.rstrip("/") + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(folder):
        os.rename(folder, old)
    os.rename(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return got


def builds(folder, got):
    """{stack kind: what its twins run}: "linux" -> {"tsload": path};
    "refstack" -> {"tsload", "refstack": the shim's folder}, when the
    reference holds it and the checkout's is built.  {} without a usable
    reference."""
    if not got:
        return {}
    out = {"linux": {"tsload": os.path.join(folder, TSLOAD)}}
    shim = os.path.join(folder, REFSTACK)
    # both sides on the shim (without it the checkout runs rs-crrd)
    if got.get("refstack") and _shim_built(shim) \
            and _shim_built(os.path.join(REPO_ROOT, REFSTACK)):
        out["refstack"] = dict(out["linux"], refstack=shim)
    return out


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
    what = "tsload and refstack's shim" if got.get("refstack") else "tsload"
    return [f"{folder}: {what} of {g.get('short')}"
            + (" with uncommitted changes" if g.get("dirty") else "")
            + f" ({g.get('branch') or 'no branch'}), saved "
              f"{got.get('saved_iso')}"]
