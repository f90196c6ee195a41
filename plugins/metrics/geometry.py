"""Geometry of a layer's word vectors: anisotropy (mean cosine between distinct words) and mean norm."""

from __future__ import annotations

import numpy as np
import torch

from harness import Metric, MetricContext, Score, hookimpl
from harness_plugins.metrics.common import SubsampleOptions, metric_seed, sample_rows, to_tensor


def anisotropy(x: torch.Tensor) -> float:
    """Mean cosine similarity over all pairs of distinct (non-zero) rows, computed in O(n d)."""
    norms = x.norm(dim=1)
    u = x[norms > 0] / norms[norms > 0, None]
    n = u.shape[0]
    if n < 2:
        return 0.0
    total = u.sum(dim=0)
    return float(((total * total).sum() - n) / (n * (n - 1)))


def mean_norm(x: torch.Tensor) -> float:
    """Mean Euclidean norm of the rows."""
    return float(x.norm(dim=1).mean())


class GeometryOptions(SubsampleOptions):
    """Options of ``Geometry``."""

    max_points: int | None = None  # both are O(words x dims): every word by default


class Geometry(Metric[GeometryOptions]):
    """``anisotropy`` and ``mean_norm`` of the word vectors."""

    name = "geometry"
    version = "1.0"

    def compute(self, activations: np.ndarray, context: MetricContext) -> list[Score]:
        seed = metric_seed(self.options.seed, context)
        x = to_tensor(activations, context.device, sample_rows(len(activations), self.options.max_points, seed))
        return [Score("anisotropy", anisotropy(x)), Score("mean_norm", mean_norm(x))]


@hookimpl
def register_metrics(register):
    register(Geometry)
