"""A demo sweep (tinylm × simulated fMRI) with encoding.nuisance writes the variance-partitioning rows and arrays."""

from __future__ import annotations

import numpy as np
import pytest

from harness import torch_threads
from harness.analysis.curves import model_curves
from harness.analysis.findings import analyze_frame
from harness.analysis.phases import PhaseSettings
from harness.analysis.signals import BRAIN_UNIQUE
from harness.plan.config import parse_config
from harness.store.database import RunStore
from harness.sweep.driver import run_sweep


def test_a_sweep_with_nuisance_bands_writes_r2_unique(tmp_path):
    config = {
        "run": str(tmp_path / "run"),
        "models": [{"family": "tinylm", "label": "tiny", "options": {"size": "tiny", "progress": False},
                    "checkpoints": [0, 16], "layers": "all"}],
        "brain": [{"dataset": "simulated", "options": {"subjects": 2, "stories": 4, "words_per_story": 150, "voxels": 64},
                   "encoding": {"folds": 3, "alphas": [1, 10, 100, 1000], "nuisance": ["word_rate", "word_length"]}}],
        "features": {"context_tokens": 32, "stride": 16},
        "analyze": False,
    }
    with pytest.MonkeyPatch.context() as patch, torch_threads(1):
        patch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
        patch.delenv("HARNESS_PLUGINS", raising=False)
        result = run_sweep(parse_config(config), show_progress=False)
    assert result.failed == 0, result.errors
    with RunStore(tmp_path / "run") as store:
        frame, artifacts = store.results_frame(), store.artifacts_frame()
    brain = frame[frame["kind"] == "brain"]
    unique = brain[(brain["metric"] == "r2_unique") & (brain["scope"] == "mean")]
    assert len(unique) == len(brain[(brain["metric"] == "r_mean") & (brain["scope"] == "mean")]) > 0
    joint = brain[brain["metric"] == "r2_joint"].set_index(["step", "layer", "scope"])["value"]
    alone = brain[brain["metric"] == "r2_nuisance"].set_index(["step", "layer", "scope"])["value"]
    by_cell = unique.set_index(["step", "layer", "scope"])["value"]
    np.testing.assert_allclose(by_cell, (joint - alone).loc[by_cell.index], atol=1e-6)
    assert alone.groupby("scope").nunique().max() == 1  # the nuisance-only model: one fit per subject, every cell
    names = set(artifacts["name"])
    assert {"r2_unique/SIM01", "r2_nuisance/SIM02", "alpha_nuisance/SIM01", "r/SIM01"} <= names
    curve = model_curves(frame, "tiny").brain["simulated"]
    assert curve.unique is not None  # the phase analysis reads r2_unique as its own brain signal
    best = unique.groupby("step")["value"].max()
    np.testing.assert_allclose(curve.unique.values, best.to_numpy())
    found = analyze_frame(frame, settings=PhaseSettings(n_boot=20))[0].found
    assert BRAIN_UNIQUE in {item.signal.name for item in found}
