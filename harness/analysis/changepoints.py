"""Change points of a curve: piecewise-linear segments in log tokens, found with ruptures.

Each segment is a straight line in (log10 tokens, value). ``ruptures.Dynp`` finds the exact best
split for every number of change points with a custom O(1) segment cost; the number is chosen by
BIC (each change point costing five parameters), and on short curves a number of change points must
also beat what a straight noisy line gives on the same checkpoints, so a curve without a transition
gets none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import ruptures as rpt
from ruptures.base import BaseCost

TREND_T = 2.0  # |slope / stderr| above which a segment counts as rising or falling
# BIC parameters per change point besides the new line's slope and intercept: the location counts
# thrice. With the simulated test below for short curves, false phase boundaries on flat noisy
# curves stay at 0-3 % from 8 to 40 checkpoints (benchmarks/bench_analysis_changepoints.py).
LOCATION_PARAMS = 3
CALIBRATE_BELOW = 40  # shorter curves also pass a simulated test against "no change at all"
NULL_ALPHA = 0.05  # chance of a false change point on a straight noisy line, short curves
NULL_SIMULATIONS = 400


class LogLinearCost(BaseCost):
    """Residual sum of squares of a least-squares line fitted to y over x on [start, end)."""

    model = "loglinear"
    min_size = 3

    def fit(self, signal: np.ndarray) -> LogLinearCost:
        """``signal`` has columns (y, x)."""
        self.signal = np.asarray(signal, dtype=float)
        y = self.signal[:, 0] - self.signal[:, 0].mean()
        x = self.signal[:, 1] - self.signal[:, 1].mean()
        zero = np.zeros(1)
        self._cum = {name: np.concatenate([zero, np.cumsum(v)]) for name, v in
                     (("n", np.ones_like(x)), ("x", x), ("y", y), ("xx", x * x), ("xy", x * y), ("yy", y * y))}
        return self

    def error(self, start: int, end: int) -> float:
        c = {name: v[end] - v[start] for name, v in self._cum.items()}
        n = c["n"]
        syy = c["yy"] - c["y"] ** 2 / n
        sxx = c["xx"] - c["x"] ** 2 / n
        sxy = c["xy"] - c["x"] * c["y"] / n
        rss = syy - (sxy * sxy / sxx if sxx > 1e-15 else 0.0)
        return max(float(rss), 0.0)


@dataclass(frozen=True)
class Segment:
    """Checkpoints [start, end) of a curve with their fitted line."""

    start: int
    end: int
    slope: float  # value per decade of tokens
    t: float  # slope / its standard error (inf when the fit is exact)
    fit_start: float  # fitted value at the first checkpoint
    fit_end: float  # fitted value at the last checkpoint

    @property
    def trend(self) -> str:
        if self.t > TREND_T:
            return "rising"
        if self.t < -TREND_T:
            return "falling"
        return "flat"


@dataclass(frozen=True)
class Segmentation:
    """The change points of one curve (indices where a new segment starts) and the segments."""

    breakpoints: tuple[int, ...]
    segments: tuple[Segment, ...]
    bic: float


def _bic(rss: float, n: int, n_changes: int, floor: float) -> float:
    params = 2 * (n_changes + 1) + LOCATION_PARAMS * n_changes
    return n * math.log(max(rss, floor) / n) + params * math.log(n)


def max_changes(n: int, limit: int, min_size: int = LogLinearCost.min_size) -> int:
    """The most change points a curve of ``n`` checkpoints can hold."""
    return max(0, min(limit, n // min_size - 1))


def _jump(n: int) -> int:
    return max(1, math.ceil(n / 60))  # keeps the exact search fast on long checkpoint lists


def _search(x: np.ndarray, y: np.ndarray) -> tuple[rpt.Dynp, LogLinearCost]:
    cost = LogLinearCost()
    algo = rpt.Dynp(custom_cost=cost, min_size=LogLinearCost.min_size, jump=_jump(len(y)))
    algo.fit(np.column_stack([y, x]))
    return algo, cost


def _breaks(algo: rpt.Dynp, n_changes: int) -> list[int]:
    return [] if n_changes == 0 else [int(b) for b in algo.predict(n_bkps=n_changes)[:-1]]


def _rss(cost: LogLinearCost, n: int, breaks: list[int]) -> float:
    edges = [0, *breaks, n]
    return sum(cost.error(a, b) for a, b in zip(edges[:-1], edges[1:]))


def _floor(y: np.ndarray) -> float:
    return 1e-12 * (float(np.sum((y - y.mean()) ** 2)) + 1e-300)


def _fits(x: np.ndarray, y: np.ndarray, top: int) -> tuple[list[list[int]], np.ndarray, float]:
    """Best change points for k = 0..top, the residual sum of squares of each, and its floor."""
    n = len(y)
    algo, cost = _search(x, y)
    floor = _floor(y)
    breaks_by_k: list[list[int]] = [[]]
    rss = [max(_rss(cost, n, []), floor)]
    for k in range(1, top + 1):
        try:
            breaks = _breaks(algo, k)
        except rpt.exceptions.BadSegmentationParameters:
            break
        breaks_by_k.append(breaks)
        rss.append(max(_rss(cost, n, breaks), floor))
    return breaks_by_k, np.array(rss), floor


@lru_cache(maxsize=64)
def _null_gains(x_key: tuple[float, ...], top: int) -> np.ndarray:
    """Upper quantiles of the fit gain for k = 0..top on straight lines plus Gaussian noise.

    The gain does not depend on the line or the noise level, only on the x positions, so one
    simulation per checkpoint layout serves every curve (and bootstrap replicate) on it.
    """
    x = np.array(x_key)
    rng = np.random.default_rng(0)
    gains = np.full((NULL_SIMULATIONS, top + 1), np.nan)
    for i in range(NULL_SIMULATIONS):
        _, rss, _ = _fits(x, rng.standard_normal(x.size), top)
        gains[i, : rss.size] = x.size * np.log(rss[0] / rss)
    level = 1 - NULL_ALPHA / max(top, 1)  # Bonferroni over the numbers of change points tried
    return np.nanquantile(gains, level, axis=0)


def choose_changes(x: np.ndarray, y: np.ndarray, limit: int = 4) -> list[int]:
    """Change points minimising BIC over 0..limit changes (fewer when the curve is short).

    On curves shorter than ``CALIBRATE_BELOW`` checkpoints, where BIC alone finds false change
    points too often, a number of change points is only allowed when its fit gain beats the
    ``NULL_ALPHA`` level of the gain on a straight line with noise (simulated on the same x).
    """
    n = len(y)
    top = max_changes(n, limit)
    if top == 0 or np.ptp(y) == 0:
        return []
    breaks_by_k, rss, floor = _fits(x, y, top)
    gains = n * np.log(rss[0] / rss)  # n*log(RSS_0 / RSS_k)
    scores = [_bic(r, n, k, floor) for k, r in enumerate(rss)]
    allowed = np.ones(len(gains), dtype=bool)
    if n < CALIBRATE_BELOW:
        null = _null_gains(tuple(np.round(x, 9)), top)
        allowed[1:] = gains[1:] > null[1 : len(gains)]
    best = min((score, k) for k, score in enumerate(scores) if allowed[k])[1]
    return breaks_by_k[best]


def fixed_changes(x: np.ndarray, y: np.ndarray, n_changes: int) -> list[int]:
    """The best ``n_changes`` change points (used on bootstrap replicates)."""
    if n_changes == 0:
        return []
    algo, _ = _search(x, y)
    return _breaks(algo, n_changes)


def segment(x: np.ndarray, y: np.ndarray, breaks: list[int]) -> Segmentation:
    """Fit a line to each segment and grade its slope against the pooled residual noise."""
    n = len(y)
    edges = [0, *breaks, n]
    fits = []
    rss = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        xs, ys = x[a:b], y[a:b]
        slope, intercept = np.polyfit(xs, ys, 1) if np.ptp(xs) > 0 else (0.0, float(ys.mean()))
        rss += float(np.sum((ys - (slope * xs + intercept)) ** 2))
        fits.append((a, b, float(slope), float(intercept)))
    dof = n - 2 * len(fits)
    sigma = math.sqrt(rss / dof) if dof > 0 else float("nan")
    segments = []
    for a, b, slope, intercept in fits:
        sxx = float(np.sum((x[a:b] - x[a:b].mean()) ** 2))
        if abs(slope) * max(np.ptp(x[a:b]), 1e-12) <= 1e-12 * (np.ptp(y) + 1e-300):
            t = 0.0
        elif not np.isfinite(sigma) or sxx == 0:
            t = 0.0
        elif sigma <= 1e-12 * (np.ptp(y) + 1e-300):
            t = math.copysign(math.inf, slope)
        else:
            t = slope / (sigma / math.sqrt(sxx))
        segments.append(Segment(a, b, slope, float(t), slope * x[a] + intercept, slope * x[b - 1] + intercept))
    cost = LogLinearCost().fit(np.column_stack([y, x]))
    return Segmentation(tuple(breaks), tuple(segments), _bic(_rss(cost, n, breaks), n, len(breaks), _floor(y)))
