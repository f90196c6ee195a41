"""Reading a run directory for analysis: the long results table, the voxel arrays and the config.

Everything the analysis reads from a run goes through the functions here. The run store is the
one source (the exported CSV and Parquet tables are regenerated from it); ``RunData.digest``
names what an analysis was computed from, so its outputs can tell when they are stale.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.digest import settings_digest
from harness.errors import DataError
from harness.store import RunStore

ARRAY_COLUMNS = ["model", "target", "step", "layer", "subject", "path", "key"]
BRAIN_ARRAY_PREFIX = "r/"  # per-voxel r of one subject: r/<subject>


@dataclass(frozen=True)
class RunData:
    """What the analysis reads from one run: its results and the index of its per-voxel r arrays."""

    run_dir: Path
    results: pd.DataFrame
    arrays: pd.DataFrame  # columns ARRAY_COLUMNS

    @property
    def digest(self) -> str:
        """A digest of the results and of the array files they point to (equal data, equal digest)."""
        rows = pd.util.hash_pandas_object(self.results, index=False).to_numpy()
        files = sorted({Path(path).name for path in self.arrays["path"]})  # array names hold their content hash
        return settings_digest({"results": hashlib.sha256(rows.tobytes()).hexdigest(), "arrays": files})


def _array_index(run_dir: Path, artifacts: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``ARRAY_COLUMNS`` for the ``r/<subject>`` arrays of layered (brain) cells."""
    brain = artifacts[artifacts["name"].astype(str).str.startswith(BRAIN_ARRAY_PREFIX) & artifacts["layer"].notna()]
    return pd.DataFrame({
        "model": brain["model"].astype(str), "target": brain["target"].astype(str),
        "step": brain["step"].astype(int), "layer": brain["layer"].astype(int),
        "subject": brain["name"].astype(str).str.removeprefix(BRAIN_ARRAY_PREFIX),
        "path": [run_dir / str(path) for path in brain["path"]], "key": brain["name"].astype(str),
    }, columns=ARRAY_COLUMNS).reset_index(drop=True)


def read_run(run_dir: Path) -> RunData:
    """The results and the voxel-array index of a run, read from its store in one go."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: no such run directory")
    with RunStore(run_dir) as store:
        return RunData(run_dir, store.results_frame(), _array_index(run_dir, store.artifacts_frame()))


def load_config_text(run_dir: Path) -> str:
    """The run's config copy as text ('' when absent)."""
    path = Path(run_dir) / "config.yaml"
    return path.read_text(encoding="utf-8") if path.is_file() else ""
