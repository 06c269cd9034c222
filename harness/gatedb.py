"""Gate verdicts in reports/results.sqlite, beside the runs they judge.

    gates(gate_id, created, candidate, baseline, baseline_runs, verdict,
          exit_code, gate_json)
    verdicts(gate_id, cell, metric, verdict, ratio, ci_low, ci_high, p,
             n_base, n_cand, min_effect, reason)

A gate id is <candidate run id>.gate<N>; every gate of a run is kept (a new
one never replaces an old one).  meta('gate_schema') is GATE_SCHEMA.
"""
import json

from . import store

GATE_SCHEMA = 1

_DDL = """
CREATE TABLE IF NOT EXISTS gates (
    gate_id TEXT PRIMARY KEY, created REAL, candidate TEXT NOT NULL,
    baseline TEXT, baseline_runs TEXT, verdict TEXT, exit_code INTEGER,
    gate_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS verdicts (
    gate_id TEXT NOT NULL, cell TEXT NOT NULL, metric TEXT NOT NULL,
    verdict TEXT NOT NULL, ratio REAL, ci_low REAL, ci_high REAL, p REAL,
    n_base INTEGER, n_cand INTEGER, min_effect REAL, reason TEXT,
    PRIMARY KEY (gate_id, cell, metric));
CREATE INDEX IF NOT EXISTS verdicts_cell ON verdicts (cell, metric);
"""


def _open(reports_dir):
    db = store.open_db(reports_dir)
    db.conn.executescript(_DDL)
    db.conn.execute("INSERT OR IGNORE INTO meta VALUES ('gate_schema', ?)",
                    (str(GATE_SCHEMA),))
    return db


def next_gate_id(reports_dir, candidate):
    with _open(reports_dir) as db:
        n = db.execute("SELECT count(*) FROM gates WHERE candidate = ?",
                       (candidate,)).fetchone()[0]
    return f"{candidate}.gate{n + 1}"


def save(reports_dir, res):
    """Insert the gate and its rows (fails rather than replace a gate)."""
    conf = res["conf"]
    with _open(reports_dir) as db:
        db.execute("INSERT INTO gates VALUES (?,?,?,?,?,?,?,?)", (
            res["gate_id"], res["created"], res["candidate"],
            res["baseline"]["spec"], " ".join(res["baseline"]["runs"]),
            res["verdict"], res["exit_code"],
            json.dumps(res, sort_keys=True)))
        for r in res["rows"]:
            ci = r.get("ci") or [None, None]
            db.execute("INSERT INTO verdicts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                       (res["gate_id"], r["cell"], r["metric"], r["verdict"],
                        r.get("ratio"), ci[0], ci[1], r.get("p"),
                        r["n_base"], r["n_cand"],
                        conf["min_effect"].get(r["metric"],
                                               conf["exact_threshold"]),
                        r["reason"]))


def list_gates(reports_dir, candidate=None):
    with _open(reports_dir) as db:
        cur = db.execute(
            "SELECT gate_id, created, candidate, baseline, verdict, exit_code "
            "FROM gates" + (" WHERE candidate = ?" if candidate else "")
            + " ORDER BY created", (candidate,) if candidate else ())
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]
