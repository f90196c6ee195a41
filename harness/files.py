"""Atomic file writes: readers (and a killed process) see the old content or the new, never a part."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import HarnessError


def file_stem(*labels: str) -> str:
    """A file name stem for labels (model, target, ...): joined by ``__``, unsafe characters as ``_``.

    Labels may hold dots (``pythia-1.4b``), so a suffix is always appended to the stem as text,
    never with ``Path.with_suffix``, which would cut the label at its last dot.
    """
    return "__".join("".join(c if c.isalnum() or c in "-_." else "_" for c in label) for label in labels)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """``atomic_write_bytes`` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temporaries(directory: Path) -> int:
    """Delete the temporary files a killed atomic write left under ``directory``; return how many."""
    stale = list(Path(directory).rglob(".*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


@contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an advisory lock on ``path`` for the block; fail with one line if another process has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HarnessError(f"{path.parent}: {what} is in use by another process; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
