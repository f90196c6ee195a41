"""Reading a run directory for analysis: the long results table, the config and the voxel arrays.

Everything the analysis reads from a run goes through the functions here, so the source (the run
store or the exported CSV tables) can change without touching the analysis itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from harness.errors import DataError
from harness.results import SORT_COLUMNS
from harness.store import STORE_NAME, RunStore
from harness.tables import read_table

PHASES_TABLE = "phases.csv"
_ARRAY_NAME = re.compile(r"^(?P<model>.+?)__(?P<target>.+?)__(?:step)?(?P<step>\d+)__(?:layer|L)?(?P<layer>\d+)$")


def _store(run_dir: Path) -> RunStore | None:
    """The run's store when it has one, else None (a directory of exported tables only)."""
    return RunStore(run_dir) if (run_dir / STORE_NAME).is_file() else None


def load_results(run_dir: Path) -> pd.DataFrame:
    """All result rows of a run in the long format (from the store, else RUN/tables/*.csv)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: no such run directory")
    store = _store(run_dir)
    if store is not None:
        with store:
            return store.results_frame()
    tables = sorted(p for p in (run_dir / "tables").glob("*.csv") if "__" in p.stem)
    if not tables:
        raise DataError(f"{run_dir}: no result tables (expected tables/<model>__<target>.csv)")
    frame = pd.concat([read_table(p) for p in tables], ignore_index=True)
    return frame.sort_values(SORT_COLUMNS, kind="stable").reset_index(drop=True)


def load_config_text(run_dir: Path) -> str:
    """The run's config copy as text ('' when absent)."""
    path = Path(run_dir) / "config.yaml"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def voxel_array_index(run_dir: Path) -> pd.DataFrame:
    """Per-voxel r arrays of brain cells: columns model, target, step, layer, subject, path, key.

    Read from the store's artifact records; a run without a store may name its files
    ``arrays/<model>__<target>__<step>__<layer>.npz`` holding keys ``r/<subject>``.
    """
    run_dir = Path(run_dir)
    columns = ["model", "target", "step", "layer", "subject", "path", "key"]
    store = _store(run_dir)
    rows: list[dict] = []
    if store is not None:
        with store:
            artifacts = store.artifacts_frame()
        for record in artifacts.itertuples(index=False):
            if str(record.name).startswith("r/") and record.layer is not None and not pd.isna(record.layer):
                rows.append({
                    "model": record.model, "target": record.target, "step": int(record.step), "layer": int(record.layer),
                    "subject": str(record.name)[2:], "path": run_dir / record.path, "key": record.name,
                })
    else:
        import numpy as np

        for path in sorted((run_dir / "arrays").glob("*.npz")):
            match = _ARRAY_NAME.match(path.stem)
            if not match:
                continue
            with np.load(path) as arrays:
                keys = [k for k in arrays.files if k.startswith("r/")]
            for key in keys:
                rows.append({
                    "model": match["model"], "target": match["target"], "step": int(match["step"]),
                    "layer": int(match["layer"]), "subject": key[2:], "path": path, "key": key,
                })
    return pd.DataFrame(rows, columns=columns)
