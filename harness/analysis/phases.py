"""Verdicts on the paper's three phases, each a test of timing between a brain and a behaviour transition.

Nakagi et al. (2025): brain alignment *surges as* the model starts following instructions, *detaches
while* task accuracy stagnates, and *realigns as* tasks get solved. With the transitions of every
signal found (``transitions``), each phase is judged on its own:

* **surge**: a brain rise (best layer) that coincides with a rise of instruction following;
* **detachment**: a later brain fall that gives back at least ``min_fall_share`` of the brain rise
  before it, such that, from where the brain transition before it is over to where the fall is half
  done (both at the upper ends of their 95 % intervals), task accuracy (chance-corrected) is *shown*
  flat: the 90 % interval of its change across the fall lies within ±``flat_margin`` (two one-sided
  tests at 5 %); not rising by little is not enough;
* **realignment**: a brain rise after that fall that coincides with a rise of task accuracy.

Two transitions *coincide* when the lag between them (log10 tokens, brain minus behaviour) has a 95 %
interval that includes 0, or their own 95 % location intervals overlap, and the lag's estimate is
within ±``lag_tolerance`` decades. A lag whose interval excludes 0 is reported as a lead ("brain leads
by 1.5 decades"); one that includes 0 but is estimated beyond the tolerance is unresolved. A phase
is "confirmed" only by its test, else "not shown" with the reason; the pattern is "triple-phase"
when all three are confirmed in order, "partial" when some are, "absent" when none is. A verdict
rests only on transitions that at least ``min_support`` (half) of the bootstrap replicates
reproduce. Nothing is merged: every transition of every signal, with its support, is in the
transitions table whatever the verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from harness.analysis.signals import ACCURACY, BRAIN_BEST, INSTRUCTION
from harness.analysis.tokens import format_tokens
from harness.analysis.transitions import SignalTransitions, Transition, fitted_change, lag

LABELS = ("surge", "detachment", "realignment")
CONFIRMED, NOT_SHOWN = "confirmed", "not shown"
PATTERN_WORDS = {  # the pattern as every view names it (tables and JSON hold the bare name)
    "triple-phase": "pattern triple-phase",
    "partial": "pattern partial",
    "absent": "pattern absent",
}
PHASE_COLUMNS = [
    "model", "family", "target", "phase", "status", "brain_kind", "brain_tokens", "brain_lo", "brain_hi",
    "behaviour", "behaviour_kind", "behaviour_tokens", "behaviour_lo", "behaviour_hi", "lag", "lag_lo", "lag_hi",
    "change", "change_lo", "change_hi", "test", "reason", "pattern",
]


@dataclass(frozen=True)
class PhaseSettings:
    """Knobs of the phase analysis (stated with every verdict)."""

    n_boot: int = 200  # bootstrap replicates for the intervals (0 = none)
    ci: float = 0.95  # interval coverage of locations, sizes and lags
    max_changes: int = 4  # most change points per signal
    lag_tolerance: float = 0.5  # decades of tokens within which coinciding transitions may lie
    flat_margin: float = 0.1  # chance-corrected accuracy change that still counts as flat
    min_support: float = 0.5  # share of replicates that must show a transition for a verdict to rest on it
    min_fall_share: float = 0.25  # of the brain rise before it, what a fall must give back to count as detachment
    seed: int = 0

    def coincidence_rule(self) -> str:
        return f"lag 95% CI includes 0 or the two 95% intervals overlap, and |lag| <= {self.lag_tolerance:g} decades"

    def flat_rule(self) -> str:
        return f"accuracy change 90% CI within +/-{self.flat_margin:g} (two one-sided tests)"


@dataclass
class Verdict:
    """One of the paper's phases: confirmed or not shown, the transitions it rests on and why."""

    phase: str
    status: str
    reason: str
    test: str = ""
    brain: Transition | None = None
    behaviour: Transition | None = None
    behaviour_name: str = ""
    lag: tuple[float, float, float] | None = None  # brain minus behaviour, decades: (estimate, lo, hi)
    change: tuple[float, float, float, int] | None = None  # accuracy across a fall: (change, lo, hi, checkpoints)

    @property
    def confirmed(self) -> bool:
        return self.status == CONFIRMED


@dataclass
class PhaseResult:
    """The verdicts on one model (or group) and brain target, and the transitions they rest on."""

    model: str
    family: str
    target: str
    verdicts: list[Verdict]
    pattern: str  # "triple-phase", "partial" or "absent"
    summary: str
    found: list[SignalTransitions] = field(default_factory=list)

    def labels(self) -> list[str]:
        """The confirmed phases, in order."""
        return [v.phase for v in self.verdicts if v.confirmed]

    def verdict(self, phase: str) -> Verdict:
        return next(v for v in self.verdicts if v.phase == phase)

    def signal(self, name: str) -> SignalTransitions | None:
        return next((item for item in self.found if item.signal.name == name), None)

    def rows(self) -> list[dict[str, object]]:
        """One row per phase in the ``phases.csv`` layout."""
        out: list[dict[str, object]] = []
        for v in self.verdicts:
            brain, behaviour = v.brain, v.behaviour
            out.append({
                "model": self.model, "family": self.family, "target": self.target, "phase": v.phase,
                "status": v.status, "brain_kind": brain.what if brain else "",
                "brain_tokens": brain.tokens(brain.x) if brain else np.nan,
                "brain_lo": brain.tokens(brain.x_lo) if brain else np.nan,
                "brain_hi": brain.tokens(brain.x_hi) if brain else np.nan,
                "behaviour": v.behaviour_name, "behaviour_kind": behaviour.what if behaviour else "",
                "behaviour_tokens": behaviour.tokens(behaviour.x) if behaviour else np.nan,
                "behaviour_lo": behaviour.tokens(behaviour.x_lo) if behaviour else np.nan,
                "behaviour_hi": behaviour.tokens(behaviour.x_hi) if behaviour else np.nan,
                "lag": v.lag[0] if v.lag else np.nan, "lag_lo": v.lag[1] if v.lag else np.nan,
                "lag_hi": v.lag[2] if v.lag else np.nan,
                "change": v.change[0] if v.change else np.nan, "change_lo": v.change[1] if v.change else np.nan,
                "change_hi": v.change[2] if v.change else np.nan, "test": v.test, "reason": v.reason,
                "pattern": self.pattern,
            })
        return out


def where(t: Transition) -> str:
    """'6.1k tokens [4.1k, 8.19k]': a transition's location with its interval."""
    at, lo, hi = (format_tokens(t.tokens(x)) for x in (t.x, t.x_lo, t.x_hi))
    return f"{at} tokens [{lo}, {hi}]"


def _lag_text(value: tuple[float, float, float], behaviour: str) -> str:
    estimate, lo, hi = value
    interval = f"[{lo:+.2f}, {hi:+.2f}]"
    if lo > 0:
        return f"{behaviour} leads by {estimate:.2f} decades [{lo:.2f}, {hi:.2f}]"
    if hi < 0:
        return f"brain leads by {-estimate:.2f} decades [{-hi:.2f}, {-lo:.2f}]"
    return f"lag {estimate:+.2f} decades {interval}"


def _coincides(brain: Transition, behaviour: Transition, value: tuple[float, float, float],
               settings: PhaseSettings) -> bool:
    estimate, lo, hi = value
    overlap = brain.x_lo <= behaviour.x_hi and behaviour.x_lo <= brain.x_hi
    return (lo <= 0 <= hi or overlap) and abs(estimate) <= settings.lag_tolerance


def _rises(found: SignalTransitions | None, after: float = -np.inf) -> list[Transition]:
    return [t for t in found.transitions if t.up and t.x > after] if found else []


def _set_aside(found: SignalTransitions) -> str:
    """' (2 outlying checkpoints set aside: +0.050 at 4.19B, ...)', or '' where there are none."""
    if not found.outliers:
        return ""
    listed = ", ".join(f"{o.size:+.3f} at {format_tokens(o.tokens)}" for o in found.outliers[:3])
    more = ", ..." if len(found.outliers) > 3 else ""
    many = "s" if len(found.outliers) > 1 else ""
    return f" ({len(found.outliers)} outlying checkpoint{many} set aside: {listed}{more})"


def _widest_step(found: SignalTransitions) -> str:
    """Where checkpoints would locate an unlocated change: the gap across which the curve moves most."""
    tokens, values = found.signal.tokens, found.signal.values
    if len(values) < 2:
        return ""
    i = int(np.argmax(np.abs(np.diff(values))))
    return (f"; it moves most between {format_tokens(tokens[i])} and {format_tokens(tokens[i + 1])} tokens, where more "
            "checkpoints would locate it (checkpoints: adaptive:N adds them there)")


def no_rise(found: SignalTransitions | None, label: str) -> str:
    """Why ``label`` has no located rise: it does not rise, or it rises by so much between its first
    and last checkpoints but too few checkpoints locate when."""
    if found is None:
        return f"{label} does not rise"
    net = found.net
    if net is not None and net.direction > 0:
        said = (f"{label} rises by {net.size:+.3f} [{net.lo:+.3f}, {net.hi:+.3f}] between "
                f"{format_tokens(net.start_tokens)} and {format_tokens(net.end_tokens)} tokens; too few checkpoints "
                f"to locate when{_widest_step(found)}")
    else:
        said = f"{label} does not rise{_unreliable(found, True)}"
    return said + _set_aside(found)


def _coincidence(phase: str, brain: SignalTransitions, after: float, behaviour: SignalTransitions | None,
                 behaviour_label: str, settings: PhaseSettings, missing: str) -> Verdict:
    """The first brain rise after ``after`` that coincides with a rise of ``behaviour``, else why there is none."""
    test = settings.coincidence_rule()
    brain_rises = _rises(brain, after)
    if not brain_rises:
        return Verdict(phase, NOT_SHOWN, no_rise(brain, "brain alignment") if after == -np.inf else
                       f"brain alignment does not rise after its fall{_unreliable(brain, True, after)}", test)
    if behaviour is None:
        return Verdict(phase, NOT_SHOWN, f"brain rises at {where(brain_rises[0])}; {missing}", test, brain_rises[0])
    name = behaviour.signal.name
    rises = _rises(behaviour)
    if not rises:
        return Verdict(
            phase,
            NOT_SHOWN,
            f"brain rises at {where(brain_rises[0])}; {no_rise(behaviour, behaviour_label)}",
            test,
            brain_rises[0],
            behaviour_name=name,
        )
    pairs = [(b, r, lag(b, r, settings.ci)) for b in brain_rises for r in rises]
    for up, rise, value in pairs:
        if _coincides(up, rise, value, settings):
            reason = (f"brain rises at {where(up)} as {behaviour_label} rises at {where(rise)}: "
                      f"{_lag_text(value, behaviour_label)}")
            return Verdict(phase, CONFIRMED, reason, test, up, rise, name, value)
    up, rise, value = min(pairs, key=lambda p: abs(p[2][0]))
    unresolved = "" if value[1] > 0 or value[2] < 0 else f", not within +/-{settings.lag_tolerance:g}"
    reason = (f"brain rises at {where(up)} but {behaviour_label} at {where(rise)}: "
              f"{_lag_text(value, behaviour_label)}{unresolved}")
    return Verdict(phase, NOT_SHOWN, reason, test, up, rise, name, value)


def detached_span(brain: SignalTransitions, fall: Transition) -> tuple[float, float]:
    """Tokens from where the brain transition before ``fall`` is surely over (the upper end of its
    interval; the fall's first checkpoint where there is none) to where the fall is surely half done
    (the upper end of its own interval): the stretch over which alignment detaches."""
    i = brain.transitions.index(fall)
    before = brain.transitions[i - 1] if i > 0 else None
    start = before.tokens(before.x_hi) if before is not None else float(brain.signal.tokens[fall.start])
    return min(start, fall.tokens(fall.x)), fall.tokens(fall.x_hi)


def items_needed(change: tuple[float, float, float, int], margin: float, items: float | None) -> str:
    """'; to show it flat within +/-0.1 it needs about 380 items per task and checkpoint (now 100)':
    the items that would narrow the interval of ``change`` enough, if the change is as estimated
    (an interval's half-width shrinks as one over the square root of the items)."""
    value, lo, hi, _ = change
    half = (hi - lo) / 2
    room = margin - abs(value)
    if room <= 0 or half <= 0:
        return f"; its estimate alone is beyond +/-{margin:g}, so more items per checkpoint would not show it flat"
    factor = (half / room) ** 2
    if items is None:
        return f"; to show it flat within +/-{margin:g} it needs about {factor:.1f}x the items per task and checkpoint"
    return (f"; to show it flat within +/-{margin:g} it needs about {int(np.ceil(factor * items / 10) * 10)} items "
            f"per task and checkpoint (now {items:.0f})")


def _detachment(brain: SignalTransitions, accuracy: SignalTransitions | None, after: float,
                settings: PhaseSettings) -> Verdict:
    """The first brain fall after ``after`` over which task accuracy is shown flat."""
    test = settings.flat_rule()
    falls = [t for t in brain.transitions if not t.up and t.x > after]
    small = [t for t in falls if not _gives_back(brain, t, settings.min_fall_share)]
    falls = [t for t in falls if t not in small]
    if not falls:
        return Verdict("detachment", NOT_SHOWN, "brain alignment does not fall after its rise"
                       f"{_unreliable(brain, False, after)}{_small_falls(brain, small, settings)}", test)
    if accuracy is None:
        return Verdict("detachment", NOT_SHOWN, f"brain falls at {where(falls[0])}; task accuracy not measured "
                       "(no task with a known chance level)", test, falls[0])
    first: Verdict | None = None
    margin = settings.flat_margin
    for fall in falls:
        span = detached_span(brain, fall)
        change = fitted_change(accuracy, *span)
        detached = f"detached from {format_tokens(span[0])} to {format_tokens(span[1])} tokens"
        spanned = f"brain falls at {where(fall)}, {detached}"
        if change is None:
            verdict = Verdict("detachment", NOT_SHOWN, f"{spanned}; too few task checkpoints in that span "
                              "to test accuracy", test, fall, behaviour_name=ACCURACY)
        else:
            value, lo, hi, n = change
            delta = f"accuracy change {value:+.3f} [{lo:+.3f}, {hi:+.3f}] over {n} checkpoints"
            if -margin <= lo and hi <= margin:
                return Verdict("detachment", CONFIRMED, f"{spanned} while task {delta}: flat within +/-{margin:g}",
                               test, fall, behaviour_name=ACCURACY, change=change)
            how = "rises" if lo > 0 else "falls" if hi < 0 else "is not shown flat"
            need = items_needed(change, margin, accuracy.signal.items) if how == "is not shown flat" else ""
            verdict = Verdict("detachment", NOT_SHOWN, f"{spanned} but task accuracy {how}: {delta}, margin "
                              f"+/-{margin:g}{need}", test, fall, behaviour_name=ACCURACY, change=change)
        first = first or verdict
    assert first is not None
    return first


def _rise_before(brain: SignalTransitions, fall: Transition) -> float:
    """The size of the largest brain rise before ``fall`` (0 where there is none)."""
    return max((t.size for t in brain.transitions if t.up and t.x < fall.x), default=0.0)


def _gives_back(brain: SignalTransitions, fall: Transition, share: float) -> bool:
    """Whether ``fall`` follows a brain rise and gives back at least ``share`` of the largest such rise: alignment
    can only detach from a level it reached, and a dip of a few thousandths after a rise of hundredths is noise
    a long sweep makes significant, not detachment."""
    rise = _rise_before(brain, fall)
    return rise > 0 and abs(fall.size) >= share * rise


def _small_falls(brain: SignalTransitions, small: list[Transition], settings: PhaseSettings) -> str:
    """'; a fall of -0.004 at 12.6B tokens [...] gives back under 25% of the rise before it (+0.040)', or '...
    follows no brain rise': the falls a detachment may not rest on."""
    def why(t: Transition) -> str:
        rise = _rise_before(brain, t)
        if rise <= 0:
            return "follows no brain rise"
        return f"gives back under {settings.min_fall_share:.0%} of the rise before it ({rise:+.3f})"

    return "".join(f"; a {t.what} of {t.size:+.3f} at {where(t)} {why(t)}" for t in small)


def reliable(found: SignalTransitions, min_support: float) -> SignalTransitions:
    """``found`` with only the transitions at least ``min_support`` of its replicates show (all where
    there are no replicates): a change the bootstrap does not reproduce is listed in the transitions
    table, but no verdict rests on it."""
    kept = [t for t in found.transitions if t.support is None or t.support >= min_support]
    return replace(found, transitions=kept, unreliable=[t for t in found.transitions if t not in kept])


def _unreliable(found: SignalTransitions | None, up: bool, after: float = -np.inf) -> str:
    """'; a fall at 897k [306k, 1.05M] shows in 24% of replicates': the changes no verdict may rest on."""
    weak = [t for t in found.unreliable if t.up == up and t.x > after] if found is not None else []
    return "".join(f"; a {t.what} at {where(t)} shows in {t.support:.0%} of replicates" for t in weak
                   if t.support is not None)


def judge(model: str, family: str, target: str, found: list[SignalTransitions],
          settings: PhaseSettings | None = None) -> PhaseResult:
    """The three verdicts for one model (or group) on one brain target, from its signals' transitions."""
    settings = settings or PhaseSettings()
    by_name = {item.signal.name: reliable(item, settings.min_support) for item in found
               if item.signal.target in ("", target)}
    brain = by_name[BRAIN_BEST]
    instruction, accuracy = by_name.get(INSTRUCTION), by_name.get(ACCURACY)
    surge = _coincidence("surge", brain, -np.inf, instruction, "instruction following", settings,
                         "instruction following not measured")
    anchor = surge.brain.x if surge.brain is not None else -np.inf
    detachment = _detachment(brain, accuracy, anchor, settings)
    fall = detachment.brain.x if detachment.brain is not None else np.inf
    realignment = _coincidence("realignment", brain, fall, accuracy, "task accuracy", settings,
                               "task accuracy not measured (no task with a known chance level)")
    if not np.isfinite(fall):
        realignment.reason = "no brain fall for alignment to recover from"
    verdicts = [surge, detachment, realignment]
    confirmed = [v.confirmed for v in verdicts]
    pattern = "triple-phase" if all(confirmed) else "partial" if any(confirmed) else "absent"
    result = PhaseResult(model, family, target, verdicts, pattern, "", list(found))
    result.summary = summarise(result)
    return result


def summarise(result: PhaseResult) -> str:
    """One sentence: the pattern, then each phase's verdict and its reason."""
    return "; ".join([PATTERN_WORDS[result.pattern], *verdict_lines(result)])


def verdict_lines(result: PhaseResult) -> list[str]:
    """Each phase's verdict and its reason, one a line."""
    return [f"{v.phase} {v.status}: {v.reason}" for v in result.verdicts]


def phases_frame(results: list[PhaseResult]) -> pd.DataFrame:
    """The ``phases.csv`` table of several results."""
    return pd.DataFrame([row for result in results for row in result.rows()], columns=PHASE_COLUMNS)
