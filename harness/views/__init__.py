"""Views of runs: they only read what the sweep and the analysis left, and draw, render or tabulate it.

``publish`` (``analyze_run``: the analysis computed, then its tables, figures and report written),
``figures`` and ``brainmap`` (PNG + SVG), ``report`` (``RUN/report.html``), ``render`` (the page style and
tables shared by the HTML views), ``leaderboard`` and ``compare`` (across runs), ``frames``
(``load_run``: a run as pandas frames), ``datasets`` (what a run's brain datasets say about themselves).
"""

from harness.views.leaderboard import build_leaderboard, print_leaderboard, render_leaderboard
from harness.views.publish import AnalysisResult, analyze_run

__all__ = ["AnalysisResult", "analyze_run", "build_leaderboard", "print_leaderboard", "render_leaderboard"]
