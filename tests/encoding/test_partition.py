"""Nuisance bands and variance partitioning in the scorer (encoding.nuisance), on the simulated dataset."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from pydantic import ValidationError

from harness.encoding import BrainScorer, partition
from harness.encoding.nuisance import check_nuisance, word_features
from harness.encoding.settings import EncodingSettings
from harness.plugin.contract import Modality, Story
from harness.util.errors import DataError
from harness_plugins.brain.simulated import Simulated

ALL = ["word_rate", "phoneme_rate", "word_length", "word_frequency"]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    return Simulated(Simulated.Options(cache=str(tmp_path_factory.mktemp("sim")), voxels=64, stories=5,
                                       words_per_story=300))


@pytest.fixture(scope="module")
def scorer(simulated):
    """Every nuisance feature, three band ratios."""
    settings = EncodingSettings(nuisance=ALL, nuisance_ratios=[0.1, 1.0, 10.0])
    return BrainScorer(simulated, settings, device="cpu")


def _mean(output):
    return {s.metric: s.value for s in output.scores if s.scope == "mean"}


def test_cells_report_joint_nuisance_and_unique_scores(simulated, scorer):
    output = scorer.score(simulated.ground_truth_features())
    values = _mean(output)
    for metric in ("r_mean", "r_joint", "r_nuisance", "r2_joint", "r2_nuisance", "r2_unique", "r2_unique_top",
                   "r2_unique_roi:semantic"):
        assert metric in values, metric
    assert values["r2_unique"] == pytest.approx(values["r2_joint"] - values["r2_nuisance"], abs=1e-6)
    assert values["r2_unique"] > 0.05  # the embeddings explain far more than word rate and length do
    assert values["r_joint"] >= values["r_nuisance"]
    for subject in ("SIM01", "SIM02"):
        assert output.arrays[f"r2_unique/{subject}"].shape == (64,)
        assert output.arrays[f"alpha_nuisance/{subject}"].shape == (64,)


def test_a_model_that_is_only_word_rate_has_no_unique_variance(simulated, scorer):
    rate = {s: f[:, -3:-2] for s, f in simulated.ground_truth_features().items()}  # the word_rate column
    values = _mean(scorer.score(rate))
    assert abs(values["r2_unique"]) < 0.01
    assert values["r_mean"] > 0.05  # word rate alone does predict the responses


def test_the_nuisance_only_model_is_fitted_once_per_subject(simulated, scorer, monkeypatch):
    scorer.score(simulated.ground_truth_features())  # fitted by now
    fitted = []
    original = partition.fit_block
    monkeypatch.setattr(partition, "fit_block", lambda solver, *a: fitted.append(type(solver).__name__) or
                        original(solver, *a))
    scorer.score(simulated.ground_truth_features())
    assert "RidgeCV" not in fitted and "BandedRidgeCV" in fitted


def test_without_nuisance_nothing_changes(simulated):
    plain = EncodingSettings()
    assert "nuisance" not in plain.model_dump() and "nuisance_ratios" not in plain.model_dump()
    assert "nuisance" in EncodingSettings(nuisance=["word_rate"]).model_dump()


def test_word_features():
    story = Story("s", ("The", "cat's", "sat"), np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.5, 2.5]))
    values = word_features(["word_rate", "word_length", "word_frequency", "phoneme_rate"], {"s": story})["s"]
    assert values.shape == (3, 3)
    np.testing.assert_array_equal(values[:, 0], 1.0)
    np.testing.assert_array_equal(values[:, 1], [3, 4, 3])
    assert values[0, 2] > values[2, 2] > 0  # "the" is more frequent than "sat"


def test_unknown_nuisance_is_one_line():
    with pytest.raises(ValidationError, match="unknown nuisance feature 'word_rat'.*did you mean 'word_rate'"):
        EncodingSettings(nuisance=["word_rat"])


def test_what_a_dataset_lacks_is_one_line():
    with pytest.raises(DataError, match="phoneme_rate needs timed phones .* nophones does not give"):
        check_nuisance(["word_rate", "phoneme_rate"], SimpleNamespace(name="nophones", modality=Modality.FMRI))
    with pytest.raises(DataError, match="fMRI only, and meggy records MEG"):
        check_nuisance(["word_rate"], SimpleNamespace(name="meggy", modality=Modality.MEG))
    assert check_nuisance(["word_rate"], SimpleNamespace(name="nophones", modality=Modality.FMRI)) is None
