"""``load_run``: a run directory as tidy pandas frames, for notebooks and machine-readable views.

A view: it only reads what the sweep and the analysis left in the run (the store,
``tables/transitions.csv``, ``phases.csv`` and ``headline.csv``, ``logs/``), unless asked to analyse::

    import harness

    run = harness.load_run("runs/demo")
    run.scores          # one row per cell x scope x metric (the long results table)
    run.intervals()     # the scores with the 95 % interval of each (lo, hi) and what it resampled (interval)
    run.cells           # one row per cell: status, error, stale, elapsed, log file, adaptive round
    run.failures        # the failed cells and the stale results, with their log files
    run.transitions     # one row per transition (rise, fall, step) of every signal, with 95 % intervals
    run.phases          # the verdict on surge, detachment and realignment per model and brain target
    run.headline        # one row per model and brain target: peak and final r, task scores, confirmed phases
    run.provenance      # one row per cell: versions, hashes, seed and the software it ran with
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.data import failure_rows, read_run
from harness.analysis.outputs import HEADLINE_TABLE, PHASES_TABLE, TRANSITIONS_TABLE, is_fresh, read_headline
from harness.analysis.rowintervals import interval_frame
from harness.store.database import RunStore, check_run_directory
from harness.store.logs import cell_log_path
from harness.store.tables import TABLES_DIR
from harness.views.publish import analyze_run

CELL_COLUMNS = [
    "cell_id", "model", "family", "step", "tokens", "kind", "target", "plugin", "layer", "status", "error",
    "stale", "elapsed", "finished_at", "log", "round",
]
PROVENANCE_COLUMNS = [
    "cell_id", "model", "family", "step", "tokens", "revision", "commit", "kind", "target", "plugin", "layer",
    "plugin_version", "settings_hash", "config_hash", "data_hash", "seed",
]


@dataclass(frozen=True)
class RunFrames:
    """One run as tidy frames (see the module docstring); ``analysis_fresh`` is False when the
    phases and headline are missing or were computed before the latest results."""

    path: Path
    scores: pd.DataFrame
    cells: pd.DataFrame
    transitions: pd.DataFrame
    phases: pd.DataFrame
    headline: pd.DataFrame
    provenance: pd.DataFrame
    analysis_fresh: bool

    def __fspath__(self) -> str:
        """The run directory: a ``RunFrames`` opens wherever a path does (``RunStore(load_run(RUN))``)."""
        return str(self.path)

    @property
    def failures(self) -> pd.DataFrame:
        """Failed cells and stale results (a kept result whose recompute failed), with ``state`` and ``log``."""
        rows = failure_rows(self.cells)
        return rows[["cell_id", "state", "model", "step", "target", "layer", "error", "log"]].reset_index(drop=True)

    def intervals(self, scores: pd.DataFrame | None = None) -> pd.DataFrame:
        """``scores`` (default: every score) with ``lo`` and ``hi``, the 95 % interval of each (NaN where
        it has none), and ``interval``, what it resampled: subjects and voxel groups for a brain r_mean
        over subjects, items for a task score, a metric's own standard error ('' where none)."""
        return interval_frame(read_run(self.path), self.scores if scores is None else scores)

    def to_dict(self, scores: pd.DataFrame | None = None) -> dict[str, Any]:
        """Everything as plain JSON-able values (missing values as None); ``scores`` replaces the scores."""
        return {
            "run": str(self.path), "analysis_fresh": self.analysis_fresh,
            "scores": records(self.scores if scores is None else scores), "cells": records(self.cells),
            "failures": records(self.failures), "phases": records(self.phases),
            "transitions": records(self.transitions), "headline": records(self.headline),
            "provenance": records(self.provenance),
        }


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as dicts of plain values, NaN and NA as None."""
    return list(json.loads(frame.to_json(orient="records", double_precision=15, default_handler=str)))


def _cells(run_dir: Path, cells: pd.DataFrame) -> pd.DataFrame:
    frame = cells.copy()
    frame["layer"] = pd.to_numeric(frame["layer"], errors="coerce").astype("Int64")
    frame["round"] = pd.to_numeric(frame["round"], errors="coerce").astype("Int64")  # empty outside adaptive sweeps
    logs = [cell_log_path(run_dir, cell_id) for cell_id in frame["cell_id"]]
    frame["log"] = pd.Series([str(p) if p.is_file() else pd.NA for p in logs], index=frame.index, dtype="string")
    return frame[CELL_COLUMNS].reset_index(drop=True)


def _provenance(cells: pd.DataFrame) -> pd.DataFrame:
    frame = cells.rename(columns={"commit_hash": "commit"})
    frame = frame.assign(layer=pd.to_numeric(frame["layer"], errors="coerce").astype("Int64"))[PROVENANCE_COLUMNS]
    software = pd.json_normalize([json.loads(text) if text else {} for text in cells["provenance"]])
    extra = software[[c for c in software.columns if c not in frame.columns]]
    return pd.concat([frame.reset_index(drop=True), extra.reset_index(drop=True)], axis=1)


def _table(run_dir: Path, name: str) -> pd.DataFrame:
    path = Path(run_dir) / TABLES_DIR / name
    if not path.is_file():
        return pd.DataFrame()
    return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"model": str, "family": str, "target": str})


def load_run(path: str | Path, *, analyze: bool = False) -> RunFrames:
    """Read a run directory into tidy frames.

    Only reads, unless ``analyze`` is true: then a missing or stale analysis (transitions, phases, headline)
    is recomputed first, writing the run's figures, tables and report as ``harness analyze`` does.
    A path that is not a run directory is a ``DataError``.
    """
    run_dir = Path(path)
    check_run_directory(run_dir, existing=True)
    data = read_run(run_dir)
    fresh = is_fresh(run_dir, data.digest)
    if analyze and not fresh:
        analyze_run(run_dir)
        fresh = True
    with RunStore(run_dir) as store:
        cells = store.cells_frame()
    headline = read_headline(run_dir) if (run_dir / TABLES_DIR / HEADLINE_TABLE).is_file() else pd.DataFrame()
    return RunFrames(
        path=run_dir, scores=data.results, cells=_cells(run_dir, cells),
        transitions=_table(run_dir, TRANSITIONS_TABLE), phases=_table(run_dir, PHASES_TABLE),
        headline=headline, provenance=_provenance(cells), analysis_fresh=fresh,
    )
