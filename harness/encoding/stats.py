"""Per-voxel statistics: z-scores, Pearson r, noise ceiling, block permutations and FDR."""

from __future__ import annotations

import numpy as np
import torch


def pearson_r(y_true: np.ndarray | torch.Tensor, y_pred: np.ndarray | torch.Tensor) -> np.ndarray:
    """Correlation per column of two (samples × voxels) arrays; 0 where either is constant."""
    a = np.asarray(y_true.cpu() if isinstance(y_true, torch.Tensor) else y_true, dtype=np.float64)
    b = np.asarray(y_pred.cpu() if isinstance(y_pred, torch.Tensor) else y_pred, dtype=np.float64)
    a = a - a.mean(0)
    b = b - b.mean(0)
    denom = np.sqrt(np.einsum("ij,ij->j", a, a) * np.einsum("ij,ij->j", b, b))
    r = np.einsum("ij,ij->j", a, b) / np.where(denom > 0, denom, 1.0)
    return np.where(denom > 0, r, 0.0)


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Coefficient of determination per column, 1 − Σ(y − ŷ)² / Σ(y − ȳ)² (negative when worse than the mean); 0 where
    ``y_true`` is constant."""
    a = np.asarray(y_true, dtype=np.float64)
    b = np.asarray(y_pred, dtype=np.float64)
    total = np.square(a - a.mean(0)).sum(0)
    residual = np.square(a - b).sum(0)
    return np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0), 0.0)


CONSTANT_TOLERANCE = 1e-8  # a column is constant when std <= CONSTANT_TOLERANCE * (1 + |mean|)


def zscore_columns(matrix: np.ndarray) -> np.ndarray:
    """Each column of a (samples × columns) array to zero mean and unit variance, as float32.

    A column whose standard deviation is at most ``CONSTANT_TOLERANCE · (1 + |mean|)`` is constant
    and becomes 0 (float noise is not stretched to unit variance). Mean and variance accumulate in
    float64, so a column of equal float32 values has a standard deviation of exactly 0.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    mean = matrix.mean(0, dtype=np.float64)
    out = matrix - mean.astype(np.float32)
    std = np.sqrt(np.square(out).mean(0, dtype=np.float64))
    constant = std <= CONSTANT_TOLERANCE * (1 + np.abs(mean))
    out /= np.where(constant, 1.0, std).astype(np.float32)
    out[:, constant] = 0.0
    return out


def noise_ceiling(repeats: np.ndarray) -> np.ndarray:
    """The highest correlation any model can reach with the mean of ``repeats`` (R × T × V).

    Signal power is estimated from the variance of the sum against the sum of the variances
    (Sahani & Linden 2003; Schoppe et al. 2016): CCmax = sqrt(SP / Var(mean)), clipped to [0, 1].
    """
    repeats = np.asarray(repeats, dtype=np.float64)
    n = repeats.shape[0]
    if n < 2:
        raise ValueError("a noise ceiling needs at least two repeats")
    mean = repeats.mean(0)
    total = repeats.sum(0).var(0)
    signal = (total - repeats.var(1).sum(0)) / (n * (n - 1))
    var_mean = mean.var(0)
    ratio = np.where(var_mean > 0, np.clip(signal, 0, None) / np.where(var_mean > 0, var_mean, 1), 0)
    return np.sqrt(np.clip(ratio, 0, 1)).astype(np.float32)


def block_permutation_pvalues(
    y_true: np.ndarray, y_pred: np.ndarray, permutations: int, block: int = 10, seed: int = 0
) -> np.ndarray:
    """One-sided p-value per voxel that r exceeds chance, by permuting blocks of predicted scans.

    Blocks of ``block`` consecutive scans keep the autocorrelation of the predictions.
    """
    truth = torch.as_tensor(np.asarray(y_true, dtype=np.float32))
    predicted = torch.as_tensor(np.asarray(y_pred, dtype=np.float32))
    n = truth.shape[0]
    n_blocks = max(n // block, 2)
    block = n // n_blocks
    usable = n_blocks * block
    a = truth[:usable] - truth[:usable].mean(0)
    a = a / a.norm(dim=0).clamp_min(1e-12)
    observed = torch.as_tensor(pearson_r(truth, predicted), dtype=torch.float32)
    generator = np.random.default_rng(seed)
    exceed = torch.zeros_like(observed)
    for _ in range(permutations):
        order = generator.permutation(n_blocks)
        index = (order[:, None] * block + np.arange(block)[None, :]).reshape(-1)
        b = predicted[:usable][torch.as_tensor(index)]
        b = b - b.mean(0)
        r = (a * b).sum(0) / b.norm(dim=0).clamp_min(1e-12)
        exceed += (r >= observed).float()
    return ((exceed + 1) / (permutations + 1)).numpy()


def fdr_bh(pvalues: np.ndarray, q: float = 0.05) -> np.ndarray:
    """Benjamini–Hochberg: a boolean mask of the discoveries at false discovery rate ``q``."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p)
    passed = p[order] <= q * np.arange(1, m + 1) / m
    mask = np.zeros(m, dtype=bool)
    if passed.any():
        last = np.max(np.nonzero(passed)[0])
        mask[order[: last + 1]] = True
    return mask
