"""What was learnt about a data file (its content digest, a scan of its values), kept between runs.

Facts are stored under ``<cache>/brain-files/`` and keyed by the file's path, size, modification
time and inode: rewriting a file, even with the same size, makes them stale. A file modified in
the last few seconds is not remembered (its time stamp could still be shared by a later write in
the same clock tick, as with make and git), nor one that changed while it was read.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import HarnessError, atomic_write_text, cache_root, cache_writable, write_later

SETTLED_SECONDS = 2.0  # a file younger than this is read again next time
_CHUNK = 1 << 20
# records learnt in this process (not yet, or never, on disk), by record path
_UNWRITTEN: dict[Path, dict[str, Any]] = {}


def _key(stat: os.stat_result, path: Path) -> list[Any]:
    return [str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino]


def _record_path(path: Path) -> Path:
    return cache_root() / "brain-files" / f"{hashlib.sha256(str(path).encode()).hexdigest()[:32]}.json"


def cached_fact(path: Path, name: str, compute: Callable[[Path], Any]) -> tuple[Any, bool]:
    """(``compute(path)``, False), or (the value remembered for this file's current content, True).

    ``name`` says which fact (include a version when its computation may change); values must be
    JSON. An exception from ``compute`` propagates and nothing is remembered.
    """
    path = Path(path).absolute()
    before = path.stat()
    record_path = _record_path(path)
    key = _key(before, path)
    facts: dict[str, Any] = {}
    try:
        record = _UNWRITTEN.get(record_path, {})
        if record.get("key") != key:
            record = json.loads(record_path.read_text())
        if record.get("key") == key:
            facts = record.get("facts", {})
    except (OSError, ValueError, AttributeError):
        pass
    if name in facts:
        return facts[name], True
    value = compute(path)
    after = path.stat()
    if _key(after, path) == key and time.time() - after.st_mtime_ns / 1e9 >= SETTLED_SECONDS:
        facts[name] = value
        _remember(record_path, {"key": key, "facts": facts})
    return value, False


def _remember(record_path: Path, record: dict[str, Any]) -> None:
    """On disk once the checks it was learnt in have passed (``write_later``), or (while the cache is
    read-only) in this process only."""
    _UNWRITTEN[record_path] = record
    if cache_writable():
        write_later(lambda: _write(record_path, record))


def _write(record_path: Path, record: dict[str, Any]) -> None:
    try:
        atomic_write_text(record_path, json.dumps(record))
    except OSError:  # an unwritable cache costs time, never correctness
        pass


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes, streamed, remembered while the file is unchanged."""
    return cached_fact(path, "sha256", _sha256)[0]


def files_digest(root: Path, files: Callable[[], list[Path]]) -> str:
    """Digest of the content of every file ``files()`` lists (paths relative to ``root``; each file's
    digest remembered while it is unchanged); '' when they cannot be listed or read, which the
    dataset's preflight check then explains."""
    digest = hashlib.sha256()
    try:
        for path in files():
            digest.update(f"{path.relative_to(root).as_posix()}\0{file_digest(path)}\n".encode())
    except (OSError, HarnessError):
        return ""
    return digest.hexdigest()[:16]
