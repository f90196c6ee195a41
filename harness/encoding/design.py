"""Design matrices: word features → Lanczos-resampled, FIR-delayed, z-scored scan rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.encoding.resample import lanczos_matrix
from harness.encoding.stats import zscore_columns


def scan_interval(tr_times: np.ndarray) -> float:
    """The repetition time of a scan series (median interval between scans)."""
    tr_times = np.asarray(tr_times, dtype=np.float64)
    if tr_times.size < 2:
        raise ValueError("a story needs at least two scans")
    return float(np.median(np.diff(tr_times)))


def delay_matrices(
    word_times: np.ndarray, tr_times: np.ndarray, delays_s: Sequence[float], window: int = 3
) -> np.ndarray:
    """(delays × scans × words) float32: row t of block d resamples the words at t − delays_s[d].

    Delaying by resampling at earlier times (rather than shifting rows) uses the words before
    the first kept scan and never lets one story's features leak into the next. The cutoff of the
    Lanczos filter is one cycle per scan interval, whatever the delays.
    """
    scan_interval(tr_times)
    times = np.asarray(tr_times, dtype=np.float64)
    blocks = [lanczos_matrix(word_times, times - float(d), window) for d in delays_s]
    return np.stack(blocks).astype(np.float32)


def sparse_delays(delays: np.ndarray) -> Any:
    """The (delays × scans × words) stack as a sparse (delays·scans × words) CSR matrix.

    A Lanczos row is zero beyond its window (a few scans), so a story's stack is almost all
    zeros: kept sparse, the stacks of 84 stories take a few MB instead of hundreds.
    """
    from scipy import sparse

    n_delays, n_scans, n_words = delays.shape
    return sparse.csr_matrix(delays.reshape(n_delays * n_scans, n_words))


def story_design(features: np.ndarray, delays: Any, n_delays: int | None = None) -> np.ndarray:
    """(scans × delays·dims) for one story from its word features and its delay matrices.

    ``delays`` is the (delays × scans × words) stack of ``delay_matrices``, or that stack from
    ``sparse_delays`` with its number of delays in ``n_delays``.
    """
    features = np.asarray(features, dtype=np.float32)
    if n_delays is None:
        n_delays, n_scans, _ = delays.shape
        delays = delays.reshape(n_delays * n_scans, -1)
    else:
        n_scans = delays.shape[0] // n_delays
    resampled = np.asarray(delays @ features, dtype=np.float32)  # (delays·scans, dims)
    resampled = resampled.reshape(n_delays, n_scans, -1).transpose(1, 0, 2).reshape(n_scans, -1)
    return zscore_columns(resampled)
