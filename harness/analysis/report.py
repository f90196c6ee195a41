"""``RUN/report.html``: one self-contained page (figures inlined as base64, no external links)."""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from harness import __version__
from harness.analysis.curves import ModelCurves
from harness.analysis.data import load_config_text
from harness.analysis.figures import SavedFigure
from harness.analysis.findings import CurveAnalysis
from harness.analysis.headline import TOKEN_COLUMNS
from harness.analysis.render import html_page, table_html
from harness.analysis.tokens import format_tokens
from harness.files import atomic_write_text

REPORT_NAME = "report.html"


def _image(figure: SavedFigure) -> str:
    data = base64.b64encode(figure.png.read_bytes()).decode("ascii")
    caption = html.escape(figure.caption)
    return f'<figure><img alt="{caption}" src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption></figure>'


def _phase_display(phases: pd.DataFrame) -> pd.DataFrame:
    if phases.empty:
        return phases
    out = phases[["model", "target", "phase_index", "phase", "brain_trend"]].copy()
    phases = phases.assign(_last=phases["phase_index"] == phases.groupby(["model", "target"])["phase_index"].transform("max"))

    def span(row: pd.Series, which: str) -> str:
        value, lo, hi = row[f"{which}_tokens"], row[f"{which}_lo"], row[f"{which}_hi"]
        text = format_tokens(value)
        if np.isfinite(lo) and np.isfinite(hi) and which_has_ci(row, which):
            text += f" [{format_tokens(lo)}, {format_tokens(hi)}]"
        return text

    out["start (95% CI)"] = [span(r, "start") for _, r in phases.iterrows()]
    out["end (95% CI)"] = [span(r, "end") for _, r in phases.iterrows()]
    out["confirmed"] = phases["confirmed"]
    out["evidence"] = phases["evidence"]
    out["support"] = phases["support"]
    out["CI from"] = phases["ci_method"] + " x" + phases["n_boot"].astype(str)
    return out


def which_has_ci(row: pd.Series, which: str) -> bool:
    """A run's first start and last end are the curve's ends, not estimated boundaries."""
    first = row["phase_index"] == 1
    return not (which == "start" and first) and not (which == "end" and row["_last"])


def _curve_table(curves: ModelCurves, target: str) -> pd.DataFrame:
    curve = curves.brain[target]
    frame = pd.DataFrame({"step": curve.steps, "tokens": curve.tokens, "best layer": curve.best_layer,
                          "r_mean (best layer)": curve.values})
    for name, series in (("instruction following", curves.instruction), ("correctness", curves.correctness),
                         ("task accuracy", curves.accuracy)):
        if series is not None:
            frame = frame.merge(pd.DataFrame({"step": series.steps, name: series.values}), on="step", how="left")
    return frame


def _final_scores(results: pd.DataFrame) -> pd.DataFrame:
    tasks = results[results["kind"] == "task"]
    if tasks.empty:
        return tasks
    last = tasks[tasks["step"] == tasks.groupby("model")["step"].transform("max")]
    return last[["model", "step", "tokens", "target", "scope", "metric", "value", "stderr"]].reset_index(drop=True)


def _provenance(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    plugins = results[["model", "family", "kind", "target", "plugin", "plugin_version", "config_hash", "data_hash", "seed"]]
    checkpoints = results[["model", "step", "tokens", "revision", "commit"]]
    return plugins.drop_duplicates().reset_index(drop=True), checkpoints.drop_duplicates().reset_index(drop=True)


def _finding(analysis: CurveAnalysis) -> str:
    """The analysis's summary line as an HTML list item, the pattern in bold."""
    pattern = ""
    if analysis.result is not None:
        pattern = f'<span class="pattern">{html.escape(analysis.result.pattern)}</span> &mdash; '
    return f"<li>{html.escape(analysis.subject)}: {pattern}{html.escape(analysis.finding)}</li>"


PHASES_NOTE = (
    '<p class="muted">Change points on the best-layer brain-alignment curve (piecewise-linear in log tokens, '
    "ruptures; the number of change points is tested against straight noisy lines, the noise taken from the "
    "bootstrap where it explains the scatter); a significant step between segments is a phase of its own; "
    "adjacent stretches with the same trend merged; labels only where the behaviour fits the "
    "signature: surge = brain rising while instruction following rises (a brain rise without it is reported as "
    "'surge (brain only)', unconfirmed); detachment = brain falling while task "
    "accuracy stagnates; realignment = brain and task accuracy rising. Boundaries: first checkpoint of the new "
    "phase, 95% bootstrap interval in brackets; support = share of bootstrap replicates choosing the same number "
    "of change points.</p>"
)


def render_report(run_dir: Path, results: pd.DataFrame, analyses: list[CurveAnalysis], phases: pd.DataFrame,
                  headline: pd.DataFrame, figures: list[SavedFigure]) -> str:
    """The report page as a string."""
    run_dir = Path(run_dir)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f'<p class="muted">generated {now} by harness {html.escape(__version__)} from {html.escape(str(run_dir.resolve()))}</p>',
        "<h2>Summary</h2><ul>", *[_finding(analysis) for analysis in analyses], "</ul>",
    ]
    if not headline.empty:
        parts += ["<h2>Scores at a glance</h2>", table_html(headline, token_columns=TOKEN_COLUMNS)]
    parts += ["<h2>Phases</h2>", PHASES_NOTE, table_html(_phase_display(phases)), "<h2>Figures</h2>"]
    parts += [_image(figure) for figure in figures]
    parts.append("<h2>Curves</h2>")
    for analysis in analyses:
        if analysis.target:
            heading = f"{analysis.curves.model} on {analysis.target}"
            parts += [f"<h3>{html.escape(heading)}</h3>", table_html(_curve_table(analysis.curves, analysis.target))]
    parts += ["<h2>Final task scores</h2>", table_html(_final_scores(results))]
    plugins, checkpoints = _provenance(results)
    parts += ["<h2>Provenance</h2>", table_html(plugins), table_html(checkpoints)]
    config = load_config_text(run_dir)
    parts += ["<h2>Config</h2>", f"<pre>{html.escape(config) if config else '(no config.yaml in the run)'}</pre>"]
    return html_page(f"harness report: {run_dir.name}", parts)


def write_report(run_dir: Path, results: pd.DataFrame, analyses: list[CurveAnalysis], phases: pd.DataFrame,
                 headline: pd.DataFrame, figures: list[SavedFigure]) -> Path:
    """Write ``RUN/report.html`` and return its path."""
    path = Path(run_dir) / REPORT_NAME
    atomic_write_text(path, render_report(run_dir, results, analyses, phases, headline, figures))
    return path
