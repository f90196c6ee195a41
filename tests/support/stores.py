"""Reading a run store while another process writes it (tests that kill a sweep mid-run)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def done_count(store: Path) -> int:
    """Cells committed as done so far (0 while the store does not exist yet or is locked)."""
    if not store.is_file():
        return 0
    try:
        with sqlite3.connect(store, timeout=1) as db:
            return db.execute("SELECT count(*) FROM cells WHERE status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
