"""Curves read from the long tables: best layer, behaviour series, internal metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis.bootstrap import brain_replicates
from harness.analysis.curves import (
    accuracy_rows,
    best_over_layers,
    brain_curve,
    model_curves,
)
from harness.analysis.data import read_run
from harness.analysis.tokens import format_tokens, token_positions
from harness.util.errors import DataError
from tests.support.synthetic_runs import write_run


def test_curves_from_tables(tmp_path):
    run = write_run(tmp_path / "run", checkpoints=8, layers=3, subjects=2, voxels=50)
    results = read_run(run).results
    curves = model_curves(results, "tiny")
    curve = curves.brain["sim"]
    assert list(curve.layer_map.index) == [0, 1, 2] and curve.layer_map.shape == (3, 9)
    mean = results[(results.kind == "brain") & (results.scope == "mean") & (results.metric == "r_mean")]
    best = mean.groupby("step")["value"].max().to_numpy()
    assert np.allclose(curve.values, best)
    assert curve.subjects.shape[0] == 2
    assert curves.instruction is not None and curves.instruction.name == "instruction following"
    assert set(curves.metrics) == {"anisotropy", "intrinsic_dim"}
    # task accuracy: instruction:correct, cloze:acc, minimal_pairs:acc, each chance-corrected, averaged;
    # bits_per_byte and follows_format are no accuracies
    tasks = results[(results.kind == "task") & (results.step == 3) & results.metric.isin(["correct", "acc"])]
    expected = ((tasks["value"] - tasks["chance"]) / (1 - tasks["chance"])).mean()
    assert curves.accuracy.values[3] == pytest.approx(expected)
    assert curves.task_set == ("offline:cloze", "offline:instruction", "offline:minimal_pairs")


def test_accuracy_prefers_correct_over_acc():
    rows = pd.DataFrame({"target": ["t"] * 2, "scope": ["s"] * 2, "metric": ["acc", "correct"], "value": [0.1, 0.9]})
    assert accuracy_rows(rows)["metric"].tolist() == ["correct"]


def test_a_pooled_scope_beside_its_parts_counts_once():
    """The ladder reports each rung (instruction:stated, ...) and the pooled instruction scope:
    averaging all of them would count every item twice."""
    scopes = ["instruction", "instruction:stated", "instruction:copy", "minimal_pairs"]
    rows = pd.DataFrame({"target": ["offline"] * 4 + ["other"], "scope": scopes + ["instruction"],
                         "metric": ["correct"] * 5, "value": [0.5] * 5})
    kept = accuracy_rows(rows)
    assert sorted(zip(kept["target"], kept["scope"])) == [
        ("offline", "instruction:copy"), ("offline", "instruction:stated"), ("offline", "minimal_pairs"),
        ("other", "instruction")]  # another task's scope of the same name is its own


def test_zero_tokens_drawn_left_of_first_checkpoint():
    assert token_positions(np.array([0, 100, 1000])).tolist() == [50, 100, 1000]


def test_format_tokens():
    assert [format_tokens(t) for t in (0, 999, 1024, 3.2e9, 2e12, float("nan"), None)] == [
        "0", "999", "1.02k", "3.2B", "2T", "n/a", "n/a"]


def test_voxel_array_index_from_the_store(tmp_path):
    run = write_run(tmp_path / "run", checkpoints=3, layers=2, subjects=2, voxels=10)
    index = read_run(run).arrays
    assert len(index) == 4 * 2 * 2
    assert set(index["subject"]) == {"S01", "S02"}
    assert all(path.is_file() for path in index["path"]) and set(index["key"]) == {"r/S01", "r/S02"}


def test_missing_run_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such run directory"):
        read_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a run directory"):
        read_run(tmp_path / "empty")


def test_best_layer_of_each_checkpoint_from_a_long_table():
    rows = []
    for step, best in ((0, 1), (100, 2)):
        for layer in range(3):
            rows.append({"model": "m", "target": "sim", "step": step, "tokens": step * 10, "kind": "brain", "layer": layer,
                         "scope": "mean", "metric": "r_mean", "value": 0.1 + 0.1 * (layer == best)})
    rows.append({"model": "m", "target": "sim", "step": 0, "tokens": 0, "kind": "brain", "layer": 0,
                 "scope": "S1", "metric": "r_mean", "value": 0.9})  # a subject's score never picks the layer
    curve = brain_curve(pd.DataFrame(rows), "m", "sim")
    assert curve.best_layer.tolist() == [1, 2] and curve.values.tolist() == pytest.approx([0.2, 0.2])


def test_best_over_layers_ignores_missing_values():
    values = np.array([[0.1, np.nan, np.nan], [0.3, 0.2, np.nan], [np.nan, 0.5, np.nan]])
    index, best = best_over_layers(values)
    assert index[:2].tolist() == [1, 2] and best[:2].tolist() == [0.3, 0.5] and np.isnan(best[2])


def test_replicates_take_the_best_layer_as_the_curve_does(tmp_path):
    run = write_run(tmp_path / "run", checkpoints=4, layers=3, subjects=2, voxels=20, arrays=False)
    curve = model_curves(read_run(run).results, "tiny").brain["sim"]
    replicates = brain_replicates(curve, None, n_boot=50, seed=0)
    per_subject = curve.subjects.to_numpy(float)  # (subjects, (step, layer)), a replicate mean of drawn subjects
    lowest = np.nanmin(per_subject, axis=0).reshape(len(curve.steps), -1).max(axis=1)
    highest = np.nanmax(per_subject, axis=0).reshape(len(curve.steps), -1).max(axis=1)
    assert replicates.method == "subjects" and replicates.curves.shape == (50, len(curve.steps))
    assert ((replicates.curves >= lowest - 1e-12) & (replicates.curves <= highest + 1e-12)).all()
