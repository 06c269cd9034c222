"""Result records: JSON files under reports/<run-id>/ and reports/results.sqlite.

Layout of a run (see reports/README.md):

    reports/<run-id>/run.json               the run: suite, plan, env, status
    reports/<run-id>/records/<cell>.json    one record per cell (schema 1)
    reports/<run-id>/raw/                   raw artefacts (tsload JSON, perf)
    reports/<run-id>/report.md|.html|*.png  the report
    reports/results.sqlite                  runs + records of every run

A record is written (JSON, then the database row) as soon as its cell ends,
so an interrupted run keeps every finished cell.
"""
import json
import os
import sqlite3
import time

SCHEMA = 1
DB_NAME = "results.sqlite"


class StoreError(Exception):
    """A run or record that cannot be found or read."""


# ------------------------------------------------------------------ files

def new_run_id(git_short=None, now=None):
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now or time.time()))
    return f"{stamp}-{git_short or 'nogit'}"


def create_run_dir(reports_dir, run_id):
    """Make reports/<run-id>/{records,raw}; a clash gets a -2, -3 suffix."""
    base, n = run_id, 1
    while os.path.exists(os.path.join(reports_dir, run_id)):
        n += 1
        run_id = f"{base}-{n}"
    run_dir = os.path.join(reports_dir, run_id)
    os.makedirs(os.path.join(run_dir, "records"))
    os.makedirs(os.path.join(run_dir, "raw"))
    return run_id, run_dir


def write_json(path, obj):
    """Atomic write: a reader never sees half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise StoreError(f"{path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise StoreError(f"{path}: not valid JSON: {e}") from None


# ---------------------------------------------------------------- records

def _client_jobs(tsload):
    if not isinstance(tsload, dict):
        return []
    return [j for j in tsload.get("jobs", []) if isinstance(j, dict)
            and j.get("role", "client") == "client"]


def _pct(job, phase, p):
    try:
        return float(job["latency_us"][phase]["percentiles"][p])
    except (KeyError, TypeError, ValueError):
        return None


def extract_metrics(tsload, workload):
    """Key metrics from tsload's JSON (sums over client jobs)."""
    jobs = _client_jobs(tsload)
    if not jobs:
        return {}
    first = jobs[0]
    m = {
        "cps": sum(float(j.get("cps") or 0) for j in jobs),
        "tps": sum(float(j.get("tps") or 0) for j in jobs),
        "connections": sum(int(j.get("connections") or 0) for j in jobs),
        "transactions": sum(int(j.get("transactions") or 0) for j in jobs),
        "errors": sum(int((j.get("errors") or {}).get("total") or 0)
                      for j in jobs),
        "elapsed_s": float(first.get("elapsed_s") or 0),
        "p50_us": _pct(first, "total", "50"),
        "p99_us": _pct(first, "total", "99"),
        "p999_us": _pct(first, "total", "99.9"),
        "connect_p50_us": _pct(first, "connect", "50"),
        "connect_p99_us": _pct(first, "connect", "99"),
    }
    if workload == "keepalive":
        m["rate"], m["rate_unit"] = m["tps"], "req/s"
    else:
        m["rate"], m["rate_unit"] = m["cps"], "conn/s"
    return m


def build_record(run_id, cell, result, env, lab, started, finished):
    """One versioned record from a cell and run_cell()'s result."""
    result = result or {}
    return {
        "schema": SCHEMA,
        "run_id": run_id,
        "cell": cell,
        "status": result.get("status", "error"),
        "error": result.get("error"),
        "started": started,
        "finished": finished,
        "duration_s": round(finished - started, 3),
        "metrics": dict(extract_metrics(result.get("tsload"),
                                        cell["workload"]),
                        **(result.get("metrics") or {})),
        "env": env,
        "lab": lab,
        "tuning": result.get("tuning") or {},
        "servers": result.get("servers") or {},
        "collectors": result.get("collectors") or {},
        "artefacts": result.get("artefacts") or {},
        "tsload": result.get("tsload"),
    }


def check_record(rec, where="record"):
    """Validate a record read back from disk or the database."""
    if not isinstance(rec, dict):
        raise StoreError(f"{where}: expected a JSON object")
    if rec.get("schema") != SCHEMA:
        raise StoreError(f"{where}: schema {rec.get('schema')!r} "
                         f"(this tcpscale reads schema {SCHEMA})")
    for key in ("run_id", "cell", "status", "metrics"):
        if key not in rec:
            raise StoreError(f"{where}: missing key {key!r}")
    return rec


def record_path(run_dir, cell_id):
    return os.path.join(run_dir, "records", cell_id + ".json")


def save_record(reports_dir, run_dir, record):
    """JSON file first (the source of truth), then the database row."""
    write_json(record_path(run_dir, record["cell"]["id"]), record)
    with open_db(reports_dir) as db:
        insert_record(db, record)


def save_run(reports_dir, run_dir, run):
    write_json(os.path.join(run_dir, "run.json"), run)
    with open_db(reports_dir) as db:
        insert_run(db, run)


# --------------------------------------------------------------- database

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, suite TEXT, started REAL, finished REAL,
    status TEXT, git_sha TEXT, host TEXT, kernel TEXT, cpu_model TEXT,
    cores INTEGER, n_cells INTEGER, n_done INTEGER, run_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    run_id TEXT NOT NULL, cell_id TEXT NOT NULL, stack TEXT, workload TEXT,
    cores INTEGER, rep INTEGER, collectors INTEGER, status TEXT,
    rate REAL, cps REAL, tps REAL, p50_us REAL, p99_us REAL, errors INTEGER,
    started REAL, record_json TEXT NOT NULL,
    PRIMARY KEY (run_id, cell_id));
CREATE INDEX IF NOT EXISTS records_cell
    ON records (stack, workload, cores, collectors);
"""


class _Db:
    """sqlite3 connection as a context manager that commits and closes."""

    def __init__(self, path):
        self.conn = sqlite3.connect(path, timeout=30)
        try:
            self.conn.executescript(_DDL)
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES "
                              "('schema', ?)", (str(SCHEMA),))
        except sqlite3.DatabaseError as e:
            self.conn.close()
            raise StoreError(f"{path}: not a usable SQLite database ({e}); "
                             "left as it is — move it aside to start a "
                             "new one (the JSON records under the run "
                             "folders are kept)") from None

    def __enter__(self):
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.conn.commit()
        self.conn.close()
        return False


def db_path(reports_dir):
    return os.path.join(reports_dir, DB_NAME)


def open_db(reports_dir):
    os.makedirs(reports_dir, exist_ok=True)
    return _Db(db_path(reports_dir))


def insert_run(db, run):
    env = run.get("env") or {}
    db.execute(
        "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (run["run_id"], (run.get("suite") or {}).get("name"),
         run.get("started"), run.get("finished"), run.get("status"),
         (env.get("git") or {}).get("sha"), env.get("host"),
         env.get("kernel"), env.get("cpu_model"), env.get("cores"),
         len(run.get("plan", [])), run.get("n_done", 0),
         json.dumps(run, sort_keys=True)))


def insert_record(db, rec):
    c, m = rec["cell"], rec.get("metrics") or {}
    db.execute(
        "INSERT OR REPLACE INTO records VALUES "
        "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (rec["run_id"], c["id"], c["stack"], c["workload"], c["cores"],
         c["rep"], int(bool(c.get("collectors", True))), rec["status"],
         m.get("rate"), m.get("cps"), m.get("tps"), m.get("p50_us"),
         m.get("p99_us"), m.get("errors"), rec.get("started"),
         json.dumps(rec, sort_keys=True)))


def list_runs(reports_dir):
    """Rows (dicts) of every run in the database, oldest first."""
    if not os.path.exists(db_path(reports_dir)):
        return []
    with open_db(reports_dir) as db:
        cur = db.execute(
            "SELECT run_id, suite, started, finished, status, git_sha, host, "
            "cores, n_cells, n_done FROM runs ORDER BY started, run_id")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]


def _db_load(reports_dir, run_id):
    if not os.path.exists(db_path(reports_dir)):
        return None, []
    with open_db(reports_dir) as db:
        row = db.execute("SELECT run_json FROM runs WHERE run_id = ?",
                         (run_id,)).fetchone()
        recs = db.execute("SELECT record_json FROM records WHERE run_id = ? "
                          "ORDER BY started, cell_id", (run_id,)).fetchall()
    run = json.loads(row[0]) if row else None
    return run, [check_record(json.loads(r[0]), f"{run_id} in database")
                 for r in recs]


# ------------------------------------------------------------ killed runs

def owner_of_this_process():
    """Who runs a run: pid + its start time (so a reused pid is not us)."""
    from . import procs
    return {"pid": os.getpid(), "start": procs.start_time(os.getpid())}


def mark_killed_runs(reports_dir):
    """Runs still "running" whose process is gone (SIGKILL, power loss)
    become "killed"; their finished cells stay.  Returns their ids."""
    from . import procs
    killed = []
    for row in list_runs(reports_dir):
        if row["status"] != "running":
            continue
        with open_db(reports_dir) as db:
            run = json.loads(db.execute(
                "SELECT run_json FROM runs WHERE run_id = ?",
                (row["run_id"],)).fetchone()[0])
        owner = run.get("owner") or {}
        if owner.get("pid") and procs.is_alive(owner["pid"],
                                                owner.get("start")):
            continue
        run["status"] = "killed"
        run["error"] = ("the run's process ended without finishing it; "
                        f"{run.get('n_done', 0)} finished cells are kept")
        run_dir = os.path.join(reports_dir, run["run_id"])
        if os.path.isdir(run_dir):
            save_run(reports_dir, run_dir, run)
        else:
            with open_db(reports_dir) as db:
                insert_run(db, run)
        killed.append(run["run_id"])
    return killed


# ----------------------------------------------------------------- lookup

def resolve_run(reports_dir, ref):
    """A run id, a unique id prefix, "latest", or a run directory path."""
    if os.path.isdir(ref) and os.path.exists(os.path.join(ref, "run.json")):
        ref_dir = os.path.abspath(ref)
        return os.path.basename(ref_dir), ref_dir
    ids = set(r["run_id"] for r in list_runs(reports_dir))
    if os.path.isdir(reports_dir):
        ids.update(d for d in os.listdir(reports_dir) if os.path.exists(
            os.path.join(reports_dir, d, "run.json")))
    if ref in ("latest", "last"):
        if not ids:
            raise StoreError(f"no runs in {reports_dir}")
        run_id = max(ids)
    elif ref in ids:
        run_id = ref
    else:
        hits = sorted(i for i in ids if i.startswith(ref))
        if len(hits) != 1:
            why = "matches several runs" if hits else "matches no run"
            raise StoreError(f"run {ref!r} {why} in {reports_dir} "
                             "(see `tcpscale list`)")
        run_id = hits[0]
    return run_id, os.path.join(reports_dir, run_id)


def load_run(reports_dir, ref):
    """(run, records) from the JSON files, or the database if they are gone."""
    run_id, run_dir = resolve_run(reports_dir, ref)
    run_file = os.path.join(run_dir, "run.json")
    if os.path.exists(run_file):
        run = read_json(run_file)
        rec_dir = os.path.join(run_dir, "records")
        names = sorted(n for n in os.listdir(rec_dir) if n.endswith(".json")) \
            if os.path.isdir(rec_dir) else []
        records = [check_record(read_json(os.path.join(rec_dir, n)),
                                os.path.join(rec_dir, n)) for n in names]
        records.sort(key=lambda r: (r.get("started") or 0, r["cell"]["id"]))
        return run, records, run_dir
    run, records = _db_load(reports_dir, run_id)
    if run is None:
        raise StoreError(f"run {run_id}: no run.json and not in the database")
    return run, records, run_dir
