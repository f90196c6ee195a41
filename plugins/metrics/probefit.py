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


def group_folds(groups: Sequence[str], folds: int) -> list[np.ndarray]:
    """Test-row indices per fold from each row's group label (its story): whole groups dealt round-robin
    in sorted order; with a single group, contiguous blocks of rows. (``harness.encoding.story_folds``
    is the brain encoder's, from story lengths.)"""
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


# ---------------------------------------------------------------------------- per-fold moments


@dataclass
class FoldMoments:
    """The training rows of one fold as the probes need them: their count, mean and centred Gram matrix."""

    test: torch.Tensor  # (test rows,) indices
    train: torch.Tensor  # (rows,) True on the training rows
    n: int  # training rows
    mean: torch.Tensor  # (1 x dims) mean of the training rows
    gram: torch.Tensor  # (dims x dims) float64: (X - mean)'(X - mean) over the training rows


def fold_moments(x: torch.Tensor, test_folds: list[np.ndarray]) -> list[FoldMoments]:
    """Every fold's training-row moments from one Gram matrix of all rows: per fold only its test
    rows are read (all rows' sums minus the test rows'), in float64 around the overall mean."""
    xd = x.double()
    centre = xd.mean(0, keepdim=True)
    xc = xd - centre
    gram, total = xc.T @ xc, xc.sum(0, keepdim=True)
    out = []
    for test in test_folds:
        index = torch.as_tensor(test, device=x.device)
        xt = xc[index]
        n = len(x) - len(test)
        mean = (total - xt.sum(0, keepdim=True)) / n
        centred = gram - xt.T @ xt - n * (mean.T @ mean)
        out.append(FoldMoments(index, _train_mask(len(x), test, x.device), n, (mean + centre).to(x.dtype), centred))
    return out


def axes_of_gram(gram: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Singular values S (descending) and right singular vectors V (dims x rank) of a matrix ``X``
    from its Gram matrix ``X'X`` (float64), the SVD's S and V at a fraction of its cost for the
    tall matrices of word activations. Directions with a singular value below 1e-6 of the largest
    are left out (the rank)."""
    values, vectors = torch.linalg.eigh(gram)
    values, vectors = values.flip(0), vectors.flip(1)
    keep = values > values[0].clamp_min(0) * 1e-12
    return values[keep].sqrt().to(dtype), vectors[:, keep].to(dtype)


# ---------------------------------------------------------------------------- ridge


def ridge_cv_r(x: torch.Tensor, y: torch.Tensor, moments: list[FoldMoments], ratios: torch.Tensor) -> torch.Tensor:
    """Held-out Pearson r of a ridge probe per target column (folds x targets).

    Per fold: centred on the training rows, the principal axes of the training activations (from
    the fold's Gram matrix), the penalty per target chosen by GCV among ``ratios`` x the mean
    squared singular value, predictions of the test rows. The training rows' cross-products with
    the targets are all rows' minus the test rows', so a fold reads only its test rows.
    """
    xd, yd = x.double(), y.double()
    xty, ysum, yy = xd.T @ yd, yd.sum(0, keepdim=True), (yd * yd).sum(0)
    scores = []
    for fold in moments:
        xte, yte = xd[fold.test], yd[fold.test]
        my = (ysum - yte.sum(0, keepdim=True)) / fold.n
        mx = fold.mean.double()
        cross = xty - xte.T @ yte - fold.n * (mx.T @ my)  # (X - mx)'(y - my) over the training rows
        ss = yy - (yte * yte).sum(0) - fold.n * my[0] ** 2  # |y - my|^2 per target
        s, v = axes_of_gram(fold.gram, torch.float64)
        uty = (v.T @ cross) / s[:, None]  # U'y with U = X V / S, never formed (k x targets)
        s2 = s * s
        alphas = ratios.double() * s2.mean()
        shrink = s2[None, :] / (s2[None, :] + alphas[:, None])  # (alphas x k)
        # GCV: residual = |y|^2 - 2 sum h (u'y)^2 + sum h^2 (u'y)^2 (orthonormal u), over (n - tr H)^2
        uty2 = uty * uty
        resid = ss[None, :] - (2 * shrink - shrink * shrink) @ uty2
        gcv = resid / (fold.n - shrink.sum(1, keepdim=True)).clamp_min(1.0) ** 2
        best = gcv.argmin(0)  # per target
        factors = s[:, None] / (s2[:, None] + alphas[best][None, :])  # (k x targets)
        coef = v @ (factors * uty)
        pred = (xte - mx) @ coef + my
        scores.append(pearson(pred, yte))
    return torch.stack(scores).to(x.dtype)


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Column-wise Pearson r (0 where a column is constant)."""
    a, b = a - a.mean(0), b - b.mean(0)
    den = a.norm(dim=0) * b.norm(dim=0)
    return torch.where(den > 0, (a * b).sum(0) / den.clamp_min(1e-30), torch.zeros_like(den))


# ---------------------------------------------------------------------------- logistic regression


@dataclass
class SoftmaxFit:
    """Multinomial logistic regressions in a whitened basis: logit of class i in problem j =
    z @ coef[i, j] / scale[j] + bias[i, j]."""

    coef: torch.Tensor  # (c x m x k), in the preconditioned coordinates
    bias: torch.Tensor  # (c x m)
    scale: torch.Tensor  # (m x k) per problem and coordinate: sqrt(curvature of data term + penalty)


class SoftmaxProblems:
    """m independent L2-penalised multinomial logistic regressions on the same training words.

    The activations enter as ``z = U sqrt(n)`` from the SVD of the centred, standardised training
    activations ``X = U S V'``; a weight matrix ``W`` of the original problem is ``V diag(sqrt(n)/S) A``,
    so the penalty ``lam/2 |W|^2`` becomes ``lam/2 sum_j (n/s_j^2) |A_j|^2``, exactly. L-BFGS then
    runs on ``A_j sqrt(1/4 + lam n / s_j^2)``, where the Hessian is close to the identity, so a few
    iterations converge. The problems share no parameter: minimising their sum minimises each.
    Logits are laid out classes first (classes x problems x words), so the softmax over the few
    classes runs along whole rows of words.
    """

    def __init__(
        self, z: torch.Tensor, s: torch.Tensor, y: torch.Tensor, classes: torch.Tensor, penalties: torch.Tensor
    ) -> None:
        self.z, self.zt, self.y = z, z.T.contiguous(), y
        self.n, self.k = z.shape
        self.m, self.c = y.shape[1], int(classes.max())
        padded = torch.arange(self.c, device=z.device)[:, None] >= classes[None, :]  # (c x m): classes a problem lacks
        self.mask = torch.where(padded, float("-inf"), 0.0).to(z.dtype)[:, :, None] if bool(padded.any()) else None
        # (m x k): the penalty per coordinate
        self.ridge = penalties[:, None] * self.n / (s * s).clamp_min(1e-12)[None, :]
        self.scale = torch.sqrt(0.25 + self.ridge)
        # the penalty's curvature per preconditioned coefficient
        self.penalty = (self.ridge / (self.scale * self.scale))[None]
        self.labels = y.T.reshape(1, -1)  # (1 x m*n): the class of every (problem, word)
        onehot = torch.zeros(self.c, self.m * self.n, dtype=z.dtype, device=z.device).scatter_(0, self.labels, 1.0)
        self.observed_z = (onehot.view(self.c * self.m, self.n) @ z).view(self.c, self.m, self.k)  # sum of z per class
        self.observed = onehot.view(self.c, self.m, self.n).sum(2)  # words per class

    def logits(self, zt: torch.Tensor, fit: SoftmaxFit) -> torch.Tensor:
        """(c x m x rows) logits of the rows ``zt`` (k x rows, in this problem's basis)."""
        weights = (fit.coef / fit.scale[None]).view(self.c * self.m, self.k)
        out = torch.addmm(fit.bias.view(-1, 1), weights, zt).view(self.c, self.m, -1)
        return out if self.mask is None else out + self.mask

    def loss(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sum over problems of mean cross-entropy + penalty, and its gradient, at flat parameters ``theta``."""
        fit = self._unflatten(theta)
        logits = self.logits(self.zt, fit).view(self.c, -1)
        # softmax over classes without subtracting the maximum: exact in floating point while the
        # sums stay in range (checked; otherwise the shifted form)
        expd = logits.exp()
        total = expd.sum(0, keepdim=True)
        low, high = torch.aminmax(total)
        if not (float(low) > 1e-30 and float(high) < 1e30):
            top = logits.amax(0, keepdim=True)
            expd = (logits - top).exp()
            total = expd.sum(0, keepdim=True)
            logtotal = total.log() + top
        else:
            logtotal = total.log()
        nll = (logtotal.sum() - logits.gather(0, self.labels).sum()) / self.n
        prob = expd.div_(total).view(self.c * self.m, self.n)
        data = ((prob @ self.z).view(self.c, self.m, self.k) - self.observed_z) / self.n  # d nll / d W
        grad = data / self.scale[None] + self.penalty * fit.coef
        grad_bias = (prob.sum(1).view(self.c, self.m) - self.observed) / self.n
        value = nll + 0.5 * (self.penalty * fit.coef * fit.coef).sum()
        return value, torch.cat([grad.reshape(-1), grad_bias.reshape(-1)])

    def predict(self, zt: torch.Tensor, fit: SoftmaxFit) -> torch.Tensor:
        """(rows x m) most likely class of the rows ``zt`` (k x rows) per problem."""
        return self.logits(zt, fit).argmax(0).T

    def _unflatten(self, theta: torch.Tensor) -> SoftmaxFit:
        size = self.c * self.m * self.k
        return SoftmaxFit(theta[:size].view(self.c, self.m, self.k), theta[size:].view(self.c, self.m), self.scale)

    def fit(self, max_iter: int) -> SoftmaxFit:
        """The minimiser after at most ``max_iter`` L-BFGS iterations (from zero)."""
        theta = torch.zeros(self.c * self.m * (self.k + 1), dtype=self.z.dtype, device=self.z.device)
        return self._unflatten(lbfgs(self.loss, theta, max_iter))


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """``torch.log_softmax`` over the last axis, as ``logits - logsumexp``: the same numbers, several
    times faster on CPU for a last axis of a few classes."""
    return logits - logits.logsumexp(-1, keepdim=True)


def lbfgs(fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], theta: torch.Tensor, max_iter: int,
          history: int = 10, tolerance: float = 1e-5) -> torch.Tensor:
    """Minimise a smooth convex ``fn`` (value, gradient) by L-BFGS with a backtracking (Armijo) line search from step
    1."""
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


def _basis(fold: FoldMoments, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(projection P, offset b, S) of a fold's training rows: ``x @ P + b`` is the whitened z of
    ``x`` standardised on the training rows (``z = ((x - mean) / std) V diag(sqrt(n)/S)``)."""
    std = (fold.gram.diagonal() / max(fold.n - 1, 1)).sqrt().clamp_min(1e-12)
    s, v = axes_of_gram(fold.gram / (std[:, None] * std[None, :]), torch.float64)
    proj = v / s * math.sqrt(fold.n) / std[:, None]
    return proj.to(dtype), (-(fold.mean.double() @ proj)).to(dtype), s.to(dtype)


def logistic_cv_accuracy(
    x: torch.Tensor,
    y: torch.Tensor,
    classes: torch.Tensor,
    moments: list[FoldMoments],
    groups: Sequence[str],
    penalties: Sequence[float],
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out accuracy of a logistic-regression probe per target, and the accuracy of chance
    (the training rows' most frequent class), each (folds x targets).

    ``y`` (n x m) class indices of m categorical targets with ``classes`` (m,) classes each. Per
    fold: activations standardised on the training rows (float32); with one penalty, it is used; with
    several, each target's is chosen by the held-out log-likelihood on one story-grouped quarter
    of the training rows (all penalties fitted at once), then refitted on all training rows.
    """
    n, m = y.shape
    x32 = x.float()  # a probe's accuracy needs no more; halves the cost of every iteration
    pen = torch.as_tensor(list(penalties), dtype=x32.dtype, device=x.device)
    a = len(pen)
    groups_arr = np.asarray(groups, dtype=object)
    accuracy, chance = [], []
    for fold in moments:
        train = fold.train
        ytr, yte = y[train], y[fold.test]
        chosen = (
            pen.expand(m)
            if a == 1
            else _choose_penalties(x[train], ytr, classes, pen, groups_arr[train.cpu().numpy()], max_iter)
        )
        proj, offset, s = _basis(fold, x32.dtype)
        problems = SoftmaxProblems(torch.addmm(offset, x32[train], proj), s, ytr, classes, chosen)
        predicted = problems.predict(torch.addmm(offset.T, proj.T, x32[fold.test].T), problems.fit(max_iter))
        accuracy.append((predicted == yte).double().mean(0).cpu().numpy())
        majority = torch.stack([torch.bincount(ytr[:, j], minlength=int(classes[j])).argmax() for j in range(m)])
        chance.append((yte == majority[None, :]).double().mean(0).cpu().numpy())
    return np.stack(accuracy), np.stack(chance)


def _choose_penalties(x: torch.Tensor, y: torch.Tensor, classes: torch.Tensor, pen: torch.Tensor, groups: np.ndarray,
                      max_iter: int) -> torch.Tensor:
    """Per target, the penalty whose fit on three quarters of the stories best predicts the fourth (log-likelihood)."""
    m, a = y.shape[1], len(pen)
    fold = fold_moments(x, [group_folds(groups.tolist(), 4)[0]])[0]
    x32 = x.float()
    proj, offset, s = _basis(fold, x32.dtype)
    y_pairs = y.repeat_interleave(a, dim=1)  # every (target, penalty) pair
    problems = SoftmaxProblems(
        torch.addmm(offset, x32[fold.train], proj), s, y_pairs[fold.train], classes.repeat_interleave(a), pen.repeat(m)
    )
    # (c x m*a x rows)
    logits = problems.logits(torch.addmm(offset.T, proj.T, x32[fold.test].T), problems.fit(max_iter))
    logp = log_softmax(logits.permute(2, 1, 0))  # (rows x m*a x c)
    loglik = logp.gather(2, y_pairs[fold.test][:, :, None]).mean(0).reshape(m, a)
    return pen[loglik.argmax(1)]
