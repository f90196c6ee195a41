"""GRIDE's scaling curve (dadapy's ``return_id_scaling_gride``): the tests compare the plugin's fit with dadapy
at every scale through it."""

from __future__ import annotations

import math

import torch

from harness.util.errors import DataError
from harness_plugins.metrics.gride import gride_fit, nearest_distances


def gride_scaling(x: torch.Tensor, range_max: int = 64) -> tuple[list[int], list[float], list[float]]:
    """GRIDE at every scale ``n1 = 1, 2, 4, ...`` with ``n2 = 2 n1 <= min(range_max, points)``:
    (the ``n2`` ranks, dimensions, errors), as dadapy's ``return_id_scaling_gride(return_ranks=True)``.
    Duplicate rows are dropped first (dadapy would set their zero distances to eps)."""
    x = torch.unique(x, dim=0)
    max_rank = min(x.shape[0], range_max)
    if max_rank < 2:
        raise DataError(f"gride: needs 3+ distinct word vectors, got {x.shape[0]}")
    steps = [2**i for i in range(int(math.log2(max_rank)) + 1)]
    dist = nearest_distances(x, min(steps[-1], x.shape[0] - 1))
    ranks, ids, errors = [], [], []
    for n1, n2 in zip(steps[:-1], steps[1:]):
        if n2 > dist.shape[1]:
            break
        d, err = gride_fit(dist[:, n2 - 1] / dist[:, n1 - 1], n1, n2)
        ranks.append(n2)
        ids.append(d)
        errors.append(err)
    return ranks, ids, errors
