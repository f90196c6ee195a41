"""The analysis reads a real run store: scores from results_frame, voxel arrays from its artifacts."""

from __future__ import annotations

import pandas as pd

from harness.analysis import PhaseSettings
from harness.analysis.data import read_run
from harness.store.schema import SORT_COLUMNS
from harness.views import analyze_run
from tests.support.synthetic_runs import write_run
from tests.support.tables import read_table


def test_analysis_from_run_store(tmp_path):
    run = write_run(tmp_path / "run", checkpoints=12, layers=3, subjects=2, voxels=200)
    data = read_run(run)
    assert len(data.arrays) == 13 * 3 * 2 and set(data.arrays["subject"]) == {"S01", "S02"}
    exported = pd.concat([read_table(p) for p in sorted((run / "tables").glob("*__*.csv"))], ignore_index=True)
    exported = exported.sort_values(SORT_COLUMNS, kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(data.results, exported)  # the tables are the store's results
    result = analyze_run(run, PhaseSettings(n_boot=30))
    brain = result.transitions[result.transitions["group"] == "brain"]
    assert brain["ci_method"].str.startswith("voxels+subjects").all()
    assert result.phases["phase"].tolist() == ["surge", "detachment", "realignment"]
    assert (run / "tables" / "phases.csv").is_file() and (run / "tables" / "transitions.csv").is_file()
    assert result.report.is_file()


def test_the_digest_follows_the_results(tmp_path):
    first = read_run(write_run(tmp_path / "a", checkpoints=4, layers=2, subjects=2, voxels=10))
    same = read_run(write_run(tmp_path / "b", checkpoints=4, layers=2, subjects=2, voxels=10))
    other = read_run(write_run(tmp_path / "c", checkpoints=4, layers=2, subjects=2, voxels=10, seed=1))
    assert first.digest == same.digest != other.digest
