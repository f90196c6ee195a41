"""The analysis of a run, computation only: curves over training tokens, transitions, verdicts, comparisons.

One way through the modules: data (read a run) -> curves -> bootstrap, signals -> changepoints ->
transitions -> phases (verdicts) -> findings (per model and target) -> comparisons, intervals ->
headline (per-run rows) -> outputs (tables on disk). Nothing here draws or renders; ``harness.views``
reads what these compute.
"""

from harness.analysis.findings import CurveAnalysis, analyze_frame
from harness.analysis.phases import PhaseResult, PhaseSettings, judge

__all__ = ["CurveAnalysis", "PhaseResult", "PhaseSettings", "analyze_frame", "judge"]
