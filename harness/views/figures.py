"""Figures: the triple-phase figure, internal metrics as small multiples, the layer x checkpoint map
of brain alignment and brain maps (PNG + SVG).

Drawn on matplotlib ``Figure`` objects with the Agg canvas, so no display and no pyplot state.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import LogLocator, MaxNLocator
from numpy.typing import ArrayLike

from harness.analysis.bootstrap import Replicates
from harness.analysis.curves import LAYER_SUMMARY, BrainCurve, ModelCurves, Series
from harness.analysis.data import BrainControl
from harness.analysis.findings import CurveAnalysis
from harness.analysis.phases import PATTERN_WORDS, PhaseResult
from harness.analysis.signals import ACCURACY, BRAIN_BEST, CORRECTNESS, INSTRUCTION, INTERNAL
from harness.analysis.tokens import format_tokens, token_positions
from harness.analysis.transitions import SignalTransitions
from harness.plugin.contract import Channels
from harness.util.files import atomic_write_bytes, file_stem
from harness.views.brainmap import brain_map_figures
from harness.views.datasets import DEFAULT_FDR_Q, DatasetInfo
from harness.views.lagprofile import lag_profile_figure
from harness.views.panels import UNIQUE, R, stores
from harness.views.significance import significance_lines

PHASE_COLOURS = {"surge": "#2ca02c", "detachment": "#d62728", "realignment": "#1f77b4"}
SIGNAL_COLOURS = {BRAIN_BEST: "black", INSTRUCTION: "#9467bd", CORRECTNESS: "#ff7f0e", ACCURACY: "#17becf"}
SCORE_METRICS = ("acc", "correct", "follows_format")
TRANSITION_SHADE = 0.12  # the alpha of a transition's 95 % interval
KEY_GREY = "#555555"  # legend entries that stand for lines drawn in each curve's own colour
STEP0 = "step 0 (untrained), dotted"


def _positions(curve_tokens: ArrayLike, tokens: ArrayLike) -> np.ndarray:
    """Log-axis positions of ``tokens`` on the axis built from ``curve_tokens``."""
    curve_tokens = np.asarray(curve_tokens, float)
    all_tokens = np.concatenate([curve_tokens, np.asarray(tokens, float)])
    return token_positions(all_tokens)[len(curve_tokens):]


def _mark(ax: Axes, found: SignalTransitions | None, axis_tokens: np.ndarray, colour: str) -> bool:
    """Each transition of a signal: a line at its location, its 95 % interval shaded, in the signal's colour;
    True when it drew one (``_legend`` then keys them)."""
    transitions = found.transitions if found is not None else []
    for t in transitions:
        at, lo, hi = _positions(axis_tokens, [t.tokens(t.x), t.tokens(t.x_lo), t.tokens(t.x_hi)])
        ax.axvspan(lo, hi, color=colour, alpha=TRANSITION_SHADE, lw=0)
        ax.axvline(at, color=colour, ls="--", lw=0.9)
    return bool(transitions)


def _key(handles: list[Artist], *, transitions: bool = False, baseline: bool = False) -> list[Artist]:
    """A legend's entries: ``handles``, then a key for the transitions' lines and bands and the dotted step-0
    level where they are drawn (each in the colour of its curve)."""
    shown = list(handles)
    if transitions:
        shown += [Line2D([], [], color=KEY_GREY, ls="--", lw=0.9, label="transition (its curve's colour)"),
                  Patch(color=KEY_GREY, alpha=TRANSITION_SHADE * 2, lw=0, label="95 % interval of its location")]
    if baseline and not any(h.get_label() == STEP0 for h in shown):
        shown.append(Line2D([], [], color=KEY_GREY, ls=":", lw=0.9, label=STEP0))
    return shown


def _circle_outliers(ax: Axes, found: SignalTransitions | None, curve: BrainCurve, axis_tokens: np.ndarray) -> None:
    """The checkpoints set aside as outliers, circled in red: no transition rests on them."""
    at = [o.tokens for o in found.outliers] if found is not None else []
    picked = np.isin(curve.tokens, at)
    if picked.any():
        ax.scatter(_positions(axis_tokens, curve.tokens[picked]), curve.values[picked], s=90, facecolors="none",
                   edgecolors="#d62728", lw=1.3, zorder=5, label="outlier (set aside)")


def _label_phases(ax: Axes, result: PhaseResult | None, axis_tokens: np.ndarray) -> None:
    """The confirmed phases named above the brain axis, at their brain transitions."""
    for verdict in result.verdicts if result is not None else []:
        if verdict.confirmed and verdict.brain is not None:
            at = _positions(axis_tokens, [verdict.brain.tokens(verdict.brain.x)])[0]
            colour = PHASE_COLOURS[verdict.phase]
            ax.text(at, 1.01, verdict.phase, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                    fontsize=9, color=colour, fontweight="bold")


def _baseline(ax: Axes, steps: np.ndarray, values: np.ndarray, colour: str, label: str | None = None) -> bool:
    """The untrained checkpoint's value (step 0) as a dotted level across the axis, where it was swept
    (True when drawn)."""
    if len(steps) and int(steps[0]) == 0 and np.isfinite(values[0]):
        ax.axhline(float(values[0]), color=colour, ls=":", lw=0.9, alpha=0.8, label=label)
        return True
    return False


def _plot(ax: Axes, series: Series | None, axis_tokens: np.ndarray, **style: Any) -> None:
    """Draw ``series`` on ``ax`` (nothing when absent); ``style``: Line2D properties (Any in matplotlib)."""
    if series is not None and len(series):
        if len(series) == 1:
            style.setdefault("marker", "o")  # a single checkpoint is a point, not an invisible line
        ax.plot(_positions(axis_tokens, series.tokens), series.values, **style)


def _all_tokens(curves: ModelCurves) -> np.ndarray:
    parts = [c.tokens for c in curves.brain.values()]
    parts += [s.tokens for s in (curves.instruction, curves.correctness, curves.accuracy) if s is not None]
    parts += [s.tokens for s in curves.tasks.values()] + [s.tokens for s in curves.metrics.values()]
    return np.unique(np.concatenate(parts)) if parts else np.array([1])


def _no_data(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666")


def _token_axis(ax: Axes, axis_tokens: np.ndarray, label: bool = True) -> None:
    """A log token axis; checkpoint 0's stand-in position said in the label."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10))
    if label:
        zero = ""
        if (axis_tokens == 0).any():
            zero = f"; 0 tokens drawn at {format_tokens(token_positions(axis_tokens).min())}"
        ax.set_xlabel(f"training tokens (log scale{zero})")


def triple_phase_figure(curves: ModelCurves, target: str | None, result: PhaseResult | None,
                        replicates: Replicates | None = None, found: list[SignalTransitions] | None = None,
                        control: tuple[str, BrainCurve] | None = None) -> Figure:
    """Brain alignment and task behaviour over training tokens, each signal's transitions marked with
    their 95 % intervals, confirmed phases named, the untrained checkpoint as a dotted baseline, and
    the best-layer curve of a control stimulus (``control``: its description and curve) where given."""
    by_name = {item.signal.name: item for item in found or [] if item.signal.target in ("", target)}
    axis_tokens = _all_tokens(curves)
    figure = Figure(figsize=(9, 6.8), layout="constrained")
    axes = figure.subplots(2, 1, sharex=True, height_ratios=[1.3, 1])
    brain_ax, task_ax = axes
    curve = curves.brain.get(target) if target else None
    if curve is not None:
        x = _positions(axis_tokens, curve.tokens)
        band = replicates.band() if replicates is not None else None
        if replicates is not None and band is not None:
            lo, hi = band
            brain_ax.fill_between(
                x, lo, hi, color="#7f7f7f", alpha=0.25, lw=0, label=f"95% bootstrap ({replicates.method})"
            )
        mean_over_layers = curve.layer_map.mean(axis=0).to_numpy(float)
        brain_ax.plot(x, mean_over_layers, color="#8c564b", ls=":", lw=1.2, label="mean over layers")
        brain_ax.plot(x, curve.values, color="black", marker="o", ms=3.5, lw=1.8, label="best layer")
        if control is not None:
            words, control_curve = control
            brain_ax.plot(_positions(axis_tokens, control_curve.tokens), control_curve.values, color="#7f7f7f",
                          ls="--", marker="x", ms=3.5, lw=1.2, label=f"control: {words} (best layer)")
        _baseline(brain_ax, curve.steps, curve.values, "black", STEP0)
        marked = _mark(brain_ax, by_name.get(BRAIN_BEST), axis_tokens, SIGNAL_COLOURS[BRAIN_BEST])
        _circle_outliers(brain_ax, by_name.get(BRAIN_BEST), curve, axis_tokens)
        _label_phases(brain_ax, result, axis_tokens)
        brain_ax.legend(handles=_key(brain_ax.get_legend_handles_labels()[0], transitions=marked), loc="best",
                        fontsize=8, frameon=False)
        brain_ax.set_ylabel(f"brain alignment\n(r_mean, {target})")
    else:
        _no_data(brain_ax, "no brain alignment in this run")
        brain_ax.set_ylabel("brain alignment")
    for name, series in curves.tasks.items():
        if name.rsplit(":", 1)[-1] in SCORE_METRICS and ":instruction:" not in name:
            _plot(task_ax, series, axis_tokens, color="#c7c7c7", lw=0.9)
    behaviour: list[tuple[str, Series | None, dict[str, Any]]] = [
        (INSTRUCTION, curves.instruction, {"marker": "s", "ms": 3.5}),
        (CORRECTNESS, curves.correctness, {"marker": "^", "ms": 3.5}), (ACCURACY, curves.accuracy, {"ls": "--"})]
    marked = baseline = False
    for name, behaviour_series, style in behaviour:
        colour = SIGNAL_COLOURS[name]
        _plot(task_ax, behaviour_series, axis_tokens, color=colour, lw=2, label=name, **style)
        if behaviour_series is not None:
            baseline |= _baseline(task_ax, behaviour_series.steps, behaviour_series.values, colour)
        marked |= _mark(task_ax, by_name.get(name), axis_tokens, colour)
    if task_ax.lines:
        task_ax.plot([], [], color="#c7c7c7", lw=0.9, label="single task scores")
        task_ax.legend(handles=_key(task_ax.get_legend_handles_labels()[0], transitions=marked, baseline=baseline),
                       loc="best", fontsize=8, frameon=False)
    else:
        _no_data(task_ax, "no task scores in this run")
    task_ax.set_ylabel("tasks (0-1; accuracy chance-\ncorrected: 0 = chance)")
    accuracy = curves.accuracy
    if accuracy is not None and len(accuracy) and np.nanmin(accuracy.values) < 0:
        task_ax.axhline(0, color="#999999", lw=0.8, ls=":")
        task_ax.annotate(
            "below 0: below chance (wrong-format answers count as wrong)",
            (0.01, 0),
            xycoords=("axes fraction", "data"),
            xytext=(0, -9),
            textcoords="offset points",
            fontsize=7,
            color="#666666",
            va="top",
        )
    for ax in axes:
        ax.grid(True, which="major", alpha=0.3)
    _token_axis(task_ax, axis_tokens)
    title = curves.title
    if result is not None:
        title += f" on {result.target}: {PATTERN_WORDS[result.pattern]}"
    figure.suptitle(title, fontsize=12)
    return figure


def metric_layers(results: pd.DataFrame, model: str) -> dict[str, pd.DataFrame]:
    """metric -> its values (index layer, columns step) for ``model``, from the long results table."""
    rows = results[(results["model"] == model) & (results["kind"] == "metric") & results["layer"].notna()]
    return {str(metric): group.pivot_table(index="layer", columns="step", values="value", aggfunc="mean").sort_index()
            for metric, group in rows.groupby("metric", sort=True)}


def metrics_figure(
    curves: ModelCurves, found: list[SignalTransitions], layers: dict[str, pd.DataFrame] | None = None
) -> Figure:
    """Small multiples: one panel per internal metric in its own units, median over layers (black) and
    each layer (thin, light = shallow, dark = deep), its transitions marked with their intervals."""
    by_name = {item.signal.name: item for item in found if item.signal.group == INTERNAL}
    names = list(curves.metrics)
    columns = min(3, max(1, len(names)))
    rows = max(1, -(-len(names) // columns))
    axis_tokens = _all_tokens(curves)
    figure = Figure(figsize=(9, 0.6 + 2.1 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, sharex=True, squeeze=False)).ravel()
    cmap = colormaps["viridis_r"]
    marked = baseline = False
    for ax, name in zip(axes, names):
        series = curves.metrics[name]
        per_layer = (layers or {}).get(name)
        if per_layer is not None and len(per_layer.index) > 1:
            steps = per_layer.columns.to_numpy()
            tokens = pd.Series(series.tokens, index=series.steps).reindex(steps).to_numpy(float)
            keep = np.isfinite(tokens)
            depth = np.linspace(0.15, 0.85, len(per_layer.index))
            for shade, (_, values) in zip(depth, per_layer.iterrows()):
                ax.plot(_positions(axis_tokens, tokens[keep]), values.to_numpy(float)[keep], color=cmap(shade), lw=0.8,
                        alpha=0.8, marker="." if keep.sum() == 1 else None)
        _plot(ax, series, axis_tokens, color="black", lw=1.8, marker=".", ms=4)
        baseline |= _baseline(ax, series.steps, series.values, "black")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(name, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(4))
        marked |= _mark(ax, by_name.get(name), axis_tokens, "#444444")
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    if not names:
        axes[0].set_visible(True)
        _no_data(axes[0], "no internal metrics in this run")
    _token_axis(axes[0], axis_tokens, label=False)  # the axes share x
    for i, ax in enumerate(axes[:len(names)]):
        if i + columns >= len(names):  # nothing drawn below it: it shows the token ticks
            ax.tick_params(labelbottom=True)
    figure.supxlabel("training tokens (log scale)", fontsize=9)
    key: list[Artist] = [Line2D([], [], color="black", lw=1.8, label=LAYER_SUMMARY)] if names else []
    if names and any(len((layers or {}).get(name, pd.DataFrame()).index) > 1 for name in names):
        key += [Line2D([], [], color=cmap(0.15), lw=0.8, label="shallowest layer"),
                Line2D([], [], color=cmap(0.85), lw=0.8, label="deepest layer")]
    if key:  # above the panels, where it hides no data
        figure.legend(handles=_key(key, transitions=marked, baseline=baseline), loc="outside upper center", ncol=3,
                      fontsize=7, frameon=False)
    title = (f"{curves.title}: internal metrics, {LAYER_SUMMARY} (black) and each layer "
             "(light = shallow, dark = deep)")
    figure.suptitle(title, fontsize=10)
    return figure


def layer_map_figure(curve: BrainCurve, result: PhaseResult | None) -> Figure:
    """Brain alignment of every layer at every checkpoint, best layer marked, brain transitions as lines."""
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
    brain = result.signal(BRAIN_BEST) if result is not None else None
    for i, t in enumerate(brain.transitions if brain is not None else []):
        ax.axvline(token_positions(np.append(curve.tokens, t.tokens(t.x)))[-1], color="white", ls="--", lw=1,
                   label=None if i else "brain transition")
    ax.set_xscale("log")
    ax.set_xlabel("training tokens (log scale)")
    ax.set_ylabel("layer (0 = embeddings)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", fontsize=8, facecolor="#bdbdbd", framealpha=0.9)  # grey: the white marks show
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
                          label=curves.title)
        _plot(
            task_ax,
            curves.instruction,
            axis_tokens,
            color=colour,
            lw=1.6,
            label=f"{curves.model}: instruction following",
        )
        _plot(
            task_ax, curves.accuracy, axis_tokens, color=colour, lw=1.6, ls="--", label=f"{curves.model}: task accuracy"
        )
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
    """A figure written as PNG and SVG, with the caption the report shows under it and its section."""

    caption: str
    png: Path
    svg: Path
    section: str = ""  # what the figure is about ("model on target", "all models on target")


def save(figure: Figure, directory: Path, stem: str, caption: str, section: str = "") -> SavedFigure:
    """Write ``directory/stem.png`` and ``directory/stem.svg`` (the stem may hold dots)."""
    saved = SavedFigure(caption, directory / f"{stem}.png", directory / f"{stem}.svg", section)
    for path in (saved.png, saved.svg):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=path.suffix[1:], dpi=120 if path == saved.png else "figure")
        figure.set_layout_engine("none")  # keep the layout computed for the PNG; the SVG reuses it
        atomic_write_bytes(path, buffer.getvalue())
    return saved


def drop_stale(directory: Path, saved: list[SavedFigure]) -> list[Path]:
    """Remove the figure files (``*__*.png|svg``, the names ``save`` gives) in ``directory`` that an earlier
    analysis wrote and this one did not (a map whose geometry is gone, a model no longer in the run); returns
    them. Other files are left alone."""
    kept = {path for figure in saved for path in (figure.png, figure.svg)}
    stale = [path for suffix in ("png", "svg") for path in sorted(Path(directory).glob(f"*__*.{suffix}"))
             if path not in kept and path.is_file()]
    for path in stale:
        path.unlink()
    return stale


def draw_figures(analyses: list[CurveAnalysis], directory: Path, results: pd.DataFrame | None = None,
                 controls: dict[str, BrainControl] | None = None) -> list[SavedFigure]:
    """Every figure of a run but the brain maps, in the report's order: one overview per brain target
    (runs with more than one model), then per model and target its triple-phase figure (with the
    control stimulus's curve where ``controls`` names one for the target), internal metrics (small
    multiples; ``results`` gives their per-layer lines) and layer map."""
    control_of = {c.baseline: c for c in (controls or {}).values() if c.baseline}
    saved: list[SavedFigure] = []
    models = list({id(a.curves): a.curves for a in analyses}.values())
    brain_targets = sorted({a.target for a in analyses if a.target}) if len(models) > 1 else []
    for brain_target in brain_targets:
        figure = overview_figure([m for m in models if brain_target in m.brain], brain_target)
        where = f"all models on {brain_target}"
        saved.append(save(figure, directory, file_stem("overview", brain_target), where, where))
    for analysis in analyses:
        model, target = analysis.curves.model, analysis.target
        labels = (model, target) if target else (model,)
        where = f"{model} on {target}" if target else model
        control = control_of.get(target) if target else None
        drawn_control = ((control.describe(), analysis.curves.brain[control.label])
                         if control is not None and control.label in analysis.curves.brain else None)
        figure = triple_phase_figure(analysis.curves, target, analysis.result, analysis.replicates, analysis.found,
                                     drawn_control)
        saved.append(save(figure, directory, file_stem("phases", *labels), f"triple-phase figure: {where}", where))
        if analysis.curves.metrics:
            layers = metric_layers(results, model) if results is not None else None
            figure = metrics_figure(analysis.curves, analysis.found, layers)
            saved.append(save(figure, directory, file_stem("metrics", *labels), f"internal metrics: {where}", where))
        if target:
            figure = layer_map_figure(analysis.curves.brain[target], analysis.result)
            saved.append(
                save(figure, directory, file_stem("layers", *labels), f"layer x checkpoint map: {where}", where)
            )
    return saved


def draw_brain_maps(analyses: list[CurveAnalysis], directory: Path, arrays: pd.DataFrame,
                    datasets: dict[str, DatasetInfo]) -> tuple[list[SavedFigure], list[str]]:
    """Per model and brain target whose per-voxel arrays are in ``arrays``: its brain maps of r (and of r2_unique
    where the cells stored it), on the geometry its dataset gives (``datasets``: target -> what the dataset says),
    and its TRF lag profiles (M/EEG); the
    voxels passing FDR per subject and checkpoint; and one line per map not drawn."""
    saved: list[SavedFigure] = []
    notes: list[str] = []
    for analysis in analyses:
        model, target = analysis.curves.model, analysis.target
        info = datasets.get(target) if target else None
        if not target or analysis.members:  # a group has no voxels of its own
            continue
        where = f"{model} on {target}"
        mine = arrays[(arrays["model"] == model) & (arrays["target"] == target)]
        curve = analysis.curves.brain[target]
        q = info.fdr_q if info is not None else DEFAULT_FDR_Q
        unit = str(info.channels if info is not None else Channels.VOXELS)
        notes += [f"{where}, {line}" for line in significance_lines(curve, mine, q, unit)]
        profile = lag_profile_figure(curve, mine)
        if profile is not None and profile.figure is not None:
            saved.append(save(profile.figure, directory, file_stem("lags", model, target), profile.caption, where))
            notes += [f"{where}: {note}" for note in profile.notes]
        if info is None or not info.maps:
            continue
        for quantity in (R, UNIQUE):  # r2_unique beside r where the cells stored it (encoding.nuisance)
            if not stores(mine, quantity):
                continue
            for drawn in brain_map_figures(curve, analysis.result, info.maps, mine, q, quantity):
                notes += [f"{where}: {note}" for note in drawn.notes if quantity == R]  # r2_unique's would repeat r's
                if drawn.figure is not None:
                    stem = file_stem(quantity.stem, model, target, *([drawn.subject] if drawn.subject else []))
                    saved.append(save(drawn.figure, directory, stem, drawn.caption, where))
                elif not drawn.notes:
                    notes.append(f"{where}: no {quantity.kind} (no per-voxel {quantity.name} arrays in the run)")
    return saved, notes
