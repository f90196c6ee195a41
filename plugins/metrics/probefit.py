"""Fitting probes: story-grouped folds, control labels, cross-validated ridge and logistic regression (torch).

Every function takes the activations as one (words x dims) tensor and fits many targets at once,
so a probe and its control task, and every property, share one pass over the activations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch


def story_folds(groups: Sequence[str], folds: int) -> list[np.ndarray]:
    """Test-row indices per fold: whole stories dealt round-robin in sorted order; with a single
    story, contiguous blocks of words."""
    groups_arr = np.asarray(groups, dtype=object)
    names = sorted(set(groups_arr.tolist()))
    if len(names) >= 2:
        k = min(folds, len(names))
        fold_of = {name: i % k for i, name in enumerate(names)}
        labels = np.array([fold_of[g] for g in groups_arr])
        return [np.flatnonzero(labels == i) for i in range(k)]
    return [block for block in np.array_split(np.arange(len(groups_arr)), folds) if len(block)]


def control_labels(values: np.ndarray, types: Sequence[str], rng: np.random.Generator) -> np.ndarray:
    """Hewitt & Liang's control task: every word type gets the value (row) of a random occurrence."""
    unique, inverse = np.unique(np.asarray(types, dtype=object), return_inverse=True)
    drawn = values[rng.integers(0, len(values), size=len(unique))]
    return drawn[inverse]


def _train_mask(n: int, test: np.ndarray, device: torch.device) -> torch.Tensor:
    mask = torch.ones(n, dtype=torch.bool, device=device)
    mask[torch.as_tensor(test, device=device)] = False
    return mask


# ---------------------------------------------------------------------------- ridge


def ridge_cv_r(x: torch.Tensor, y: torch.Tensor, test_folds: list[np.ndarray], ratios: torch.Tensor) -> torch.Tensor:
    """Held-out Pearson r of a ridge probe per target column (folds x targets).

    Per fold: centre on the training rows, one SVD of the training activations, the penalty per
    target chosen by GCV among ``ratios`` x the mean squared singular value, predictions of the
    test rows.
    """
    scores = []
    for test in test_folds:
        mask = _train_mask(x.shape[0], test, x.device)
        xtr, ytr, xte, yte = x[mask], y[mask], x[~mask], y[~mask]
        mx, my = xtr.mean(0, keepdim=True), ytr.mean(0, keepdim=True)
        xtr, ytr, xte = xtr - mx, ytr - my, xte - mx
        s, v = principal_axes(xtr)
        uty = (v.T @ (xtr.T @ ytr)) / s[:, None]  # U'y with U = X V / S, never formed (k x targets)
        alphas = ratios * (s * s).mean()
        shrink = (s * s)[None, :] / ((s * s)[None, :] + alphas[:, None])  # (alphas x k)
        # GCV: residual = |y|^2 - 2 sum h (u'y)^2 + sum h^2 (u'y)^2 (orthonormal u), over (n - tr H)^2
        yy = (ytr * ytr).sum(0)
        uty2 = uty * uty
        resid = yy[None, :] - 2 * shrink @ uty2 + (shrink * shrink) @ uty2
        gcv = resid / (xtr.shape[0] - shrink.sum(1, keepdim=True)).clamp_min(1.0) ** 2
        best = gcv.argmin(0)  # per target
        factors = s[:, None] / (s[:, None] ** 2 + alphas[best][None, :])  # (k x targets)
        coef = v @ (factors * uty)
        pred = xte @ coef + my
        scores.append(pearson(pred, yte))
    return torch.stack(scores)


def principal_axes(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Singular values S (descending) and right singular vectors V (dims x rank) of ``x`` (rows >> dims),
    from the eigendecomposition of x'x in float64: the SVD's S and V, several times faster for the
    tall matrices of word activations. Directions with a singular value below 1e-6 of the largest are
    left out (the rank)."""
    gram = x.T.double() @ x.double()
    values, vectors = torch.linalg.eigh(gram)
    values, vectors = values.flip(0), vectors.flip(1)
    keep = values > values[0].clamp_min(0) * 1e-12
    return values[keep].sqrt().to(x.dtype), vectors[:, keep].to(x.dtype)


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Column-wise Pearson r (0 where a column is constant)."""
    a, b = a - a.mean(0), b - b.mean(0)
    den = a.norm(dim=0) * b.norm(dim=0)
    return torch.where(den > 0, (a * b).sum(0) / den.clamp_min(1e-30), torch.zeros_like(den))


# ---------------------------------------------------------------------------- logistic regression


@dataclass
class SoftmaxFit:
    """Multinomial logistic regressions in a whitened basis: logits = z @ coef[j] / scale + bias[j] for problem j."""

    coef: torch.Tensor  # (k x m*c), in the preconditioned coordinates
    bias: torch.Tensor  # (m*c,)
    scale: torch.Tensor  # (k x m) per coordinate and problem: sqrt(curvature of data term + penalty)


class SoftmaxProblems:
    """m independent L2-penalised multinomial logistic regressions on the same training words.

    The activations enter as ``z = U sqrt(n)`` from the SVD of the centred, standardised training
    activations ``X = U S V'``; a weight matrix ``W`` of the original problem is ``V diag(sqrt(n)/S) A``,
    so the penalty ``lam/2 |W|^2`` becomes ``lam/2 sum_j (n/s_j^2) |A_j|^2``, exactly. L-BFGS then
    runs on ``A_j sqrt(1/4 + lam n / s_j^2)``, where the Hessian is close to the identity, so a few
    iterations converge. The problems share no parameter: minimising their sum minimises each.
    """

    def __init__(self, z: torch.Tensor, s: torch.Tensor, y: torch.Tensor, classes: torch.Tensor, penalties: torch.Tensor) -> None:
        self.z, self.y, self.classes = z, y, classes
        self.n, self.k = z.shape
        self.m, self.c = y.shape[1], int(classes.max())
        self.mask = torch.where(torch.arange(self.c, device=z.device)[None, :] < classes[:, None], 0.0, float("-inf")).to(z.dtype)
        ridge = penalties[None, :] * self.n / (s * s).clamp_min(1e-12)[:, None]  # (k x m): the penalty per coordinate
        self.scale = torch.sqrt(0.25 + ridge)
        self.ridge = ridge
        self.onehot = torch.zeros(self.n, self.m, self.c, dtype=z.dtype, device=z.device)
        self.onehot.scatter_(2, y[:, :, None], 1.0)

    def logits(self, z: torch.Tensor, fit: SoftmaxFit) -> torch.Tensor:
        """(rows x m x c) logits of rows ``z`` (in this problem's basis)."""
        weights = (fit.coef.view(self.k, self.m, self.c) / fit.scale[:, :, None]).view(self.k, -1)
        return (z @ weights + fit.bias).view(len(z), self.m, self.c) + self.mask

    def loss(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sum over problems of mean cross-entropy + penalty, and its gradient, at flat parameters ``theta``."""
        fit = self._unflatten(theta)
        a = fit.coef.view(self.k, self.m, self.c)
        penalty = self.ridge_over_scale2
        logp = log_softmax(self.logits(self.z, fit))
        nll = -logp.gather(2, self.y[:, :, None]).sum() / self.n
        residual = logp.exp_().sub_(self.onehot).div_(self.n)  # d nll / d logits, (n x m x c)
        grad = (self.z.T @ residual.view(self.n, -1)).view(self.k, self.m, self.c) / self.scale[:, :, None] + penalty * a
        value = nll + 0.5 * (penalty * a * a).sum()
        return value, torch.cat([grad.reshape(-1), residual.sum(0).reshape(-1)])

    def _unflatten(self, theta: torch.Tensor) -> SoftmaxFit:
        size = self.k * self.m * self.c
        return SoftmaxFit(theta[:size].view(self.k, -1), theta[size:], self.scale)

    def fit(self, max_iter: int) -> SoftmaxFit:
        """The minimiser after at most ``max_iter`` L-BFGS iterations (from zero)."""
        theta = torch.zeros(self.k * self.m * self.c + self.m * self.c, dtype=self.z.dtype, device=self.z.device)
        return self._unflatten(lbfgs(self.loss, theta, max_iter))

    @property
    def ridge_over_scale2(self) -> torch.Tensor:
        """The penalty's curvature on each preconditioned coefficient (k x m x 1)."""
        return (self.ridge / (self.scale * self.scale))[:, :, None]


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """``torch.log_softmax`` over the last axis, as ``logits - logsumexp``: the same numbers, several
    times faster on CPU for a last axis of a few classes."""
    return logits - logits.logsumexp(-1, keepdim=True)


def lbfgs(fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], theta: torch.Tensor, max_iter: int,
          history: int = 10, tolerance: float = 1e-5) -> torch.Tensor:
    """Minimise a smooth convex ``fn`` (value, gradient) by L-BFGS with a backtracking (Armijo) line search from step 1."""
    value, grad = fn(theta)
    steps: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (s, y, 1 / y's)
    for _ in range(max_iter):
        if float(grad.abs().max()) < tolerance:
            break
        direction = -grad
        alphas = []
        for s_k, y_k, rho in reversed(steps):  # two-loop recursion
            alpha = rho * (s_k @ direction)
            direction = direction - alpha * y_k
            alphas.append(alpha)
        if steps:
            s_k, y_k, _ = steps[-1]
            direction = direction * ((s_k @ y_k) / (y_k @ y_k))
        for (s_k, y_k, rho), alpha in zip(steps, reversed(alphas)):
            direction = direction + s_k * (alpha - rho * (y_k @ direction))
        slope = grad @ direction
        if float(slope) >= 0:  # not a descent direction: restart from the gradient
            steps.clear()
            direction, slope = -grad, -(grad @ grad)
        step = 1.0
        for _ in range(20):
            new_theta = theta + step * direction
            new_value, new_grad = fn(new_theta)
            if float(new_value) <= float(value) + 1e-4 * step * float(slope):
                break
            step *= 0.5
        else:
            break  # no decrease found: as good as this precision allows
        s_new, y_new = new_theta - theta, new_grad - grad
        curvature = float(s_new @ y_new)
        if curvature > 1e-12:
            steps.append((s_new, y_new, torch.as_tensor(1.0 / curvature, dtype=theta.dtype, device=theta.device)))
            del steps[:-history]
        theta, value, grad = new_theta, new_value, new_grad
    return theta


def _basis(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean, std, V/S*sqrt(n), S) of the training rows: ``((x - mean)/std) @ proj`` is the whitened z."""
    mean, std = x.mean(0, keepdim=True), x.std(0, keepdim=True).clamp_min(1e-12)
    s, v = principal_axes((x - mean) / std)
    return mean, std, v / s * math.sqrt(len(x)), s


def logistic_cv_accuracy(x: torch.Tensor, y: torch.Tensor, classes: torch.Tensor, test_folds: list[np.ndarray],
                         groups: Sequence[str], penalties: Sequence[float], max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out accuracy of a logistic-regression probe per target, and the accuracy of chance
    (the training rows' most frequent class), each (folds x targets).

    ``y`` (n x m) class indices of m categorical targets with ``classes`` (m,) classes each. Per
    fold: activations standardised on the training rows (float32); with one penalty, it is used; with
    several, each target's is chosen by the held-out log-likelihood on one story-grouped quarter
    of the training rows (all penalties fitted at once), then refitted on all training rows.
    """
    n, m = y.shape
    x = x.float()  # a probe's accuracy needs no more; halves the cost of every iteration
    pen = torch.as_tensor(list(penalties), dtype=x.dtype, device=x.device)
    a = len(pen)
    groups_arr = np.asarray(groups, dtype=object)
    accuracy, chance = [], []
    for test in test_folds:
        train = _train_mask(n, test, x.device)
        xtr, ytr, xte, yte = x[train], y[train], x[~train], y[~train]
        chosen = pen.expand(m) if a == 1 else _choose_penalties(xtr, ytr, classes, pen, groups_arr[train.cpu().numpy()], max_iter)
        mean, std, proj, s = _basis(xtr)
        problems = SoftmaxProblems(((xtr - mean) / std) @ proj, s, ytr, classes, chosen)
        predicted = problems.logits(((xte - mean) / std) @ proj, problems.fit(max_iter)).argmax(2)
        accuracy.append((predicted == yte).double().mean(0).cpu().numpy())
        majority = torch.stack([torch.bincount(ytr[:, j], minlength=int(classes[j])).argmax() for j in range(m)])
        chance.append((yte == majority[None, :]).double().mean(0).cpu().numpy())
    return np.stack(accuracy), np.stack(chance)


def _choose_penalties(x: torch.Tensor, y: torch.Tensor, classes: torch.Tensor, pen: torch.Tensor, groups: np.ndarray,
                      max_iter: int) -> torch.Tensor:
    """Per target, the penalty whose fit on three quarters of the stories best predicts the fourth (log-likelihood)."""
    m, a = y.shape[1], len(pen)
    inner = _train_mask(len(x), story_folds(groups.tolist(), 4)[0], x.device)
    mean, std, proj, s = _basis(x[inner])
    y_pairs = y.repeat_interleave(a, dim=1)  # every (target, penalty) pair
    problems = SoftmaxProblems(((x[inner] - mean) / std) @ proj, s, y_pairs[inner], classes.repeat_interleave(a), pen.repeat(m))
    logp = log_softmax(problems.logits(((x[~inner] - mean) / std) @ proj, problems.fit(max_iter)))
    loglik = logp.gather(2, y_pairs[~inner][:, :, None]).mean(0).reshape(m, a)
    return pen[loglik.argmax(1)]
