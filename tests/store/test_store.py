"""The run store keeps each score's chance level; stores and tables written before it existed still read."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.plugin.contract import CellOutput, Score
from harness.store.database import STORE_NAME, CellRecord, RunStore
from harness.store.schema import RESULT_COLUMNS, typed_results
from harness.store.tables import export_tables
from tests.support.tables import read_table

# the schema of a run store written before scores had a chance level
OLD_SCHEMA = """
CREATE TABLE cells (
    cell_id TEXT PRIMARY KEY, settings_hash TEXT NOT NULL,
    model TEXT NOT NULL, family TEXT NOT NULL, step INTEGER NOT NULL, tokens INTEGER NOT NULL,
    revision TEXT, commit_hash TEXT, kind TEXT NOT NULL, target TEXT NOT NULL, plugin TEXT NOT NULL, layer INTEGER,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')), error TEXT, elapsed REAL, finished_at REAL,
    seed INTEGER, config_hash TEXT, data_hash TEXT, plugin_version TEXT, provenance TEXT, stale TEXT
);
CREATE TABLE scores (
    cell_id TEXT NOT NULL REFERENCES cells(cell_id) ON DELETE CASCADE,
    scope TEXT NOT NULL, metric TEXT NOT NULL, value REAL, stderr REAL,
    PRIMARY KEY (cell_id, scope, metric)
);
CREATE TABLE artifacts (
    cell_id TEXT NOT NULL REFERENCES cells(cell_id) ON DELETE CASCADE,
    name TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (cell_id, name)
);
"""


def record(step: int) -> CellRecord:
    return CellRecord(
        cell_id=f"toy|{step}|task|quiz|-", settings_hash="h", model="toy", family="toy", step=step, tokens=10 * step,
        revision=None, commit=None, kind="task", target="quiz", plugin="quiz", layer=None, seed=0,
        config_hash="c", data_hash=None, plugin_version="1", provenance={},
    )


SCORES = [Score("correct", 0.5, 0.1, "instruction", chance=0.25), Score("follows_format", 0.9, None, "instruction"),
          Score("acc", 0.75, None, "pairs", chance=0.5)]


def test_scores_keep_their_chance_level_through_store_and_tables(tmp_path):
    with RunStore(tmp_path, create=True) as store:
        store.commit_cell(record(1), CellOutput(SCORES), elapsed=0.1)
        frame = store.results_frame()
        export_tables(store)
    assert list(frame.columns) == RESULT_COLUMNS and RESULT_COLUMNS.index("chance") == RESULT_COLUMNS.index("stderr") + 1
    assert frame["chance"].dtype == np.float64
    chance = dict(zip(frame["metric"], frame["chance"], strict=True))
    assert chance["correct"] == 0.25 and chance["acc"] == 0.5 and np.isnan(chance["follows_format"])
    for suffix in ("csv", "parquet"):
        table = read_table(tmp_path / "tables" / f"toy__quiz.{suffix}")
        pd.testing.assert_frame_equal(table, frame, check_exact=False)


def test_a_store_from_before_chance_levels_opens_reads_and_takes_new_results(tmp_path):
    with sqlite3.connect(tmp_path / STORE_NAME) as db:
        db.executescript(OLD_SCHEMA)
        db.execute("INSERT INTO cells VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   ("toy|0|task|quiz|-", "h", "toy", "toy", 0, 0, None, None, "task", "quiz", "quiz", None, "done",
                    None, 0.1, 0.0, 0, "c", None, "1", "{}", None))
        db.execute("INSERT INTO scores VALUES (?,?,?,?,?)", ("toy|0|task|quiz|-", "instruction", "correct", 0.2, None))
    db.close()
    with RunStore(tmp_path) as store:
        old = store.results_frame()
        assert list(old.columns) == RESULT_COLUMNS and len(old) == 1 and old["chance"].isna().all()
        store.commit_cell(record(1), CellOutput(SCORES), elapsed=0.1)
        both = store.results_frame()
    assert both.set_index(["step", "metric"])["chance"].loc[(1, "correct")] == 0.25
    assert np.isnan(both.set_index(["step", "metric"])["chance"].loc[(0, "correct")])
    with RunStore(tmp_path) as again:  # opening an upgraded store again changes nothing
        assert len(again.results_frame()) == 4


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_table_from_before_chance_levels_reads_with_chance_unknown(tmp_path, suffix):
    frame = typed_results(pd.DataFrame({"model": ["toy"], "step": [1], "tokens": [10], "kind": ["task"],
                                        "target": ["quiz"], "layer": [None], "scope": [""], "metric": ["acc"],
                                        "value": [0.5], "stderr": [0.1]}))
    old = frame.drop(columns="chance")
    path = Path(tmp_path) / f"old.{suffix}"
    old.to_csv(path, index=False) if suffix == "csv" else old.to_parquet(path, index=False)
    table = read_table(path)
    assert list(table.columns) == RESULT_COLUMNS and table["chance"].dtype == np.float64 and table["chance"].isna().all()


def _old_brain_cell(db: sqlite3.Connection, cell_id: str, metrics: dict[str, float], arrays: tuple[str, ...] = ()) -> None:
    db.execute("INSERT INTO cells VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
               (cell_id, "h", "toy", "toy", 0, 0, None, None, "brain", cell_id, cell_id, 1, "done",
                None, 0.1, 0.0, 0, "c", None, "1", "{}", None))
    db.executemany("INSERT INTO scores VALUES (?,?,?,?,?)", [(cell_id, "mean", m, v, None) for m, v in metrics.items()])
    db.executemany("INSERT INTO artifacts VALUES (?,?,?,?)", [(cell_id, name, f"arrays/{name}", "0") for name in arrays])


def test_an_old_store_opens_and_its_meg_cells_count_sensors(tmp_path):
    """A store from before the count was named per dataset (its MEG cells said n_voxels) reads as a new one."""
    from harness.store.migrations import VERSION

    with sqlite3.connect(tmp_path / STORE_NAME) as db:
        db.executescript(OLD_SCHEMA)
        _old_brain_cell(db, "fmri", {"r_mean": 0.1, "n_voxels": 400})
        _old_brain_cell(db, "meg", {"r_mean": 0.2, "n_voxels": 208, "peak_lag_s": 0.1})
        _old_brain_cell(db, "meg_no_peak", {"r_mean": 0.2, "n_voxels": 208}, arrays=("lags_s",))
    db.close()
    with RunStore(tmp_path) as store:
        counts = store.results_frame().query("metric.str.startswith('n_')").set_index("target")["metric"].to_dict()
    assert counts == {"fmri": "n_voxels", "meg": "n_sensors", "meg_no_peak": "n_sensors"}
    with sqlite3.connect(tmp_path / STORE_NAME) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION
        assert "chance" in {row[1] for row in db.execute("PRAGMA table_info(scores)")}
    db.close()
    with RunStore(tmp_path) as again:  # opening a migrated store again changes nothing
        assert len(again.results_frame()) == 7


def test_a_new_store_is_at_the_current_version_and_a_newer_one_is_refused(tmp_path):
    from harness.store.migrations import VERSION
    from harness.util.errors import DataError

    RunStore(tmp_path / "new", create=True).close()
    with sqlite3.connect(tmp_path / "new" / STORE_NAME) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION
        db.execute(f"PRAGMA user_version = {VERSION + 1}")
    db.close()
    with pytest.raises(DataError, match=f"written by a newer harness \\(store version {VERSION + 1}"):
        RunStore(tmp_path / "new")
