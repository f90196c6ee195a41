"""Figures: the triple-phase figure and the layer x checkpoint map of brain alignment (PNG + SVG).

Drawn on matplotlib ``Figure`` objects with the Agg canvas, so no display and no pyplot state.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, MaxNLocator
from numpy.typing import ArrayLike

from harness.analysis.bootstrap import Replicates
from harness.analysis.curves import BrainCurve, ModelCurves, Series
from harness.analysis.findings import CurveAnalysis
from harness.analysis.phases import PhaseResult
from harness.analysis.tokens import format_tokens, token_positions
from harness.files import atomic_write_bytes, file_stem

PHASE_COLOURS = {"surge": "#2ca02c", "surge (brain only)": "#98df8a", "detachment": "#d62728", "realignment": "#1f77b4", "none": "#bbbbbb"}
SCORE_METRICS = ("acc", "correct", "follows_format")


def _positions(curve_tokens: ArrayLike, tokens: ArrayLike) -> np.ndarray:
    """Log-axis positions of ``tokens`` on the axis built from ``curve_tokens``."""
    curve_tokens = np.asarray(curve_tokens, float)
    all_tokens = np.concatenate([curve_tokens, np.asarray(tokens, float)])
    return token_positions(all_tokens)[len(curve_tokens):]


def _shade(ax: Axes, result: PhaseResult | None, axis_tokens: np.ndarray, label: bool) -> None:
    if result is None or len(result.phases) < 2:
        return
    tokens = result.tokens
    for phase in result.phases:
        left = _positions(axis_tokens, [tokens[phase.start]])[0]
        right = _positions(axis_tokens, [tokens[min(phase.end, len(tokens) - 1)]])[0]
        colour = PHASE_COLOURS.get(phase.label, PHASE_COLOURS["none"])
        alpha = 0.16 if phase.label != "none" else 0.08
        ax.axvspan(left, right, color=colour, alpha=alpha, lw=0)
        if label and phase.label != "none":
            ax.text(np.sqrt(left * right), 1.01, phase.label, transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=9, color=colour, fontweight="bold")
    for boundary in result.boundaries:
        where = _positions(axis_tokens, [boundary.tokens])[0]
        ax.axvline(where, color="#444444", ls="--", lw=0.9)
        if np.isfinite(boundary.lo) and np.isfinite(boundary.hi):
            lo, hi = _positions(axis_tokens, [boundary.lo, boundary.hi])
            ax.axvspan(lo, hi, facecolor="none", edgecolor="#666666", hatch="///", lw=0, alpha=0.5)


def _plot(ax: Axes, series: Series | None, axis_tokens: np.ndarray, **style: Any) -> None:
    """Draw ``series`` on ``ax`` (nothing when absent); ``style``: Line2D properties (Any in matplotlib)."""
    if series is not None and len(series):
        ax.plot(_positions(axis_tokens, series.tokens), series.values, **style)


def _all_tokens(curves: ModelCurves) -> np.ndarray:
    parts = [c.tokens for c in curves.brain.values()]
    parts += [s.tokens for s in (curves.instruction, curves.correctness, curves.accuracy) if s is not None]
    parts += [s.tokens for s in curves.tasks.values()] + [s.tokens for s in curves.metrics.values()]
    return np.unique(np.concatenate(parts)) if parts else np.array([1])


def triple_phase_figure(curves: ModelCurves, target: str | None, result: PhaseResult | None,
                        replicates: Replicates | None = None) -> Figure:
    """Brain alignment, internal metrics and tasks over training tokens, phases shaded."""
    axis_tokens = _all_tokens(curves)
    figure = Figure(figsize=(9, 9), layout="constrained")
    axes = figure.subplots(3, 1, sharex=True, height_ratios=[1.3, 1, 1])
    brain_ax, metric_ax, task_ax = axes
    curve = curves.brain.get(target) if target else None
    if curve is not None:
        x = _positions(axis_tokens, curve.tokens)
        if replicates is not None and len(replicates.curves):
            with np.errstate(invalid="ignore"):
                lo, hi = np.nanpercentile(replicates.curves, [2.5, 97.5], axis=0)
            brain_ax.fill_between(x, lo, hi, color="#7f7f7f", alpha=0.25, lw=0, label=f"95% bootstrap ({replicates.method})")
        mean_over_layers = curve.layer_map.mean(axis=0).to_numpy(float)
        brain_ax.plot(x, mean_over_layers, color="#8c564b", ls=":", lw=1.2, label="mean over layers")
        brain_ax.plot(x, curve.values, color="black", marker="o", ms=3.5, lw=1.8, label="best layer")
        brain_ax.legend(loc="best", fontsize=8, frameon=False)
        brain_ax.set_ylabel(f"brain alignment\n(r_mean, {target})")
    else:
        brain_ax.text(0.5, 0.5, "no brain alignment in this run", ha="center", va="center", transform=brain_ax.transAxes)
        brain_ax.set_ylabel("brain alignment")
    for name, series in curves.metrics.items():
        values = series.values
        span = np.ptp(values) if np.isfinite(values).all() else np.nan
        scaled = (values - np.nanmin(values)) / span if span and np.isfinite(span) else np.zeros_like(values)
        _plot(metric_ax, Series(name, series.steps, series.tokens, scaled), axis_tokens, lw=1.4, marker=".",
              label=f"{name} [{np.nanmin(values):.3g}, {np.nanmax(values):.3g}]")
    if curves.metrics:
        metric_ax.legend(loc="best", fontsize=7, frameon=False, ncol=2)
    else:
        metric_ax.text(0.5, 0.5, "no internal metrics in this run", ha="center", va="center", transform=metric_ax.transAxes)
    metric_ax.set_ylabel("internal metrics\n(min-max scaled, mean over layers)")
    for name, series in curves.tasks.items():
        if name.rsplit(":", 1)[-1] in SCORE_METRICS and ":instruction:" not in name:
            _plot(task_ax, series, axis_tokens, color="#c7c7c7", lw=0.9)
    _plot(task_ax, curves.instruction, axis_tokens, color="#9467bd", lw=2, marker="s", ms=3.5, label="instruction following")
    _plot(task_ax, curves.correctness, axis_tokens, color="#ff7f0e", lw=2, marker="^", ms=3.5, label="correctness (instruction)")
    _plot(task_ax, curves.accuracy, axis_tokens, color="#17becf", lw=2, ls="--", label="task accuracy (mean)")
    if task_ax.lines:
        task_ax.plot([], [], color="#c7c7c7", lw=0.9, label="single task scores")
        task_ax.legend(loc="best", fontsize=8, frameon=False)
    else:
        task_ax.text(0.5, 0.5, "no task scores in this run", ha="center", va="center", transform=task_ax.transAxes)
    task_ax.set_ylabel("tasks (0-1)")
    for i, ax in enumerate(axes):
        _shade(ax, result, axis_tokens, label=i == 0)
        ax.grid(True, which="major", alpha=0.3)
    task_ax.set_xscale("log")
    task_ax.xaxis.set_major_locator(LogLocator(base=10))
    zero = ""
    if (axis_tokens == 0).any():
        zero = f"; 0 tokens drawn at {format_tokens(token_positions(axis_tokens).min())}"
    task_ax.set_xlabel(f"training tokens (log scale{zero})")
    title = f"{curves.model} ({curves.family})"
    if result is not None:
        title += f" on {result.target}: {result.pattern}"
    figure.suptitle(title, fontsize=12)
    return figure


def layer_map_figure(curve: BrainCurve, result: PhaseResult | None) -> Figure:
    """Brain alignment of every layer at every checkpoint, best layer marked."""
    values = curve.layer_map.to_numpy(float)
    layers = curve.layer_map.index.to_numpy(float)
    x = np.log10(token_positions(curve.tokens))
    if len(x) > 1:
        mids = (x[1:] + x[:-1]) / 2
        edges = np.concatenate([[x[0] - (mids[0] - x[0])], mids, [x[-1] + (x[-1] - mids[-1])]])
    else:
        edges = np.array([x[0] - 0.5, x[0] + 0.5])
    y_edges = np.concatenate([layers - 0.5, [layers[-1] + 0.5]])
    figure = Figure(figsize=(9, 4.2), layout="constrained")
    ax = figure.subplots()
    mesh = ax.pcolormesh(10 ** edges, y_edges, np.ma.masked_invalid(values), cmap="viridis", shading="flat")
    figure.colorbar(mesh, ax=ax, label="r_mean (mean over subjects)")
    ax.plot(10 ** x, curve.best_layer, "o", color="white", mec="black", ms=4, label="best layer")
    if result is not None:
        for boundary in result.boundaries:
            ax.axvline(token_positions(np.append(curve.tokens, boundary.tokens))[-1], color="white", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("training tokens (log scale)")
    ax.set_ylabel("layer (0 = embeddings)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", fontsize=8, framealpha=0.7)
    ax.set_title(f"{curve.model} on {curve.target}: brain alignment by layer and checkpoint", fontsize=11)
    return figure


def overview_figure(models: list[ModelCurves], target: str) -> Figure:
    """Every model's best-layer brain alignment on ``target`` and its task behaviour, one axis."""
    figure = Figure(figsize=(9, 6.5), layout="constrained")
    brain_ax, task_ax = figure.subplots(2, 1, sharex=True, height_ratios=[1.3, 1])
    axis_tokens = np.unique(np.concatenate([_all_tokens(m) for m in models]))
    colours = [f"C{i % 10}" for i in range(len(models))]
    for colour, curves in zip(colours, models):
        curve = curves.brain.get(target)
        if curve is not None:
            brain_ax.plot(_positions(axis_tokens, curve.tokens), curve.values, color=colour, marker="o", ms=3,
                          label=f"{curves.model} ({curves.family})")
        _plot(task_ax, curves.instruction, axis_tokens, color=colour, lw=1.6, label=f"{curves.model}: instruction following")
        _plot(task_ax, curves.accuracy, axis_tokens, color=colour, lw=1.6, ls="--", label=f"{curves.model}: task accuracy")
    brain_ax.set_ylabel(f"brain alignment\n(r_mean best layer, {target})")
    brain_ax.legend(loc="best", fontsize=8, frameon=False)
    if task_ax.lines:
        task_ax.legend(loc="best", fontsize=7, frameon=False)
    task_ax.set_ylabel("tasks (0-1)")
    for ax in (brain_ax, task_ax):
        ax.grid(True, alpha=0.3)
    task_ax.set_xscale("log")
    task_ax.set_xlabel("training tokens (log scale)")
    figure.suptitle(f"all models on {target}", fontsize=12)
    return figure


@dataclass(frozen=True)
class SavedFigure:
    """A figure written as PNG and SVG, with the caption the report shows under it."""

    caption: str
    png: Path
    svg: Path


def save(figure: Figure, directory: Path, stem: str, caption: str) -> SavedFigure:
    """Write ``directory/stem.png`` and ``directory/stem.svg`` (the stem may hold dots)."""
    saved = SavedFigure(caption, directory / f"{stem}.png", directory / f"{stem}.svg")
    for path in (saved.png, saved.svg):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=path.suffix[1:], dpi=120 if path == saved.png else "figure")
        figure.set_layout_engine("none")  # keep the layout computed for the PNG; the SVG reuses it
        atomic_write_bytes(path, buffer.getvalue())
    return saved


def draw_figures(analyses: list[CurveAnalysis], directory: Path) -> list[SavedFigure]:
    """Every figure of a run, in the report's order: one overview per brain target (runs with more
    than one model), then per model and target its triple-phase figure and its layer map."""
    saved: list[SavedFigure] = []
    models = list({id(a.curves): a.curves for a in analyses}.values())
    brain_targets = sorted({a.target for a in analyses if a.target}) if len(models) > 1 else []
    for brain_target in brain_targets:
        figure = overview_figure([m for m in models if brain_target in m.brain], brain_target)
        saved.append(save(figure, directory, file_stem("overview", brain_target), f"all models on {brain_target}"))
    for analysis in analyses:
        model, target = analysis.curves.model, analysis.target
        labels = (model, target) if target else (model,)
        where = f"{model} on {target}" if target else model
        figure = triple_phase_figure(analysis.curves, target, analysis.result, analysis.replicates)
        saved.append(save(figure, directory, file_stem("phases", *labels), f"triple-phase figure: {where}"))
        if target:
            figure = layer_map_figure(analysis.curves.brain[target], analysis.result)
            saved.append(save(figure, directory, file_stem("layers", *labels), f"layer x checkpoint map: {where}"))
    return saved
