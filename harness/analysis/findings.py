"""The analysis of a results frame: every signal's transitions and, per model and brain target, the verdicts."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from harness.analysis.bootstrap import Replicates, brain_replicates
from harness.analysis.curves import ModelCurves, all_curves, model_curves
from harness.analysis.groups import group_curves, group_members, group_signals
from harness.analysis.phases import PATTERN_WORDS, PhaseResult, PhaseSettings, judge, verdict_lines
from harness.analysis.signals import ACCURACY, BRAIN_BEST, INSTRUCTION, Signal, brain_signals, model_signals
from harness.analysis.transitions import SignalTransitions, analyse_signal, interval_pairs, transitions_frame

NO_BRAIN = "no brain alignment measured, so no phase verdicts"


@dataclass
class CurveAnalysis:
    """One model on one brain target (target None: a model without brain scores)."""

    curves: ModelCurves
    target: str | None
    result: PhaseResult | None
    replicates: Replicates | None
    # every signal's transitions (this target's brain ones)
    found: list[SignalTransitions] = field(default_factory=list)
    members: tuple[str, ...] = ()  # a group's models (empty for a single model)

    @property
    def subject(self) -> str:
        """Who the finding is about: 'model (family)', with ' on target' where there is one."""
        who = self.curves.title
        if self.members:
            who = f"{self.curves.model} (group of {len(self.members)}: {', '.join(self.members)})"
        return f"{who} on {self.target}" if self.target else who

    @property
    def finding(self) -> str:
        """What the phase analysis found, in one sentence."""
        return self.result.summary if self.result is not None else NO_BRAIN

    def summary_line(self) -> str:
        """'subject: finding' in one sentence (the report's list of findings)."""
        return f"{self.subject}: {self.finding}"

    def finding_lines(self) -> list[str]:
        """'subject: pattern', then each phase's verdict indented, one a line (``harness analyze``, a sweep's end)."""
        if self.result is None:
            return [self.summary_line()]
        head = f"{self.subject}: {PATTERN_WORDS[self.result.pattern]}"
        return [head, *(f"  {line}" for line in verdict_lines(self.result))]


def _analyse(curves: ModelCurves, signals: list[Signal], settings: PhaseSettings) -> list[SignalTransitions]:
    return [analyse_signal(curves.model, curves.family, signal, max_changes=settings.max_changes, ci=settings.ci,
                           n_boot=settings.n_boot, seed=settings.seed)
            for signal in signals]


def _analyse_groups(
    results: pd.DataFrame, groups: dict[str, list[str]], settings: PhaseSettings
) -> list[CurveAnalysis]:
    """Each group of two or more measured models, judged on its mean curves with intervals across members."""
    analyses = []
    for name, members in group_members(results, groups).items():
        curves, member_curves = group_curves(results, name, members)
        shared = _analyse(curves, group_signals(curves, member_curves, None, settings.n_boot, settings.seed), settings)
        if not curves.brain:
            analyses.append(CurveAnalysis(curves, None, None, None, shared, tuple(members)))
        for target, curve in curves.brain.items():
            signals = group_signals(curves, member_curves, target, settings.n_boot, settings.seed)
            best = next(s for s in signals if s.name == BRAIN_BEST)
            replicates = Replicates(best.replicates, best.method) if best.replicates is not None else None
            found = _analyse(curves, signals, settings) + shared
            result = judge(name, curves.family, target, found, settings) if len(curve.steps) else None
            analyses.append(CurveAnalysis(curves, target, result, replicates, found, tuple(members)))
    return analyses


def analyze_frame(
    results: pd.DataFrame,
    arrays: pd.DataFrame | None = None,
    settings: PhaseSettings | None = None,
    groups: dict[str, list[str]] | None = None,
) -> list[CurveAnalysis]:
    """Transitions and verdicts of every model (and brain target) in a results frame, then of each
    group of models (``groups``: name -> member models); no files written."""
    settings = settings or PhaseSettings()
    analyses = []
    for curves in all_curves(results):
        shared = _analyse(curves, model_signals(curves, settings.n_boot, settings.seed), settings)
        if not curves.brain:
            analyses.append(CurveAnalysis(curves, None, None, None, shared))
            continue
        for target, curve in curves.brain.items():
            cell_arrays = None
            if arrays is not None and not arrays.empty:
                cell_arrays = arrays[(arrays["model"] == curves.model) & (arrays["target"] == target)]
            replicates = brain_replicates(curve, cell_arrays, settings.n_boot, settings.seed)
            found = _analyse(curves, brain_signals(curve, replicates, replicates.of_layer_mean()), settings) + shared
            result = judge(curves.model, curves.family, target, found, settings) if len(curve.steps) else None
            analyses.append(CurveAnalysis(curves, target, result, replicates, found))
    return analyses + _analyse_groups(results, groups or {}, settings)


def all_transitions(analyses: list[CurveAnalysis]) -> pd.DataFrame:
    """The ``transitions.csv`` table: each signal once (a model's behaviour signals are shared by its targets)."""
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for analysis in analyses:
        for item in analysis.found:
            key = (item.model, item.signal.target, item.signal.name)
            if key not in seen:
                seen.add(key)
                unique.append(item)
    return transitions_frame(unique)


def transition_intervals(
    results: pd.DataFrame, model: str, settings: PhaseSettings | None = None
) -> list[tuple[float, float]]:
    """(lo, hi) token intervals of the transitions of ``model``'s brain, instruction and accuracy signals,
    widest first: where more checkpoints would resolve them best (adaptive sweeps)."""
    settings = settings or PhaseSettings(n_boot=100)
    curves = model_curves(results, model)
    signals = [s for s in model_signals(curves, settings.n_boot, settings.seed) if s.name in (INSTRUCTION, ACCURACY)]
    for curve in curves.brain.values():
        replicates = brain_replicates(curve, None, settings.n_boot, settings.seed)
        signals += [s for s in brain_signals(curve, replicates, replicates.of_layer_mean()) if s.name == BRAIN_BEST]
    return interval_pairs(transitions_frame(_analyse(curves, signals, settings)))
