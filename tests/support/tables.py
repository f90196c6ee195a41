"""``read_table``: a result table written by ``export_tables`` read back with the store's column types."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.store.schema import TEXT_COLUMNS, typed_results


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet result table back with the store's column types."""
    if path.suffix == ".parquet":
        return typed_results(pd.read_parquet(path), str(path))
    text = {c: "string" for c in TEXT_COLUMNS}
    return typed_results(pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=text), str(path))
