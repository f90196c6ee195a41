"""GRIDE intrinsic dimension (Denti, Doimo, Laio & Mira 2022), a second estimator beside TwoNN.

TwoNN reads the ratio of each point's second to first neighbour distance, so it sees only the
smallest scale, where noise and near-duplicates dominate. GRIDE generalises it to the ratio
``mu = r_{n2} / r_{n1}`` of the ``n2``-th to the ``n1``-th neighbour distance (here ``n2 = 2 n1``,
as in dadapy's ``return_id_scaling_gride``); the maximum-likelihood dimension under the model's
distribution of ``mu`` is found by bisection on the derivative of the log-likelihood. Larger
``n1`` looks at a coarser scale. ``n1 = 1`` is the TwoNN likelihood without its discarded tail.

The conventions follow dadapy 0.3.4 (``Data.return_id_scaling_gride``): ratios equal to 1 are
nudged by ``10 eps``, ratios above ``q50 + 20 (q95 - q50)`` are dropped, and the search runs over
``[0.001, 1000]`` to ``1e-7``; the tests check the numbers against dadapy's at every scale
(dadapy's scaling curve, rebuilt from ``gride_fit`` in tests/support/gride_scaling.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from pydantic import Field, field_validator

from harness import DataError, Metric, MetricContext, Score, hookimpl
from harness_plugins.metrics.common import SubsampleOptions, centered, metric_seed, sample_rows, to_tensor

D_MIN, D_MAX, PRECISION = 0.001, 1000.0, 1e-7


def nearest_distances(x: torch.Tensor, k: int, max_elements: int = 32_000_000) -> torch.Tensor:
    """Sorted distances of every row to its ``k`` nearest other rows (rows x k).

    Neighbours are searched in float32 on centred data in blocks of rows; their distances are then
    recomputed exactly in the input's precision.
    """
    n = x.shape[0]
    if not 1 <= k < n:
        raise DataError(f"gride: needs more than {k} distinct word vectors, got {n}")
    chunk = max(1, max_elements // n)
    search = centered(x).to(torch.float32)
    sq = (search * search).sum(dim=1)
    out = torch.empty((n, k), dtype=x.dtype, device=x.device)
    for start in range(0, n, chunk):
        block = x[start:start + chunk]
        d2 = sq[start:start + chunk, None] + sq[None, :] - 2.0 * (search[start:start + chunk] @ search.T)
        rows = torch.arange(block.shape[0], device=x.device)
        d2[rows, rows + start] = math.inf  # a point is not its own neighbour
        idx = torch.topk(d2, k, dim=1, largest=False).indices
        exact = torch.stack([(block - x[idx[:, j]]).norm(dim=1) for j in range(k)], dim=1)
        out[start:start + chunk] = exact.sort(dim=1).values
    return out


def _filter(mus: torch.Tensor) -> torch.Tensor:
    """dadapy's ``_filter_mus``: nudge ratios of exactly 1, drop the far tail (overlapping points)."""
    mus = torch.where(mus == 1, mus + 10 * torch.finfo(torch.float64).eps, mus)
    q95, q50 = torch.quantile(mus, torch.tensor([0.95, 0.5], dtype=mus.dtype, device=mus.device))
    return mus[mus < 20 * (q95 - q50) + q50]


def _neg_dloglik(d: float, log_mu: torch.Tensor, mus: torch.Tensor, n1: int, n2: int) -> float:
    one_m = (1.0 - mus ** (-d)).clamp_min(2 * PRECISION)
    return float((((1 - n2 + n1) / one_m + n2 - 1.0) * log_mu).sum() - (len(mus) - 1) / d)


def gride_fit(mus: torch.Tensor, n1: int, n2: int) -> tuple[float, float]:
    """Maximum-likelihood dimension from the ratios ``r_{n2} / r_{n1}`` and its Cramér-Rao error."""
    mus = _filter(mus.to(torch.float64))
    if mus.numel() < 2:
        raise DataError("gride: fewer than 2 usable neighbour-distance ratios")
    log_mu = torch.log(mus)
    d0, d1 = D_MIN, D_MAX
    l1 = _neg_dloglik(d1, log_mu, mus, n1, n2)
    while abs(d0 - d1) > PRECISION:
        mid = (d0 + d1) / 2.0
        if _neg_dloglik(mid, log_mu, mus, n1, n2) * l1 > 0:
            d1 = mid
        else:
            d0 = mid
    d = (d0 + d1) / 2.0
    # Fisher information as dadapy's _fisher_info_scaling (its n2 argument is 2 n1 there too)
    one_m = (1.0 - mus ** (-d)).clamp_min(5 * torch.finfo(torch.float64).eps)
    fisher = len(mus) / d**2 + float(((n2 - n1 - 1) * (log_mu / one_m) ** 2 * mus ** (-d)).sum())
    return d, fisher ** -0.5


def gride(x: torch.Tensor, n2: int = 16) -> tuple[float, float]:
    """GRIDE dimension and error at one scale: ratios of the ``n2``-th to the ``n2/2``-th neighbour."""
    x = torch.unique(x, dim=0)
    if x.shape[0] <= n2:
        raise DataError(f"gride: scale n2={n2} needs more than {n2} distinct word vectors, got {x.shape[0]}")
    dist = nearest_distances(x, n2)
    n1 = n2 // 2
    return gride_fit(dist[:, n2 - 1] / dist[:, n1 - 1], n1, n2)


class GrideOptions(SubsampleOptions):
    """Options of ``Gride``: ``n2`` is the scale, the neighbour rank compared with rank ``n2 / 2``."""

    max_points: int | None = Field(default=2000, ge=3)  # words used at most (a seeded subsample); null: every word
    n2: int = Field(default=16, ge=2, le=1024)  # a power of two: 2 = TwoNN's scale, 16 = 8th vs 16th neighbour

    @field_validator("n2")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError(f"n2 must be a power of two (2, 4, 8, ...), got {value}")
        return value


class Gride(Metric[GrideOptions]):
    """``gride``: GRIDE intrinsic dimension of the word vectors at scale ``n2`` (stderr: Cramér-Rao)."""

    name = "gride"
    version = "1.0"

    def compute(self, activations: np.ndarray, context: MetricContext) -> list[Score]:
        opts = self.options
        rows = sample_rows(len(activations), opts.max_points, metric_seed(opts.seed, context))
        value, error = gride(to_tensor(activations, context.device, rows), opts.n2)
        return [Score("gride", value, stderr=error)]


@hookimpl
def register_metrics(register):
    register(Gride)
