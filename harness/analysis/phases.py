"""The triple-phase analysis: change points on the brain-alignment curve, labelled by signature.

Nakagi et al. (2025) describe three phases over training: (1) *surge*, brain alignment rises while
instruction following rises; (2) *detachment*, brain alignment falls while task accuracy stagnates;
(3) *realignment*, brain alignment and task accuracy rise together. Here the brain curve (best layer
per checkpoint) is cut into piecewise-linear segments in log tokens (``changepoints``), the noise
taken from the bootstrap replicates where they explain the curve's scatter. Each segment has a trend
(rising, flat, falling); a significant step between two segments is a stretch of its own (a surge
within one checkpoint interval); adjacent stretches with the same trend merge into one phase. Phases
are labelled in order (surge before detachment before realignment) only where the behavioural
evidence does not contradict the signature; a brain rise while instruction following stays put is
``surge (brain only)``, unconfirmed, and does not count towards the paper's pattern. Anything else
is labelled ``none`` with the reason, and a curve without change points has no phases at all: the
pattern is reported as absent, never forced. Boundaries get bootstrap intervals from replicate
curves (subjects and voxels resampled).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.analysis.bootstrap import Replicates
from harness.analysis.changepoints import (
    LogLinearCost,
    Segmentation,
    choose_changes,
    fixed_changes,
    max_changes,
    segment,
)
from harness.analysis.curves import BrainCurve, ModelCurves, Series, segment_change
from harness.analysis.tokens import format_tokens, log_tokens

LABELS = ("surge", "detachment", "realignment")
BRAIN_ONLY_SURGE = "surge (brain only)"  # brain rises but instruction following does not: not the paper's surge
PHASE_COLUMNS = [
    "model", "family", "target", "phase_index", "phase", "start_tokens", "start_lo", "start_hi",
    "end_tokens", "end_lo", "end_hi", "brain_trend", "brain_start", "brain_end", "instruction_delta",
    "accuracy_delta", "confirmed", "evidence", "pattern", "support", "ci_method", "n_boot",
]


@dataclass(frozen=True)
class PhaseSettings:
    """Knobs of the phase analysis."""

    n_boot: int = 200  # bootstrap replicates for boundary intervals (0 = none)
    ci: float = 0.95  # interval coverage
    max_changes: int = 4  # most change points considered
    rise_tol: float = 0.05  # change of a 0-1 task score over a phase that counts as rising
    seed: int = 0


@dataclass
class Boundary:
    """A phase boundary: the first checkpoint of the new phase, with its bootstrap interval."""

    index: int
    tokens: int
    lo: float = float("nan")
    hi: float = float("nan")
    rank: int = 0  # which change point (in order) the boundary sits at
    shift: int = 0  # 0: at the change point; -1: one checkpoint before it (a step starts there)


@dataclass
class Phase:
    """A stretch of checkpoints with one brain-alignment trend, and its label."""

    index: int
    start: int  # first checkpoint (index into the curve)
    end: int  # the next phase's first checkpoint (the phase spans start..end), or len(curve)
    trend: str
    start_boundary: Boundary | None
    end_boundary: Boundary | None
    brain_start: float
    brain_end: float
    label: str = "none"
    instruction_delta: float | None = None
    accuracy_delta: float | None = None
    confirmed: bool = False
    evidence: str = ""


@dataclass
class PhaseResult:
    """The phases of one model on one brain target."""

    model: str
    family: str
    target: str
    tokens: np.ndarray
    phases: list[Phase]
    boundaries: list[Boundary]
    pattern: str  # "triple-phase", "partial" or "absent"
    summary: str
    support: float | None  # share of bootstrap replicates choosing the same number of change points
    ci_method: str
    n_boot: int
    change_points: list[int] = field(default_factory=list)  # raw change points before merging
    noise: float = float("nan")  # noise level (per checkpoint) the trends were graded against

    def labels(self) -> list[str]:
        """The phase labels other than ``none``, in order."""
        return [p.label for p in self.phases if p.label != "none"]

    def rows(self) -> list[dict[str, object]]:
        """One row per phase in the ``phases.csv`` layout."""
        out: list[dict[str, object]] = []
        last_tokens = int(self.tokens[-1])
        first_tokens = int(self.tokens[0])
        for phase in self.phases:
            start, end = phase.start_boundary, phase.end_boundary
            out.append({
                "model": self.model, "family": self.family, "target": self.target,
                "phase_index": phase.index, "phase": phase.label,
                "start_tokens": start.tokens if start else first_tokens,
                "start_lo": start.lo if start else first_tokens, "start_hi": start.hi if start else first_tokens,
                "end_tokens": end.tokens if end else last_tokens,
                "end_lo": end.lo if end else last_tokens, "end_hi": end.hi if end else last_tokens,
                "brain_trend": phase.trend, "brain_start": phase.brain_start, "brain_end": phase.brain_end,
                "instruction_delta": phase.instruction_delta, "accuracy_delta": phase.accuracy_delta,
                "confirmed": phase.confirmed, "evidence": phase.evidence, "pattern": self.pattern,
                "support": self.support, "ci_method": self.ci_method, "n_boot": self.n_boot,
            })
        return out


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _last(phase: Phase, n: int) -> int:
    """The checkpoint at the phase's end boundary (its own last one for the final phase)."""
    return min(phase.end, n - 1)


def _behaviour(series: Series | None, phase: Phase, tokens: np.ndarray) -> float | None:
    return segment_change(series, tokens[phase.start], tokens[_last(phase, len(tokens))])  # boundary to boundary


def _label(phases: list[Phase], curves: ModelCurves, tokens: np.ndarray, rise_tol: float) -> None:
    """Label phases in order, only where the behaviour does not contradict the signature."""
    stage = 0  # 0: nothing yet; 1: surge seen; 2: detachment seen; 3: realignment seen
    for phase in phases:
        phase.instruction_delta = _behaviour(curves.instruction, phase, tokens)
        phase.accuracy_delta = _behaviour(curves.accuracy, phase, tokens)
        if_delta, acc_delta = phase.instruction_delta, phase.accuracy_delta
        brain = f"brain r {_fmt(phase.brain_start)}->{_fmt(phase.brain_end)} ({phase.trend})"
        ift = f"instruction following {_fmt(if_delta, True)}"
        acct = f"task accuracy {_fmt(acc_delta, True)}"
        if phase.trend == "rising" and stage == 0:
            if if_delta is None:
                phase.label, phase.evidence = "surge", f"{brain}; instruction following not measured: label from brain alone"
                stage = 1
            elif if_delta > rise_tol:
                phase.label, phase.confirmed, phase.evidence = "surge", True, f"{brain}; {ift} (rising)"
                stage = 1
            else:
                phase.label = BRAIN_ONLY_SURGE
                phase.evidence = (f"{brain}; {ift}: instruction following did not rise, so this brain surge is "
                                  "unconfirmed (brain only), not the paper's surge phase")
                stage = 1
        elif phase.trend == "falling" and stage <= 1:
            if acc_delta is None:
                phase.label, phase.evidence = "detachment", f"{brain}; task accuracy not measured: label from brain alone"
                stage = 2
            elif acc_delta <= rise_tol:
                phase.label, phase.confirmed, phase.evidence = "detachment", True, f"{brain}; {acct} (stagnating)"
                stage = 2
            else:
                phase.evidence = f"{brain}; {acct}: rising, so not a detachment"
        elif phase.trend == "rising" and stage == 2:
            if acc_delta is None:
                phase.label, phase.evidence = "realignment", f"{brain}; task accuracy not measured: label from brain alone"
                stage = 3
            elif acc_delta > rise_tol:
                phase.label, phase.confirmed, phase.evidence = "realignment", True, f"{brain}; {acct} (rising)"
                stage = 3
            else:
                phase.evidence = f"{brain}; {acct}: not rising, so not a realignment"
        elif phase.trend == "flat":
            phase.evidence = f"{brain}; no trend in brain alignment"
        else:
            phase.evidence = f"{brain}; does not continue the phase sequence"


def _runs(fit: Segmentation) -> list[tuple[str, int, tuple[int, int] | None]]:
    """(trend, first checkpoint, its change point as (rank, shift)) of each phase, in order.

    A segment is one run; a significant step between two segments is a run of its own from the last
    checkpoint before the change point to the first one after it; adjacent runs with the same trend
    merge (a change of slope within one trend is not a new phase).
    """
    items: list[tuple[str, int, tuple[int, int] | None]] = []
    for i, seg in enumerate(fit.segments):
        if i > 0:
            step = fit.steps[i - 1]
            if step.trend != "flat":
                items.append((step.trend, step.index - 1, (i - 1, -1)))
            items.append((seg.trend, seg.start, (i - 1, 0)))
        else:
            items.append((seg.trend, seg.start, None))
    runs: list[tuple[str, int, tuple[int, int] | None]] = []
    for item in items:
        if not runs or runs[-1][0] != item[0]:
            runs.append(item)
    return runs


def phase_trends(x: np.ndarray, y: np.ndarray, stderr: float | None = None, limit: int = 4) -> list[str]:
    """The brain trend of each phase ``detect_phases`` would cut the curve into (before labelling)."""
    return [trend for trend, _, _ in _runs(segment(x, y, choose_changes(x, y, limit, stderr=stderr), stderr=stderr))]


def _intervals(boundaries: list[Boundary], x: np.ndarray, tokens: np.ndarray, replicates: Replicates,
               n_changes: int, ci: float, stderr: float | None) -> tuple[float | None, int]:
    """Fill boundary intervals from replicate curves; return (support, replicates used)."""
    curves = [c for c in replicates.curves if np.isfinite(c).all()]
    if not curves:
        return None, 0
    same, located = 0, []
    for curve in curves:
        same += len(choose_changes(x, curve, stderr=stderr)) == n_changes
        if n_changes:
            located.append(fixed_changes(x, curve, n_changes))
    if located:
        located_arr = np.array(located)  # (B, n_changes)
        alpha = (1 - ci) / 2
        for boundary in boundaries:
            positions = tokens[np.clip(located_arr[:, boundary.rank] + boundary.shift, 0, len(tokens) - 1)]
            boundary.lo = float(np.quantile(positions, alpha, method="lower"))
            boundary.hi = float(np.quantile(positions, 1 - alpha, method="higher"))
    return same / len(curves), len(curves)


def replicate_stderr(curves: np.ndarray) -> float | None:
    """Bootstrap standard error of one checkpoint net of what all checkpoints share.

    The root mean square over checkpoint pairs of the replicates' spread of the change from one
    checkpoint to the next, divided by sqrt(2): what each checkpoint's own sampling noise would be if
    it were independent. A shift shared by every checkpoint (a subject that aligns better
    throughout) cancels, as it cannot move a change point. None with fewer than two replicates.
    """
    curves = np.asarray(curves, dtype=float)
    curves = curves[np.isfinite(curves).all(axis=1)] if curves.ndim == 2 else curves
    if curves.ndim != 2 or len(curves) < 2 or curves.shape[1] < 2:
        return None
    spread = np.diff(curves, axis=1).std(axis=0, ddof=1)
    return float(np.sqrt(np.mean(spread**2)) / np.sqrt(2))


def detect_phases(curves: ModelCurves, curve: BrainCurve, replicates: Replicates | None = None,
                  settings: PhaseSettings | None = None) -> PhaseResult:
    """Phases of ``curve`` (one model on one brain target) with their evidence and intervals."""
    settings = settings or PhaseSettings()
    finite = np.isfinite(curve.values)
    tokens = curve.tokens[finite].astype(np.int64)
    y = curve.values[finite]
    x = log_tokens(tokens)
    if replicates is not None and len(replicates.curves):
        reps = Replicates(replicates.curves[:, finite], replicates.method)  # the checkpoints the fit used
    else:
        reps = Replicates(np.empty((0, len(y))), "none")
    stderr = replicate_stderr(reps.curves)
    breaks = choose_changes(x, y, settings.max_changes, stderr=stderr)
    fit = segment(x, y, breaks, stderr=stderr)
    runs = _runs(fit)
    boundaries = [Boundary(start, int(tokens[start]), rank=ref[0], shift=ref[1])
                  for _, start, ref in runs[1:] if ref is not None]
    phases = []
    for i, (trend, start, _) in enumerate(runs):
        end = runs[i + 1][1] if i + 1 < len(runs) else len(y)
        phases.append(Phase(
            index=i + 1, start=start, end=end, trend=trend,
            start_boundary=boundaries[i - 1] if i > 0 else None,
            end_boundary=boundaries[i] if i < len(boundaries) else None,
            brain_start=float(y[start]), brain_end=float(y[min(end, len(y) - 1)]),
        ))
    support, used = _intervals(boundaries, x, tokens, reps, len(breaks), settings.ci, stderr)
    if max_changes(len(y), settings.max_changes) == 0:
        support = None  # nothing could have been found, so agreement means nothing
    if len(phases) > 1:
        _label(phases, curves, tokens, settings.rise_tol)
    else:
        only = phases[0]
        why = ("no change of trend in brain alignment" if max_changes(len(y), settings.max_changes)
               else f"too few checkpoints ({len(y)}) to find a change point "
                  f"(at least {2 * LogLinearCost.min_size} needed)")
        only.evidence = (f"brain r {_fmt(only.brain_start)}->{_fmt(only.brain_end)} ({only.trend} throughout); "
                         f"{why}, so no phase transition")
    labels = [p.label for p in phases if p.label != "none"]
    if all(label in labels for label in LABELS):
        pattern = "triple-phase"
    elif any(label in LABELS for label in labels):
        pattern = "partial"
    else:
        pattern = "absent"
    result = PhaseResult(curves.model, curves.family, curve.target, tokens, phases, boundaries, pattern, "",
                         support, reps.method if used else "none", used, list(breaks), fit.noise)
    result.summary = summarise(result)
    return result


def _name(phase: Phase, previous: Phase | None) -> str:
    if phase.label != "none":
        return phase.label
    if phase.trend == "flat" and previous is not None and previous.trend == "rising":
        return "plateau"
    return phase.trend


def summarise(result: PhaseResult) -> str:
    """One sentence on what was found."""
    if len(result.phases) == 1:
        return f"pattern absent: {result.phases[0].evidence}"
    spans = "; ".join(
        f"{_name(p, result.phases[i - 1] if i else None)} {format_tokens(result.tokens[p.start])}-"
        f"{format_tokens(result.tokens[min(p.end, len(result.tokens) - 1)])}" for i, p in enumerate(result.phases))
    labels = result.labels()
    if result.pattern == "triple-phase":
        head = "triple-phase pattern found"
    elif result.pattern == "partial":
        missing = [label for label in LABELS if label not in labels]
        head = f"partial pattern (no {', no '.join(missing)})"
    elif BRAIN_ONLY_SURGE in labels:
        head = "pattern absent"
    else:
        head = "pattern absent (no phase matches its signature)"
    if BRAIN_ONLY_SURGE in labels:
        head += ": brain alignment surges but instruction following did not rise (surge unconfirmed, brain only)"
    if any(p.label in LABELS and not p.confirmed for p in result.phases):
        head += "; some labels rest on brain alignment alone"
    return f"{head}; phases: {spans}" if BRAIN_ONLY_SURGE in labels else f"{head}: {spans}"


def phases_frame(results: list[PhaseResult]) -> pd.DataFrame:
    """The ``phases.csv`` table of several results."""
    rows = [row for result in results for row in result.rows()]
    return pd.DataFrame(rows, columns=PHASE_COLUMNS)
