"""Grouped-CV ridge against himalaya's RidgeCV and scikit-learn's Ridge."""

from __future__ import annotations

import numpy as np
import pytest

from harness.encoding.ridge import RidgeCV, choose_form, ridge_cv, story_folds
from harness.encoding.stats import pearson_r
from harness.util.errors import DataError
from harness.util.threads import torch_threads

ALPHAS = np.logspace(-1, 4, 12)


@pytest.fixture(autouse=True)
def _one_thread():
    """Small problems run faster (and steadier on a shared machine) on one thread."""
    from threadpoolctl import threadpool_limits

    with torch_threads(1), threadpool_limits(1):
        yield


def _problem(n: int, p: int, v: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((p, p)) / np.sqrt(p)
    X = rng.standard_normal((n + 80, p)) @ (np.eye(p) + 0.7 * mix)  # correlated features
    W = rng.standard_normal((p, v)) / np.sqrt(p) * rng.uniform(0, 1.5, v)
    Y = X @ W + rng.standard_normal((n + 80, v))
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    X -= X[:n].mean(0)
    Y -= Y[:n].mean(0)
    folds = story_folds([n // 8] * 7 + [n - 7 * (n // 8)], 5)
    return X[:n], Y[:n], X[n:], Y[n:], folds


@pytest.mark.parametrize(
    ("n", "p", "alphas"),
    [(400, 60, ALPHAS), (240, 500, ALPHAS), (400, 60, ALPHAS[::4]), (240, 500, ALPHAS[::4])],
    ids=["primal", "dual", "primal-rotated", "dual-rotated"],  # rotated: voxels > alphas × validation rows
)
@pytest.mark.parametrize("method", ["explicit", "spectral"])
def test_matches_himalaya(n, p, alphas, method):
    from himalaya.backend import set_backend
    from himalaya.ridge import RidgeCV as HimalayaRidgeCV

    X, Y, Xt, Yt, folds = _problem(n, p, 300)
    X[:, 3] = X[:, 4]  # a repeated eigenvalue (0) exercises the merged groups of the spectral loss
    ours = RidgeCV(X, folds, alphas, X_test=Xt, method=method).fit(Y, return_weights=True)
    set_backend("numpy")
    cv = [(np.setdiff1d(np.arange(n), f), f) for f in folds]
    ref = HimalayaRidgeCV(alphas=alphas, cv=cv, solver_params={"warn": False}).fit(X.astype(np.float64), Y.astype(np.float64))
    same_alpha = np.isclose(ours.alphas, ref.best_alphas_, rtol=1e-4)
    assert same_alpha.mean() >= 0.99
    r_ours = pearson_r(Yt, ours.predictions)
    r_ref = pearson_r(Yt, Xt.astype(np.float64) @ ref.coef_)
    assert np.abs(r_ours - r_ref).max() < 1e-4
    np.testing.assert_allclose(ours.weights, ref.coef_, atol=1e-4 * np.abs(ref.coef_).max())
    assert len(set(ours.alphas.tolist())) >= 2  # the test exercises per-voxel penalties


def test_refit_matches_sklearn_ridge():
    from sklearn.linear_model import Ridge

    X, Y, Xt, _, folds = _problem(300, 40, 50, seed=1)
    result = ridge_cv(X, Y, folds, [30.0], X_test=Xt, return_weights=True)
    reference = Ridge(alpha=30.0, fit_intercept=False).fit(X.astype(np.float64), Y.astype(np.float64))
    np.testing.assert_allclose(result.weights, reference.coef_.T, atol=1e-4)
    np.testing.assert_allclose(result.predictions, reference.predict(Xt.astype(np.float64)), atol=1e-3)


def test_cv_score_is_mean_fold_mse():
    from sklearn.linear_model import Ridge

    X, Y, _, _, folds = _problem(200, 20, 6, seed=2)
    result = RidgeCV(X, folds, [5.0]).fit(Y)
    expected = []
    for val in folds:
        train = np.setdiff1d(np.arange(len(X)), val)
        model = Ridge(alpha=5.0, fit_intercept=False).fit(X[train].astype(np.float64), Y[train].astype(np.float64))
        expected.append(-((model.predict(X[val].astype(np.float64)) - Y[val]) ** 2).mean(0))
    np.testing.assert_allclose(result.cv_scores, np.mean(expected, 0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("form", ["primal", "dual"])
def test_forms_and_batches_agree(form):
    X, Y, Xt, _, folds = _problem(200, 150, 70, seed=3)
    whole = RidgeCV(X, folds, ALPHAS, X_test=Xt).fit(Y)
    forced = RidgeCV(X, folds, ALPHAS, X_test=Xt, form=form, memory_budget=1 << 16)
    batched = forced.fit(Y, voxel_batch=16)
    assert forced._alpha_chunk() < len(ALPHAS)  # penalties are chunked under a tiny budget
    np.testing.assert_array_equal(batched.alphas, whole.alphas)
    np.testing.assert_allclose(batched.predictions, whole.predictions, atol=1e-4)


def test_spectral_and_explicit_losses_agree():
    X, Y, _, _, folds = _problem(300, 120, 40, seed=4)
    X[:, :10] = 0.0  # a block of zero eigenvalues
    explicit = RidgeCV(X, folds, ALPHAS, method="explicit")
    spectral = RidgeCV(X, folds, ALPHAS, method="spectral")
    a = explicit.cv_scores(Y, explicit.X.T @ explicit._columns(Y, 0, 40), 40)
    b = spectral.cv_scores(Y, spectral.X.T @ spectral._columns(Y, 0, 40), 40)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="method"):
        RidgeCV(X, folds, ALPHAS, method="magic")


def test_choose_form():
    assert choose_form(1000, 200) == "primal"
    assert choose_form(200, 1000) == "dual"


def test_story_folds_group_whole_stories():
    folds = story_folds([3, 4, 5, 6, 7], 2)
    assert [f.tolist() for f in folds] == [[0, 1, 2, 7, 8, 9, 10, 11, 18, 19, 20, 21, 22, 23, 24], [3, 4, 5, 6, 12, 13, 14, 15, 16, 17]]
    assert len(story_folds([5, 5, 5], 5)) == 3  # fewer stories than folds: one story per fold
    with pytest.raises(DataError, match="at least 2 training stories"):
        story_folds([10], 5)


def test_bad_inputs_are_one_line_errors():
    X, Y, _, _, folds = _problem(100, 10, 5)
    solver = RidgeCV(X, folds, ALPHAS)
    with pytest.raises(DataError, match="responses have 99 rows but the features have 100"):
        solver.fit(Y[:99])
    with pytest.raises(DataError, match="positive"):
        RidgeCV(X, folds, [1.0, -1.0])
    with pytest.raises(DataError, match="at least 2 folds"):
        RidgeCV(X, folds[:1], ALPHAS)
