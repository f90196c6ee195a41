"""Bringing a run store written by an older harness up to the current schema, when it is opened.

Columns added after the first release are added, empty, wherever missing. Changes to what is stored are
numbered steps: each runs once, in order, in one transaction with SQLite's ``user_version`` (the store's
version), so an old run directory opens and reads as a new one, and a store from a newer harness is refused
in one line.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from harness.util.errors import DataError

# columns added after the first release: (table, column, type)
ADDED_COLUMNS = [("cells", "stale", "TEXT"), ("scores", "chance", "REAL"), ("scores", "items", "INTEGER")]


def _sensors_counted(db: sqlite3.Connection) -> None:
    """M/EEG cells count sensors: their ``n_voxels`` becomes ``n_sensors`` (a cell fitted by a TRF has a
    ``peak_lag_s`` score or a ``lags_s`` array; the only M/EEG datasets before this step were MEG)."""
    db.execute(
        """UPDATE scores SET metric = 'n_sensors' WHERE metric = 'n_voxels' AND cell_id IN (
               SELECT cell_id FROM scores WHERE metric = 'peak_lag_s'
               UNION SELECT cell_id FROM artifacts WHERE name = 'lags_s')"""
    )


STEPS: list[Callable[[sqlite3.Connection], None]] = [_sensors_counted]  # step i brings a store to version i + 1
VERSION = len(STEPS)


def _version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the store open on ``db`` (autocommit) to ``VERSION``; a ``DataError`` if it is newer."""
    if _version(db) > VERSION:
        raise DataError(f"{path}: written by a newer harness (store version {_version(db)}, this harness reads up "
                        f"to {VERSION}); upgrade harness to read it")
    for table, column, kind in ADDED_COLUMNS:
        if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    if _version(db) == VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for version in range(_version(db), VERSION):  # read again under the lock: another process may have migrated
            STEPS[version](db)
        db.execute(f"PRAGMA user_version = {VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
