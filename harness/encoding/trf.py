"""Temporal response function (TRF) design matrices for M/EEG: word features at word onsets, lagged.

The conventions are those of MNE's ``ReceptiveField`` with its ``TimeDelayingRidge`` estimator,
so that a ridge fit on these rows at a fixed penalty gives its coefficients and its scores:

- a story's feature series is zero except at the sample nearest each word onset, where it holds
  the word's features (summed when two words fall on one sample);
- the series is centred by its mean over every training sample (the intercept), then delayed by
  every lag of the window (``round(t·sfreq)`` samples, first to last), with zeros before the
  story's first sample — one story never leaks into the next;
- scores skip each story's first rows, whose window reaches before its first sample
  (``ReceptiveField.valid_samples_``).

Columns are feature-major: column ``f·n_lags + k`` is feature ``f`` at lag ``k``, so a weight
vector reshapes to (features × lags). Before lagging, word features are z-scored over the
training stories' words and, optionally, reduced to their first principal components, fitted on
the training stories' words only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.util.errors import DataError

RATE_TOLERANCE = 1e-3  # relative difference between stories' sample rates taken as equal


def sample_rate(times: np.ndarray) -> float:
    """Samples per second of a series of sample times (from the median interval)."""
    times = np.asarray(times, dtype=np.float64)
    if times.size < 2:
        raise ValueError("a series needs at least two samples to have a rate")
    return float(1.0 / np.median(np.diff(times)))


def lag_samples(window_s: tuple[float, float], sfreq: float) -> np.ndarray:
    """Every lag (in samples) from ``window_s[0]`` to ``window_s[1]`` seconds, as MNE rounds them."""
    return np.arange(int(np.round(window_s[0] * sfreq)), int(np.round(window_s[1] * sfreq)) + 1)


def valid_rows(n_rows: int, lags: np.ndarray) -> np.ndarray:
    """Indices of the rows whose whole lag window lies inside a series of ``n_rows`` samples."""
    start = max(int(lags.max()), 0)
    stop = n_rows + min(int(lags.min()), 0)
    return np.arange(start, max(start, stop))


def onset_series(onsets: np.ndarray, features: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(samples × dims) float64: each word's features at the sample nearest its onset, zeros elsewhere.

    Words whose onset falls outside the recording are left out.
    """
    times = np.asarray(times, dtype=np.float64)
    sfreq = sample_rate(times)
    index = np.round((np.asarray(onsets, dtype=np.float64) - times[0]) * sfreq).astype(np.int64)
    inside = (index >= 0) & (index < len(times))
    series = np.zeros((len(times), features.shape[1]), dtype=np.float64)
    np.add.at(series, index[inside], np.asarray(features, dtype=np.float64)[inside])
    return series


def lagged(series: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """(samples × dims·lags) float32: column f·n_lags + k holds feature f delayed by lags[k] samples."""
    n, dims = series.shape
    out = np.zeros((n, dims, len(lags)), dtype=np.float32)
    for k, lag in enumerate(int(x) for x in lags):
        if lag >= 0:
            out[lag:, :, k] = series[: n - lag] if lag < n else 0.0
        else:
            out[: n + lag, :, k] = series[-lag:]
    return out.reshape(n, dims * len(lags))


def word_basis(train_features: Sequence[np.ndarray], components: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(mean, projection) mapping word features to model inputs: z-scored, then PCA when asked.

    ``projection`` is (dims × out): the standardisation's 1/std, times the first ``components``
    principal axes of the training words when ``components`` is set. Constant dimensions get 0.
    """
    stacked = np.concatenate([np.asarray(f, dtype=np.float64) for f in train_features])
    mean = stacked.mean(0)
    std = stacked.std(0)
    scale = np.where(std > 1e-12 * (1 + np.abs(mean)), 1.0 / np.where(std > 0, std, 1.0), 0.0)
    projection = np.diag(scale)
    if components is not None:
        standard = (stacked - mean) * scale
        _, _, vt = np.linalg.svd(standard, full_matrices=False)
        k = min(components, vt.shape[0])
        axes = vt[:k].T
        signs = np.sign(axes[np.abs(axes).argmax(0), np.arange(k)])  # a fixed sign per component
        projection = projection @ (axes * np.where(signs == 0, 1.0, signs))
    return mean, projection


@dataclass
class TRFDesign:
    """Design rows of the training and test stories, the test rows scored and the lags."""

    x_train: np.ndarray  # (training samples × inputs·lags) float32
    x_test: np.ndarray  # (test samples × inputs·lags) float32
    test_rows: np.ndarray  # indices of the test rows that are scored
    lags_s: np.ndarray  # each lag in seconds
    n_inputs: int  # word features after standardisation / PCA


def trf_design(
    features: Mapping[str, np.ndarray],
    onsets: Mapping[str, np.ndarray],
    times: Mapping[str, np.ndarray],
    train: Sequence[str],
    test: Sequence[str],
    window_s: tuple[float, float],
    components: int | None = None,
) -> TRFDesign:
    """The TRF design of ``train`` and ``test`` stories from word features, onsets and sample times."""
    rates = {s: sample_rate(times[s]) for s in [*train, *test]}
    sfreq = rates[train[0]]
    for story, rate in rates.items():
        if abs(rate - sfreq) > RATE_TOLERANCE * sfreq:
            raise DataError(
                f"TRF: story {story!r} is sampled at {rate:g} Hz, story {train[0]!r} at {sfreq:g} Hz; "
                "resample to one rate"
            )
    lags = lag_samples(window_s, sfreq)
    mean, projection = word_basis([features[s] for s in train], components)
    series = {
        s: onset_series(onsets[s], (np.asarray(features[s], dtype=np.float64) - mean) @ projection, times[s])
        for s in [*train, *test]
    }
    offset = np.concatenate([series[s] for s in train]).mean(0)
    x_train = np.concatenate([lagged(series[s] - offset, lags) for s in train])
    x_test = np.concatenate([lagged(series[s] - offset, lags) for s in test])
    starts = np.cumsum([0] + [len(times[s]) for s in test])
    test_rows = np.concatenate([starts[i] + valid_rows(len(times[s]), lags) for i, s in enumerate(test)])
    return TRFDesign(x_train, x_test, test_rows, lags / sfreq, projection.shape[1])


def lag_profile(weights: np.ndarray, n_inputs: int) -> np.ndarray:
    """(lags × channels): the root mean square over inputs of each channel's weights at each lag."""
    per = weights.reshape(n_inputs, -1, weights.shape[-1])
    return np.sqrt(np.mean(np.square(per, dtype=np.float64), axis=0)).astype(np.float32)
