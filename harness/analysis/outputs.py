"""The tables an analysis leaves in ``RUN/tables`` and the stamp that says what they were computed from.

``transitions.csv`` (one row per transition of every signal), ``phases.csv`` (the verdict on each of
the paper's three phases per model and brain target), ``headline.csv`` (one row per model and brain
target) and ``comparisons.csv`` (paired differences: original vs control, checkpoint vs step 0) are
written by ``analyze_run``; ``analysis.json`` holds the digest of the run data they came from, so a
reader (the leaderboard) can use them as they are while the results are unchanged and knows
they are stale once a cell has been added or recomputed.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from harness.analysis.headline import TEXT_COLUMNS, ordered_columns
from harness.analysis.phases import PhaseSettings
from harness.store.tables import TABLES_DIR
from harness.util.files import atomic_write_text

PHASES_TABLE = "phases.csv"
TRANSITIONS_TABLE = "transitions.csv"
HEADLINE_TABLE = "headline.csv"
COMPARISONS_TABLE = "comparisons.csv"
STAMP = "analysis.json"
FORMAT = 3  # bumped when the tables change shape, so older outputs count as stale


def write_outputs(run_dir: Path, digest: str, settings: PhaseSettings, transitions: pd.DataFrame,
                  phases: pd.DataFrame, headline: pd.DataFrame, comparisons: pd.DataFrame) -> Path:
    """Write the transitions, phase, headline and comparisons tables, then the stamp (last); return the
    phases table's path."""
    tables = Path(run_dir) / TABLES_DIR
    atomic_write_text(tables / TRANSITIONS_TABLE, transitions.to_csv(index=False))
    atomic_write_text(tables / PHASES_TABLE, phases.to_csv(index=False))
    atomic_write_text(tables / HEADLINE_TABLE, headline.to_csv(index=False))
    atomic_write_text(tables / COMPARISONS_TABLE, comparisons.to_csv(index=False))
    stamp = {"format": FORMAT, "digest": digest, "settings": asdict(settings)}
    atomic_write_text(tables / STAMP, json.dumps(stamp, indent=2, sort_keys=True) + "\n")
    return tables / PHASES_TABLE


def is_fresh(run_dir: Path, digest: str) -> bool:
    """True when the run's analysis tables were computed from data with this digest."""
    tables = Path(run_dir) / TABLES_DIR
    try:
        stamp = json.loads((tables / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    fresh = isinstance(stamp, dict) and stamp.get("format") == FORMAT and stamp.get("digest") == digest
    return fresh and all(
        (tables / name).is_file() for name in (TRANSITIONS_TABLE, PHASES_TABLE, HEADLINE_TABLE, COMPARISONS_TABLE)
    )


def read_headline(run_dir: Path) -> pd.DataFrame:
    """The run's ``headline.csv`` with text columns as text ('' for none) and numbers as numbers."""
    path = Path(run_dir) / TABLES_DIR / HEADLINE_TABLE
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={c: str for c in TEXT_COLUMNS})
    present = [c for c in TEXT_COLUMNS if c in frame]
    frame[present] = frame[present].fillna("")
    return ordered_columns(frame)
