"""The on-disk activation cache: one directory per extraction, one file per layer, written atomically.

Layout of an entry ``<cache_dir>/<key>/``::

    index.json        stories and their row ranges, shapes, dtype, provenance (written last)
    layer_000.npy     (total words, hidden) for layer 0 (embeddings), rows of all stories
    layer_001.npy     ...

An entry is built in a temporary sibling directory (``.<key>.*.partial``) and renamed into place once
complete, so a killed extraction never leaves a directory that reads as a finished entry; the next
extraction into the same cache removes such leftovers once no live process writes them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypedDict

import numpy as np

from harness.util.errors import DataError
from harness.util.files import WRITER_LOCK, new_directory, remove_abandoned, writer_lock

INDEX = "index.json"
FORMAT_VERSION = 1
STORAGE_DTYPES: dict[str, np.dtype] = {
    "float32": np.dtype(np.float32), "float16": np.dtype(np.float16), "bfloat16": np.dtype(np.uint16),
}


class ActivationIndex(TypedDict):
    """What ``index.json`` holds about an entry."""

    key: str
    format: int
    num_layers: int
    hidden_size: int
    dtype: str  # the stored dtype: "float32", "float16" or "bfloat16"
    stories: dict[str, list[int]]  # story -> [first row, stop row]
    settings: dict[str, object]  # the effective ExtractionSettings, as JSON
    model: dict[str, object]  # what identifies the weights (extract.model_fingerprint)
    step: int
    tokens_seen: int
    special_prefix: list[int]
    stats: dict[str, int]  # tokens, token_forwards, windows
    version: str


def layer_file(layer: int) -> str:
    return f"layer_{layer:03d}.npy"


class ActivationSet:
    """Word-level hidden states of one checkpoint on one stimulus set, read lazily layer by layer."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        index_path = self.path / INDEX
        if not index_path.is_file():
            raise DataError(f"{self.path}: not a complete activation cache entry (no {INDEX})")
        self.meta: ActivationIndex = json.loads(index_path.read_text(encoding="utf-8"))
        self.key: str = self.meta["key"]
        self.num_layers: int = int(self.meta["num_layers"])
        self.hidden_size: int = int(self.meta["hidden_size"])
        self.rows: dict[str, tuple[int, int]] = {
            name: (int(a), int(b)) for name, (a, b) in self.meta["stories"].items()
        }

    @property
    def stories(self) -> list[str]:
        """Story names, in the order their rows are stored."""
        return list(self.rows)

    def num_words(self, story: str) -> int:
        start, stop = self.rows[story]
        return stop - start

    def layer(self, index: int) -> dict[str, np.ndarray]:
        """Story -> (n_words, hidden) float32 for one layer (0 = embeddings)."""
        if not 0 <= index < self.num_layers:
            raise IndexError(f"layer {index} out of range 0..{self.num_layers - 1}")
        data = np.load(self.path / layer_file(index), mmap_mode="r")
        return {name: to_float32(data[start:stop], self.meta["dtype"]) for name, (start, stop) in self.rows.items()}

    def __repr__(self) -> str:
        return (
            f"ActivationSet({self.key}, layers={self.num_layers}, stories={len(self.rows)}, hidden={self.hidden_size})"
        )


def storage_dtype(dtype: str) -> np.dtype:
    """The numpy dtype a stored activation dtype is kept in (bfloat16 as raw 16-bit words)."""
    return STORAGE_DTYPES[dtype]


def to_float32(array: np.ndarray, dtype: str) -> np.ndarray:
    """Stored rows back to float32 (a fresh array)."""
    if dtype == "bfloat16":
        return (np.asarray(array, dtype=np.uint32) << 16).view(np.float32)
    return np.array(array, dtype=np.float32)


def from_float32(array: np.ndarray, dtype: str) -> np.ndarray:
    """Float32 rows to the stored dtype (bfloat16 rounded to nearest even, as torch does)."""
    if dtype == "bfloat16":
        bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
        rounded = bits + 0x7FFF + ((bits >> 16) & 1)
        return (rounded >> 16).astype(np.uint16)
    return np.asarray(array, dtype=storage_dtype(dtype))


def lookup(cache_dir: Path, key: str) -> ActivationSet | None:
    """The finished entry for ``key``, or None."""
    path = Path(cache_dir) / key
    if (path / INDEX).is_file():
        try:
            return ActivationSet(path)
        except (OSError, ValueError, KeyError):
            return None
    return None


PARTIAL = ".partial"


@contextmanager
def building(cache_dir: Path, key: str) -> Iterator[Path]:
    """A temporary directory for a new entry; renamed to ``<cache_dir>/<key>`` when the block ends.

    On error the temporary directory is removed. If another process finished the same entry first,
    its copy is kept and ours is discarded. The writer holds a lock inside the temporary directory
    while it writes, so that partial entries of killed extractions can be told from live ones and
    removed (``remove_stale_partials``, run here on the way in).
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(cache_dir)
    tmp = new_directory(cache_dir, f".{key}.", PARTIAL)
    try:
        with writer_lock(tmp):
            yield tmp
            if not (tmp / INDEX).is_file():
                raise RuntimeError(f"activation cache entry {key} was built without an index")
            (tmp / WRITER_LOCK).unlink()
            final = cache_dir / key
            try:
                os.rename(tmp, final)
            except OSError:
                if not (final / INDEX).is_file():
                    shutil.rmtree(final, ignore_errors=True)
                    os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_partials(cache_dir: Path) -> int:
    """Remove the ``.<key>.*.partial`` directories of killed extractions; return how many (see ``remove_abandoned``)."""
    return remove_abandoned(Path(cache_dir).glob(f".*{PARTIAL}"))


def write_index(directory: Path, meta: ActivationIndex) -> None:
    """Write index.json (last step of building an entry), flushed to disk."""
    path = Path(directory) / INDEX
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(meta, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
