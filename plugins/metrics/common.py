"""What the metric plugins share: options for subsampling, the seed, and moving activations onto a device."""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field

from harness import DataError, MetricContext, PluginOptions, resolve_device


class SubsampleOptions(PluginOptions):
    """``max_points`` words at most (drawn without replacement); ``seed`` None = the sweep seed."""

    max_points: int | None = Field(default=5000, ge=3)  # words used at most (a seeded subsample); null: every word
    seed: int | None = None  # the subsample's seed; null: the sweep's seed


def metric_seed(seed: int | None, context: MetricContext) -> int:
    """A metric's ``seed`` option, or the sweep seed when it is None."""
    return context.seed if seed is None else seed


def sample_rows(n: int, max_points: int | None, seed: int) -> np.ndarray | None:
    """Sorted row indices of a seeded subsample, or None to keep every row."""
    if max_points is None or n <= max_points:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def to_tensor(x: np.ndarray, device: str, rows: np.ndarray | None = None, name: str = "activations") -> torch.Tensor:
    """float64 (CPU) or float32 (GPU) tensor of ``x[rows]``; a DataError for anything not a finite 2-D array."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 2:
        raise DataError(f"metric input {name}: expected a (words x dims) array with 2+ rows, got shape {x.shape}")
    if rows is not None:
        x = x[rows]
    dev = torch_device(device)
    tensor = torch.as_tensor(np.ascontiguousarray(x), device=dev)
    tensor = tensor.to(torch.float64 if dev.type == "cpu" else torch.float32)
    if not bool(torch.isfinite(tensor).all()):
        raise DataError(f"metric input {name}: contains NaN or infinite values")
    return tensor


def torch_device(device: str) -> torch.device:
    """The torch device for a sweep device name (``auto`` = cuda if present)."""
    return torch.device(resolve_device(device))


def centered(x: torch.Tensor) -> torch.Tensor:
    """Columns minus their means."""
    return x - x.mean(dim=0, keepdim=True)
