"""Banded ridge against himalaya's BandedRidgeCV (GroupRidgeCV), and variance partitioning on planted data."""

from __future__ import annotations

import numpy as np
import pytest

from harness.encoding.banded import BandedRidgeCV, ratio_weights
from harness.encoding.folded import FoldedResponses
from harness.encoding.ridge import RidgeCV, story_folds
from harness.encoding.stats import pearson_r, r2_score
from harness.util.errors import DataError
from harness.util.threads import torch_threads

ALPHAS = np.logspace(-1, 4, 11)
RATIOS = np.logspace(-2, 2, 5)


@pytest.fixture(autouse=True)
def _one_thread():
    from threadpoolctl import threadpool_limits

    with torch_threads(1), threadpool_limits(1):
        yield


def _planted(n: int, n_test: int, p_model: int, p_nuisance: int, v: int, seed: int = 0):
    """Two independent bands; each voxel mixes them with its own shares (some voxels see one band only)."""
    rng = np.random.default_rng(seed)
    rows = n + n_test
    model = rng.standard_normal((rows, p_model))
    nuisance = rng.standard_normal((rows, p_nuisance))
    w_model = rng.standard_normal((p_model, v)) / np.sqrt(p_model)
    w_nuisance = rng.standard_normal((p_nuisance, v)) / np.sqrt(p_nuisance)
    share = rng.uniform(0, 1, v)  # of the signal variance, the model band's
    share[: v // 5] = 0.0  # nuisance only
    share[v // 5 : 2 * v // 5] = 1.0  # model only
    signal = model @ w_model * np.sqrt(share) + nuisance @ w_nuisance * np.sqrt(1 - share)
    size = rng.uniform(0.3, 1.5, v)  # signal std; the noise has std 1
    Y = signal * size + rng.standard_normal((rows, v))
    var_model = share * size**2 * np.square(w_model).sum(0)  # the bands are independent with unit-variance columns
    var_nuisance = (1 - share) * size**2 * np.square(w_nuisance).sum(0)
    unique = var_model / (var_model + var_nuisance + 1)  # the model band's unique share of the response variance
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    folds = story_folds([n // 6] * 5 + [n - 5 * (n // 6)], 5)
    return f32(model[:n]), f32(nuisance[:n]), f32(Y[:n]), f32(model[n:]), f32(nuisance[n:]), f32(Y[n:]), folds, unique


def test_matches_himalaya_banded_ridge():
    from himalaya.backend import set_backend
    from himalaya.ridge import BandedRidgeCV as HimalayaBandedRidgeCV

    model, nuisance, Y, model_t, nuisance_t, Y_t, folds, _ = _planted(300, 100, 30, 6, 120)
    weights = ratio_weights(RATIOS)
    ours = BandedRidgeCV([model, nuisance], folds, ALPHAS, weights, test_bands=[model_t, nuisance_t]).fit(Y)
    set_backend("numpy")
    n = len(Y)
    cv = [(np.setdiff1d(np.arange(n), f), f) for f in folds]
    ref = HimalayaBandedRidgeCV(
        groups="input", cv=cv,
        solver_params={"n_iter": weights, "alphas": ALPHAS, "progress_bar": False, "n_targets_batch": 1000},
    ).fit([model.astype(np.float64), nuisance.astype(np.float64)], Y.astype(np.float64))
    ref_alphas = 1.0 / np.exp(ref.deltas_)  # (bands × voxels) penalty per band
    same = np.isclose(ours.alphas, ref_alphas, rtol=1e-3).all(axis=0)
    assert same.mean() >= 0.99
    r_ours = pearson_r(Y_t, ours.predictions)
    r_ref = pearson_r(Y_t, np.hstack([model_t, nuisance_t]).astype(np.float64) @ ref.coef_)
    assert np.abs(r_ours - r_ref).max() <= 1e-3
    assert len(set(ours.candidate.tolist())) >= 3  # per-voxel band ratios are exercised


def test_fit_folded_equals_fit():
    model, nuisance, Y, model_t, nuisance_t, _, folds, _ = _planted(240, 60, 20, 4, 50, seed=1)
    solver = BandedRidgeCV([model, nuisance], folds, ALPHAS, ratio_weights(RATIOS), test_bands=[model_t, nuisance_t])
    plain, folded = solver.fit(Y), solver.fit_folded(FoldedResponses.of(Y, folds))
    np.testing.assert_array_equal(plain.candidate, folded.candidate)
    np.testing.assert_allclose(plain.predictions, folded.predictions, atol=1e-4)


def test_recovers_planted_unique_share():
    """r2_joint − r2_nuisance recovers the model band's planted share of each voxel's variance."""
    model, nuisance, Y, model_t, nuisance_t, Y_t, folds, unique = _planted(1500, 1500, 12, 4, 150, seed=2)
    joint = BandedRidgeCV([model, nuisance], folds, ALPHAS, ratio_weights(RATIOS), test_bands=[model_t, nuisance_t])
    alone = RidgeCV(nuisance, folds, ALPHAS, X_test=nuisance_t)
    r2_unique = r2_score(Y_t, joint.fit(Y).predictions) - r2_score(Y_t, alone.fit(Y).predictions)
    assert np.abs(r2_unique - unique).mean() < 0.02
    assert np.corrcoef(r2_unique, unique)[0, 1] > 0.95
    assert np.abs(r2_unique[: len(unique) // 5]).max() < 0.05  # nuisance-only voxels: no unique share


def test_bad_weights_are_one_line_errors():
    model, nuisance, *_ , folds, _ = _planted(120, 10, 4, 2, 3)
    with pytest.raises(DataError, match="candidates × 2 bands"):
        BandedRidgeCV([model, nuisance], folds, ALPHAS, np.ones((3, 3)))
    with pytest.raises(DataError, match="positive"):
        BandedRidgeCV([model, nuisance], folds, ALPHAS, np.array([[1.0, 0.0]]))
