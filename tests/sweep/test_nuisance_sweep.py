"""A demo sweep (tinylm × simulated fMRI) with encoding.nuisance writes the variance-partitioning rows and arrays,
and its report maps r2_unique beside r and says what it is (one sweep, shared by the tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

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
from harness.views.publish import analyze_run
from tests.support.fits import counted_fits


def _config(run: Path, checkpoints: list[int]) -> dict:
    """tinylm (tiny) at ``checkpoints`` on the simulated dataset with nuisance bands word_rate and word_length."""
    return {
        "run": str(run),
        "models": [{"family": "tinylm", "label": "tiny", "options": {"size": "tiny", "progress": False},
                    "checkpoints": checkpoints, "layers": "all"}],
        "brain": [{"dataset": "simulated", "options": {"subjects": 2, "stories": 4, "words_per_story": 150, "voxels": 64},
                   "encoding": {"folds": 3, "alphas": [1, 10, 100, 1000], "nuisance": ["word_rate", "word_length"]}}],
        "features": {"context_tokens": 32, "stride": 16},
        "analyze": False,
    }


def _sweep(config: dict, cache: Path):
    with pytest.MonkeyPatch.context() as patch, torch_threads(1):
        patch.setenv("HARNESS_CACHE", str(cache))
        patch.delenv("HARNESS_PLUGINS", raising=False)
        return run_sweep(parse_config(config), show_progress=False)


@pytest.fixture(scope="module")
def nuisance_run(tmp_path_factory) -> Path:
    """The sweep at steps 0 and 16, its cache beside its run folder."""
    tmp_path = tmp_path_factory.mktemp("nuisance")
    result = _sweep(_config(tmp_path / "run", [0, 16]), tmp_path / "cache")
    assert result.failed == 0, result.errors
    return tmp_path / "run"


def test_a_sweep_with_nuisance_bands_writes_r2_unique(nuisance_run):
    with RunStore(nuisance_run) as store:
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


def test_the_report_maps_r2_unique_beside_r_and_says_what_it_is(nuisance_run):
    analysis = analyze_run(nuisance_run)
    captions = [figure.caption for figure in analysis.figures]
    r_maps = [c for c in captions if c.startswith("brain map: tiny on simulated, SIM01 (per-vertex r on")]
    unique_maps = [c for c in captions if c.startswith("r2_unique map: tiny on simulated, SIM01 (per-vertex r2_unique on")]
    assert len(r_maps) == len(unique_maps) == 1, captions
    unique_figure = next(f for f in analysis.figures if f.caption == unique_maps[0])
    assert unique_figure.png.name.startswith("uniquemap__tiny__simulated__SIM01") and unique_figure.png.is_file()
    page = analysis.report.read_text()
    assert "r2_unique map: tiny on simulated, SIM02" in page
    assert ("r2_unique = R² of the joint fit minus R² of the nuisance-only fit" in page
            and "beyond word length, word rate" in page and "stronger claim" in page)
    brain = page.split('id="brain"', 1)[1]
    header = brain.split("<thead>", 1)[1].split("</thead>", 1)[0]
    for metric in ("r_joint", "r_nuisance", "r2_unique"):
        assert f">{metric}<" in header, metric
    assert header.index(">r_joint<") < header.index(">r2_unique<") < header.index(">r2_joint<")


def test_a_resumed_sweep_reads_the_nuisance_only_fit_instead_of_fitting_it_again(nuisance_run, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(nuisance_run, run)  # the run resumed with one more checkpoint, in a new process's memory
    fitted = counted_fits(monkeypatch)
    result = _sweep(_config(run, [0, 8, 16]), nuisance_run.parent / "cache")
    assert result.failed == 0 and result.done > 0 and result.skipped > 0, result.errors
    assert "BandedRidgeCV" in fitted and "RidgeCV" not in fitted  # joint fits for step 8; no nuisance-only fit
    with RunStore(run) as store:
        frame = store.results_frame()
    alone = frame[(frame["kind"] == "brain") & (frame["metric"] == "r2_nuisance")]
    assert set(alone["step"]) == {0, 8, 16}
    for _, values in alone.groupby("scope")["value"]:
        assert values.nunique() == 1  # step 8's nuisance-only scores are those steps 0 and 16 stored, to the bit
