"""Analysis of a run: curves over training tokens, phase transitions, figures, report, leaderboard.

One way through the modules: data (read a run) -> curves -> bootstrap, changepoints -> phases ->
findings (per model and target) -> headline (per-run rows) -> outputs (tables on disk) ->
views: render, figures, report -> run (``analyze_run``) -> leaderboard.
"""

from harness.analysis.findings import CurveAnalysis, analyze_frame
from harness.analysis.leaderboard import build_leaderboard, print_leaderboard, render_leaderboard
from harness.analysis.phases import PhaseResult, PhaseSettings, detect_phases
from harness.analysis.run import AnalysisResult, analyze_run

__all__ = [
    "AnalysisResult", "CurveAnalysis", "PhaseResult", "PhaseSettings", "analyze_frame", "analyze_run",
    "build_leaderboard", "detect_phases", "print_leaderboard", "render_leaderboard",
]
