"""Design matrices: word features → Lanczos-resampled, FIR-delayed, z-scored scan rows."""

from __future__ import annotations

from collections.abc import Sequence

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


def story_design(features: np.ndarray, delays: np.ndarray) -> np.ndarray:
    """(scans × delays·dims) for one story from its word features and its delay matrices."""
    features = np.asarray(features, dtype=np.float32)
    n_delays, n_scans, _ = delays.shape
    resampled = delays.reshape(n_delays * n_scans, -1) @ features  # (delays·scans, dims)
    resampled = resampled.reshape(n_delays, n_scans, -1).transpose(1, 0, 2).reshape(n_scans, -1)
    return zscore_columns(resampled)
