"""The probes' fitting against references: per-fold moments against direct sums, the ridge probe
against scikit-learn's Ridge, the logistic probe against scikit-learn's LogisticRegression."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness_plugins.metrics.probefit import (
    SoftmaxProblems,
    _basis,
    fold_moments,
    group_folds,
    lbfgs,
    logistic_cv_accuracy,
    pearson,
    ridge_cv_r,
)


def _data(n: int = 400, dims: int = 6, seed: int = 0) -> tuple[np.ndarray, list[str], list[np.ndarray]]:
    """Activations with an offset and unequal scales (as a layer's are), 5 stories, their folds."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dims)) * rng.uniform(0.5, 3.0, size=dims) + rng.normal(scale=20.0, size=dims)
    stories = [f"s{i * 5 // n}" for i in range(n)]
    return x, stories, group_folds(stories, 5)


def test_fold_moments_are_the_training_rows_mean_and_centred_gram():
    x, _, folds = _data()
    for fold, test in zip(fold_moments(torch.as_tensor(x), folds), folds):
        train = np.setdiff1d(np.arange(len(x)), test)
        centred = x[train] - x[train].mean(0)
        assert fold.n == len(train)
        assert not fold.train.numpy()[test].any() and fold.train.numpy()[train].all()
        np.testing.assert_allclose(fold.mean.numpy()[0], x[train].mean(0), rtol=1e-12)
        np.testing.assert_allclose(fold.gram.numpy(), centred.T @ centred, rtol=1e-9, atol=1e-9)


def test_ridge_probe_matches_sklearn_ridge():
    from sklearn.linear_model import Ridge

    x, _, folds = _data(seed=1)
    rng = np.random.default_rng(2)
    y = x @ rng.normal(size=(x.shape[1], 3)) + rng.normal(scale=5.0, size=(len(x), 3))
    ratio = 0.3  # one ratio: no choice left to GCV
    r = ridge_cv_r(torch.as_tensor(x), torch.as_tensor(y), fold_moments(torch.as_tensor(x), folds), torch.tensor([ratio])).numpy()
    for i, test in enumerate(folds):
        train = np.setdiff1d(np.arange(len(x)), test)
        s = np.linalg.svd(x[train] - x[train].mean(0), compute_uv=False)
        pred = Ridge(alpha=ratio * (s * s).mean()).fit(x[train], y[train]).predict(x[test])
        expected = pearson(torch.as_tensor(pred), torch.as_tensor(y[test])).numpy()
        np.testing.assert_allclose(r[i], expected, atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1])
def test_logistic_probe_matches_sklearn_logistic_regression(seed):
    """Two targets with different numbers of classes (one padded) fitted together, each as sklearn fits it alone."""
    from sklearn.linear_model import LogisticRegression

    x, _, folds = _data(seed=seed)
    rng = np.random.default_rng(seed + 10)
    y = np.stack([np.argmax((x[:, :3] - x[:, :3].mean(0)) / x[:, :3].std(0) + rng.normal(size=(len(x), 3)), 1),
                  rng.integers(0, 5, size=len(x))], axis=1)
    lam = 0.01
    fold = fold_moments(torch.as_tensor(x), folds)[0]
    train, test = fold.train.numpy(), folds[0]
    proj, offset, s = _basis(fold, torch.float64)
    xt = torch.as_tensor(x)
    problems = SoftmaxProblems(torch.addmm(offset, xt[fold.train], proj), s, torch.as_tensor(y[train]),
                               torch.tensor([3, 5]), torch.full((2,), lam, dtype=torch.float64))
    theta = lbfgs(problems.loss, torch.zeros(problems.c * problems.m * (problems.k + 1), dtype=torch.float64), 500, tolerance=1e-10)
    logits = problems.logits(torch.addmm(offset.T, proj.T, xt[fold.test].T), problems._unflatten(theta))  # (classes x 2 x rows)
    mean, std = x[train].mean(0), x[train].std(0, ddof=1)
    for j, classes in enumerate((3, 5)):
        reference = LogisticRegression(C=1 / (lam * train.sum()), tol=1e-10, max_iter=10000)
        reference.fit((x[train] - mean) / std, y[train, j])
        expected = reference.predict_proba((x[test] - mean) / std)
        ours = torch.softmax(logits[:classes, j].T, 1).numpy()
        np.testing.assert_allclose(ours, expected, atol=1e-7)


@pytest.mark.parametrize("size", [1.0, 200.0])
def test_logistic_loss_is_the_cross_entropy_of_each_problems_own_classes(size):
    """At any parameters, the loss and its gradient are those of every problem's softmax over its own
    classes (one problem padded to the other's), also where the exponentials leave float range."""
    rng = np.random.default_rng(3)
    n = 300
    y = np.stack([rng.integers(0, 3, size=n), rng.integers(0, 2, size=n)], axis=1)
    z = torch.as_tensor(rng.normal(size=(n, 4)), dtype=torch.float32)
    problems = SoftmaxProblems(z, torch.tensor([9.0, 5.0, 3.0, 1.0]), torch.as_tensor(y), torch.tensor([3, 2]), torch.tensor([0.01, 0.1]))
    theta = torch.randn(problems.c * problems.m * (problems.k + 1), generator=torch.Generator().manual_seed(0)) * size
    value, grad = problems.loss(theta)
    logits = problems.logits(problems.zt, problems._unflatten(theta)).double()
    assert (float(logits.exp().sum(0).max()) > 1e30) == (size > 1)  # the unshifted sums leave float range

    def reference(t: torch.Tensor) -> torch.Tensor:
        fit = problems._unflatten(t)
        total = 0.5 * (problems.penalty.double() * fit.coef.double() ** 2).sum()
        for j, classes in enumerate((3, 2)):
            weights = fit.coef[:classes, j].double() / problems.scale[j].double()
            logp = torch.log_softmax(z.double() @ weights.T + fit.bias[:classes, j].double(), 1)
            total = total - logp.gather(1, torch.as_tensor(y[:, j:j + 1])).sum() / n
        return total

    t64 = theta.double().requires_grad_()
    expected = reference(t64)
    expected.backward()
    assert float(value) == pytest.approx(float(expected.detach()), rel=1e-5)
    np.testing.assert_allclose(grad.numpy(), t64.grad.numpy(), rtol=1e-4, atol=1e-5 * float(t64.grad.abs().max()))


def test_logistic_probe_scores_separable_classes_with_large_logits():
    rng = np.random.default_rng(3)
    n = 300
    y = rng.integers(0, 3, size=(n, 1))
    x = rng.normal(size=(n, 4))
    x[:, 0] += 60.0 * y[:, 0]  # separable: large logits once fitted
    stories = [f"s{i * 4 // n}" for i in range(n)]
    xt = torch.as_tensor(x)
    acc, _ = logistic_cv_accuracy(xt, torch.as_tensor(y), torch.tensor([3]), fold_moments(xt, group_folds(stories, 4)), stories, [1e-6], 10)
    assert acc.min() > 0.95


def test_several_penalties_choose_per_fold_the_one_that_predicts_held_out_stories():
    """A planted category: the light penalty wins in every fold, so the scores are those of the light penalty alone."""
    rng = np.random.default_rng(7)
    n = 600
    y = rng.integers(0, 3, size=(n, 1))
    x = rng.normal(size=(n, 6))
    x[:, :3] += 2.0 * np.eye(3)[y[:, 0]]
    stories = [f"s{i * 6 // n}" for i in range(n)]
    xt, yt, classes = torch.as_tensor(x), torch.as_tensor(y), torch.tensor([3])
    moments = fold_moments(xt, group_folds(stories, 5))
    light, _ = logistic_cv_accuracy(xt, yt, classes, moments, stories, [1e-4], 10)
    heavy, _ = logistic_cv_accuracy(xt, yt, classes, moments, stories, [100.0], 10)
    chosen, _ = logistic_cv_accuracy(xt, yt, classes, moments, stories, [100.0, 1e-4], 10)
    assert light.mean() > 0.8 and heavy.mean() < light.mean() - 0.1
    np.testing.assert_array_equal(chosen, light)
