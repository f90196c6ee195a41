"""A run's logs: ``RUN/logs/sweep.log`` (what each sweep ran, when, what failed) and one
``RUN/logs/cells/<cell>.log`` per failed cell (its full traceback).

The sweep log gets one line per event, appended (a run's sweeps follow each other in the file)
and flushed at once, so the log of a killed sweep ends where it stopped. A failed cell's line
names its traceback file.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import TextIO

from harness.util.errors import one_line
from harness.util.files import atomic_write_text, file_stem

SWEEP_LOG = "logs/sweep.log"
CELL_LOGS = "logs/cells"


def cell_log_path(run_dir: Path, cell_id: str) -> Path:
    """Where the traceback of a failed cell is kept (the file exists only once it failed)."""
    return Path(run_dir) / CELL_LOGS / f"{file_stem(cell_id)}.log"


def write_cell_log(run_dir: Path, cell_id: str, error: BaseException | str) -> Path:
    """The full traceback of a failed cell (an exception, or its traceback as text) in RUN/logs/cells/<cell>.log;
    returns its path."""
    path = cell_log_path(run_dir, cell_id)
    trace = error if isinstance(error, str) else "".join(traceback.format_exception(error))
    atomic_write_text(path, f"cell {cell_id} failed at {time.strftime('%Y-%m-%d %H:%M:%S')}\n\n" + trace)
    return path


class SweepLog:
    """The sweep log of one run directory, open for appending while a sweep runs."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / SWEEP_LOG
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: TextIO = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._started = time.perf_counter()

    def write(self, message: str) -> None:
        """One timestamped line."""
        self._handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        self._handle.flush()

    def started(self, source: str, planned: int, pending: int, device: str, force: bool) -> None:
        from harness import __version__

        forced = ", --force" if force else ""
        self.write(f"sweep started: config {source}, harness {__version__}, device {device}{forced}; "
                   f"{planned} cells planned, {planned - pending} already done, {pending} to run")

    def cell_done(self, cell_id: str, elapsed: float) -> None:
        self.write(f"done   {cell_id} ({elapsed:.1f} s)")

    def cell_failed(self, cell_id: str, message: str, log: Path, stale: bool) -> None:
        kept = " [earlier result kept, marked stale]" if stale else ""
        self.write(f"FAILED {cell_id}: {message}{kept} (traceback: {_relative(log, self.run_dir)})")

    def finished(self, done: int, failed: int) -> None:
        seconds = time.perf_counter() - self._started
        self.write(f"sweep finished in {seconds:.1f} s: {done} computed, {failed} failed")

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> SweepLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if error is not None:
            what = "interrupted" if isinstance(error, KeyboardInterrupt) else f"stopped by {one_line(error)}"
            self.write(f"sweep {what}; finished cells are saved")
        self.close()


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
