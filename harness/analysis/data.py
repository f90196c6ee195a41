"""Reading a run directory for analysis: the long results table, the voxel arrays, failures and the config.

Everything the analysis reads from a run goes through the functions here. The run store is the
one source (the exported CSV and Parquet tables are regenerated from it); ``RunData.digest``
names what an analysis was computed from, so its outputs can tell when they are stale.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from harness.plan.config import SweepConfig, entry_label, parse_config
from harness.store.database import RunStore
from harness.store.logs import cell_log_path
from harness.util.digest import settings_digest
from harness.util.errors import DataError, HarnessError

ARRAY_COLUMNS = ["model", "target", "step", "layer", "subject", "path", "key"]
BRAIN_ARRAY_PREFIX = "r/"  # per-voxel r of one subject: r/<subject>
FAILURE_COLUMNS = ["cell", "model", "step", "tokens", "kind", "target", "layer", "status", "error", "log"]


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


def read_voxel_values(arrays: pd.DataFrame) -> dict[str, np.ndarray]:
    """subject -> its per-voxel r, for rows of the voxel-array index (one row per subject)."""
    values = {}
    for path, key, subject in zip(arrays["path"], arrays["key"], arrays["subject"]):
        with np.load(path) as loaded:
            values[str(subject)] = np.asarray(loaded[str(key)], dtype=np.float64).ravel()
    return values


def read_companion_arrays(arrays: pd.DataFrame, name: str) -> dict[str, np.ndarray]:
    """subject -> the array ``<name>/<subject>`` a brain cell stored beside its r (``p``: block-permutation
    p-values, ``lag_profile``: M/EEG lags × sensors), for rows of the voxel-array index; subjects whose cell
    has none are left out."""
    values = {}
    for path, subject in zip(arrays["path"], arrays["subject"]):
        with np.load(path) as loaded:
            key = f"{name}/{subject}"
            if key in loaded.files:
                values[str(subject)] = np.asarray(loaded[key], dtype=np.float64)
    return values


def read_cell_array(arrays: pd.DataFrame, name: str) -> np.ndarray | None:
    """The array ``name`` of the first row's cell (one every subject shares, such as ``lags_s``); None when absent."""
    for path in arrays["path"]:
        with np.load(path) as loaded:
            return np.asarray(loaded[name], dtype=np.float64) if name in loaded.files else None
    return None


def read_run(run_dir: Path) -> RunData:
    """The results and the voxel-array index of a run, read from its store in one go."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: no such run directory")
    with RunStore(run_dir) as store:
        return RunData(run_dir, store.results_frame(), _array_index(run_dir, store.artifacts_frame()))


@dataclass(frozen=True)
class Failures:
    """The failed and stale cells of a run, one row each (``FAILURE_COLUMNS``), and how many cells it has.

    ``status`` is "failed" (no result) or "stale" (a recompute failed; the earlier result is kept);
    ``log`` is the traceback's path relative to the run directory, '' when there is none.
    """

    cells: pd.DataFrame
    recorded: int  # cells in the run store, whatever their status

    @property
    def failed(self) -> int:
        return int((self.cells["status"] == "failed").sum())

    @property
    def stale(self) -> int:
        return int((self.cells["status"] == "stale").sum())

    @property
    def nothing_succeeded(self) -> bool:
        """True when the run has cells and every one of them failed."""
        return self.recorded > 0 and self.failed == self.recorded


def failure_rows(cells: pd.DataFrame) -> pd.DataFrame:
    """The failed cells and the stale results (a kept result whose recompute failed) of a store's cells frame,
    with ``state`` ("failed" or "stale") after ``cell_id`` and ``error`` saying why the cell, or its recompute,
    failed."""
    failed = cells["status"].eq("failed")
    rows = cells[failed | cells["stale"].notna()].copy()
    rows.insert(1, "state", np.where(failed[rows.index], "failed", "stale"))
    rows["error"] = rows["error"].where(failed[rows.index], rows["stale"])
    return rows


def read_failures(run_dir: Path) -> Failures:
    """The run's failed and stale cells, with the path of each one's traceback log."""
    run_dir = Path(run_dir)
    with RunStore(run_dir) as store:
        cells = store.cells_frame()
    rows = failure_rows(cells)
    logs = [cell_log_path(run_dir, str(cell)).relative_to(run_dir).as_posix() for cell in rows["cell_id"]]
    frame = pd.DataFrame({
        "cell": rows["cell_id"].astype(str).to_numpy(), "model": rows["model"].astype(str).to_numpy(),
        "step": rows["step"].astype(int).to_numpy(), "tokens": rows["tokens"].astype(int).to_numpy(),
        "kind": rows["kind"].astype(str).to_numpy(), "target": rows["target"].astype(str).to_numpy(),
        "layer": pd.array(rows["layer"].to_numpy(), dtype="Int64"),
        "status": rows["state"].to_numpy(), "error": [str(error) for error in rows["error"]],
        "log": [log if (run_dir / log).is_file() else "" for log in logs],
    }, columns=FAILURE_COLUMNS)
    return Failures(frame, len(cells))


def read_left_out(run_dir: Path) -> dict[str, str]:
    """Target -> what its brain dataset left out of the data on disk, as its latest cell's provenance records it."""
    with RunStore(Path(run_dir)) as store:
        cells = store.cells_frame()
    out: dict[str, str] = {}
    for target, text in zip(cells["target"], cells["provenance"]):
        left_out = json.loads(text).get("left_out") if text else None
        if left_out:
            out[str(target)] = str(left_out)
    return out


def load_config_text(run_dir: Path) -> str:
    """The run's config copy as text ('' when absent)."""
    path = Path(run_dir) / "config.yaml"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _run_config(run_dir: Path) -> SweepConfig | None:
    """The run's config copy, validated (None when the run has none, or one this version no longer reads:
    the results stand without it, only its groups and controls are not known)."""
    text = load_config_text(run_dir)
    if not text:
        return None
    try:
        return parse_config(yaml.safe_load(text), str(Path(run_dir) / "config.yaml"))
    except (HarnessError, yaml.YAMLError):
        return None


def model_groups(run_dir: Path) -> dict[str, list[str]]:
    """Group name -> the labels of its models (the ``model`` column of the results), both in config order.

    Models join a group by the ``group`` key of their config entry (seeds or variants of one model);
    a model without one is in no group. Empty when the run has no config copy or no groups.
    """
    config = _run_config(run_dir)
    return config.model_groups() if config is not None else {}


@dataclass(frozen=True)
class BrainControl:
    """A brain target whose stimulus is a control (``control: shuffled``) and the target it controls for."""

    label: str  # the control's target label (``simulated+shuffled``)
    control: str  # "shuffled"
    unit: str  # what words were shuffled within: "sentence" or "window:N"
    baseline: str | None  # the target with the same dataset and options and the original stimulus; None when absent

    def describe(self) -> str:
        """What the control is, in a few words ('words shuffled within sentences')."""
        unit = "sentences" if self.unit == "sentence" else f"windows of {self.unit.partition(':')[2]} words"
        return f"words {self.control} within {unit}"


def brain_controls(run_dir: Path) -> dict[str, BrainControl]:
    """Control target label -> its ``BrainControl``, for each brain entry of the run with a ``control``."""
    config = _run_config(run_dir)
    if config is None:
        return {}
    plain = [entry for entry in config.brain if entry.control is None]
    found = {}
    for entry in config.brain:
        if entry.control is None:
            continue
        same = [
            p for p in plain if (p.dataset, p.options, p.encoding) == (entry.dataset, entry.options, entry.encoding)
        ]
        same = same or [p for p in plain if (p.dataset, p.options) == (entry.dataset, entry.options)]
        label = entry_label(entry)
        found[label] = BrainControl(label, entry.control, entry.shuffle or "", entry_label(same[0]) if same else None)
    return found
