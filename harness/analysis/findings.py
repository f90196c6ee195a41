"""The phase analysis of a results frame, per model and brain target, and its one-line finding."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from harness.analysis.bootstrap import Replicates, brain_replicates
from harness.analysis.curves import ModelCurves, all_curves
from harness.analysis.phases import PhaseResult, PhaseSettings, detect_phases

NO_BRAIN = "no brain alignment measured, so no phase analysis"


@dataclass
class CurveAnalysis:
    """One model on one brain target (target None: a model without brain scores)."""

    curves: ModelCurves
    target: str | None
    result: PhaseResult | None
    replicates: Replicates | None

    @property
    def subject(self) -> str:
        """Who the finding is about: 'model (family)', with ' on target' where there is one."""
        who = f"{self.curves.model} ({self.curves.family})"
        return f"{who} on {self.target}" if self.target else who

    @property
    def finding(self) -> str:
        """What the phase analysis found, in one sentence."""
        return self.result.summary if self.result is not None else NO_BRAIN

    def summary_line(self) -> str:
        """'subject: finding', the line printed after a sweep and by ``harness analyze``."""
        return f"{self.subject}: {self.finding}"


def analyze_frame(results: pd.DataFrame, arrays: pd.DataFrame | None = None,
                  settings: PhaseSettings | None = None) -> list[CurveAnalysis]:
    """Curves and phases of every model (and brain target) in a results frame; no files written."""
    settings = settings or PhaseSettings()
    analyses = []
    for curves in all_curves(results):
        if not curves.brain:
            analyses.append(CurveAnalysis(curves, None, None, None))
            continue
        for target, curve in curves.brain.items():
            cell_arrays = None
            if arrays is not None and not arrays.empty:
                cell_arrays = arrays[(arrays["model"] == curves.model) & (arrays["target"] == target)]
            replicates = brain_replicates(curve, cell_arrays, settings.n_boot, settings.seed)
            result = detect_phases(curves, curve, replicates, settings) if len(curve.steps) else None
            analyses.append(CurveAnalysis(curves, target, result, replicates))
    return analyses
