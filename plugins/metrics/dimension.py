"""Dimension of a layer's word representations: TwoNN intrinsic dimension, and linear dimension (participation ratio
and effective rank of the covariance spectrum). GRIDE, the second intrinsic-dimension estimator, is in gride.py."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from harness import DataError, Metric, MetricContext, Score, hookimpl, torch_threads
from harness_plugins.metrics.common import SubsampleOptions, centered, metric_seed, sample_rows, to_tensor


def two_nearest(x: torch.Tensor, max_elements: int = 32_000_000) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances of every row to its nearest and second-nearest other row (blocks of rows x all rows).

    Neighbours are searched in float32 on centred data; their distances are then recomputed
    exactly in the input's precision.
    """
    chunk = max(1, max_elements // x.shape[0])
    search = centered(x).to(torch.float32)
    sq = (search * search).sum(dim=1)
    first, second = (
        torch.empty(x.shape[0], dtype=x.dtype, device=x.device),
        torch.empty(x.shape[0], dtype=x.dtype, device=x.device),
    )
    for start in range(0, x.shape[0], chunk):
        block = x[start:start + chunk]
        d2 = sq[start:start + chunk, None] + sq[None, :] - 2.0 * (search[start:start + chunk] @ search.T)
        rows = torch.arange(block.shape[0], device=x.device)
        d2[rows, rows + start] = math.inf  # a point is not its own neighbour
        idx = torch.topk(d2, 2, dim=1, largest=False).indices
        exact = (block[:, None, :] - x[idx]).norm(dim=2)  # recomputed directly: no cancellation error
        exact = exact.sort(dim=1).values
        first[start:start + chunk], second[start:start + chunk] = exact[:, 0], exact[:, 1]
    return first, second


def twonn(x: torch.Tensor, discard_fraction: float = 0.1, fit: Literal["linear", "mle"] = "linear") -> float:
    """TwoNN intrinsic dimension (Facco et al. 2017) of the rows of ``x``; duplicate rows are dropped."""
    x = torch.unique(x, dim=0)
    if x.shape[0] < 3:
        raise DataError(f"intrinsic_dim: needs 3+ distinct word vectors, got {x.shape[0]}")
    r1, r2 = two_nearest(x)
    keep = r1 > 0
    mu = (r2[keep] / r1[keep]).to(torch.float64)
    n = mu.numel()
    n_keep = int(n * (1.0 - discard_fraction))
    if n_keep < 2:
        raise DataError("intrinsic_dim: fewer than 2 points left after discarding the largest ratios")
    log_mu = torch.log(torch.sort(mu).values[:n_keep])
    if fit == "mle":
        return float((n_keep - 1) / (log_mu.sum() + (n - n_keep) * log_mu[-1]))
    femp = torch.arange(1, n_keep + 1, dtype=torch.float64, device=mu.device) / n
    y = -torch.log1p(-femp)
    return float((log_mu * y).sum() / (log_mu * log_mu).sum())


def covariance_spectrum(x: torch.Tensor) -> torch.Tensor:
    """Eigenvalues (descending, >= 0) of the covariance of the rows of ``x``, in float64 on any device
    (in float32 a rank-deficient layer's zero eigenvalues come out near 1e-7 and inflate the effective rank)."""
    xc = centered(x.to(torch.float64))
    n, d = xc.shape
    gram = xc.T @ xc if d <= n else xc @ xc.T  # same non-zero eigenvalues; take the smaller
    eig = _eigvalsh(gram / (n - 1)).clamp_min(0)
    return torch.flip(eig, dims=[0])


def _eigvalsh(matrix: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of a symmetric matrix; on CPU in one thread (the threaded LAPACK path stalls
    for seconds on a busy 2-core machine, measured 0.05 s vs 10 s for 768 x 768)."""
    with torch_threads(1 if matrix.device.type == "cpu" else None):
        return torch.linalg.eigvalsh(matrix)


def participation_ratio(eigenvalues: torch.Tensor) -> float:
    """(sum l)^2 / sum l^2: the number of dimensions the variance is spread over."""
    total = eigenvalues.sum()
    return float(total * total / (eigenvalues * eigenvalues).sum()) if total > 0 else 0.0


def effective_rank(eigenvalues: torch.Tensor) -> float:
    """exp(entropy) of the normalised singular values (Roy & Vetterli 2007)."""
    sv = eigenvalues.sqrt()
    if sv.sum() <= 0:
        return 0.0
    p = sv / sv.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * torch.log(p)).sum()))


class IntrinsicDimensionOptions(SubsampleOptions):
    """Options of ``IntrinsicDimension``."""

    max_points: int | None = Field(default=2000, ge=3)  # words used at most (a seeded subsample); null: every word
    # share of the largest neighbour-distance ratios left out of the TwoNN fit (its tail is noisy)
    discard_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    fit: Literal["linear", "mle"] = "linear"  # least squares as in the paper, or the censored MLE


class IntrinsicDimension(Metric[IntrinsicDimensionOptions]):
    """TwoNN intrinsic dimension of the word vectors (duplicates dropped, seeded subsample)."""

    name = "intrinsic_dim"
    version = "1.0"

    def compute(self, activations: np.ndarray, context: MetricContext) -> list[Score]:
        opts = self.options
        rows = sample_rows(len(activations), opts.max_points, metric_seed(opts.seed, context))
        x = to_tensor(activations, context.device, rows)
        return [Score("intrinsic_dim", twonn(x, opts.discard_fraction, opts.fit))]


class LinearDimension(Metric[SubsampleOptions]):
    """Participation ratio and effective rank of the covariance spectrum of the word vectors."""

    name = "linear_dim"
    version = "1.1"  # 1.1: the spectrum in float64 on GPUs too

    def compute(self, activations: np.ndarray, context: MetricContext) -> list[Score]:
        rows = sample_rows(len(activations), self.options.max_points, metric_seed(self.options.seed, context))
        eig = covariance_spectrum(to_tensor(activations, context.device, rows))
        return [Score("participation_ratio", participation_ratio(eig)), Score("effective_rank", effective_rank(eig))]


@hookimpl
def register_metrics(register):
    register(IntrinsicDimension)
    register(LinearDimension)
