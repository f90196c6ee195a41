"""Bounded memory: responses read lazily in voxel blocks, subjects one at a time, shared decompositions."""

from __future__ import annotations

import numpy as np
import pytest

from harness.encoding import BrainScorer, RidgeCV, delay_matrices, story_design, story_folds
from harness.encoding.design import sparse_delays
from harness.encoding.responses import RESPONSE_COPIES, block_size
from harness.encoding.settings import EncodingSettings
from harness.plan.config import parse_config
from harness.plugin.contract import BrainDataset, SubjectData
from harness.util.errors import ConfigError
from harness_plugins.brain import hdf5responses
from harness_plugins.brain.hdf5responses import HDF5Responses
from harness_plugins.brain.lebel2023 import LeBel2023
from harness_plugins.brain.simulated import Simulated

VOXELS = 150


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    options = Simulated.Options(cache=str(tmp_path_factory.mktemp("sim")), voxels=VOXELS, stories=6, words_per_story=400, subjects=3)
    return Simulated(options)


@pytest.fixture(scope="module")
def features(simulated):
    rng = np.random.default_rng(4)
    truth = simulated.ground_truth_features()
    # the true features plus noise columns: a realistic mix of good and useless dimensions
    return {k: np.hstack([v, rng.standard_normal((len(v), 13))]).astype(np.float32) for k, v in truth.items()}


def _budget_for(voxels: int, scans: int) -> float:
    """A ``memory_gb`` whose blocks hold ``voxels`` voxels."""
    return RESPONSE_COPIES * 4 * scans * voxels / (1 << 30)


def _assert_same(a, b):
    assert [(s.metric, s.scope) for s in a.scores] == [(s.metric, s.scope) for s in b.scores]
    for x, y in zip(a.scores, b.scores):
        assert x.value == pytest.approx(y.value, rel=1e-4, abs=1e-5), (x.metric, x.scope)
    assert a.arrays.keys() == b.arrays.keys()
    for key in a.arrays:
        np.testing.assert_allclose(a.arrays[key], b.arrays[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_lebel_responses_are_lazy_and_read_by_columns(simulated):
    subject = simulated.load_subject("SIM01")
    response = subject.responses["sim01"]
    assert isinstance(response, HDF5Responses)
    whole = np.asarray(response)
    assert whole.shape == response.shape and whole.dtype == np.float32
    np.testing.assert_array_equal(response[:, 10:20], whole[:, 10:20])


def test_noise_ceiling_read_in_blocks_is_the_same(simulated, monkeypatch):
    whole = simulated.load_subject("SIM02").noise_ceiling
    monkeypatch.setattr(hdf5responses, "CEILING_BLOCK_VALUES", 1000)  # a few voxels per read
    assert len(hdf5responses.column_blocks(VOXELS, 4 * 300, 1000)) > 10
    blocked = LeBel2023(simulated.reader.options).load_subject("SIM02").noise_ceiling
    np.testing.assert_allclose(blocked, whole, rtol=1e-6, atol=1e-7)


def test_streamed_in_voxel_blocks_equals_all_in_memory(simulated, features):
    settings = EncodingSettings(permutations=20, fdr_q=0.1)
    resident = BrainScorer(simulated, settings, device="cpu", seed=0)
    assert resident.resident and resident.block_voxels("SIM01") == VOXELS
    scans = resident.info["SIM01"].scans
    streamed = BrainScorer(simulated, settings.model_copy(update={"memory_gb": _budget_for(40, scans)}), device="cpu", seed=0)
    assert not streamed.resident and streamed.block_voxels("SIM01") == 40  # 4 blocks per subject
    expected = resident.score(features)
    _assert_same(streamed.score(features), expected)
    assert not streamed._kept  # nothing held between layers
    assert {"r_roi:auditory", "r_mean_norm", "frac_significant"} <= {s.metric for s in expected.scores}


class Recording:
    """A lazy response reader that records the width of every read."""

    def __init__(self, inner, log: list[int]) -> None:
        self.inner, self.log = inner, log

    @property
    def shape(self) -> tuple[int, ...]:
        return self.inner.shape

    def __getitem__(self, key):
        out = self.inner[key]
        self.log.append(out.shape[1])
        return out


class Logged(BrainDataset):
    """The simulated dataset's data behind recording readers (or as arrays in memory), with loads counted."""

    name = "logged"

    def __init__(self, inner: Simulated, in_memory: bool) -> None:
        super().__init__()
        self.inner, self.in_memory, self.reads, self.loads = inner, in_memory, [], []

    def stories(self):
        return self.inner.stories()

    def subjects(self):
        return self.inner.subjects()

    def split(self):
        return self.inner.split()

    def load_subject(self, subject):
        self.loads.append(subject)
        data = self.inner.load_subject(subject)
        if self.in_memory:
            return SubjectData({k: np.asarray(v) for k, v in data.responses.items()}, data.times, data.rois, data.noise_ceiling)
        return SubjectData({k: Recording(v, self.reads) for k, v in data.responses.items()}, data.times, data.rois, data.noise_ceiling)


@pytest.mark.parametrize("in_memory", [False, True], ids=["lazy", "in-memory"])
def test_streaming_reads_one_block_at_a_time_and_subjects_one_after_another(simulated, features, in_memory):
    dataset = Logged(simulated, in_memory)
    scans = BrainScorer(simulated, EncodingSettings()).info["SIM01"].scans
    scorer = BrainScorer(dataset, EncodingSettings(memory_gb=_budget_for(64, scans)), device="cpu")
    assert dataset.loads == ["SIM01", "SIM02", "SIM03"] and not dataset.reads  # inspected, nothing read
    held = [info.data is not None for info in scorer.info.values()]
    assert held == [not in_memory] * 3  # lazy readers are kept (they hold nothing); arrays are let go
    scorer.score(features)
    if in_memory:  # loaded again when scored, one subject after the other
        assert dataset.loads[3:] == ["SIM01", "SIM02", "SIM03"]
    else:
        assert len(dataset.loads) == 3
        assert dataset.reads == ([64] * 6 + [64] * 6 + [22] * 6) * 3  # per subject: 3 blocks x 6 stories


def test_block_size_follows_the_budget():
    assert block_size(RESPONSE_COPIES * 4 * 1000 * 50, 1000) == 50
    assert block_size(1, 1000) == 1
    config = {"models": [{"family": "tinylm"}], "brain": [{"dataset": "simulated", "encoding": {"memory_gb": 0}}]}
    with pytest.raises(ConfigError, match=r"brain\[0\]\.encoding\.memory_gb: .*greater than 0"):
        parse_config(config, "sweep.yaml")
    assert "memory_gb" not in EncodingSettings(memory_gb=5).model_dump()  # results do not depend on it


def test_subjects_sharing_scan_times_share_one_decomposition(simulated, features, monkeypatch):
    shared = BrainScorer(simulated, EncodingSettings(), device="cpu", seed=0)
    assert len(shared.groups()) == 1  # same stories, same scan times
    built = []
    original = RidgeCV.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(RidgeCV, "__init__", counting)
    together = shared.score(features)
    assert len(built) == 1
    for subject in simulated.subjects():
        options = simulated.reader.options.model_copy(update={"subjects": [subject]})
        alone = BrainScorer(LeBel2023(options), EncodingSettings(), device="cpu", seed=0).score(features)
        for key in (f"r/{subject}", f"alpha/{subject}"):
            np.testing.assert_allclose(together.arrays[key], alone.arrays[key], rtol=1e-5, atol=1e-6)
        mine = {s.metric: s.value for s in together.scores if s.scope == subject}
        for score in alone.scores:
            if score.scope == subject:
                assert mine[score.metric] == pytest.approx(score.value, rel=1e-5, abs=1e-6)
    assert len(built) == 1 + len(simulated.subjects())


def test_ridge_fits_reusing_a_decomposition_equal_fresh_fits():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((240, 30)).astype(np.float32)
    folds = story_folds([60, 60, 60, 60], 4)
    alphas = np.logspace(-1, 3, 9)
    solver = RidgeCV(X, folds, alphas, X_test=X[:20], method="spectral")
    for _ in range(3):  # three subjects on one decomposition
        Y = (X @ rng.standard_normal((30, 50)) + 3 * rng.standard_normal((240, 50))).astype(np.float32)
        reused = solver.fit(Y)
        fresh = RidgeCV(X, folds, alphas, X_test=X[:20], method="spectral").fit(Y)
        np.testing.assert_array_equal(reused.alphas, fresh.alphas)
        np.testing.assert_allclose(reused.cv_scores, fresh.cv_scores, rtol=1e-5)
        np.testing.assert_allclose(reused.predictions, fresh.predictions, rtol=1e-4, atol=1e-5)


def test_sparse_delay_stacks_give_the_dense_design():
    rng = np.random.default_rng(5)
    onsets = np.cumsum(rng.uniform(0.2, 0.5, 400))
    times = 11.0 + 2.0 * np.arange(60)
    dense = delay_matrices(onsets, times, [1, 2, 3, 4])
    stack = sparse_delays(dense)
    assert stack.nnz < 0.1 * dense.size  # the Lanczos window keeps a few scans per word
    features = rng.standard_normal((400, 16)).astype(np.float32)
    np.testing.assert_allclose(story_design(features, stack, 4), story_design(features, dense), rtol=1e-5, atol=1e-5)
