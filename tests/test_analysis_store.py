"""The analysis reads a real run store: scores from results_frame, voxel arrays from its artifacts."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd

from harness.analysis import PhaseSettings, analyze_run
from harness.analysis.data import load_results, voxel_array_index
from harness.interfaces import CellOutput, Score
from harness.store import CellRecord, RunStore
from harness.tables import export_tables
from tests.analysis_synthetic import write_run


def _to_store(source, run_dir):
    """Commit the synthetic run's cells (scores and r/alpha arrays) through the run store."""
    frame = load_results(source)
    with RunStore(run_dir, create=True) as store:
        keys = ["model", "family", "step", "tokens", "kind", "target", "plugin", "layer"]
        for key, rows in frame.groupby(keys, dropna=False, sort=False):
            cell = dict(zip(keys, key))
            layer = None if pd.isna(cell["layer"]) else int(cell["layer"])
            arrays = {}
            if cell["kind"] == "brain":
                with np.load(source / "arrays" / f"{cell['model']}__{cell['target']}__{cell['step']}__{layer}.npz") as data:
                    arrays = {k: data[k] for k in data.files}
            record = CellRecord(
                cell_id=f"{cell['model']}|{cell['step']}|{cell['kind']}|{cell['target']}|{layer}", settings_hash="s",
                model=cell["model"], family=cell["family"], step=int(cell["step"]), tokens=int(cell["tokens"]),
                revision=None, commit=None, kind=cell["kind"], target=cell["target"], plugin=cell["plugin"], layer=layer,
                seed=0, config_hash="cfg123", data_hash="data456", plugin_version="1.0", provenance={})
            scores = [Score(r.metric, r.value, None if np.isnan(r.stderr) else r.stderr, r.scope) for r in rows.itertuples()]
            store.commit_cell(record, CellOutput(scores, arrays), elapsed=0.0)
        export_tables(store)
    shutil.copy(source / "config.yaml", run_dir / "config.yaml")


def test_analysis_from_run_store(tmp_path):
    source = write_run(tmp_path / "synthetic", checkpoints=12, layers=3, subjects=2, voxels=200)
    run = tmp_path / "run"
    _to_store(source, run)
    index = voxel_array_index(run)
    assert len(index) == 13 * 3 * 2 and set(index["subject"]) == {"S01", "S02"}
    from_store = load_results(run)
    from_csv = load_results(source)
    assert len(from_store) == len(from_csv)
    result = analyze_run(run, PhaseSettings(n_boot=30))
    assert result.phases["ci_method"].unique().tolist() == ["voxels+subjects"]
    assert result.phases["phase"].tolist() == ["surge", "detachment", "realignment"]
    assert (run / "tables" / "phases.csv").is_file() and result.report.is_file()
