"""Representational drift: linear CKA of a layer to the same layer at the final and the previous checkpoint."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from harness import DataError, Metric, MetricContext, Score, hookimpl
from harness_plugins.metrics.common import SubsampleOptions, centered, metric_seed, sample_rows, to_tensor


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA (Kornblith et al. 2019) between two representations of the same rows."""
    xc, yc = centered(x), centered(y)
    n, dx = xc.shape
    dy = yc.shape[1]
    if n * (dx + dy) < dx * dy + dx * dx + dy * dy:  # fewer rows than features: work with n x n grams
        gram_x, gram_y = xc @ xc.T, yc @ yc.T
        cross, sx, sy = (gram_x * gram_y).sum(), gram_x.norm(), gram_y.norm()
    else:
        cross, sx, sy = (yc.T @ xc).pow(2).sum(), (xc.T @ xc).norm(), (yc.T @ yc).norm()
    if sx == 0 or sy == 0:
        return 0.0
    return float(cross / (sx * sy))


class DriftOptions(SubsampleOptions):
    """Options of ``Drift``."""

    # the checkpoints each layer is compared with: the final one, the one measured before it, or both
    against: list[Literal["final", "previous"]] = Field(default_factory=lambda: ["final", "previous"], min_length=1)


class Drift(Metric[DriftOptions]):
    """``cka_final`` and ``cka_previous``: how far this checkpoint's layer is from the final and previous one."""

    name = "drift"
    version = "1.0"
    needs_reference = True

    def compute(self, activations: np.ndarray, context: MetricContext) -> list[Score]:
        rows = sample_rows(len(activations), self.options.max_points, metric_seed(self.options.seed, context))
        x = None
        scores = []
        for which in self.options.against:
            reference = context.final() if which == "final" else context.previous()
            if reference is None:  # no such checkpoint in the sweep (e.g. no previous for the first)
                continue
            if reference.shape[0] != activations.shape[0]:
                raise DataError(
                    f"drift: layer {context.layer} has {activations.shape[0]} words at step "
                    f"{context.checkpoint.step} but {reference.shape[0]} at the {which} checkpoint"
                )
            if x is None:
                x = to_tensor(activations, context.device, rows)
            y = to_tensor(reference, context.device, rows, name=f"{which} checkpoint")
            scores.append(Score(f"cka_{which}", linear_cka(x, y)))
        return scores


@hookimpl
def register_metrics(register):
    register(Drift)
