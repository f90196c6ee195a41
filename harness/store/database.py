"""The run store: an SQLite database in the run directory, one transaction per finished cell.

A cell's scores, its per-voxel array files and its provenance land together or not at all, so a
killed sweep never leaves a half-written cell; re-running skips the cells already done. A
finished result is replaced only by a successful recompute: when a recompute fails, the old
result stays, marked ``stale`` with the error, until a later recompute succeeds.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.plugin.contract import CellOutput
from harness.store.migrations import migrate
from harness.store.schema import typed_results
from harness.util.errors import DataError
from harness.util.files import atomic_write_bytes, creatable_problem

STORE_NAME = "store.sqlite"
SQLITE_HEADER = b"SQLite format 3\x00"
SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    cell_id TEXT PRIMARY KEY,
    settings_hash TEXT NOT NULL,
    model TEXT NOT NULL, family TEXT NOT NULL, step INTEGER NOT NULL, tokens INTEGER NOT NULL,
    revision TEXT, commit_hash TEXT,
    kind TEXT NOT NULL, target TEXT NOT NULL, plugin TEXT NOT NULL, layer INTEGER,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error TEXT, elapsed REAL, finished_at REAL,
    seed INTEGER, config_hash TEXT, data_hash TEXT, plugin_version TEXT, provenance TEXT,
    stale TEXT  -- a done cell whose recompute failed: that error; NULL while the result is current
);
CREATE TABLE IF NOT EXISTS scores (
    cell_id TEXT NOT NULL REFERENCES cells(cell_id) ON DELETE CASCADE,
    scope TEXT NOT NULL, metric TEXT NOT NULL, value REAL, stderr REAL,
    chance REAL,  -- the value expected from guessing; NULL when unknown
    items INTEGER,  -- the items the value averages (tasks); NULL when unknown
    PRIMARY KEY (cell_id, scope, metric)
);
CREATE TABLE IF NOT EXISTS artifacts (
    cell_id TEXT NOT NULL REFERENCES cells(cell_id) ON DELETE CASCADE,
    name TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL,
    PRIMARY KEY (cell_id, name)
);
CREATE TABLE IF NOT EXISTS rounds (  -- adaptive sweeps: the round that added each checkpoint, and why
    model TEXT NOT NULL, step INTEGER NOT NULL, round INTEGER NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (model, step)
);
"""


@dataclass(frozen=True)
class CellRecord:
    """Everything the store keeps about one cell besides its scores."""

    cell_id: str
    settings_hash: str
    model: str
    family: str
    step: int
    tokens: int
    revision: str | None
    commit: str | None
    kind: str
    target: str
    plugin: str
    layer: int | None
    seed: int
    config_hash: str
    data_hash: str | None
    plugin_version: str
    provenance: dict


def check_run_directory(run_dir: Path, *, existing: bool) -> None:
    """A ``DataError`` unless ``run_dir`` can hold a run (``existing``: and already holds one).

    A new run's directory must be creatable: its nearest existing folder is a writable folder, not
    a file; a path the system refuses (too long, a loop of links) is one line too.
    """
    store = run_dir / STORE_NAME
    try:
        if run_dir.exists() and not run_dir.is_dir():
            raise DataError(f"{run_dir}: is a file, not a run directory")
        problem = None if existing else creatable_problem(run_dir)
        if problem:
            raise DataError(f"{run_dir}: {problem.replace('no folder', 'no run directory')}")
        if not store.is_file():
            if existing:
                raise DataError(f"{run_dir}: not a run directory (no {STORE_NAME})")
            return
        with open(store, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise DataError(f"{run_dir}: cannot be used as a run directory: {error.strerror or error}") from None
    if header != SQLITE_HEADER:
        raise DataError(
            f"{store}: not a harness run store (not an SQLite database); move it aside or use another run directory"
        )


class RunStore:
    """The database of one run directory."""

    def __init__(self, run_dir: str | os.PathLike[str], *, create: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / STORE_NAME
        check_run_directory(self.run_dir, existing=not create)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
            migrate(self._db, self.path)
        except sqlite3.DatabaseError as error:
            raise DataError(f"{self.path}: not a readable harness run store ({error})") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------------ writing

    def _write_arrays(self, cell_id: str, arrays: dict[str, np.ndarray]) -> list[tuple[str, str, str]]:
        if not arrays:
            return []
        buffer = io.BytesIO()
        named: dict[str, Any] = {key: np.asarray(value) for key, value in arrays.items()}
        np.savez_compressed(buffer, **named)
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        # the content hash in the name: a recomputed cell never overwrites the file a committed row names
        name = f"{hashlib.sha1(cell_id.encode()).hexdigest()[:20]}-{digest[:8]}.npz"
        atomic_write_bytes(self.run_dir / "arrays" / name, data)
        return [(key, f"arrays/{name}", digest) for key in arrays]

    def commit_cell(
        self, record: CellRecord, output: CellOutput | None, *, elapsed: float, error: str | None = None
    ) -> str:
        """Record a finished cell (``output``) or a failed one (``error``) in one transaction.

        A failure never replaces a finished result: the result stays and is marked stale.
        Returns what was recorded: "done", "failed" or "stale".
        """
        status = "failed" if error is not None else "done"
        if error is not None and self._mark_stale(record.cell_id, error):
            return "stale"
        artifacts = self._write_arrays(record.cell_id, output.arrays) if output is not None else []
        replaced = {
            row[0] for row in self._db.execute("SELECT path FROM artifacts WHERE cell_id = ?", (record.cell_id,))
        }
        with self._transaction() as db:
            db.execute("DELETE FROM cells WHERE cell_id = ?", (record.cell_id,))
            db.execute(
                "INSERT INTO cells VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.cell_id, record.settings_hash, record.model, record.family, record.step,
                    record.tokens, record.revision, record.commit, record.kind, record.target,
                    record.plugin, record.layer, status, error, elapsed, time.time(), record.seed,
                    record.config_hash, record.data_hash, record.plugin_version,
                    json.dumps(record.provenance, sort_keys=True, default=str), None,
                ),
            )
            if output is not None:
                rows = {}
                for score in output.scores:
                    stderr = None if score.stderr is None else float(score.stderr)
                    chance = None if score.chance is None else float(score.chance)
                    items = None if score.items is None else int(score.items)
                    rows[(score.scope, score.metric)] = (record.cell_id, score.scope, score.metric, float(score.value),
                                                         stderr, chance, items)
                db.executemany(
                    "INSERT INTO scores (cell_id, scope, metric, value, stderr, chance, items) VALUES (?,?,?,?,?,?,?)",
                    list(rows.values()),
                )
            db.executemany("INSERT INTO artifacts VALUES (?,?,?,?)", [(record.cell_id, *a) for a in artifacts])
        for path in replaced - {a[1] for a in artifacts}:  # superseded arrays, only once the new row is in
            (self.run_dir / path).unlink(missing_ok=True)
        return status

    def _mark_stale(self, cell_id: str, error: str) -> bool:
        """Mark a finished cell's result stale with ``error``; False when the cell has no finished result."""
        with self._transaction() as db:
            marked = db.execute(
                "UPDATE cells SET stale = ? WHERE cell_id = ? AND status = 'done'", (error, cell_id)
            ).rowcount
        return bool(marked)

    # ------------------------------------------------------------------ reading

    def done_cells(self) -> dict[str, str]:
        """cell_id -> settings hash of every cell whose result is current (not stale, not failed)."""
        return dict(
            self._db.execute("SELECT cell_id, settings_hash FROM cells WHERE status = 'done' AND stale IS NULL")
        )

    def cells_frame(self) -> pd.DataFrame:
        """One row per recorded cell, failed ones included, with status, error and elapsed time.

        ``round`` is the adaptive round that added the cell's checkpoint (0: the first grid), empty
        outside adaptive sweeps.
        """
        return pd.read_sql_query(
            """SELECT c.*, r.round FROM cells c LEFT JOIN rounds r USING (model, step)
               ORDER BY c.model, c.step, c.kind, c.target, c.layer""", self._db)

    def results_frame(self) -> pd.DataFrame:
        """All scores of finished cells in the long table format, in a stable order.

        ``stale`` is empty for current results and holds the error of a failed recompute for a
        result kept from an earlier computation; ``chance`` and ``items`` are empty where the score declared none.
        """
        frame = pd.read_sql_query(
            """SELECT c.model, c.family, c.step, c.tokens, c.revision, c.commit_hash AS "commit", c.kind,
                      c.target, c.plugin, c.layer, s.scope, s.metric, s.value, s.stderr, s.chance, s.items, c.seed,
                      c.config_hash, c.data_hash, c.plugin_version, c.stale
               FROM scores s JOIN cells c USING (cell_id) WHERE c.status = 'done'
               ORDER BY c.model, c.step, c.kind, c.target, c.layer, s.scope, s.metric""",
            self._db,
        )
        return typed_results(frame, str(self.path))

    def artifacts_frame(self) -> pd.DataFrame:
        """Array files of finished cells: model, step, target, layer, array name, path, sha256."""
        return pd.read_sql_query(
            """SELECT c.model, c.step, c.tokens, c.kind, c.target, c.layer, a.name, a.path, a.sha256
               FROM artifacts a JOIN cells c USING (cell_id) WHERE c.status = 'done'
               ORDER BY c.model, c.step, c.target, c.layer, a.name""",
            self._db,
        )

    # ------------------------------------------------------------------ adaptive rounds

    def record_round(self, model: str, round_: int, reasons: dict[int, str]) -> None:
        """Record in one transaction that round ``round_`` of ``model`` adds these steps (step -> why)."""
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO rounds VALUES (?,?,?,?)",
                           [(model, int(step), int(round_), reason) for step, reason in sorted(reasons.items())])

    def checkpoint_rounds(self, model: str) -> dict[int, tuple[int, str]]:
        """step -> (round, why) of every checkpoint the adaptive rounds of ``model`` added."""
        rows = self._db.execute("SELECT step, round, reason FROM rounds WHERE model = ? ORDER BY step", (model,))
        return {int(step): (int(round_), str(reason)) for step, round_, reason in rows}

    def clear_rounds(self, model: str, from_round: int = 0) -> None:
        """Forget the rounds of ``model`` from ``from_round`` on (their cells' results stay)."""
        with self._transaction() as db:
            db.execute("DELETE FROM rounds WHERE model = ? AND round >= ?", (model, int(from_round)))
