"""Analysis of a run: curves over training tokens, phase transitions, figures, report, leaderboard.

One way through the modules: data (read a run) -> curves -> bootstrap, signals -> changepoints ->
transitions -> phases (verdicts) ->
findings (per model and target) -> headline (per-run rows) -> outputs (tables on disk) ->
views: render, figures, report -> run (``analyze_run``) -> leaderboard.
"""

from harness.analysis.findings import CurveAnalysis, analyze_frame
from harness.analysis.leaderboard import build_leaderboard, print_leaderboard, render_leaderboard
from harness.analysis.phases import PhaseResult, PhaseSettings, judge
from harness.analysis.run import AnalysisResult, analyze_run

__all__ = [
    "AnalysisResult", "CurveAnalysis", "PhaseResult", "PhaseSettings", "analyze_frame", "analyze_run",
    "build_leaderboard", "judge", "print_leaderboard", "render_leaderboard",
]
