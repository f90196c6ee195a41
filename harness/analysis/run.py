"""``analyze_run``: curves, phases, figures and the report of one run directory."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.analysis.bootstrap import Replicates, brain_replicates
from harness.analysis.curves import ModelCurves, all_curves
from harness.analysis.data import PHASES_TABLE, load_results, voxel_array_index
from harness.analysis.phases import PhaseResult, PhaseSettings, detect_phases, phases_frame
from harness.files import file_stem

FIGURES_DIR = "figures"


@dataclass
class CurveAnalysis:
    """One model on one brain target (target None: a model without brain scores)."""

    curves: ModelCurves
    target: str | None
    result: PhaseResult | None
    replicates: Replicates | None
    figures: list[Path] = field(default_factory=list)


@dataclass
class AnalysisResult:
    """What ``analyze_run`` produced."""

    run_dir: Path
    report: Path
    phases: pd.DataFrame
    phases_table: Path
    figures: list[Path]
    analyses: list[CurveAnalysis]
    results: pd.DataFrame

    def summary_lines(self) -> list[str]:
        """One line per model and brain target: what the phase analysis found."""
        lines = []
        for analysis in self.analyses:
            who = f"{analysis.curves.model} ({analysis.curves.family})"
            if analysis.result is None:
                lines.append(f"{who}: no brain alignment measured, so no phase analysis")
            else:
                lines.append(f"{who} on {analysis.target}: {analysis.result.summary}")
        return lines


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


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    from harness.files import atomic_write_text

    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    atomic_write_text(path, buffer.getvalue())


def analyze_run(run_dir: Path, settings: PhaseSettings | None = None) -> AnalysisResult:
    """Analyse a run: write tables/phases.csv, figures/*.png|svg and report.html."""
    from harness.analysis.figures import layer_map_figure, overview_figure, save, triple_phase_figure
    from harness.analysis.report import write_report

    run_dir = Path(run_dir)
    results = load_results(run_dir)
    analyses = analyze_frame(results, voxel_array_index(run_dir), settings)
    figures_dir = run_dir / FIGURES_DIR
    figures: list[Path] = []
    models = {id(a.curves): a.curves for a in analyses}.values()
    targets = sorted({a.target for a in analyses if a.target})
    overviews: list[Path] = []
    for target in targets if len(models) > 1 else []:
        overviews += save(overview_figure([m for m in models if target in m.brain], target), figures_dir, file_stem("overview", target))
    figures += overviews
    for analysis in analyses:
        labels = (analysis.curves.model, analysis.target) if analysis.target else (analysis.curves.model,)
        figure = triple_phase_figure(analysis.curves, analysis.target, analysis.result, analysis.replicates)
        analysis.figures += save(figure, figures_dir, file_stem("phases", *labels))
        if analysis.target:
            curve = analysis.curves.brain[analysis.target]
            analysis.figures += save(layer_map_figure(curve, analysis.result), figures_dir, file_stem("layers", *labels))
        figures += analysis.figures
    phases = phases_frame([a.result for a in analyses if a.result is not None])
    phases_table = run_dir / "tables" / PHASES_TABLE
    _write_csv(phases, phases_table)
    report = write_report(run_dir, results, analyses, phases, overviews)
    return AnalysisResult(run_dir, report, phases, phases_table, figures, analyses, results)
