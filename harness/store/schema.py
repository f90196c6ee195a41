"""The long results table: its columns and their types, however it was read (SQL, CSV, Parquet)."""

from __future__ import annotations

import pandas as pd

from harness.util.errors import DataError

RESULT_COLUMNS = [
    "model",
    "family",
    "step",
    "tokens",
    "revision",
    "commit",
    "kind",
    "target",
    "plugin",
    "layer",
    "scope",
    "metric",
    "value",
    "stderr",
    "chance",
    "items",
    "seed",
    "config_hash",
    "data_hash",
    "plugin_version",
    "stale",
]
TEXT_COLUMNS = [
    "model", "family", "revision", "commit", "kind", "target", "plugin", "scope", "metric",
    "config_hash", "data_hash", "plugin_version", "stale",
]
NEVER_MISSING = ["model", "family", "kind", "target", "plugin", "scope", "metric"]  # '' = none (a single scope)
REQUIRED_COLUMNS = ["model", "step", "tokens", "kind", "target", "layer", "scope", "metric", "value"]
SORT_COLUMNS = ["model", "step", "kind", "target", "layer", "scope", "metric"]


def typed_results(frame: pd.DataFrame, source: str = "results") -> pd.DataFrame:
    """``frame`` with exactly ``RESULT_COLUMNS`` in their types; a ``DataError`` if required ones are missing.

    Optional columns that are absent are added empty; text columns are pandas strings (missing =
    NA, but names such as ``scope`` are '' rather than missing), ``layer`` is a nullable integer (NA for tasks),
    ``value``, ``stderr`` and ``chance`` are floats (``chance`` NaN = unknown, as in tables written before it existed),
    ``items`` a nullable integer (NA = unknown: brain and metric rows, and tables written before it existed).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame]
    if missing:
        raise DataError(f"{source}: not a result table; missing columns: {', '.join(missing)}")
    frame = frame.copy()
    for column in RESULT_COLUMNS:
        if column not in frame:
            frame[column] = pd.NA
    frame = frame[RESULT_COLUMNS].astype({c: "string" for c in TEXT_COLUMNS})
    frame[NEVER_MISSING] = frame[NEVER_MISSING].fillna("")  # CSV reads '' back as missing
    frame["layer"] = pd.to_numeric(frame["layer"], errors="coerce").astype("Int64")
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    frame["items"] = pd.to_numeric(frame["items"], errors="coerce").astype("Int64")
    for column in ("step", "tokens"):
        frame[column] = pd.to_numeric(frame[column]).astype("int64")
    for column in ("value", "stderr", "chance"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame
