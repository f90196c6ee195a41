"""A block of responses laid out by cross-validation fold, shared by every layer fitted on it.

What a ridge fit needs of the responses alone (each fold's validation rows, gathered once, and
their squared norms in float64) does not depend on the features, so it is computed once per
block and reused by every layer's decomposition. When the folds partition the training rows, a
layer's full XᵀY is the sum of the folds' validation products XᵥᵀYᵥ, and each fold's training
product is XᵀY minus its own: one pass over the rows per layer instead of two.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

NORM_CHUNK = 4096  # voxels whose float64 squared norms are summed at once


@dataclass
class FoldedResponses:
    """Training responses of a block of voxels, per fold: ``val[f]`` is (voxels × fold f's validation rows)."""

    val: list[torch.Tensor]  # per fold, (voxels × rows) float32; ``.T`` is the (rows × voxels) view a fit uses
    sq: list[torch.Tensor]  # per fold, (voxels,) float64: Σ over the fold's rows of y²
    folds: list[np.ndarray]  # the validation row indices each entry was gathered from
    n_rows: int  # training rows in all

    @classmethod
    def of(
        cls, y_train: np.ndarray, folds: Sequence[np.ndarray], device: str | torch.device = "cpu", pin: bool = False
    ) -> FoldedResponses:
        """Gather ``y_train`` (rows × voxels, any layout) by fold; ``pin``: page-locked host memory (fast copies to a
        GPU)."""
        voxel_major = np.asarray(y_train, dtype=np.float32).T  # a view: prepared responses are voxel-major already
        val, sq = [], []
        for rows in folds:
            part = torch.from_numpy(_gather_columns(voxel_major, np.asarray(rows)))
            if pin and torch.cuda.is_available():
                part = part.pin_memory()
            part = part.to(device)
            val.append(part)
            sq.append(torch.cat([c.double().square().sum(1) for c in part.split(NORM_CHUNK)]) if part.shape[0]
                      else torch.zeros(0, dtype=torch.float64, device=part.device))
        return cls(val, sq, [np.asarray(f) for f in folds], int(voxel_major.shape[1]))

    @property
    def n_voxels(self) -> int:
        return int(self.val[0].shape[0])

    @functools.cached_property
    def partition(self) -> bool:
        """Whether the folds' validation rows are every training row exactly once (then XᵀY = Σ folds' products)."""
        rows = np.concatenate(self.folds)
        return rows.size == self.n_rows and np.unique(rows).size == self.n_rows

    def rows(self) -> np.ndarray:
        """All training rows back in their order (rows × voxels), for fits that need them whole (the dual form)."""
        out = np.empty((self.n_rows, self.n_voxels), dtype=np.float32)
        for rows, part in zip(self.folds, self.val):
            out[rows] = part.cpu().numpy().T
        return out

    def to(self, device: str | torch.device, non_blocking: bool = False) -> FoldedResponses:
        """The same block on ``device`` (``non_blocking`` with pinned memory: the copy overlaps with compute)."""
        return FoldedResponses([v.to(device, non_blocking=non_blocking) for v in self.val],
                               [s.to(device, non_blocking=non_blocking) for s in self.sq], self.folds, self.n_rows)

    @property
    def nbytes(self) -> int:
        return sum(v.numel() * v.element_size() + s.numel() * s.element_size() for v, s in zip(self.val, self.sq))


@dataclass
class FoldedBlock:
    """A block of one subject's kept voxels ready for fitting every layer: training rows by fold, test rows as they
    are."""

    kept: np.ndarray  # indices among all the subject's voxels
    folded: FoldedResponses  # training rows by fold (on the fitting device, or pinned in host memory)
    y_test: np.ndarray  # (test scans × kept) float32


def _gather_columns(matrix: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``matrix[:, columns]`` as a C-ordered array, copied run by run: a fold's rows are whole stories, so a few
    contiguous runs (one memory copy per run and voxel instead of an indexed gather from a strided block)."""
    if columns.size == 0:
        return np.empty((matrix.shape[0], 0), dtype=matrix.dtype)
    breaks = np.flatnonzero(np.diff(columns) != 1) + 1
    starts, stops = np.r_[0, breaks], np.r_[breaks, columns.size]
    out = np.empty((matrix.shape[0], columns.size), dtype=matrix.dtype)
    for start, stop in zip(starts, stops):
        out[:, start:stop] = matrix[:, columns[start] : columns[stop - 1] + 1]
    return out

