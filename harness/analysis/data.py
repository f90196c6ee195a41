"""Reading a run directory for analysis: the long results table, the config and the voxel arrays.

Everything the analysis reads from a run goes through the functions here. The run store is the
one source (the exported CSV and Parquet tables are regenerated from it).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.errors import DataError
from harness.store import RunStore

PHASES_TABLE = "phases.csv"
ARRAY_COLUMNS = ["model", "target", "step", "layer", "subject", "path", "key"]
BRAIN_ARRAY_PREFIX = "r/"  # per-voxel r of one subject: r/<subject>


def _store(run_dir: Path) -> RunStore:
    if not Path(run_dir).is_dir():
        raise DataError(f"{run_dir}: no such run directory")
    return RunStore(run_dir)


def load_results(run_dir: Path) -> pd.DataFrame:
    """All result rows of a run in the long format."""
    with _store(run_dir) as store:
        return store.results_frame()


def load_config_text(run_dir: Path) -> str:
    """The run's config copy as text ('' when absent)."""
    path = Path(run_dir) / "config.yaml"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def voxel_array_index(run_dir: Path) -> pd.DataFrame:
    """Per-voxel r arrays of brain cells (the store's ``r/<subject>`` artifacts): columns ``ARRAY_COLUMNS``."""
    run_dir = Path(run_dir)
    with _store(run_dir) as store:
        artifacts = store.artifacts_frame()
    brain = artifacts[artifacts["name"].astype(str).str.startswith(BRAIN_ARRAY_PREFIX) & artifacts["layer"].notna()]
    return pd.DataFrame({
        "model": brain["model"].astype(str), "target": brain["target"].astype(str),
        "step": brain["step"].astype(int), "layer": brain["layer"].astype(int),
        "subject": brain["name"].astype(str).str.removeprefix(BRAIN_ARRAY_PREFIX),
        "path": [run_dir / str(path) for path in brain["path"]], "key": brain["name"].astype(str),
    }, columns=ARRAY_COLUMNS).reset_index(drop=True)
