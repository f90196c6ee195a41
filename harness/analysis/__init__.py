"""Analysis of a run: curves over training tokens, phase transitions, figures, report, leaderboard."""

from harness.analysis.leaderboard import build_leaderboard, print_leaderboard, render_leaderboard
from harness.analysis.phases import PhaseResult, PhaseSettings, detect_phases
from harness.analysis.run import AnalysisResult, analyze_frame, analyze_run

__all__ = [
    "AnalysisResult", "PhaseResult", "PhaseSettings", "analyze_frame", "analyze_run", "build_leaderboard",
    "detect_phases", "print_leaderboard", "render_leaderboard",
]
