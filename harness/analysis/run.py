"""``analyze_run``: the one place the phase analysis of a run is computed and its outputs written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.analysis.data import read_run
from harness.analysis.figures import SavedFigure, draw_figures
from harness.analysis.findings import CurveAnalysis, analyze_frame
from harness.analysis.headline import headline_rows
from harness.analysis.outputs import write_outputs
from harness.analysis.phases import PhaseSettings, phases_frame
from harness.analysis.report import write_report

FIGURES_DIR = "figures"


@dataclass
class AnalysisResult:
    """What ``analyze_run`` produced."""

    run_dir: Path
    report: Path
    phases: pd.DataFrame
    phases_table: Path
    headline: pd.DataFrame
    figures: list[SavedFigure]
    analyses: list[CurveAnalysis]
    results: pd.DataFrame

    def summary_lines(self) -> list[str]:
        """One line per model and brain target: what the phase analysis found."""
        return [analysis.summary_line() for analysis in self.analyses]


def analyze_run(run_dir: Path, settings: PhaseSettings | None = None) -> AnalysisResult:
    """Analyse a run: write tables/phases.csv and headline.csv (stamped), figures/*.png|svg and report.html."""
    settings = settings or PhaseSettings()
    data = read_run(Path(run_dir))
    analyses = analyze_frame(data.results, data.arrays, settings)
    figures = draw_figures(analyses, data.run_dir / FIGURES_DIR)
    phases = phases_frame([a.result for a in analyses if a.result is not None])
    headline = headline_rows(data.run_dir.name, analyses)
    report = write_report(data.run_dir, data.results, analyses, phases, headline, figures)
    phases_table = write_outputs(data.run_dir, data.digest, settings, phases, headline)  # stamped last: complete
    return AnalysisResult(data.run_dir, report, phases, phases_table, headline, figures, analyses, data.results)
