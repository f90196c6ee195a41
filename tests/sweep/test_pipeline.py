"""The sweep's real data path: load -> extract once (cached) -> brain and metric cells -> tables."""

from __future__ import annotations

import numpy as np
import pytest

from harness.plan.config import parse_config
from harness.store.database import RunStore
from harness.sweep.driver import run_sweep
from tests.support.plugin_packages import TINY_GPT_PLUGINS, activate, write_plugin_package


@pytest.fixture
def config(tmp_path, monkeypatch):
    activate(write_plugin_package(tmp_path / "site", "tinyplug", TINY_GPT_PLUGINS), monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "tinyplug")
    data = {
        "run": str(tmp_path / "run"),
        "cache": str(tmp_path / "cache"),
        "models": [{"family": "tinygpt", "checkpoints": "all", "layers": "all"}],
        "brain": [{"dataset": "toybrain", "encoding": {"folds": 3, "alphas": [1, 10, 100]}}],
        "metrics": [{"metric": "distance"}],
        "features": {"context_tokens": 32, "stride": 16, "batch_size": 4},
        "analyze": False,
    }
    return parse_config(data)


def test_brain_and_metric_cells_from_one_extraction(config, tmp_path):
    summary = run_sweep(config, show_progress=False)
    assert summary.failed == 0, summary.errors
    assert summary.done == 3 * 3 * 2  # checkpoints x layers x (brain + metric)
    results = RunStore(tmp_path / "run").results_frame()
    brain = results[(results.kind == "brain") & (results.metric == "r_mean")]
    assert set(brain.scope) >= {"s1", "s2", "mean"}
    assert len(brain[brain.scope == "mean"]) == 9
    metric = results[results.kind == "metric"].pivot_table(index=["step", "layer"], columns="metric", values="value")
    assert (metric["n_words"] == 240).all()
    assert metric.loc[100, "distance_final"].eq(0).all()  # the final checkpoint against itself
    assert metric.loc[0, "distance_previous"].isna().all()  # nothing before the first checkpoint
    assert (metric.loc[10, "distance_previous"] > 0).all()
    artifacts = RunStore(tmp_path / "run").artifacts_frame()
    arrays = np.load(tmp_path / "run" / artifacts.path.iloc[0])
    assert "r/s1" in arrays.files and arrays["r/s1"].shape == (40,)


def test_a_second_sweep_reuses_the_activation_cache(config, tmp_path):
    run_sweep(config, show_progress=False)
    cache_files = sorted(p for p in (tmp_path / "cache").rglob("*") if p.is_file())
    stamps = [p.stat().st_mtime_ns for p in cache_files]
    summary = run_sweep(config, force=True, show_progress=False)
    assert summary.done == 18 and summary.failed == 0
    assert sorted(p for p in (tmp_path / "cache").rglob("*") if p.is_file()) == cache_files
    assert [p.stat().st_mtime_ns for p in cache_files] == stamps


ANNOTATED = TINY_GPT_PLUGINS.replace(
    "class ToyBrain(BrainDataset):", "class ToyBrain(BrainDataset, WordAnnotations):"
).replace(
    "    def subjects(self):",
    "    def word_annotations(self):\n"
    "        return {'place': WordAnnotation({name: np.arange(len(s.words), dtype=float) for name, s in self.stories().items()}),\n"
    "                'odd': WordAnnotation({name: np.arange(len(s.words)) % 2 for name, s in self.stories().items()}, categorical=True)}\n\n"
    "    def subjects(self):",
).replace("from harness import hookimpl,", "from harness import WordAnnotation, WordAnnotations, hookimpl,")


def test_a_datasets_word_annotations_reach_the_probe(tmp_path, monkeypatch):
    activate(write_plugin_package(tmp_path / "site", "annotplug", ANNOTATED), monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "annotplug,probe")
    config = parse_config({
        "run": str(tmp_path / "run"), "cache": str(tmp_path / "cache"),
        "models": [{"family": "tinygpt", "checkpoints": [0], "layers": [1]}],
        "brain": [{"dataset": "toybrain", "encoding": {"folds": 3, "alphas": [1, 10]}}],
        "metrics": [{"metric": "probe", "options": {"properties": ["word_length"], "folds": 2}}],
        "features": {"context_tokens": 32, "stride": 16, "batch_size": 4}, "analyze": False,
    })
    summary = run_sweep(config, show_progress=False)
    assert summary.failed == 0, summary.errors
    results = RunStore(tmp_path / "run").results_frame()
    metrics = set(results[results.kind == "metric"].metric)
    assert {"probe_r/word_length", "probe_r/place", "probe_selectivity/place", "probe_acc/odd", "probe_acc_corrected/odd"} <= metrics
