"""Change points of a curve: piecewise-linear segments in log tokens, found by exact dynamic programming.

Each segment is a straight line in (log10 tokens, value). ``best_segmentations`` finds the exact best
split for every number of change points, any checkpoint a possible change point, from every
segment's cost computed at once (``segment_costs``: cumulative sums, as ruptures' ``Dynp`` with
its ``CostLinear`` would find them, which the tests check). The number k of change
points maximises gain_k - k * c, the gain being the fit's improvement over a single line measured
against the noise: the bootstrap standard error where it explains the curve's scatter (known
noise), else the residuals of the k-change fit itself (never those of a single line, which the very
structure looked for inflates). With the noise known, and on short curves also without, c is
simulated on straight noisy lines over the same checkpoints, so a curve without a transition gets a
change point in ``NULL_ALPHA`` of cases; long curves whose noise is measured on the fit's residuals
use BIC's c. Segments are graded by their slope, and the step between two segments by its
size, against the same noise: a rise within one checkpoint interval is a step, not a flat stretch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np
from scipy.stats import t as student_t

TREND_T = 2.0  # |slope / stderr| (or |step / stderr|) above which a segment (a step) rises or falls
# Long curves whose noise is measured on the fit's own residuals (no bootstrap), which shrink as change
# points are added, pay BIC's penalty for 5 parameters per change point (new slope, new intercept, the
# location counted thrice), so a noisy curve is not cut into more pieces than it has. With the noise
# known, every curve's penalty is simulated (``_null_penalty``): on Pythia's 154 checkpoints it is 13.1
# against BIC's 15.1 for 3 parameters, which lost the fall of a planted triple phase in about one
# curve in eight (triple recall at 400 items 0.87 -> 0.92 in the planted-truth benchmark).
RESIDUAL_PARAMS_PER_CHANGE = 5
LONG_CURVE = 40  # checkpoints from which a curve's scatter is measured precisely (and residual noise pays BIC)
NULL_ALPHA = 0.05  # chance of a false change point on a straight noisy line
NULL_SIMULATIONS = 1000
# The bootstrap standard error counts as known noise only while the local scatter stays below the
# level it reaches this often with that noise alone. On 12 checkpoints (changepoints)
# 0.8 finds a rise-fall-rise in 62 % of noisy curves with 3 % false phases on flat noise; if the
# bootstrap misses half of the noise (training noise it cannot see), false phases rise to 9 %
# (0.65: 55 % / 6 %; 0.5: 53 % / 5 %).
SCATTER_LEVEL = 0.8
# Long curves (LONG_CURVE checkpoints or more) measure their scatter precisely, so a strict level
# still flags noise the bootstrap misses (above ~1.2 times its level at 154 checkpoints), while 0.8
# would throw away a correct bootstrap on one curve in five (planted truth on 154 checkpoints:
# triple-phase recall with 0.8 below 0.9, most misses a fall lost to the weaker residual-based search).
SCATTER_LEVEL_LONG = 0.99
MAD_SCALE = 1.4826  # median absolute deviation -> standard deviation, Gaussian noise


MIN_SIZE = 3  # checkpoints in the shortest segment (a line through two says nothing of its noise)


def segment_costs(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n + 1) x (n + 1) matrix whose [a, b] is the residual sum of squares of the least-squares line
    through checkpoints [a, b) (inf where b - a < ``MIN_SIZE``), all from cumulative sums at once."""
    y = np.asarray(y, dtype=float) - np.mean(y)
    x = np.asarray(x, dtype=float) - np.mean(x)
    zero = np.zeros(1)

    def sums(v: np.ndarray) -> np.ndarray:  # [a, b] = sum of v over [a, b)
        c = np.concatenate([zero, np.cumsum(v)])
        return c[None, :] - c[:, None]

    n = sums(np.ones_like(x))
    sx, sy = sums(x), sums(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        syy = sums(y * y) - sy**2 / n
        sxx = sums(x * x) - sx**2 / n
        sxy = sums(x * y) - sx * sy / n
        rss = syy - np.where(sxx > 1e-15, sxy * sxy / np.where(sxx > 1e-15, sxx, 1.0), 0.0)
    rss = np.maximum(rss, 0.0)
    rss[n < MIN_SIZE] = np.inf
    return rss


def best_segmentations(costs: np.ndarray, top: int) -> tuple[list[list[int]], np.ndarray]:
    """The exact best change points for k = 0..top (fewer where the curve cannot hold more) and the
    residual sum of squares of each: dynamic programming over every checkpoint as a possible change."""
    n = costs.shape[0] - 1
    best = costs[0].copy()  # best[b]: least cost of [0, b) in k + 1 segments
    choices: list[np.ndarray] = []
    breaks_by_k: list[list[int]] = [[]]
    rss = [float(best[n])]
    for _ in range(top):
        total = best[:, None] + costs  # [a, b]: [0, a) as before, then [a, b) as one more segment
        choice = np.argmin(total, axis=0)
        best = total[choice, np.arange(n + 1)]
        if not np.isfinite(best[n]):
            break
        choices.append(choice)
        breaks, end = [], n
        for choice_k in reversed(choices):
            end = int(choice_k[end])
            breaks.append(end)
        breaks_by_k.append(breaks[::-1])
        rss.append(float(best[n]))
    return breaks_by_k, np.array(rss)


def _grade(t: float, critical: float) -> str:
    if t > critical:
        return "rising"
    if t < -critical:
        return "falling"
    return "flat"


@dataclass(frozen=True)
class Segment:
    """Checkpoints [start, end) of a curve with their fitted line."""

    start: int
    end: int
    slope: float  # value per decade of tokens
    t: float  # slope / its standard error (inf when the fit is exact)
    fit_start: float  # fitted value at the first checkpoint
    fit_end: float  # fitted value at the last checkpoint
    critical: float = TREND_T  # |t| above which the segment rises or falls

    @property
    def trend(self) -> str:
        return _grade(self.t, self.critical)


@dataclass(frozen=True)
class Step:
    """The jump between two adjacent segments: next line's first fitted value minus this one's last."""

    index: int  # first checkpoint of the next segment (the change point)
    size: float
    t: float  # size / its standard error
    critical: float = TREND_T  # |t| above which the step rises or falls

    @property
    def trend(self) -> str:
        return _grade(self.t, self.critical)


@dataclass(frozen=True)
class Segmentation:
    """The change points of one curve (indices where a new segment starts), segments and steps."""

    breakpoints: tuple[int, ...]
    segments: tuple[Segment, ...]
    steps: tuple[Step, ...]  # one per change point
    noise: float  # the noise level (standard deviation per checkpoint) the trends were graded against
    known: bool = False  # the noise came from the bootstrap (else from the fit's residuals)


def local_noise(x: np.ndarray, y: np.ndarray) -> float:
    """Robust noise level of a curve: how far each checkpoint sits from the line through its neighbours.

    Each inner checkpoint's deviation from the straight line through its two neighbours is scaled to
    unit variance under independent noise; the noise is the scaled median absolute deviation of
    those. A straight or piecewise-linear curve adds nothing except near its few change points, which
    the median ignores, so the structure that is looked for does not inflate the noise.
    """
    if len(y) < 3:
        return float("nan")
    gap_left, gap_right = np.diff(x)[:-1], np.diff(x)[1:]
    w = gap_right / (gap_left + gap_right)  # weight of the left neighbour
    deviation = y[1:-1] - (w * y[:-2] + (1 - w) * y[2:])
    scale = np.sqrt(1 + w**2 + (1 - w) ** 2)
    return float(MAD_SCALE * np.median(np.abs(deviation / scale)))


OUTLIER_Z = 3.0  # how far (in noise units of the difference) a lone checkpoint must stand from both neighbours
APEX_Z = 2.0  # within this many standard errors of both sides' trends, a lone extreme is the apex of a real turn
# A checkpoint the fit makes carry a rise and the fall back alone (the lone apex of an excursion) is set aside
# from this many standard errors of a difference: the fit has already said it stands apart, so the bar of a
# checkpoint picked from all of them (OUTLIER_Z) is not needed. A +0.03 spike on Pythia's 154 checkpoints was
# otherwise a surge in about one curve in ten.
EXCURSION_Z = 2.0


def _trend_gap(x: np.ndarray, y: np.ndarray, i: int, side: int) -> float:
    """y[i] minus the line through its two neighbours on one side (``side`` -1: left, +1: right), extended to
    x[i], in units of that difference's standard error under unit noise; NaN where that side has no two."""
    near, far = i + side, i + 2 * side
    if not 0 <= far < len(y):
        return float("nan")
    r = (x[i] - x[near]) / (x[near] - x[far])
    predicted = y[near] + (y[near] - y[far]) * r
    return float((y[i] - predicted) / math.sqrt(1 + (1 + r) ** 2 + r**2))


def isolated_outliers(x: np.ndarray, y: np.ndarray, noise: float, z: float = OUTLIER_Z,
                      among: list[int] | None = None) -> list[int]:
    """Inner checkpoints that stand apart from *both* neighbours in the same direction, unmotivated by either side.

    A loss spike or a bad save moves one checkpoint: it sits above (or below) the checkpoint before
    and the one after by more than ``OUTLIER_Z`` standard errors of a difference of two checkpoints
    (``noise`` is one checkpoint's). A real change, however sharp, leaves each checkpoint level
    with at least one neighbour or between the two, so a rise or fall carried by two or more
    checkpoints is never flagged. The one real shape that also stands above both neighbours is the
    apex of a rise that turns into a fall (or a trough): there the lines through the two
    checkpoints on each side lead into it, so a checkpoint within ``APEX_Z`` standard errors of both
    sides' lines is kept. Under independent Gaussian noise an inner checkpoint is flagged with
    chance 1.5e-4 at most. ``z`` replaces ``OUTLIER_Z``, and ``among`` limits the candidates to these
    checkpoints: each the lone apex of a fitted rise and the fall right after it
    (``transitions.one_checkpoint_excursions``). The fit has already said that one checkpoint carries
    both, so no apex is kept there: a turn carried by one checkpoint cannot be told from a spike.
    """
    if len(y) < 5 or not np.isfinite(noise) or noise <= 0:
        return []
    left, right = y[1:-1] - y[:-2], y[1:-1] - y[2:]
    apart = np.minimum(np.abs(left), np.abs(right)) / (noise * math.sqrt(2))
    same_side = np.sign(left) == np.sign(right)
    if among is not None:
        candidate = np.zeros(len(y) - 2, dtype=bool)
        candidate[[i - 1 for i in among if 0 < i < len(y) - 1]] = True
        same_side &= candidate
    out = []
    for i in np.nonzero(same_side & (apart > z))[0] + 1:
        sign = float(np.sign(y[i] - y[i - 1]))
        gaps = [sign * _trend_gap(x, y, int(i), side) / noise for side in (-1, 1)]
        if among is not None or not all(np.isfinite(g) and g < APEX_Z for g in gaps):
            out.append(int(i))
    return out


def _noise_floor(y: np.ndarray) -> float:
    return 1e-9 * (float(np.ptp(y)) + 1e-300)


def max_changes(n: int, limit: int, min_size: int = MIN_SIZE) -> int:
    """The most change points a curve of ``n`` checkpoints can hold."""
    return max(0, min(limit, n // min_size - 1))


def _fits(x: np.ndarray, y: np.ndarray, top: int) -> tuple[list[list[int]], np.ndarray]:
    """Best change points for k = 0..top and the residual sum of squares of each."""
    return best_segmentations(segment_costs(x, y), top)


def _statistic(rss: np.ndarray, n: int, noise: float | None) -> np.ndarray:
    """Fit gain of k = 0..len-1 change points over none.

    With the noise known: (RSS_0 - RSS_k) / noise^2. Without: the likelihood ratio
    n log(RSS_0 / RSS_k), which measures the noise on the residuals of the k-change fit itself (so
    the structure being looked for never inflates it).
    """
    if noise is not None:
        return (rss[0] - rss) / noise**2
    floor = 1e-12 * rss[0] + 1e-300
    return n * np.log(np.maximum(rss[0], floor) / np.maximum(rss, floor))


def _gains(x: np.ndarray, y: np.ndarray, top: int, known: bool) -> np.ndarray:
    """``_statistic`` of y on x for k = 0..top (unit noise when ``known``)."""
    _, rss = _fits(x, y, top)
    return _statistic(rss, len(y), 1.0 if known else None)


@lru_cache(maxsize=128)
def _null_penalty(x_key: tuple[float, ...], top: int, known: bool) -> float:
    """Penalty per change point: on a straight line plus noise, ``NULL_ALPHA`` of the curves gain more.

    The penalty c is the 1 - ``NULL_ALPHA`` quantile of max_k gain_k / k over simulated straight
    noisy lines, so the chance that any number of change points beats k * c on a curve without a
    transition is ``NULL_ALPHA``, and every extra change point must add c of its own. The gain does
    not depend on the line or the noise level, only on the x positions (and on whether the noise is
    known), so one simulation per checkpoint layout serves every curve (and bootstrap replicate).
    """
    x = np.array(x_key)
    rng = np.random.default_rng(0)
    best = np.zeros(NULL_SIMULATIONS)
    for i in range(NULL_SIMULATIONS):
        gain = _gains(x, rng.standard_normal(x.size), top, known)
        best[i] = np.max(gain[1:] / np.arange(1, gain.size)) if gain.size > 1 else 0.0
    return float(np.quantile(best, 1 - NULL_ALPHA))


def _penalty(x: np.ndarray, top: int, known: bool) -> np.ndarray:
    if known or len(x) < LONG_CURVE:
        return _null_penalty(tuple(np.round(x, 9)), top, known) * np.arange(top + 1)
    return RESIDUAL_PARAMS_PER_CHANGE * math.log(len(x)) * np.arange(top + 1)  # BIC


@lru_cache(maxsize=128)
def _scatter_limit(x_key: tuple[float, ...]) -> float:
    """The ``SCATTER_LEVEL`` (long curves: ``SCATTER_LEVEL_LONG``) quantile of ``local_noise`` on unit
    Gaussian noise over these x."""
    x = np.array(x_key)
    rng = np.random.default_rng(1)
    level = SCATTER_LEVEL_LONG if x.size >= LONG_CURVE else SCATTER_LEVEL
    return float(np.quantile([local_noise(x, rng.standard_normal(x.size)) for _ in range(2000)], level))


def curve_noise(x: np.ndarray, y: np.ndarray, stderr: float | None = None) -> tuple[float, bool]:
    """Whether the bootstrap explains a curve's scatter: the noise level, and whether it counts as known.

    ``stderr`` is the bootstrap standard error of one checkpoint's value net of what all checkpoints
    share (sampling of voxels and subjects). Unless the curve's local scatter is significantly
    larger than that, the bootstrap explains the scatter and the noise is known: the larger of the
    two. Where the scatter is significantly larger (training noise, which the bootstrap does not
    see), or without a bootstrap, the noise is unknown: the scatter is returned as a rough level,
    and ``choose_changes`` and ``segment`` measure the noise on the fit's residuals instead.
    """
    scatter = max(local_noise(x, y), _noise_floor(y))
    if (stderr is not None and np.isfinite(stderr) and stderr > 0
            and scatter <= stderr * _scatter_limit(tuple(np.round(x, 9)))):
        return max(float(stderr), scatter), True
    return scatter, False


def grading_noise(x: np.ndarray, y: np.ndarray, stderr: float | None = None) -> tuple[float, bool]:
    """The noise change points are chosen and graded against, and whether it counts as known.

    ``curve_noise``'s, except on a curve of ``LONG_CURVE`` checkpoints or more whose scatter the
    bootstrap does not explain (training noise every subject shares, which resampling subjects and
    voxels cannot see): there the scatter itself is the noise, and known. Measured from each
    checkpoint's two neighbours over so many checkpoints, it is known to about a tenth and no change
    point inflates it; the fit's own residuals, the alternative, need a heavier penalty per change
    point, which lost the fall of a planted triple phase on Pythia's 154 checkpoints in about one
    curve in five (one in eight with the scatter).
    """
    noise, known = curve_noise(x, y, stderr)
    if (not known and stderr is not None and np.isfinite(stderr) and stderr > 0 and len(x) >= LONG_CURVE
            and np.isfinite(noise) and noise > 0):
        return noise, True
    return noise, known


def choose_changes(x: np.ndarray, y: np.ndarray, limit: int = 4, stderr: float | None = None) -> list[int]:
    """Change points maximising gain_k - k * c over 0..limit changes (see ``_statistic``).

    ``stderr`` is the bootstrap standard error per checkpoint (``phases.replicate_stderr``). The
    noise is known where ``grading_noise`` says so; else it is measured on each fit's residuals. With
    the noise known, and on curves shorter than ``LONG_CURVE`` checkpoints also without, c is
    calibrated on straight noisy lines over the same x (``_null_penalty``), so a curve without a
    transition gets a change point in about ``NULL_ALPHA`` of cases or fewer; longer curves with
    residual noise use BIC's c.
    """
    n = len(y)
    top = max_changes(n, limit)
    if top == 0 or np.ptp(y) == 0:
        return []
    breaks_by_k, rss = _fits(x, y, top)
    noise, known = grading_noise(x, y, stderr)
    penalty = _penalty(x, top, known)[: len(rss)]
    scores = _statistic(rss, n, noise if known else None) - penalty
    return breaks_by_k[int(np.argmax(scores))]


def fixed_changes(x: np.ndarray, y: np.ndarray, n_changes: int) -> list[int]:
    """The best ``n_changes`` change points (used on bootstrap replicates)."""
    if n_changes == 0:
        return []
    breaks_by_k, _ = _fits(x, y, n_changes)
    return breaks_by_k[min(n_changes, len(breaks_by_k) - 1)]


OWN_NOISE_DOF = 4  # a segment's own residual counts as its noise from this many degrees of freedom on


def _t(value: float, stderr: float, scale: float) -> float:
    """value / stderr, with exact zeros and exact fits handled."""
    if abs(value) <= 1e-9 * scale:
        return 0.0
    if stderr <= 1e-12 * scale:
        return math.copysign(math.inf, value)
    return value / stderr


def _own_noise(x: np.ndarray, y: np.ndarray, a: int, b: int, slope: float, mean: float, centre: float) -> float:
    """Residual standard deviation of one segment's line; 0 below ``OWN_NOISE_DOF`` degrees of freedom,
    where it says more about a line drawn through the middle of a curved change than about noise."""
    if b - a - 2 < OWN_NOISE_DOF:
        return 0.0
    residual = y[a:b] - mean - slope * (x[a:b] - centre)
    return float(np.sqrt(np.sum(residual**2) / (b - a - 2)))


def segment(x: np.ndarray, y: np.ndarray, breaks: list[int], stderr: float | None = None) -> Segmentation:
    """Fit a line to each segment; grade each slope and each step between segments against the noise.

    With the noise known (``grading_noise``) a slope or step rises or falls beyond ``TREND_T``
    standard errors; otherwise the noise is the pooled residual of the fit and the bar is Student's
    t at its degrees of freedom (two-sided, the same 95 % as ``TREND_T`` with the noise known). A
    segment whose own residual is larger is judged on that (early checkpoints of a barely trained
    model scatter far less than later ones), a step on the noisier of its two sides.
    """
    n = len(y)
    edges = [0, *breaks, n]
    scale = float(np.ptp(y)) + 1e-300
    lines = []
    rss = 0.0
    for a, b in pairwise(edges):
        xs, ys = x[a:b], y[a:b]
        centre = float(xs.mean())
        sxx = float(np.sum((xs - centre) ** 2))
        slope = float(np.sum((xs - centre) * (ys - ys.mean())) / sxx) if sxx > 0 else 0.0
        rss += float(np.sum((ys - ys.mean() - slope * (xs - centre)) ** 2))
        lines.append((a, b, centre, sxx, slope, float(ys.mean())))
    dof = n - 2 * len(lines)
    noise, known = grading_noise(x, y, stderr) if n >= 3 else (0.0, True)
    critical = TREND_T
    if not known:
        noise = math.sqrt(rss / dof) if dof > 0 else float("nan")
        critical = float(student_t.ppf(1 - (1 - 0.9545) / 2, dof)) if dof > 0 else math.inf

    def leverage(i: int, at: float) -> float:
        _, b_, centre, sxx, _, _ = lines[i]
        return 1 / (b_ - lines[i][0]) + ((at - centre) ** 2 / sxx if sxx > 0 else 0.0)

    own = [_own_noise(x, y, a, b, slope, mean, centre) for a, b, centre, _, slope, mean in lines]
    # a noisier stretch is judged on its own noise
    local = [max(noise, o) if np.isfinite(noise) else noise for o in own]
    segments = []
    for (a, b, centre, sxx, slope, mean), sigma in zip(lines, local):
        span = float(x[b - 1] - x[a])  # a slope is graded as the change it makes over the segment
        t = _t(slope * span, sigma / math.sqrt(sxx) * span, scale) if sxx > 0 and np.isfinite(sigma) else 0.0
        segments.append(Segment(a, b, slope, float(t), mean + slope * (x[a] - centre),
                                mean + slope * (x[b - 1] - centre), critical))
    steps = []
    for i, index in enumerate(breaks):
        size = segments[i + 1].fit_start - segments[i].fit_end
        sigma = max(local[i], local[i + 1])
        stderr_step = sigma * math.sqrt(leverage(i, x[index - 1]) + leverage(i + 1, x[index]))
        t = _t(size, stderr_step, scale) if np.isfinite(sigma) else 0.0
        steps.append(Step(index, float(size), float(t), critical))
    return Segmentation(tuple(breaks), tuple(segments), tuple(steps), float(noise), known)
