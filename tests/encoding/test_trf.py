"""TRF encoding for M/EEG: design conventions, parity with MNE's ReceptiveField, kernel recovery, the scorer path."""

from __future__ import annotations

import numpy as np
import pytest

from harness import BrainDataset, DataError, Modality, Story, SubjectData
from harness.encoding import BrainScorer, RidgeCV, pearson_r, story_folds, zscore_columns
from harness.encoding.settings import EncodingSettings
from harness.encoding.trf import lag_samples, lagged, onset_series, trf_design, valid_rows, word_basis

SFREQ = 100.0
WINDOW = (0.0, 0.6)


def _kernels(dims: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """(dims × lags × channels) planted kernels: a damped oscillation peaking near 0.1–0.3 s."""
    t = lag_samples(WINDOW, SFREQ) / SFREQ
    peaks = rng.uniform(0.1, 0.3, (dims, 1, channels))
    shape = np.exp(-((t[None, :, None] - peaks) ** 2) / (2 * 0.05**2)) - 0.5 * np.exp(-((t[None, :, None] - peaks - 0.15) ** 2) / (2 * 0.07**2))
    return shape * rng.normal(0, 1, (dims, 1, channels))


def _simulate(n_stories=6, seconds=40.0, dims=4, channels=8, noise=1.0, seed=0):
    """Stories of equal length: word onsets, word features, sample times and responses through known kernels."""
    rng = np.random.default_rng(seed)
    kernels = _kernels(dims, channels, rng)
    lags = lag_samples(WINDOW, SFREQ)
    stories = {}
    for i in range(n_stories):
        onsets = np.cumsum(rng.uniform(0.25, 0.45, int(seconds / 0.35)))
        onsets = onsets[onsets < seconds - 1.0] + 0.5
        features = rng.normal(0, 1, (len(onsets), dims))
        times = np.arange(int(seconds * SFREQ)) / SFREQ
        series = onset_series(onsets, features, times)
        signal = lagged(series, lags).astype(np.float64) @ kernels.reshape(dims * len(lags), channels)
        responses = signal + noise * signal.std() * rng.normal(0, 1, signal.shape)
        stories[f"s{i}"] = (onsets, features, times, responses)
    return stories, kernels


def test_design_conventions():
    times = np.arange(100) / SFREQ
    series = onset_series(np.array([0.104, 0.5, 0.504, 2.0]), np.array([[1.0], [2.0], [3.0], [9.0]]), times)
    assert series[10, 0] == 1.0 and series[50, 0] == 5.0 and series.sum() == 6.0  # nearest sample, summed, outside dropped
    lags = np.array([0, 2])
    x = lagged(np.arange(1.0, 6.0)[:, None], lags)
    np.testing.assert_array_equal(x[:, 1], [0, 0, 1, 2, 3])
    np.testing.assert_array_equal(valid_rows(5, lags), [2, 3, 4])
    np.testing.assert_array_equal(lag_samples((0.0, 0.6), 100.0), np.arange(61))
    mean, projection = word_basis([np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 0.0]])], None)
    assert projection[1, 1] == 0.0  # a constant dimension is dropped
    _, pca = word_basis([np.random.default_rng(0).normal(size=(50, 6))], 3)
    assert pca.shape == (6, 3)


def test_rates_must_agree():
    stories, _ = _simulate(n_stories=3, seconds=10)
    feats = {s: v[1] for s, v in stories.items()}
    onsets = {s: v[0] for s, v in stories.items()}
    times = {s: v[2] for s, v in stories.items()}
    times["s2"] = np.arange(500) / 50.0
    with pytest.raises(DataError, match="story 's2' is sampled at 50 Hz, story 's0' at 100 Hz"):
        trf_design(feats, onsets, times, ["s0", "s1"], ["s2"], WINDOW)


def test_same_r_as_mne_receptive_field(alpha=30.0):
    mne_rf = pytest.importorskip("mne.decoding")
    stories, _ = _simulate(n_stories=6, seconds=40, dims=4, channels=8, noise=2.0)
    train, test = ["s0", "s1", "s2", "s3"], ["s4", "s5"]
    feats = {s: v[1] for s, v in stories.items()}
    onsets = {s: v[0] for s, v in stories.items()}
    times = {s: v[2] for s, v in stories.items()}
    y = {s: zscore_columns(v[3]) for s, v in stories.items()}
    design = trf_design(feats, onsets, times, train, test, WINDOW)
    folds = story_folds([len(times[s]) for s in train], 2)
    fit = RidgeCV(design.x_train, folds, [alpha], X_test=design.x_test).fit(np.concatenate([y[s] for s in train]))
    y_test = np.concatenate([y[s] for s in test])
    ours = pearson_r(y_test[design.test_rows], fit.predictions[design.test_rows])

    mean, projection = word_basis([feats[s] for s in train], None)
    series = {s: onset_series(onsets[s], (feats[s] - mean) @ projection, times[s]) for s in stories}
    rf = mne_rf.ReceptiveField(WINDOW[0], WINDOW[1], SFREQ, estimator=alpha, fit_intercept=True, scoring="corrcoef")
    rf.fit(np.stack([series[s] for s in train], 1), np.stack([y[s] for s in train], 1))
    theirs = rf.score(np.stack([series[s] for s in test], 1), np.stack([y[s] for s in test], 1))
    assert np.max(np.abs(ours - theirs)) < 1e-3
    assert ours.mean() > 0.2


def test_recovered_kernels_match_planted():
    stories, kernels = _simulate(n_stories=6, seconds=60, dims=3, channels=6, noise=1.0, seed=3)
    names = sorted(stories)
    design = trf_design({s: v[1] for s, v in stories.items()}, {s: v[0] for s, v in stories.items()},
                        {s: v[2] for s, v in stories.items()}, names[:5], names[5:], WINDOW)
    y = np.concatenate([zscore_columns(stories[s][3]) for s in names[:5]])
    fit = RidgeCV(design.x_train, story_folds([len(stories[s][2]) for s in names[:5]], 5), np.logspace(0, 4, 9)).fit(y, return_weights=True)
    weights = fit.weights.reshape(3 * 61, 6)
    planted = kernels.reshape(3 * 61, 6)
    for channel in range(6):  # every channel's kernels (features × lags) recovered
        assert np.corrcoef(weights[:, channel], planted[:, channel])[0, 1] > 0.9


class SimMEG(BrainDataset):
    """A small in-memory MEG dataset: two subjects share the words, each on its own recording clock."""

    name = "simmeg"
    modality = Modality.MEG

    def __init__(self):
        super().__init__()
        self.data, self.kernels = _simulate(n_stories=5, seconds=50, dims=4, channels=10, noise=1.0, seed=5)

    def stories(self):
        return {s: Story(s, tuple(f"w{i}" for i in range(len(v[0]))), v[0], v[0] + 0.2) for s, v in self.data.items()}

    def subjects(self):
        return ["A", "B"]

    def split(self):
        return ["s0", "s1", "s2", "s3"], ["s4"]

    def load_subject(self, subject):
        shift = 0.0 if subject == "A" else 12.5  # B's recordings start 12.5 s earlier on the story clock
        return SubjectData(
            responses={s: v[3].astype(np.float32) for s, v in self.data.items()},
            times={s: v[2] + shift for s, v in self.data.items()},
            word_onsets={s: v[0] + shift for s, v in self.data.items()} if shift else {},
        )


def test_scorer_fits_a_trf_for_meg():
    dataset = SimMEG()
    scorer = BrainScorer(dataset, EncodingSettings(lags_s=WINDOW, alphas=[1.0, 10.0, 100.0, 1000.0], folds=4))
    features = {s: v[1] for s, v in dataset.data.items()}
    out = scorer.score(features)
    values = {(s.metric, s.scope): s.value for s in out.scores}
    assert values[("r_mean", "A")] > 0.3
    assert values[("r_mean", "A")] == pytest.approx(values[("r_mean", "B")], abs=1e-5)  # same data, shifted clock
    assert 0.05 <= values[("peak_lag_s", "mean")] <= 0.45
    assert values[("n_sensors", "A")] == 10 and not any(metric == "n_voxels" for metric, _ in values)  # MEG: sensors
    assert out.arrays["lag_profile/A"].shape == (61, 10)
    np.testing.assert_allclose(out.arrays["lags_s"], np.arange(61) / SFREQ, atol=1e-6)
    reduced = BrainScorer(dataset, EncodingSettings(lags_s=WINDOW, pca=2, alphas=[10.0, 100.0], folds=4)).score(features)
    assert {(s.metric, s.scope): s.value for s in reduced.scores}[("r_mean", "A")] < values[("r_mean", "A")]
