"""Reading a run store while another process writes it (tests that kill a sweep mid-run)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
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


def sweep_in_background(config: Path, site: Path, *args: str, stderr: int = subprocess.DEVNULL) -> subprocess.Popen[str]:
    """``harness sweep CONFIG --quiet ARGS`` in a subprocess that imports the plugin packages written in ``site``."""
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "sweep", str(config), "--quiet", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=stderr, text=True)


def wait_for_done(store: Path, count: int, timeout_s: float = 60) -> None:
    """Wait until ``count`` cells of ``store`` are done (or ``timeout_s`` has passed)."""
    deadline = time.time() + timeout_s
    while done_count(store) < count and time.time() < deadline:
        time.sleep(0.05)
