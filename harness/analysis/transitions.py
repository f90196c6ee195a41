"""Transitions of one signal: where it rises, falls or steps, with 95 % intervals on location and size.

The curve is cut into straight segments in log10 tokens (``changepoints``; the noise is taken from
the replicates where they explain the curve's scatter, see ``noise_level``, else from the fit's
residuals). The pieces of the fit are its segments and
the jumps between them; consecutive pieces that rise (or fall) significantly form one transition:

* kind: ``step`` when it is a single jump between two neighbouring checkpoints, else ``rise`` or
  ``fall``;
* location: where the fitted path has made half of its change, in tokens;
* size: the fitted change from its start to its end, in the signal's own units, the fitted values
  held within the signal's range first (an accuracy never changes by more than 1).

Intervals come from the replicates: each replicate curve is fitted with the same number of change
points and the nearest transition in the same direction, within the stretch closer to this
transition than to its neighbours, is its estimate (none there: a miss, which lowers ``support``).
The location of a replicate is drawn uniformly within the gap between the two swept checkpoints
around it (a change between 4,096 and 8,192 tokens is known only to lie there), and the interval is
never narrower than the gap around the estimate itself. A signal without replicates gets them from
its fit: the fitted curve plus noise at the fit's residual level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis.changepoints import Segmentation, choose_changes, fixed_changes, segment
from harness.analysis.signals import BEHAVIOUR, Signal
from harness.analysis.tokens import log_tokens

RISE, FALL, STEP = "rise", "fall", "step"
TRANSITION_COLUMNS = [
    "model", "family", "target", "signal", "group", "index", "kind", "direction", "tokens", "lo", "hi",
    "start_tokens", "end_tokens", "size", "size_lo", "size_hi", "support", "ci_method", "n_boot",
]


@dataclass(frozen=True)
class Piece:
    """A segment of the fit or the jump between two segments: checkpoints i0..i1, fitted v0 -> v1."""

    i0: int
    i1: int
    v0: float
    v1: float
    trend: str  # rising, falling or flat
    jump: bool


@dataclass
class Transition:
    """One rise, fall or step of a signal, with its intervals and its replicate estimates."""

    signal: Signal
    index: int  # order within the signal, from 1
    kind: str  # RISE, FALL or STEP
    direction: int  # +1 up, -1 down
    start: int  # first checkpoint of the change (index into the signal)
    end: int  # last checkpoint of the change
    x: float  # location, log10 tokens
    x_lo: float
    x_hi: float
    size: float
    size_lo: float = float("nan")
    size_hi: float = float("nan")
    support: float | None = None  # share of replicates that show it
    samples: np.ndarray | None = None  # replicate locations (log10 tokens; NaN: missed)

    @property
    def up(self) -> bool:
        return self.direction > 0

    def tokens(self, x: float) -> float:
        """A location on the log axis as a token count (checkpoint 0's stand-in position is 0 tokens)."""
        axis = log_tokens(self.signal.tokens)
        if x <= axis[0] + 1e-12:
            return float(self.signal.tokens[0])
        at = np.nonzero(np.abs(axis - x) < 1e-9)[0]
        return float(self.signal.tokens[at[0]]) if at.size else float(10**x)  # a checkpoint's count exactly

    @property
    def what(self) -> str:
        """'rise', 'fall', 'step up' or 'step down'."""
        return f"step {'up' if self.up else 'down'}" if self.kind == STEP else self.kind


def replicate_stderr(curves: np.ndarray | None) -> float | None:
    """Bootstrap standard error of one checkpoint net of what all checkpoints share.

    The root mean square over checkpoint pairs of the replicates' spread of the change from one
    checkpoint to the next, divided by sqrt(2): what each checkpoint's own sampling noise would be if
    it were independent. A shift shared by every checkpoint (a subject that aligns better
    throughout) cancels, as it cannot move a change point. None with fewer than two replicates.
    """
    if curves is None:
        return None
    curves = np.asarray(curves, dtype=float)
    curves = curves[np.isfinite(curves).all(axis=1)] if curves.ndim == 2 else curves
    if curves.ndim != 2 or len(curves) < 2 or curves.shape[1] < 2:
        return None
    spread = np.diff(curves, axis=1).std(axis=0, ddof=1)
    return float(np.sqrt(np.mean(spread**2)) / np.sqrt(2))


def noise_level(signal: Signal) -> float | None:
    """The per-checkpoint noise a signal's change points are judged against (None: from the fit's residuals).

    Brain alignment: the bootstrap's ``replicate_stderr``. Behaviour: the largest item standard
    error along the curve, since a score's error is 0 at 0 or 1 and largest near 0.5, and a
    level that holds everywhere must not be taken where the score happens to sit at a bound.
    """
    if signal.replicates is None or not len(signal.replicates):
        return None
    if signal.group == BEHAVIOUR:
        spread = np.nanstd(signal.replicates, axis=0, ddof=1)
        return float(np.nanmax(spread)) if np.isfinite(spread).any() and np.nanmax(spread) > 0 else None
    return replicate_stderr(signal.replicates)


def _pieces(fit: Segmentation) -> list[Piece]:
    out: list[Piece] = []
    for i, seg in enumerate(fit.segments):
        if i > 0:
            step, before = fit.steps[i - 1], fit.segments[i - 1]
            out.append(Piece(step.index - 1, step.index, before.fit_end, seg.fit_start, step.trend, True))
        out.append(Piece(seg.start, seg.end - 1, seg.fit_start, seg.fit_end, seg.trend, False))
    return out


def _runs(pieces: list[Piece]) -> list[list[Piece]]:
    """Maximal stretches of consecutive pieces that all rise or all fall."""
    runs: list[list[Piece]] = []
    previous = "flat"
    for piece in pieces:
        if piece.trend == "flat":
            previous = "flat"
            continue
        if piece.trend == previous:
            runs[-1].append(piece)
        else:
            runs.append([piece])
        previous = piece.trend
    return runs


def _half_way(run: list[Piece], x: np.ndarray, v0: float, v1: float) -> float:
    """Where the fitted path of ``run`` first reaches the middle of its change (log10 tokens)."""
    half = (v0 + v1) / 2
    sign = 1.0 if v1 >= v0 else -1.0
    for piece in run:
        a, b = sign * piece.v0, sign * piece.v1
        if a <= sign * half <= b and b > a:
            return float(x[piece.i0] + (sign * half - a) / (b - a) * (x[piece.i1] - x[piece.i0]))
    return float((x[run[0].i0] + x[run[-1].i1]) / 2)


def _gap(x: np.ndarray, at: float) -> tuple[float, float]:
    """The swept checkpoints around ``at``: the gap a location there is resolved to."""
    j = int(np.clip(np.searchsorted(x, at, side="left") - 1, 0, len(x) - 2))
    return float(x[j]), float(x[j + 1])


def _estimates(x: np.ndarray, fit: Segmentation, bounds: tuple[float, float]) -> list[tuple[int, list[Piece], float, float]]:
    """(direction, pieces, location, size) of each transition of a fit."""
    out = []
    for run in _runs(_pieces(fit)):
        v0, v1 = (float(np.clip(v, *bounds)) for v in (run[0].v0, run[-1].v1))
        direction = 1 if run[0].trend == "rising" else -1
        out.append((direction, run, _half_way(run, x, v0, v1), v1 - v0))
    return out


def _fitted(x: np.ndarray, fit: Segmentation) -> np.ndarray:
    values = np.empty_like(x)
    for seg in fit.segments:
        span = x[seg.end - 1] - x[seg.start]
        w = (x[seg.start:seg.end] - x[seg.start]) / span if span > 0 else 0.0
        values[seg.start:seg.end] = seg.fit_start + w * (seg.fit_end - seg.fit_start)
    return values


def _replicate_curves(signal: Signal, x: np.ndarray, fit: Segmentation, n_boot: int, seed: int) -> tuple[np.ndarray, str]:
    if signal.replicates is not None and len(signal.replicates):
        reps = signal.replicates[np.isfinite(signal.replicates).all(axis=1)]
        return reps, signal.method
    if n_boot <= 0 or not np.isfinite(fit.noise) or fit.noise <= 0:
        return np.empty((0, len(x))), "none"
    rng = np.random.default_rng(seed)
    draws = _fitted(x, fit) + rng.standard_normal((n_boot, len(x))) * fit.noise
    return np.clip(draws, *signal.bounds), "fit residuals"


def find_transitions(signal: Signal, *, max_changes: int = 4, ci: float = 0.95, n_boot: int = 200,
                     seed: int = 0) -> tuple[list[Transition], str, int]:
    """The transitions of ``signal``, the way their intervals were drawn and how many replicates."""
    finite = np.isfinite(signal.values)
    if finite.sum() < 2:
        return [], "none", 0
    if not finite.all():
        signal = Signal(signal.name, signal.group, signal.target, signal.tokens[finite], signal.values[finite],
                        signal.bounds, signal.replicates[:, finite] if signal.replicates is not None else None,
                        signal.method)
    x, y = log_tokens(signal.tokens), signal.values
    stderr = noise_level(signal)
    breaks = choose_changes(x, y, max_changes, stderr=stderr)
    fit = segment(x, y, breaks, stderr=stderr)
    found = _estimates(x, fit, signal.bounds)
    if not found:
        return [], "none", 0
    reps, method = _replicate_curves(signal, x, fit, n_boot, seed)
    rng = np.random.default_rng(seed + 1)
    locations = np.full((len(reps), len(found)), np.nan)
    sizes = np.full((len(reps), len(found)), np.nan)
    centres = [at for _, _, at, _ in found]
    edges = [-np.inf, *((a + b) / 2 for a, b in zip(centres, centres[1:])), np.inf]  # each transition's own stretch
    for b, curve in enumerate(reps):
        replicate = _estimates(x, segment(x, curve, fixed_changes(x, curve, len(breaks)), stderr=stderr), signal.bounds)
        for t, (direction, _, at, _) in enumerate(found):
            same = [(abs(r_at - at), r_at, r_size) for r_dir, _, r_at, r_size in replicate
                    if r_dir == direction and edges[t] <= r_at < edges[t + 1]]
            if same:
                _, r_at, r_size = min(same)
                lo, hi = _gap(x, r_at)
                locations[b, t] = rng.uniform(lo, hi)
                sizes[b, t] = r_size
    alpha = (1 - ci) / 2
    out = []
    for t, (direction, run, at, size) in enumerate(found):
        kind = STEP if len(run) == 1 and run[0].jump else (RISE if direction > 0 else FALL)
        gap_lo, gap_hi = _gap(x, at)
        hit = locations[:, t][np.isfinite(locations[:, t])]
        x_lo, x_hi = gap_lo, gap_hi
        size_lo = size_hi = float("nan")
        if hit.size:
            x_lo = min(gap_lo, float(np.quantile(hit, alpha)))
            x_hi = max(gap_hi, float(np.quantile(hit, 1 - alpha)))
            size_lo, size_hi = (float(q) for q in np.quantile(sizes[:, t][np.isfinite(sizes[:, t])], [alpha, 1 - alpha]))
        out.append(Transition(signal, t + 1, kind, direction, run[0].i0, run[-1].i1, at, x_lo, x_hi, size,
                              size_lo, size_hi, hit.size / len(reps) if len(reps) else None,
                              locations[:, t] if len(reps) else None))
    return out, method, len(reps)


@dataclass
class SignalTransitions:
    """The transitions found in one signal of one model (or group)."""

    model: str
    family: str
    signal: Signal
    transitions: list[Transition]
    method: str
    n_boot: int

    def rows(self) -> list[dict[str, object]]:
        """One row per transition in the ``transitions.csv`` layout."""
        signal = self.signal
        return [{
            "model": self.model, "family": self.family, "target": signal.target, "signal": signal.name,
            "group": signal.group, "index": t.index, "kind": t.kind, "direction": "up" if t.up else "down",
            "tokens": t.tokens(t.x), "lo": t.tokens(t.x_lo), "hi": t.tokens(t.x_hi),
            "start_tokens": int(signal.tokens[t.start]), "end_tokens": int(signal.tokens[t.end]),
            "size": t.size, "size_lo": t.size_lo, "size_hi": t.size_hi, "support": t.support,
            "ci_method": self.method, "n_boot": self.n_boot,
        } for t in self.transitions]


def analyse_signal(model: str, family: str, signal: Signal, *, max_changes: int = 4, ci: float = 0.95,
                   n_boot: int = 200, seed: int = 0) -> SignalTransitions:
    """``find_transitions`` of one signal, kept with whose signal it is."""
    found, method, used = find_transitions(signal, max_changes=max_changes, ci=ci, n_boot=n_boot, seed=seed)
    return SignalTransitions(model, family, signal, found, method, used)


def transitions_frame(found: list[SignalTransitions]) -> pd.DataFrame:
    """The ``transitions.csv`` table: one row per transition of every signal."""
    return pd.DataFrame([row for item in found for row in item.rows()], columns=TRANSITION_COLUMNS)


def interval_pairs(frame: pd.DataFrame) -> list[tuple[float, float]]:
    """(lo, hi) token intervals of the transitions in a ``transitions_frame``, widest (in log tokens) first."""
    if frame.empty:
        return []
    pairs = [(float(lo), float(hi)) for lo, hi in zip(frame["lo"], frame["hi"]) if np.isfinite(lo) and np.isfinite(hi)]
    return sorted(pairs, key=lambda p: -(np.log10(max(p[1], 1.0)) - np.log10(max(p[0], 1.0))))


def lag(later: Transition, earlier: Transition, ci: float = 0.95) -> tuple[float, float, float]:
    """``later``'s location minus ``earlier``'s, in decades of tokens, with its interval.

    From the replicates of both (drawn independently, so paired by index); without replicates the
    interval is the difference of the two location intervals.
    """
    estimate = later.x - earlier.x
    a, b = later.samples, earlier.samples
    if a is not None and b is not None:
        n = min(len(a), len(b))
        diff = a[:n] - b[:n]
        diff = diff[np.isfinite(diff)]
        if diff.size >= 2:
            alpha = (1 - ci) / 2
            lo, hi = np.quantile(diff, [alpha, 1 - alpha])
            return float(estimate), float(min(lo, estimate)), float(max(hi, estimate))
    return float(estimate), later.x_lo - earlier.x_hi, later.x_hi - earlier.x_lo


def window_change(signal: Signal, start_tokens: float, end_tokens: float,
                  ci: float = 0.90) -> tuple[float, float, float, int] | None:
    """The change of ``signal`` across [start, end] tokens, with its interval: (change, lo, hi, checkpoints).

    The change is the mean of the last third of the checkpoints inside minus the mean of the first
    third (bounded by the signal's range); the interval (``ci``, 90 % for a two one-sided test at
    5 %) comes from the signal's replicates. None with fewer than two checkpoints inside or no
    replicates.
    """
    inside = np.nonzero((signal.tokens >= start_tokens) & (signal.tokens <= end_tokens) & np.isfinite(signal.values))[0]
    if inside.size < 2 or signal.replicates is None or not len(signal.replicates):
        return None
    third = max(1, inside.size // 3)
    first, last = inside[:third], inside[-third:]

    def change(values: np.ndarray) -> np.ndarray:
        return values[..., last].mean(axis=-1) - values[..., first].mean(axis=-1)

    reps = change(signal.replicates)
    reps = reps[np.isfinite(reps)]
    if reps.size < 2:
        return None
    alpha = (1 - ci) / 2
    lo, hi = np.quantile(reps, [alpha, 1 - alpha])
    return float(change(signal.values)), float(lo), float(hi), int(inside.size)
