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
never narrower than the gap around the estimate itself. A lag between two transitions reads the
replicates' locations as fitted instead (``lag``). A signal without replicates gets them from
its fit: the fitted curve plus noise at the fit's residual level. Where the curve scatters more
from checkpoint to checkpoint than its replicates do (training noise a subject bootstrap cannot
see), each replicate checkpoint gets independent noise making up the difference, so the intervals
answer for the scatter the curve shows. Each signal draws from a random stream of its own.

Before any of this, a checkpoint that stands apart from both neighbours (``isolated_outliers``) is
set aside and listed as an ``outlier`` with its size: a transition is carried by two checkpoints
or more. A rise or fall that no change point bounds (a straight trend over the whole sweep, as on
a coarse grid) has no location: it is listed as a ``net change`` between the first and last
checkpoints, with the interval of that difference, and no verdict rests on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from harness.analysis.changepoints import (
    EXCURSION_Z,
    LONG_CURVE,
    Segmentation,
    choose_changes,
    curve_noise,
    fixed_changes,
    isolated_outliers,
    local_noise,
    segment,
)
from harness.analysis.signals import BEHAVIOUR, Signal
from harness.analysis.streams import stream
from harness.analysis.tokens import log_tokens

RISE, FALL, STEP = "rise", "fall", "step"
OUTLIER, NET_CHANGE = "outlier", "net change"  # rows of the transitions table no verdict rests on
SCATTER_MIN_CHECKPOINTS = 8  # fewer checkpoints cannot tell noise the replicates miss from the transitions
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
    samples: np.ndarray | None = None  # replicate locations, each drawn within its gap (log10 tokens; NaN: missed)
    paired: np.ndarray | None = None  # replicate locations as fitted (a step's drawn within its gap), for lags

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


def _estimates(
    x: np.ndarray, fit: Segmentation, bounds: tuple[float, float]
) -> list[tuple[int, list[Piece], float, float]]:
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


def _replicate_curves(signal: Signal, x: np.ndarray, fit: Segmentation, n_boot: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, str]:
    if signal.replicates is not None and len(signal.replicates):
        reps = signal.replicates[np.isfinite(signal.replicates).all(axis=1)]
        return reps, signal.method
    if n_boot <= 0 or not np.isfinite(fit.noise) or fit.noise <= 0:
        return np.empty((0, len(x))), "none"
    draws = _fitted(x, fit) + rng.standard_normal((n_boot, len(x))) * fit.noise
    return np.clip(draws, *signal.bounds), "fit residuals"


def _is_step(run: list[Piece]) -> bool:
    """A transition that is one jump between two neighbouring checkpoints: where between them is unknown."""
    return len(run) == 1 and run[0].jump


def _located(found: list[tuple[int, list[Piece], float, float]], n: int) -> list[tuple[int, list[Piece], float, float]]:
    """The transitions a change point bounds: not a trend running from the first checkpoint to the last.

    On ``LONG_CURVE`` checkpoints or more, a run of several pieces that rises (falls) throughout is
    located: its change points bound the steep part (on Pythia's 154 checkpoints, accuracy over 400 items
    rises significantly even along its tails, and its rise went unlocated in about one run in eight). On
    shorter curves such a run is said as a net change: there it made a flat brain curve rise in 18 % of
    12-checkpoint runs, against 6 %.
    """
    def whole(run: list[Piece]) -> bool:
        return run[0].i0 == 0 and run[-1].i1 == n - 1 and (len(run) == 1 or n < LONG_CURVE)

    return [item for item in found if not whole(item[1])]


def find_transitions(signal: Signal, *, max_changes: int = 4, ci: float = 0.95, n_boot: int = 200,
                     seed: int = 0, model: str = "") -> tuple[list[Transition], str, int]:
    """The located transitions of ``signal``, the way their intervals were drawn and how many replicates.

    ``model`` and ``seed`` name the signal's random stream.
    """
    signal = _finite(signal)
    found, method, used, _ = _find(signal, max_changes, ci, n_boot, seed, model, noise_level(signal))
    return found, method, used


def _find(signal: Signal, max_changes: int, ci: float, n_boot: int, seed: int, model: str,
          stderr: float | None) -> tuple[list[Transition], str, int, tuple[int, ...]]:
    """``find_transitions`` on a finite signal, and the change points of its fit; ``stderr`` is the noise
    the change points are chosen and graded against (``noise_level``)."""
    if len(signal) < 2:
        return [], "none", 0, ()
    x, y = log_tokens(signal.tokens), signal.values
    breaks = choose_changes(x, y, max_changes, stderr=stderr)
    fit = segment(x, y, breaks, stderr=stderr)
    found = _located(_estimates(x, fit, signal.bounds), len(y))
    if not found:
        return [], "none", 0, tuple(breaks)
    rng = stream(seed, "transitions", model, signal.target, signal.name)
    reps, method = _replicate_curves(signal, x, fit, n_boot, rng)
    locations = np.full((len(reps), len(found)), np.nan)
    paired = np.full((len(reps), len(found)), np.nan)
    sizes = np.full((len(reps), len(found)), np.nan)
    centres = [at for _, _, at, _ in found]
    edges = [-np.inf, *((a + b) / 2 for a, b in zip(centres, centres[1:])), np.inf]  # each transition's own stretch
    for b, curve in enumerate(reps):
        replicate = _estimates(x, segment(x, curve, fixed_changes(x, curve, len(breaks)), stderr=stderr), signal.bounds)
        for t, (direction, _, at, _) in enumerate(found):
            same = [(abs(r_at - at), r_at, r_size, _is_step(r_run)) for r_dir, r_run, r_at, r_size in replicate
                    if r_dir == direction and edges[t] <= r_at < edges[t + 1]]
            if same:
                _, r_at, r_size, step = min(same)
                locations[b, t] = rng.uniform(*_gap(x, r_at))
                paired[b, t] = locations[b, t] if step else r_at
                sizes[b, t] = r_size
    alpha = (1 - ci) / 2
    out = []
    for t, (direction, run, at, size) in enumerate(found):
        kind = STEP if _is_step(run) else (RISE if direction > 0 else FALL)
        gap_lo, gap_hi = _gap(x, at)
        hit = locations[:, t][np.isfinite(locations[:, t])]
        x_lo, x_hi = gap_lo, gap_hi
        size_lo = size_hi = float("nan")
        if hit.size:
            x_lo = min(gap_lo, float(np.quantile(hit, alpha)))
            x_hi = max(gap_hi, float(np.quantile(hit, 1 - alpha)))
            size_lo, size_hi = (
                float(q) for q in np.quantile(sizes[:, t][np.isfinite(sizes[:, t])], [alpha, 1 - alpha])
            )
        out.append(Transition(signal, t + 1, kind, direction, run[0].i0, run[-1].i1, at, x_lo, x_hi, size,
                              size_lo, size_hi, hit.size / len(reps) if len(reps) else None,
                              locations[:, t] if len(reps) else None, paired[:, t] if len(reps) else None))
    return out, method, len(reps), tuple(breaks)


def _finite(signal: Signal, keep: np.ndarray | None = None) -> Signal:
    """``signal`` at its finite checkpoints (and only where ``keep`` is true)."""
    mask = np.isfinite(signal.values) if keep is None else np.isfinite(signal.values) & keep
    if mask.all():
        return signal
    return Signal(signal.name, signal.group, signal.target, signal.tokens[mask], signal.values[mask], signal.bounds,
                  signal.replicates[:, mask] if signal.replicates is not None else None, signal.method, signal.items)


@dataclass(frozen=True)
class Outlier:
    """A checkpoint set aside: it stands apart from both neighbours (``changepoints.isolated_outliers``)."""

    tokens: int
    size: float  # its value minus the mean of its two neighbours


@dataclass(frozen=True)
class NetChange:
    """The change of a signal between its first and last checkpoints, where no change point locates it."""

    start_tokens: int
    end_tokens: int
    size: float
    lo: float  # 95 % interval (from the replicates; NaN without)
    hi: float

    @property
    def direction(self) -> int:
        """+1 when it surely rises, -1 when it surely falls, 0 when its interval holds 0."""
        return 1 if self.lo > 0 else -1 if self.hi < 0 else 0


def _set_aside(signal: Signal, among: list[int] | None = None) -> tuple[Signal, list[Outlier]]:
    """``signal`` without its isolated outliers, and the outliers (``among``: only these checkpoints, the
    lone apexes of fitted excursions, judged by the lower ``EXCURSION_Z``)."""
    x = log_tokens(signal.tokens)
    noise = max(local_noise(x, signal.values), noise_level(signal) or 0.0)
    if among is None:
        lone = isolated_outliers(x, signal.values, noise)
    else:
        lone = isolated_outliers(x, signal.values, noise, EXCURSION_Z, among)
    if not lone:
        return signal, []
    values = signal.values
    outliers = [Outlier(int(signal.tokens[i]), float(values[i] - (values[i - 1] + values[i + 1]) / 2)) for i in lone]
    keep = np.ones(len(values), dtype=bool)
    keep[lone] = False
    return _finite(signal, keep), outliers


EXCURSION_SHARE = 0.5  # of the smaller of the two changes, the lone apex's own step from each neighbour


def one_checkpoint_excursions(signal: Signal, found: list[Transition]) -> list[int]:
    """Checkpoints that alone carry a rise and the fall right after it (or a fall and the rise back): the
    first transition ends where the second starts, and the checkpoint stands apart from each neighbour
    by at least ``EXCURSION_SHARE`` of the smaller change (the apex of a gradual turn does not). No
    verdict may rest on a change one checkpoint carries."""
    v = signal.values
    out = []
    for a, b in zip(found, found[1:]):
        i = a.end
        if a.direction == b.direction or i != b.start or not 0 < i < len(v) - 1:
            continue
        apart = min(abs(v[i] - v[i - 1]), abs(v[i] - v[i + 1]))
        if apart >= EXCURSION_SHARE * min(abs(a.size), abs(b.size)):
            out.append(i)
    return out


def with_checkpoint_noise(signal: Signal, stderr: float | None, rng: np.random.Generator) -> Signal:
    """``signal`` whose replicates scatter from checkpoint to checkpoint as much as the curve does.

    Where the curve's robust local scatter is significantly larger than the replicates' own
    per-checkpoint spread (``stderr``, the signal's ``noise_level``; ``changepoints.curve_noise`` says the noise is not
    known), each replicate checkpoint gets independent Gaussian noise of the difference in
    variance: noise the resampling could not see (training noise shared by every subject) widens the
    intervals instead of being ignored. Curves shorter than ``SCATTER_MIN_CHECKPOINTS`` are left
    alone: on them the scatter measures the transitions more than the noise.
    """
    if stderr is None or signal.replicates is None or len(signal) < SCATTER_MIN_CHECKPOINTS:
        return signal
    scatter, known = curve_noise(log_tokens(signal.tokens), signal.values, stderr)
    if known or not np.isfinite(scatter) or scatter <= stderr:
        return signal
    extra = np.sqrt(scatter**2 - stderr**2)
    replicates = np.clip(signal.replicates + rng.standard_normal(signal.replicates.shape) * extra, *signal.bounds)
    return replace(signal, replicates=replicates, method=f"{signal.method} + checkpoint scatter")


def net_change(signal: Signal, ci: float = 0.95) -> NetChange | None:
    """The last checkpoint's value minus the first's, with its interval from the replicates."""
    if len(signal) < 2:
        return None
    size = float(signal.values[-1] - signal.values[0])
    lo = hi = float("nan")
    if signal.replicates is not None and len(signal.replicates):
        diffs = signal.replicates[:, -1] - signal.replicates[:, 0]
        diffs = diffs[np.isfinite(diffs)]
        if diffs.size >= 2:
            alpha = (1 - ci) / 2
            lo, hi = (float(q) for q in np.quantile(diffs, [alpha, 1 - alpha]))
    return NetChange(int(signal.tokens[0]), int(signal.tokens[-1]), size, lo, hi)


@dataclass
class SignalTransitions:
    """What one signal of one model (or group) shows: located transitions, outliers, a net change.

    ``signal`` is the curve the transitions were found on: outliers set aside, replicates widened to
    the curve's scatter. ``net`` is set where no transition is located, and says how the signal
    changed between its first and last checkpoints.
    """

    model: str
    family: str
    signal: Signal
    transitions: list[Transition]
    method: str
    n_boot: int
    outliers: list[Outlier] = field(default_factory=list)
    net: NetChange | None = None
    breaks: tuple[int, ...] = ()  # the change points of the signal's fit (indices into ``signal``)
    unreliable: list[Transition] = field(default_factory=list)  # left out of ``transitions`` for their support

    def _row(self, **values: object) -> dict[str, object]:
        signal = self.signal
        return {"model": self.model, "family": self.family, "target": signal.target, "signal": signal.name,
                "group": signal.group, "ci_method": self.method, "n_boot": self.n_boot, **values}

    def rows(self) -> list[dict[str, object]]:
        """One row per transition in the ``transitions.csv`` layout, then the outliers and a net change
        that is surely not 0 (no location: ``tokens`` empty, ``lo``-``hi`` the swept range)."""
        signal = self.signal
        rows = [self._row(
            index=t.index, kind=t.kind, direction="up" if t.up else "down",
            tokens=t.tokens(t.x), lo=t.tokens(t.x_lo), hi=t.tokens(t.x_hi),
            start_tokens=int(signal.tokens[t.start]), end_tokens=int(signal.tokens[t.end]),
            size=t.size, size_lo=t.size_lo, size_hi=t.size_hi, support=t.support,
        ) for t in self.transitions]
        rows += [self._row(index=0, kind=OUTLIER, direction="up" if o.size > 0 else "down", tokens=o.tokens,
                           lo=o.tokens, hi=o.tokens, start_tokens=o.tokens, end_tokens=o.tokens, size=o.size,
                           size_lo=np.nan, size_hi=np.nan, support=np.nan) for o in self.outliers]
        net = self.net
        if net is not None and net.direction:
            rows.append(self._row(index=0, kind=NET_CHANGE, direction="up" if net.direction > 0 else "down",
                                  tokens=np.nan, lo=net.start_tokens, hi=net.end_tokens, start_tokens=net.start_tokens,
                                  end_tokens=net.end_tokens, size=net.size, size_lo=net.lo, size_hi=net.hi,
                                  support=np.nan))
        return rows


def _fit(model: str, signal: Signal, max_changes: int, ci: float, n_boot: int,
         seed: int) -> tuple[Signal, list[Transition], str, int, tuple[int, ...]]:
    """``signal`` with its replicates widened to its scatter, its transitions, how their intervals were drawn,
    how many replicates and the change points."""
    stderr = noise_level(signal)  # the change points are chosen as before widening: curve_noise weighs the scatter
    widened = with_checkpoint_noise(
        signal, stderr, stream(seed, "checkpoint scatter", model, signal.target, signal.name)
    )
    found, method, used, breaks = _find(widened, max_changes, ci, n_boot, seed, model, stderr)
    return widened, found, method, used, breaks


def analyse_signal(model: str, family: str, signal: Signal, *, max_changes: int = 4, ci: float = 0.95,
                   n_boot: int = 200, seed: int = 0) -> SignalTransitions:
    """The outliers, located transitions and (where none is located) net change of one signal.

    ``seed`` with the model's and the signal's names picks the signal's own random streams.
    """
    cleaned, outliers = _set_aside(_finite(signal))
    fitted, found, method, used, breaks = _fit(model, cleaned, max_changes, ci, n_boot, seed)
    refit, excursions = _set_aside(cleaned, one_checkpoint_excursions(cleaned, found))
    if excursions:  # the fit made a checkpoint carry a rise and the fall back alone: set aside, fitted again once
        outliers += excursions
        fitted, found, method, used, breaks = _fit(model, refit, max_changes, ci, n_boot, seed)
    net = None
    if not found:
        net = net_change(fitted, ci)
        if fitted.replicates is not None and net is not None and np.isfinite(net.lo):
            method, used = fitted.method, len(fitted.replicates)
    return SignalTransitions(model, family, fitted, found, method, used, outliers, net, breaks)


def transitions_frame(found: list[SignalTransitions]) -> pd.DataFrame:
    """The ``transitions.csv`` table: one row per transition of every signal."""
    return pd.DataFrame([row for item in found for row in item.rows()], columns=TRANSITION_COLUMNS)


def interval_pairs(frame: pd.DataFrame) -> list[tuple[float, float]]:
    """(lo, hi) token intervals of the transitions and net changes in a ``transitions_frame`` (not the
    outliers), widest (in log tokens) first."""
    if frame.empty:
        return []
    located = frame[frame["kind"] != OUTLIER]
    pairs = [
        (float(lo), float(hi)) for lo, hi in zip(located["lo"], located["hi"]) if np.isfinite(lo) and np.isfinite(hi)
    ]
    return sorted(pairs, key=lambda p: -(np.log10(max(p[1], 1.0)) - np.log10(max(p[0], 1.0))))


def lag(later: Transition, earlier: Transition, ci: float = 0.95) -> tuple[float, float, float]:
    """``later``'s location minus ``earlier``'s, in decades of tokens, with its interval.

    From the replicates of both (each signal's from its own stream, paired by index), located as
    fitted: two transitions read off the same checkpoints share the error of interpolating between
    them, which the location intervals' draws across each gap would count twice; a step's location
    is still drawn within its gap, which no checkpoint resolves. Without replicates the interval is
    the difference of the two location intervals.
    """
    estimate = later.x - earlier.x
    a, b = later.paired, earlier.paired
    if a is not None and b is not None:
        n = min(len(a), len(b))
        diff = a[:n] - b[:n]
        diff = diff[np.isfinite(diff)]
        if diff.size >= 2:
            alpha = (1 - ci) / 2
            lo, hi = np.quantile(diff, [alpha, 1 - alpha])
            return float(estimate), float(min(lo, estimate)), float(max(hi, estimate))
    return float(estimate), later.x_lo - earlier.x_hi, later.x_hi - earlier.x_lo


def fitted_change(found: SignalTransitions, start_tokens: float, end_tokens: float,
                  ci: float = 0.90) -> tuple[float, float, float, int] | None:
    """How much ``found``'s signal changes across [start, end] tokens: (change, lo, hi, checkpoints inside).

    The change is read off the signal's piecewise-linear fit (its change points, a straight line
    between them), so every checkpoint of each segment the window touches informs it, not only
    those inside; a transition of the signal inside the window shows in full. The interval (``ci``,
    90 % for two one-sided tests at 5 %) comes from refitting each replicate with as many change
    points. None with fewer than two checkpoints inside or no replicates.
    """
    signal = found.signal
    inside = np.nonzero((signal.tokens >= start_tokens) & (signal.tokens <= end_tokens))[0]
    if inside.size < 2 or signal.replicates is None or not len(signal.replicates):
        return None
    x = log_tokens(signal.tokens)

    def change(y: np.ndarray, breaks: list[int]) -> float:
        fitted = _fitted(x, segment(x, y, breaks))
        return float(fitted[inside[-1]] - fitted[inside[0]])

    reps = signal.replicates[np.isfinite(signal.replicates).all(axis=1)]
    if len(reps) < 2:
        return None
    k = len(found.breaks)
    changes = np.array([change(curve, fixed_changes(x, curve, k)) for curve in reps])
    alpha = (1 - ci) / 2
    lo, hi = np.quantile(changes, [alpha, 1 - alpha])
    return change(signal.values, list(found.breaks)), float(lo), float(hi), int(inside.size)
