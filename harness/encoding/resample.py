"""Lanczos resampling of word-level features to scan times."""

from __future__ import annotations

import numpy as np


def lanczos_kernel(t: np.ndarray, window: int) -> np.ndarray:
    """The Lanczos kernel sinc(t)·sinc(t/window) on |t| < window, 0 outside (t in cutoff units)."""
    t = np.asarray(t, dtype=np.float64)
    out = np.zeros(t.shape)
    inside = np.abs(t) < window  # a few scans' worth of words per row: the kernel is evaluated only there
    near = t[inside]
    out[inside] = np.sinc(near) * np.sinc(near / window)
    return out


def lanczos_matrix(
    old_times: np.ndarray, new_times: np.ndarray, window: int = 3, cutoff_mult: float = 1.0
) -> np.ndarray:
    """The (new × old) matrix that maps samples at ``old_times`` to values at ``new_times``.

    The cutoff is one cycle per scan interval (times ``cutoff_mult``); rows are sums over the
    old samples (not averages), so a constant stream of words gives the word count per scan.
    """
    old_times = np.asarray(old_times, dtype=np.float64)
    new_times = np.asarray(new_times, dtype=np.float64)
    if new_times.size < 2:
        raise ValueError("lanczos_matrix needs at least two new times to know the sampling rate")
    cutoff = cutoff_mult / float(np.mean(np.diff(new_times)))
    return lanczos_kernel((new_times[:, None] - old_times[None, :]) * cutoff, window)


def lanczos_resample(
    data: np.ndarray, old_times: np.ndarray, new_times: np.ndarray, window: int = 3
) -> np.ndarray:
    """Resample ``data`` (old samples × dims) at ``new_times`` with a Lanczos filter."""
    data = np.asarray(data)
    matrix = lanczos_matrix(old_times, new_times, window)
    return matrix @ (data.reshape(len(data), -1).astype(np.float64))
