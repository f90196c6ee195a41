"""BrainScorer: the contract the runner calls, on the simulated dataset and on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from harness.encoding import BrainScorer
from harness.encoding.settings import EncodingSettings
from harness.plugin.contract import BrainDataset, Story, SubjectData
from harness.util.errors import DataError
from harness_plugins.brain.simulated import Simulated


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    options = Simulated.Options(cache=str(tmp_path_factory.mktemp("sim")), voxels=144, stories=6, words_per_story=400)
    return Simulated(options)


@pytest.fixture(scope="module")
def scorer(simulated):
    return BrainScorer(simulated, EncodingSettings(), device="cpu", seed=0)


def _by_scope(output, scope):
    return {s.metric: s.value for s in output.scores if s.scope == scope}


def test_ground_truth_features_reach_the_ceiling(simulated, scorer):
    output = scorer.score(simulated.ground_truth_features())
    for subject in ("SIM01", "SIM02"):
        values = _by_scope(output, subject)
        ceiling = simulated.ground_truth(subject)["ceiling"].mean()
        assert values["r_mean"] > 0.75 * ceiling
        assert 0.75 < values["r_mean_norm"] < 1.1
        assert values["r_top"] > values["r_mean"]
        assert values["n_voxels"] == 144 and values["n_dropped"] == 0
        assert {"r_roi:auditory", "r_roi:lexical", "r_roi:semantic"} <= set(values)
        assert output.arrays[f"r/{subject}"].shape == (144,)
        assert output.arrays[f"alpha/{subject}"].shape == (144,)
    mean = _by_scope(output, "mean")
    assert mean["r_mean"] == pytest.approx(np.mean([_by_scope(output, s)["r_mean"] for s in ("SIM01", "SIM02")]))


def test_shuffled_features_score_near_zero(simulated, scorer):
    rng = np.random.default_rng(0)
    shuffled = {}
    for story, features in simulated.ground_truth_features().items():
        # permute the words and centre each column: no content, and no word rate carried by timing
        permuted = features[rng.permutation(len(features))]
        shuffled[story] = permuted - permuted.mean(0)
    values = _by_scope(scorer.score(shuffled), "mean")
    assert abs(values["r_mean"]) < 0.05


def test_random_features_at_default_width_score_near_zero(simulated, scorer):
    # timing lives in benchmarks/scorer.py; here only the result
    rng = np.random.default_rng(1)
    features = {k: rng.standard_normal((len(v.words), 128)).astype(np.float32) for k, v in simulated.stories().items()}
    output = scorer.score(features)
    for subject in ("SIM01", "SIM02"):
        assert np.isfinite(output.arrays[f"r/{subject}"]).all() and output.arrays[f"r/{subject}"].shape == (144,)
    assert abs(_by_scope(output, "mean")["r_mean"]) < 0.1


def test_feature_mistakes_are_one_line(simulated, scorer):
    features = simulated.ground_truth_features()
    missing = {k: v for k, v in features.items() if k != "sim02"}
    with pytest.raises(DataError, match="features are missing story 'sim02'"):
        scorer.score(missing)
    short = dict(features, sim03=features["sim03"][:-1])
    with pytest.raises(DataError, match=r"features for story 'sim03' have shape \(\d+, 19\), expected \(\d+, dims\)"):
        scorer.score(short)
    bad = dict(features, sim01=np.full_like(features["sim01"], np.nan))
    with pytest.raises(DataError, match="NaN"):
        scorer.score(bad)


class InMemory(BrainDataset):
    """A tiny dataset held in memory, for malformed-input tests."""

    name = "inmemory"

    def __init__(self, responses, tr_times=None, split=None):
        super().__init__()
        rng = np.random.default_rng(0)
        self._stories = {}
        for name in ("a", "b", "c", "t"):
            onsets = np.cumsum(rng.uniform(0.3, 0.5, 200))
            self._stories[name] = Story(name, tuple(f"w{i}" for i in range(200)), onsets, onsets + 0.25)
        self._responses = responses
        self._times = tr_times or {k: 11.0 + 2.0 * np.arange(len(v)) for k, v in responses.items()}
        self._split = split or (["a", "b", "c"], ["t"])

    def stories(self):
        return self._stories

    def subjects(self):
        return ["S1"]

    def split(self):
        return self._split

    def load_subject(self, subject):
        return SubjectData(responses=self._responses, tr_times=self._times)


def _responses(voxels=6, scans=30):
    rng = np.random.default_rng(2)
    return {k: rng.standard_normal((scans, voxels)).astype(np.float32) for k in ("a", "b", "c", "t")}


def test_nan_and_constant_voxels_are_dropped_and_counted():
    responses = _responses()
    responses["b"][4, 1] = np.nan
    responses["t"][:, 3] = 2.0
    scorer = BrainScorer(InMemory(responses), EncodingSettings(folds=3), device="cpu")
    rng = np.random.default_rng(3)
    output = scorer.score({k: rng.standard_normal((200, 4)).astype(np.float32) for k in "abct"})
    values = _by_scope(output, "S1")
    assert values["n_voxels"] == 4 and values["n_dropped"] == 2
    r = output.arrays["r/S1"]
    assert np.isnan(r[[1, 3]]).all() and np.isfinite(np.delete(r, [1, 3])).all()


def test_response_mistakes_are_one_line():
    responses = _responses()
    responses["c"] = responses["c"][:, :5]
    with pytest.raises(DataError, match="story 'c' has 5 voxels, earlier stories have 6"):
        BrainScorer(InMemory(responses), EncodingSettings())
    responses = _responses()
    times = {k: 11.0 + 2.0 * np.arange(29) for k in responses}
    with pytest.raises(DataError, match="has 30 response scans but 29 scan times"):
        BrainScorer(InMemory(responses, tr_times=times), EncodingSettings())
    responses = _responses()
    del responses["t"]
    with pytest.raises(DataError, match="no responses for story 't'"):
        BrainScorer(InMemory(responses, tr_times={k: 11.0 + 2.0 * np.arange(30) for k in "abc"}), EncodingSettings())
    late = {k: 500.0 + 2.0 * np.arange(30) for k in "abct"}
    with pytest.raises(DataError, match=r"samples of story 'a' \(500–558 s\) do not overlap its words"):
        BrainScorer(InMemory(_responses(), tr_times=late), EncodingSettings())
    with pytest.raises(DataError, match="story 'zz' is in the split but has no words"):
        BrainScorer(InMemory(_responses(), split=(["a", "b"], ["zz"])), EncodingSettings())
    with pytest.raises(DataError, match="at least 2 training stories"):
        BrainScorer(InMemory(_responses(), split=(["a"], ["t"])), EncodingSettings())


def test_permutations_report_fraction_significant(simulated):
    settings = EncodingSettings(permutations=50, delays=[1, 2, 3])
    output = BrainScorer(simulated, settings, device="cpu", seed=0).score(simulated.ground_truth_features())
    values = _by_scope(output, "SIM01")
    assert 0.3 < values["frac_significant"] <= 1.0
