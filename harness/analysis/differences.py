"""Paired differences of brain scores: both sides resampled on the same bootstrap draws.

A side is one brain score's per-voxel r, per subject (``subject -> array``): a model at one layer
and checkpoint on one brain target. The score is the mean over subjects of each subject's mean r
(``r_mean`` at scope ``mean``). Per-scan predictions are not stored, so blocks of test scans
cannot be resampled; the resampling unit is **subjects, and voxel groups within each subject**:

* voxel groups: a subject's voxels are split into equal random groups (at most ``VOXEL_GROUPS``)
  and the groups drawn with replacement. Two sides with the same voxel count for a subject (the
  same brain dataset) share the subject's groups and draws, so the voxels that favour A in a draw
  are the same voxels for B: that is what makes the difference paired.
* subjects: the subjects both sides scored are drawn with replacement, the same draw for A and B.
  A subject's mean already carries its voxel noise, so the spread between subjects is counted net
  of it (method of moments: between-subject variance minus the mean within-subject bootstrap
  variance, floored at 0; otherwise voxel noise would count twice), and widened for the few
  subjects a brain dataset has: by S/(S-1) in variance, and by Student's t quantile over the
  normal one at the Welch-Satterthwaite degrees of freedom of the mean (an expanded percentile
  interval: t(S-1) where the subjects' own spread dominates, the normal where voxel noise does).

Identical sides give a difference of exactly 0 with a zero-width interval. The p-value is the
two-sided bootstrap one (twice the smaller share of replicates on either side of 0); ``holm``
corrects a family of them. Every draw comes from ``streams.stream`` under the names given, so the
same names give the same draws for every pair on a target.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import norm
from scipy.stats import t as t_dist

from harness.analysis.streams import stream

VOXEL_GROUPS = 2000
Side = dict[str, np.ndarray]  # subject -> per-voxel r


@dataclass(frozen=True)
class Estimate:
    """A score or a difference of two, with its 95 % interval, bootstrap p-value (H0: 0) and replicates."""

    value: float
    lo: float
    hi: float
    p: float
    subjects: int  # subjects both sides scored
    replicates: np.ndarray
    unit: str = ''  # what was resampled, as views say it (channels.resampled); '' where not said

    def text(self, digits: int = 3, sign: bool = True) -> str:
        """'+0.021 [+0.012, +0.030]' ('n/a' when there is no value)."""
        if not np.isfinite(self.value):
            return "n/a"
        spec = f"{'+' if sign else ''}.{digits}f"
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)):
            return f"{self.value:{spec}}"
        return f"{self.value:{spec}} [{self.lo:{spec}}, {self.hi:{spec}}]"


class Draws:
    """The resampling draws shared by every side compared under ``names``: per subject and voxel
    count the voxel groups and their bootstrap counts, per number of subjects the subject draws."""

    def __init__(self, seed: int, n_boot: int, *names: str) -> None:
        self.seed, self.n_boot, self.names = int(seed), int(n_boot), tuple(str(n) for n in names)
        self._groups = lru_cache(maxsize=None)(self._make_groups)

    def _make_groups(self, subject: str, size: int) -> tuple[np.ndarray, np.ndarray]:
        rng = stream(self.seed, *self.names, "voxels", subject, str(size))
        groups = max(1, min(VOXEL_GROUPS, size))
        labels = rng.permutation(size) % groups
        counts = rng.multinomial(groups, np.full(groups, 1.0 / groups), size=self.n_boot).astype(np.float64)
        return labels, counts

    def groups(self, subject: str, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(group label per voxel, (n_boot, groups) draw counts) for a subject with ``size`` voxels."""
        return self._groups(str(subject), int(size))

    def subjects(self, count: int) -> np.ndarray:
        """(n_boot, count) indices of the subjects drawn in each replicate."""
        rng = stream(self.seed, *self.names, "subjects", str(count))
        return rng.integers(0, count, size=(self.n_boot, count))


def subject_mean(r: np.ndarray, subject: str, draws: Draws) -> tuple[float, np.ndarray]:
    """A subject's mean r over its finite voxels and its (n_boot,) voxel-group bootstrap replicates."""
    r = np.asarray(r, dtype=np.float64).ravel()
    finite = np.isfinite(r)
    if not finite.any():
        return float("nan"), np.full(draws.n_boot, np.nan)
    labels, counts = draws.groups(subject, r.size)
    sums = np.bincount(labels, weights=np.where(finite, r, 0.0), minlength=counts.shape[1])
    sizes = np.bincount(labels, weights=finite.astype(float), minlength=counts.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(sums.sum() / sizes.sum()), (counts @ sums) / (counts @ sizes)


def _per_subject(a: Side, b: Side | None, draws: Draws) -> tuple[np.ndarray, np.ndarray]:
    """(S,) per-subject point values and (S, n_boot) replicates of A (minus B), over the subjects both scored."""
    subjects = sorted(s for s in a if b is None or s in b)
    points, reps = [], []
    for subject in subjects:
        value, replicate = subject_mean(a[subject], subject, draws)
        if b is not None:
            other, other_replicate = subject_mean(b[subject], subject, draws)
            value, replicate = value - other, replicate - other_replicate
        if np.isfinite(value):
            points.append(value)
            reps.append(replicate)
    return np.asarray(points, float), np.asarray(reps, float).reshape(len(points), draws.n_boot)


def combine(points: np.ndarray, within: np.ndarray, subject_draws: np.ndarray) -> np.ndarray:
    """(n_boot,) replicates of the mean over subjects: the mean of each subject's within-subject
    replicates plus the drawn subjects' deviations from the mean, shrunk to the between-subject
    spread left after within-subject noise and widened for few subjects."""
    count = points.size
    centre = points.mean()
    noise = np.nanmean(within - points[:, None], axis=0)  # (n_boot,) within-subject part
    if count < 2:
        return centre + noise
    between = float(np.var(points, ddof=1))
    inside = float(np.nanmean(np.nanvar(within, axis=1, ddof=1))) if within.shape[1] > 1 else 0.0
    spread = max(0.0, between - inside)  # between-subject variance net of voxel noise
    share = spread / between if between > 0 else 0.0
    deviations = (points - centre)[subject_draws].mean(axis=1)  # (n_boot,)
    return centre + widening(spread, inside, count) * (np.sqrt(share * count / (count - 1)) * deviations + noise)


def widening(spread: float, inside: float, count: int) -> float:
    """Student's t quantile over the normal one at the Welch-Satterthwaite degrees of freedom of the
    mean's variance (its subject part has count - 1, its voxel part many): 1 when voxel noise dominates,
    t(count - 1) / z when the subjects' own spread does."""
    if spread <= 0:
        return 1.0
    part = spread / count
    total = part + inside / count
    dof = total**2 / (part**2 / (count - 1))
    return float(t_dist.ppf(0.975, dof) / norm.ppf(0.975))


def interval(replicates: np.ndarray, ci: float = 0.95) -> tuple[float, float]:
    """The percentile interval of the finite replicates (NaN, NaN without any)."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1 - ci) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return float(lo), float(hi)


def p_value(replicates: np.ndarray) -> float:
    """Two-sided bootstrap p-value of 'the value is 0': twice the smaller share of replicates at or
    beyond 0 on either side, at most 1 (NaN without replicates)."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return float("nan")
    below, above = (np.sum(finite <= 0) + 1) / (finite.size + 1), (np.sum(finite >= 0) + 1) / (finite.size + 1)
    return float(min(1.0, 2 * min(below, above)))


def estimate(a: Side, b: Side | None, draws: Draws, ci: float = 0.95) -> Estimate:
    """Score ``a`` (``b`` None) or the paired difference ``a - b``, over the subjects both scored."""
    points, within = _per_subject(a, b, draws)
    if points.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), float("nan"), 0, np.full(draws.n_boot, np.nan))
    replicates = combine(points, within, draws.subjects(points.size))
    lo, hi = interval(replicates, ci)
    return Estimate(float(points.mean()), lo, hi, p_value(replicates), int(points.size), replicates)


def holm(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values of a family (NaN entries stay NaN and do not count)."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted
