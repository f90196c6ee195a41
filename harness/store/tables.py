"""Per-combination result tables: RUN/tables/<model>__<target>.csv and .parquet, written atomically."""

from __future__ import annotations

import io
from pathlib import Path

from harness.store.database import RunStore
from harness.util.files import atomic_write_bytes, file_stem

TABLES_DIR = "tables"


def export_tables(store: RunStore) -> list[Path]:
    """Write one CSV and one Parquet table per model x target combination; return the CSV paths.

    The tables are the store's results and nothing else: a combination table whose rows are no
    longer in the store is removed.
    """
    results = store.results_frame()
    out_dir = store.run_dir / TABLES_DIR
    written = []
    for (model, target), frame in results.groupby(["model", "target"], sort=True):
        frame = frame.reset_index(drop=True)
        stem = file_stem(str(model), str(target))
        atomic_write_bytes(out_dir / f"{stem}.csv", frame.to_csv(index=False).encode())
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        atomic_write_bytes(out_dir / f"{stem}.parquet", buffer.getvalue())
        written.append(out_dir / f"{stem}.csv")
    kept = {path.stem for path in written}
    for path in [*out_dir.glob("*__*.csv"), *out_dir.glob("*__*.parquet")]:
        if path.stem not in kept:
            path.unlink()
    return written

