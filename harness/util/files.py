"""Files written safely: atomic writes, locks, folders in progress and their clean-up after a killed writer."""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.util.errors import HarnessError


def file_stem(*labels: str) -> str:
    """A file name stem for labels (model, target, ...): joined by ``__``, unsafe characters as ``_``.

    Labels may hold dots (``pythia-1.4b``), so a suffix is always appended to the stem as text,
    never with ``Path.with_suffix``, which would cut the label at its last dot.
    """
    return "__".join("".join(c if c.isalnum() or c in "-_." else "_" for c in label) for label in labels)


def creatable_problem(folder: Path) -> str | None:
    """Why ``folder`` could not be made or written in (its nearest existing folder is a file or not writable), or
    None."""
    try:
        for parent in (folder, *folder.absolute().parents):
            try:
                parent.stat()
            except (FileNotFoundError, NotADirectoryError):
                continue
            if not parent.is_dir():
                return (
                    f"{parent} is a file"
                    if parent == folder
                    else f"{parent} is a file, so no folder can be made under it"
                )
            if not os.access(parent, os.W_OK | os.X_OK):
                return f"{parent} is not writable"
            return None
    except OSError as error:  # too long, a loop of links
        return f"cannot be used: {error.strerror or error}"
    return None


def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (changing it races with threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_directory(parent: Path, prefix: str, suffix: str = "") -> Path:
    """A new, uniquely named directory with the usual permissions (``mkdtemp`` would make it 0700)."""
    while True:
        path = Path(parent) / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def usual_permissions(root: Path) -> None:
    """Folders 0777 and files 0666 less the umask, below and at ``root`` (some writers make 0700/0600)."""
    mask = current_umask()
    os.chmod(root, 0o777 & ~mask)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o666 & ~mask)


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
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; give the usual permissions
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


WRITER_LOCK = ".writer.lock"
STALE_UNLOCKED_AFTER_S = 24 * 3600  # a folder in progress with no lock file (older versions) is left this long


@contextmanager
def writer_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder/.writer.lock`` while a folder is being written; it appears already locked (made aside, renamed in).

    The kernel drops the lock when the writer dies, which is how ``remove_abandoned`` tells a
    killed writer's folder from a live one. Unlink the lock file before renaming the folder into place.
    """
    aside = Path(folder) / f"{WRITER_LOCK}.new"
    with open(aside, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(f"{socket.gethostname()} {os.getpid()}\n")
        handle.flush()
        os.rename(aside, Path(folder) / WRITER_LOCK)
        yield


def remove_abandoned(folders: Iterable[Path]) -> int:
    """Remove the in-progress ``folders`` whose writer is gone; return how many.

    A folder whose ``writer_lock`` can be taken at once has no live writer, so processes sharing
    a cache never remove each other's work in progress. A folder without a lock file (left by an
    older version) is removed once it is ``STALE_UNLOCKED_AFTER_S`` old.
    """
    removed = 0
    for folder in folders:
        lock = folder / WRITER_LOCK
        try:
            if not lock.is_file():
                if time.time() - folder.stat().st_mtime > STALE_UNLOCKED_AFTER_S:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
                continue
            with open(lock, "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        except (BlockingIOError, FileNotFoundError, NotADirectoryError):
            continue  # being written, or finished or removed meanwhile
    return removed
