"""``harness compare``: several runs' brain-alignment and behaviour curves overlaid on one token axis.

A view: it reads each run's results (through ``data.read_run``) and draws their curves
(``curves.model_curves``), writing ``comparison.png``, ``comparison.svg`` and a self-contained
``comparison.html`` into the output folder, with ``differences.csv``: the paired differences of every
two models on a shared brain target (``pairwise``); the runs themselves are not touched.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator

from harness.analysis.bootstrap import brain_replicates
from harness.analysis.channels import resampled, target_channels
from harness.analysis.comparisons import Scored
from harness.analysis.curves import BrainCurve, ModelCurves, Series, all_curves
from harness.analysis.data import RunData, read_run
from harness.analysis.pairwise import Entry, pairwise_table, table_lines
from harness.analysis.tokens import format_tokens
from harness.store.database import check_run_directory
from harness.util.digest import settings_digest
from harness.util.errors import DataError
from harness.util.files import atomic_write_bytes, atomic_write_text, file_stem
from harness.views.render import html_page, table_html

STEM = "comparison"
COMPARISONS_DIR = "comparisons"  # under the first run, when --output is not given
DIFFERENCES = "differences.csv"
SUMMARY_COLUMNS = [
    "run", "model", "family", "target", "checkpoints", "peak_r", "peak_tokens", "final_r", "final_tokens",
    "final_instruction_following", "final_task_accuracy", "path",
]
TOKEN_COLUMNS = ("peak_tokens", "final_tokens")
BEHAVIOUR = (  # (attribute of ModelCurves, legend text, line style)
    ("instruction", "instruction following", "-"),
    ("accuracy", "task accuracy (mean)", "--"),
    ("correctness", "correctness (instruction)", ":"),
)


@dataclass(frozen=True)
class RunCurves:
    """The curves of one run, under the label the comparison shows for it."""

    label: str
    path: Path
    models: list[ModelCurves]
    data: RunData


@dataclass(frozen=True)
class Comparison:
    """What ``compare_runs`` wrote, and the per-run summary rows it shows."""

    png: Path
    svg: Path
    page: Path
    summary: pd.DataFrame
    empty_runs: list[str]  # labels of runs without any finished cell
    differences: pd.DataFrame  # pairwise.COLUMNS: model vs model on each shared brain target
    replaced: bool = False  # the output folder held a comparison, now replaced (--force)


def run_labels(run_dirs: list[Path]) -> list[str]:
    """A short label per run: its folder name, with parent folders added until the labels differ."""
    paths = [Path(p).resolve() for p in run_dirs]
    depth = 1
    while True:
        labels = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(labels)) == len(labels) or depth >= max(len(p.parts) for p in paths):
            return labels
        depth += 1


def load_curves(run_dirs: list[Path]) -> list[RunCurves]:
    """Every run's curves (a run that is not a run directory is a ``DataError``)."""
    for run_dir in run_dirs:
        check_run_directory(Path(run_dir), existing=True)
    runs = []
    for label, run_dir in zip(run_labels(run_dirs), run_dirs):
        data = read_run(Path(run_dir))
        runs.append(RunCurves(label, Path(run_dir), all_curves(data.results), data))
    return runs


def entries(runs: list[RunCurves]) -> list[Entry]:
    """Every run's models on every brain target, labelled 'run: model' (the run alone for a single model)."""
    out = []
    for run in runs:
        scored = Scored(run.data)
        for curves in run.models:
            label = run.label if len(run.models) == 1 else f"{run.label}: {curves.model}"
            out += [Entry(label, curve, scored) for curve in curves.brain.values()]
    return out


def _last(series: Series | None) -> float:
    return float(series.values[-1]) if series is not None and len(series) else float("nan")


def summary_rows(runs: list[RunCurves]) -> pd.DataFrame:
    """One row per run, model and brain target (a model without brain scores gets one row)."""
    rows = []
    for run in runs:
        for curves in run.models:
            common = {"run": run.label, "model": curves.model, "family": curves.family, "path": str(run.path),
                      "final_instruction_following": _last(curves.instruction),
                      "final_task_accuracy": _last(curves.accuracy)}
            if not curves.brain:
                rows.append({**common, "target": ""})
            for target, curve in curves.brain.items():
                finite = np.isfinite(curve.values)
                peak = int(np.argmax(np.where(finite, curve.values, -np.inf))) if finite.any() else None
                rows.append({
                    **common, "target": target, "checkpoints": int(finite.sum()),
                    "peak_r": float(curve.values[peak]) if peak is not None else np.nan,
                    "peak_tokens": float(curve.tokens[peak]) if peak is not None else np.nan,
                    "final_r": float(curve.values[finite][-1]) if finite.any() else np.nan,
                    "final_tokens": float(curve.tokens[finite][-1]) if finite.any() else np.nan,
                })
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _token_axis(runs: list[RunCurves]) -> float:
    """Where checkpoint 0 is drawn on the shared log axis: half the smallest nonzero token count."""
    tokens = [np.asarray(s.tokens, float) for run in runs for m in run.models for s in _all_series(m)]
    every = np.concatenate(tokens) if tokens else np.array([])
    positive = every[every > 0]
    return float(positive.min() / 2) if positive.size else 1.0


def _all_series(curves: ModelCurves) -> list[Series]:
    brain = [c.series() for c in curves.brain.values()]
    behaviour = [getattr(curves, attribute) for attribute, _, _ in BEHAVIOUR]
    return brain + [s for s in behaviour if s is not None]


def _x(tokens: np.ndarray, zero_at: float) -> np.ndarray:
    tokens = np.asarray(tokens, float)
    return np.where(tokens > 0, tokens, zero_at)


def brain_band(run: RunCurves, curve: BrainCurve, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The 95 % band of a best-layer brain curve: the run's bootstrap over subjects and voxel (sensor) groups (over
    subjects where it kept no arrays), as its report draws it; None where it has none."""
    arrays = run.data.arrays
    cell_arrays = arrays[(arrays["model"] == curve.model) & (arrays["target"] == curve.target)]
    return brain_replicates(curve, cell_arrays, n_boot, seed).band()


def comparison_figure(runs: list[RunCurves], n_boot: int = 1000, seed: int = 0) -> Figure:
    """Top: best-layer brain alignment of every run, model and brain target; bottom: their behaviour
    (instruction following, task accuracy, correctness); one colour per run and model, each curve
    with its 95 % band (brain: subjects and voxel (sensor) groups, ``brain_band``; behaviour: items)."""
    figure = Figure(figsize=(10, 7.5), layout="constrained")
    brain_ax, task_ax = figure.subplots(2, 1, sharex=True, height_ratios=[1.2, 1])
    zero_at = _token_axis(runs)
    pairs = [(run, curves) for run in runs for curves in run.models]
    colour_handles = []
    for index, (run, curves) in enumerate(pairs):
        colour = f"C{index % 10}"
        name = run.label if curves.model == run.label else f"{run.label}: {curves.model}"
        colour_handles.append(Line2D([], [], color=colour, lw=2, label=name))
        for target_index, (target, curve) in enumerate(curves.brain.items()):
            x = _x(curve.tokens, zero_at)
            band = brain_band(run, curve, n_boot, seed)
            if band is not None:
                brain_ax.fill_between(x, *band, color=colour, alpha=0.18, lw=0, gid=f"band: {name} on {target}")
            brain_ax.plot(x, curve.values, color=colour, marker="os^Dv"[target_index % 5],
                          ms=3.5, lw=1.6, label=f"{name} on {target}")
        for attribute, _, style in BEHAVIOUR:
            series = getattr(curves, attribute)
            if series is not None and len(series):
                x = _x(series.tokens, zero_at)
                if series.lo is not None and series.hi is not None:
                    task_ax.fill_between(x, series.lo, series.hi, color=colour, alpha=0.12, lw=0,
                                         gid=f"band: {name} {attribute}")
                task_ax.plot(x, series.values, color=colour, ls=style, lw=1.6)
    _finish(brain_ax, "brain alignment\n(r_mean, best layer; 95 % band)", "no brain alignment in these runs")
    if brain_ax.lines:
        brain_ax.legend(loc="best", fontsize=8, frameon=False)
    _finish(task_ax, "behaviour (0-1; 95 % band\nover items)", "no task scores in these runs")
    if task_ax.lines:
        styles = [Line2D([], [], color="#444444", ls=style, lw=1.6, label=text) for attribute, text, style in BEHAVIOUR
                  if any(getattr(c, attribute) is not None for _, c in pairs)]
        task_ax.legend(handles=styles + colour_handles, loc="best", fontsize=8, frameon=False)
    task_ax.set_xscale("log")
    task_ax.xaxis.set_major_locator(LogLocator(base=10))
    task_ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: format_tokens(value)))
    zero = any((np.asarray(s.tokens) == 0).any() for _, c in pairs for s in _all_series(c))
    note = f"; 0 tokens drawn at {format_tokens(zero_at)}" if zero else ""
    task_ax.set_xlabel(f"training tokens (log scale{note})")
    figure.suptitle("run comparison: " + ", ".join(run.label for run in runs), fontsize=12)
    return figure


def _finish(ax: Axes, label: str, empty: str) -> None:
    if not ax.lines:
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel(label)
    ax.grid(True, which="major", alpha=0.3)


def _encoded(figure: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=120 if fmt == "png" else "figure")
    return buffer.getvalue()


def default_output(run_dirs: list[Path]) -> Path:
    """Where a comparison goes when not told: ``FIRST_RUN/comparisons/<the runs' folder names, joined by -vs->``
    (a long list named by its first run, its count and a digest of the names)."""
    names = [Path(p).resolve().name for p in run_dirs]
    name = "-vs-".join(names)
    if len(name) > 80:
        name = f"{names[0]}-vs-{len(names) - 1}-runs-{settings_digest(names)[:8]}"
    return Path(run_dirs[0]) / COMPARISONS_DIR / file_stem(name)


def compare_runs(run_dirs: list[Path], output_dir: Path, *, n_boot: int = 1000, seed: int = 0,
                 replace: bool = False) -> Comparison:
    """Draw the comparison of ``run_dirs`` into ``output_dir`` (created): comparison.png, .svg, .html,
    and the paired differences of every two models on a shared brain target (differences.csv).

    A ``DataError`` when a path is not a run directory, ``output_dir`` is a file or (unless ``replace``)
    already holds a comparison, or no run has any finished cell; nothing is written then.
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise DataError(f"--output {output_dir}: is a file, not a folder")
    replaced = (output_dir / f"{STEM}.html").exists()
    if replaced and not replace:
        raise DataError(f"--output {output_dir}: already holds a comparison; pass --force to replace it, "
                        "or name another folder with --output")
    runs = load_curves([Path(r) for r in run_dirs])
    empty = [run.label for run in runs if not run.models]
    if len(empty) == len(runs):
        raise DataError(f"nothing to compare: no finished cells in {', '.join(str(r.path) for r in runs)}")
    figure = comparison_figure(runs, n_boot, seed)
    png = _encoded(figure, "png")
    figure.set_layout_engine("none")  # the SVG keeps the PNG's layout
    svg = _encoded(figure, "svg")
    paths = [output_dir / f"{STEM}.{suffix}" for suffix in ("png", "svg", "html")]
    atomic_write_bytes(paths[0], png)
    atomic_write_bytes(paths[1], svg)
    summary = summary_rows(runs)
    differences = pairwise_table(entries(runs), n_boot=n_boot, seed=seed)
    atomic_write_text(output_dir / DIFFERENCES, differences.to_csv(index=False))
    atomic_write_text(paths[2], comparison_page(runs, summary, png, empty, differences))
    return Comparison(paths[0], paths[1], paths[2], summary, empty, differences, replaced)


def comparison_page(runs: list[RunCurves], summary: pd.DataFrame, png: bytes, empty: list[str],
                    differences: pd.DataFrame) -> str:
    """The self-contained HTML page: the figure (inlined), the summary table, the runs' paths."""
    data = base64.b64encode(png).decode("ascii")
    channels = [c for run in runs for c in target_channels(run.data.results).values()]
    caption = ("Top: brain alignment (r_mean at the best layer of each checkpoint) of every run, model and brain "
               f"target, each with its 95 % band (bootstrap over {resampled(*channels)}, as in each run's report). "
               "Bottom: instruction following (solid), mean task accuracy (dashed) and correctness (dotted), each "
               "with its 95 % band over items. One colour per run and model; the token axis is shared and logarithmic.")
    body = [
        f'<figure><img alt="run comparison" src="data:image/png;base64,{data}">'
        f'<figcaption>{html.escape(caption)} The same figure as SVG: <a '
        f'href="{STEM}.svg">{STEM}.svg</a>.</figcaption></figure>',
        "<h2>Runs at a glance</h2>",
        table_html(summary, max_rows=None, token_columns=TOKEN_COLUMNS),
        "<h2>Paired differences</h2>",
        f"<pre>{html.escape(chr(10).join(table_lines(differences)))}</pre>",
    ]
    if empty:
        body.append(f'<p class="muted">No finished cells (nothing drawn): {html.escape(", ".join(empty))}</p>')
    return html_page("harness comparison: " + ", ".join(run.label for run in runs), body)
