"""The nuisance-only fit of a subject (``encoding.nuisance``), kept under the cache beside its prepared responses.

The nuisance-only model does not depend on the language model, so each subject's is fitted once
per dataset and kept: per voxel its test R² and Pearson r, NaN where no voxel has been fitted
yet. Where the dataset reports a data hash it is written under ``<cache>/nuisance/<key>/``
(``fit.npy``, then ``meta.json`` last, the completion marker with the checksum of ``fit.npy``)
and read back by a resumed sweep, a second process or a Ray worker. The key digests what the fit
depends on: the subject's prepared responses (dataset, data hash, subject, split, shapes, their
preparation), its scan times and word onsets, and the settings of the nuisance design and its
ridge (features, delays, Lanczos window, folds, penalties, precision). A folder whose marker is
missing, or whose file does not match its checksum or shape, is fitted again, never trusted.
"""

from __future__ import annotations

import io
import json
import zlib
from pathlib import Path

import numpy as np

from harness.encoding.prepared import npy_bytes
from harness.encoding.settings import EncodingSettings
from harness.util.digest import settings_digest
from harness.util.files import atomic_write_bytes, atomic_write_text
from harness.util.paths import cache_root, cache_writable

ALONE_VERSION = "1"  # bump when the nuisance design or its fit changes
DESIGN_SETTINGS = ("nuisance", "delays", "delays_s", "lanczos_window", "folds", "precision")


def alone_key(responses: str, design: str, settings: EncodingSettings) -> str:
    """The folder name of a subject's nuisance-only fit: ``responses`` is its prepared responses' key, ``design``
    its scan times' and onsets' (``SubjectResponses.design_key``)."""
    dumped = settings.model_dump()
    payload = {"version": ALONE_VERSION, "responses": responses, "design": design,
               "settings": {name: dumped.get(name) for name in DESIGN_SETTINGS}, "alphas": settings.alpha_values()}
    return settings_digest(payload, 24)


def alone_folder(key: str) -> Path:
    """Where the nuisance-only fit of ``key`` lives."""
    return cache_root() / "nuisance" / key


def empty_alone(n_total: int) -> np.ndarray:
    """(2 × voxels) R² and r of a subject none of whose voxels is fitted yet."""
    return np.full((2, n_total), np.nan, dtype=np.float64)


def read_alone(folder: Path, n_total: int) -> np.ndarray | None:
    """The (2 × voxels) R² and r kept in ``folder``, or None when missing, partial or damaged."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        payload = (folder / "fit.npy").read_bytes()
        if meta["version"] != ALONE_VERSION or zlib.crc32(payload) != meta["crc"]:
            return None
        values = np.load(io.BytesIO(payload), allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if values.shape != (2, n_total) or values.dtype != np.float64:
        return None
    return values


def write_alone(folder: Path, values: np.ndarray) -> None:
    """Keep ``values`` (2 × voxels) in ``folder``: the marker removed first, written again last."""
    if not cache_writable():
        return
    payload = npy_bytes(np.asarray(values, dtype=np.float64))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").unlink(missing_ok=True)  # what was there is not trusted while the file changes
    atomic_write_bytes(folder / "fit.npy", payload)
    atomic_write_text(folder / "meta.json", json.dumps({"version": ALONE_VERSION, "crc": zlib.crc32(payload),
                                                        "voxels": int(values.shape[1])}, indent=1))
