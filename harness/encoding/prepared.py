"""Prepared responses: a subject's responses cleaned and z-scored once, kept voxel-major for every later pass.

A subject's responses are read from its dataset block by block (``read_blocks``: voxels NaN or
constant in some story dropped, every story z-scored) and laid out voxel-major: row ``i`` holds
kept voxel ``kept[i]`` over every training scan, then every test scan, as float32. Blocks of
voxels are then contiguous rows, which is how the encoder reads them.

Where the dataset reports a data hash, the prepared values are written once under
``<cache>/responses/<key>/`` (``values.f32`` memory-mapped, ``kept.npy``, and ``meta.json``
written last as the completion marker with the checksums of both files) and read back by every
later layer, checkpoint and sweep. The key digests the dataset, its data hash, the subject, the
split and the shapes, so changed data makes a new folder. A folder whose marker is missing or
whose files do not match their checksums is prepared again, never trusted.

Without a data hash nothing proves that the data on disk is unchanged since an earlier sweep (a
content digest would read every response, which is what preparing costs), so such a subject is
prepared in memory for the scorer's lifetime only.
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.encoding.responses import FLOAT_BYTES, ResponseBlock, SubjectResponses, read_blocks
from harness.plugin.contract import SubjectData
from harness.util.digest import settings_digest
from harness.util.files import atomic_write_bytes, atomic_write_text, current_umask
from harness.util.paths import cache_root, cache_writable

PREPARED_VERSION = "1"  # bump when the cleaning or z-scoring of responses changes
CHECK_BYTES = 64 << 20  # bytes checksummed at a time


@dataclass
class PreparedSubject:
    """One subject's kept voxels, voxel-major: ``values[i]`` is voxel ``kept[i]`` over training then test scans."""

    kept: np.ndarray  # (kept,) int64, indices among all the subject's voxels
    values: np.ndarray  # (kept × scans) float32, in memory or memory-mapped (read-only)
    n_train: int  # the first n_train columns are training scans

    @property
    def n_kept(self) -> int:
        return int(self.kept.size)

    def block(self, start: int, stop: int) -> ResponseBlock:
        """Kept voxels ``start:stop`` (positions among the kept ones) as a block; views, nothing copied."""
        rows = self.values[start:stop]
        return ResponseBlock(self.kept[start:stop], rows[:, : self.n_train].T, rows[:, self.n_train :].T)


def prepared_key(dataset: str, data_hash: str, info: SubjectResponses, train: list[str], test: list[str]) -> str:
    """The folder name of a subject's prepared responses: changes with the data, the split and the shapes."""
    rows = [[story, len(info.times[story])] for story in train + test]
    payload = {"version": PREPARED_VERSION, "dataset": dataset, "data": data_hash, "subject": info.subject,
               "train": train, "test": test, "rows": rows, "voxels": info.n_total}
    return settings_digest(payload, 24)


def prepared_folder(key: str) -> Path:
    """Where the prepared responses of ``key`` live."""
    return cache_root() / "responses" / key


def prepare_subject(
    where: str, data: SubjectData, info: SubjectResponses, train: list[str], test: list[str], voxels: int,
    folder: Path | None,
) -> PreparedSubject:
    """``info``'s subject prepared: read back from ``folder`` when complete and intact, else read from
    ``data`` (``voxels`` at a time) and, with a writable ``folder``, written there; None: in memory."""
    if folder is not None:
        found = open_prepared(folder, info.scans)
        if found is not None:
            return found
        if cache_writable():
            return _write_prepared(where, data, info, train, test, voxels, folder)
    blocks = list(read_blocks(where, data, info, train, test, voxels))
    kept = np.concatenate([b.kept for b in blocks]).astype(np.int64)
    values = np.empty((kept.size, info.scans), dtype=np.float32)
    n_train = blocks[0].y_train.shape[0]
    row = 0
    for block in blocks:
        width = block.kept.size
        values[row : row + width, :n_train] = block.y_train.T
        values[row : row + width, n_train:] = block.y_test.T
        row += width
    return PreparedSubject(kept, values, n_train)


def open_prepared(folder: Path, scans: int) -> PreparedSubject | None:
    """The prepared responses in ``folder`` (memory-mapped), or None when missing, partial or damaged."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        values_path, kept_path = folder / "values.f32", folder / "kept.npy"
        n_kept, n_train = int(meta["kept"]), int(meta["n_train"])
        if int(meta["scans"]) != scans or values_path.stat().st_size != FLOAT_BYTES * n_kept * scans:
            return None
        if _crc(kept_path) != meta["kept_crc"] or _crc(values_path) != meta["values_crc"]:
            return None
        kept = np.load(kept_path)
        if kept.shape != (n_kept,):
            return None
        values = (
            np.memmap(values_path, dtype=np.float32, mode="r", shape=(n_kept, scans))
            if n_kept
            else np.zeros((0, scans), np.float32)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return PreparedSubject(kept, values, n_train)


def _write_prepared(
    where: str, data: SubjectData, info: SubjectResponses, train: list[str], test: list[str], voxels: int, folder: Path
) -> PreparedSubject:
    """Read, clean and z-score the subject block by block, appending each block's rows to ``folder``'s values file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").unlink(missing_ok=True)  # whatever was there is not trusted any more
    kept_parts: list[np.ndarray] = []
    crc, n_train = 0, 0
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".values.f32.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            for block in read_blocks(where, data, info, train, test, voxels):
                n_train = block.y_train.shape[0]
                rows = np.concatenate([block.y_train.T, block.y_test.T], axis=1)  # (kept in block × scans), C order
                payload = rows.astype(np.float32, copy=False).tobytes()
                crc = zlib.crc32(payload, crc)
                handle.write(payload)
                kept_parts.append(block.kept)
                del rows, payload, block
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, folder / "values.f32")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    kept = np.concatenate(kept_parts).astype(np.int64) if kept_parts else np.zeros(0, np.int64)
    atomic_write_bytes(folder / "kept.npy", npy_bytes(kept))
    meta = {"version": PREPARED_VERSION, "subject": info.subject, "kept": int(kept.size), "scans": info.scans,
            "n_train": n_train, "values_crc": crc, "kept_crc": _crc(folder / "kept.npy")}
    atomic_write_text(folder / "meta.json", json.dumps(meta, indent=1))  # the completion marker, last
    values = np.memmap(folder / "values.f32", dtype=np.float32, mode="r", shape=(kept.size, info.scans)) if kept.size \
        else np.zeros((0, info.scans), np.float32)
    return PreparedSubject(kept, values, n_train)


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` as the bytes of a ``.npy`` file (no pickled objects), to be written atomically and checksummed."""
    from io import BytesIO

    buffer = BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _crc(path: Path) -> int:
    """CRC-32 of a file's bytes."""
    crc = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHECK_BYTES):
            crc = zlib.crc32(chunk, crc)
    return crc
