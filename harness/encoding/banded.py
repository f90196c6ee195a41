"""Banded ridge: several feature spaces (bands), one penalty per band per voxel, chosen by grouped cross-validation.

Giving band b the kernel weight γ_b (the weights of a candidate sum to 1) and the whole model the
penalty α is the same as penalising band b by α / γ_b: each candidate γ is an ordinary ridge on
the bands scaled by √γ_b, fitted by ``RidgeCV`` over the α grid (one decomposition per
candidate). For each voxel the (γ, α) with the highest mean over folds of −(mean squared
validation error) wins, ties going to the earlier candidate and the smaller α: himalaya's
``BandedRidgeCV`` (``GroupRidgeCV``) random search with its candidates given, whose per-band
penalty is 1 / exp(deltas_).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from harness.encoding.folded import FoldedResponses
from harness.encoding.ridge import RidgeCV, RidgeCVResult
from harness.util.errors import DataError


def ratio_weights(ratios: Sequence[float]) -> np.ndarray:
    """(candidates × 2) kernel weights of two bands, one candidate per ratio of band 0's penalty to band 1's."""
    rho = np.asarray(ratios, dtype=np.float64)
    return np.stack([1.0 / (1.0 + rho), rho / (1.0 + rho)], axis=1)


@dataclass
class BandedResult:
    """Per voxel: each band's penalty, the cross-validated score, and the joint model's test predictions."""

    alphas: np.ndarray  # (bands, voxels) penalty of each band: α / γ_b
    cv_scores: np.ndarray  # (voxels,) mean over folds of −MSE on validation rows, chosen (γ, α)
    candidate: np.ndarray  # (voxels,) index of the chosen kernel weights
    predictions: np.ndarray | None = None  # (test scans, voxels)


class BandedRidgeCV:
    """Grouped-CV banded ridge on fixed bands; ``fit``/``fit_folded`` can be called for many response matrices.

    ``bands`` are the (rows × features) blocks of each band, ``weights`` the (candidates × bands)
    kernel weights tried (each row positive, summing to 1), ``alphas`` the penalty grid of the
    whole model; the rest is as ``RidgeCV``.
    """

    def __init__(
        self,
        bands: Sequence[np.ndarray],
        folds: Sequence[np.ndarray],
        alphas: Sequence[float],
        weights: np.ndarray,
        *,
        test_bands: Sequence[np.ndarray] | None = None,
        device: str = "cpu",
        precision: str = "float32",
        shared_grams: bool = True,
    ) -> None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 2 or weights.shape[1] != len(bands) or weights.shape[0] == 0:
            raise DataError(f"banded ridge: weights must be (candidates × {len(bands)} bands), got {weights.shape}")
        if not (weights > 0).all():
            raise DataError("banded ridge: every band's kernel weight must be positive")
        if test_bands is not None and len(test_bands) != len(bands):
            raise DataError(f"banded ridge: {len(test_bands)} test bands for {len(bands)} bands")
        self.weights = weights / weights.sum(1, keepdims=True)
        self.alpha_grid = np.asarray(alphas, dtype=np.float32)
        self.solvers = [
            RidgeCV(_scaled(bands, w), folds, alphas, device=device, precision=precision, shared_grams=shared_grams,
                    X_test=_scaled(test_bands, w) if test_bands is not None else None)
            for w in self.weights
        ]

    def prepare(self) -> None:
        """What every fit shares, computed now (each candidate's spectral parts)."""
        for solver in self.solvers:
            solver.prepare()

    def fit(self, Y: np.ndarray, *, voxel_batch: int | None = None) -> BandedResult:
        """Choose (γ, α) per voxel of ``Y`` (rows × voxels) and refit on all rows."""
        return self._best(solver.fit(Y, voxel_batch=voxel_batch) for solver in self.solvers)

    def fit_folded(self, Y: FoldedResponses, *, voxel_batch: int | None = None) -> BandedResult:
        """``fit`` on responses gathered by fold (``RidgeCV.fit_folded``)."""
        return self._best(solver.fit_folded(Y, voxel_batch=voxel_batch) for solver in self.solvers)

    def _best(self, results: Iterable[RidgeCVResult]) -> BandedResult:
        """Per voxel the candidate with the highest CV score (ties: the earlier), and its penalty per band; one
        candidate's results held at a time."""
        best: BandedResult | None = None
        for index, result in enumerate(results):
            band_alphas = (result.alphas[None, :] / self.weights[index][:, None]).astype(np.float32)
            if best is None:
                best = BandedResult(band_alphas, result.cv_scores.copy(), np.zeros(result.alphas.size, dtype=np.int64),
                                    result.predictions)
                continue
            better = result.cv_scores > best.cv_scores
            best.alphas[:, better] = band_alphas[:, better]
            best.cv_scores[better] = result.cv_scores[better]
            best.candidate[better] = index
            if best.predictions is not None and result.predictions is not None:
                best.predictions[:, better] = result.predictions[:, better]
        assert best is not None
        return best


def _scaled(bands: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The bands side by side, band b multiplied by √weights[b]."""
    return np.concatenate(
        [np.asarray(b, dtype=np.float32) * np.float32(np.sqrt(w)) for b, w in zip(bands, weights)], axis=1
    )
