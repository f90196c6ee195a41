"""``analyze_run``: the one place the phase analysis of a run is computed and its outputs written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.analysis.comparisons import run_comparisons, score_intervals
from harness.analysis.data import RunData, brain_controls, model_groups, read_failures, read_left_out, read_run
from harness.analysis.findings import CurveAnalysis, all_transitions, analyze_frame
from harness.analysis.groups import with_groups
from harness.analysis.headline import headline_rows
from harness.analysis.outputs import write_outputs
from harness.analysis.phases import PhaseSettings, phases_frame
from harness.store.database import RunStore
from harness.store.tables import export_tables
from harness.views.datasets import dataset_info
from harness.views.figures import SavedFigure, draw_brain_maps, draw_figures, drop_stale
from harness.views.report import ReportInputs, write_report

FIGURES_DIR = "figures"


@dataclass
class AnalysisResult:
    """What ``analyze_run`` produced."""

    run_dir: Path
    report: Path
    transitions: pd.DataFrame
    phases: pd.DataFrame
    phases_table: Path
    headline: pd.DataFrame
    comparisons: pd.DataFrame
    figures: list[SavedFigure]
    analyses: list[CurveAnalysis]
    results: pd.DataFrame

    def summary_lines(self) -> list[str]:
        """Per model and brain target what the phase analysis found: the pattern, then each phase indented."""
        return [line for analysis in self.analyses for line in analysis.finding_lines()]


def _brain_subjects(data: RunData) -> dict[str, list[str]]:
    """Brain target -> the subjects it has per-voxel arrays for."""
    return {
        str(target): sorted(str(s) for s in group["subject"].unique())
        for target, group in data.arrays.groupby("target")
    }


def analyze_run(run_dir: Path, settings: PhaseSettings | None = None) -> AnalysisResult:
    """Analyse a run: write tables/<model>__<target>.csv|.parquet again from the store, tables/transitions.csv,
    phases.csv, headline.csv and comparisons.csv (stamped),
    figures/*.png|svg and report.html."""
    settings = settings or PhaseSettings()
    with RunStore(run_dir) as store:
        export_tables(store)  # the per-combination tables as the store now reads (an old store's, migrated)
    data = read_run(Path(run_dir))
    groups, controls = model_groups(data.run_dir), brain_controls(data.run_dir)
    analyses = analyze_frame(data.results, data.arrays, settings, groups)
    results = with_groups(data.results, groups)
    datasets = dataset_info(data.run_dir, _brain_subjects(data))
    for label, left_out in read_left_out(data.run_dir).items():
        if label in datasets:
            datasets[label].left_out = left_out
    figures = draw_figures(analyses, data.run_dir / FIGURES_DIR, results, controls)
    maps, map_notes = draw_brain_maps(analyses, data.run_dir / FIGURES_DIR, data.arrays, datasets)
    drop_stale(data.run_dir / FIGURES_DIR, figures + maps)  # RUN/figures holds this analysis's figures only
    transitions = all_transitions(analyses)
    phases = phases_frame([a.result for a in analyses if a.result is not None])
    single = list({a.curves.model: a.curves for a in analyses if not a.members}.values())
    comparisons = run_comparisons(data, single, controls, settings.n_boot, settings.seed)
    intervals = score_intervals(data, single, settings.n_boot, settings.seed)
    headline = headline_rows(data.run_dir.name, analyses, comparisons, intervals)
    inputs = ReportInputs(data.run_dir, results, analyses, transitions, phases, headline, figures + maps,
                          read_failures(data.run_dir), datasets, map_notes, settings, controls, comparisons)
    report = write_report(inputs)
    # stamped last
    phases_table = write_outputs(data.run_dir, data.digest, settings, transitions, phases, headline, comparisons)
    return AnalysisResult(
        data.run_dir,
        report,
        transitions,
        phases,
        phases_table,
        headline,
        comparisons,
        figures + maps,
        analyses,
        results,
    )
