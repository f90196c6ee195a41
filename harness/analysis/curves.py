"""Curves over training tokens, per model: brain alignment, task behaviour and internal metrics.

Choices made here (and documented in the README):

* brain alignment = metric ``r_mean`` at scope ``mean`` (average over subjects); the curve takes the
  best layer at each checkpoint, and the layer x checkpoint map keeps every layer;
* instruction following = offline task scope ``instruction``, metric ``follows_format``;
* correctness = scope ``instruction``, metric ``correct``;
* task accuracy = the mean over a named task set of one chance-corrected accuracy per task scope,
  (acc - chance) / (1 - chance): ``correct`` where the scope reports it, else ``acc``; the set is
  every scope whose chance level its task declared (``chance`` column), so 0 is guessing and 1 is
  perfect whatever the number of choices; perplexity-like metrics are not accuracies;
* an internal metric's curve is its median over the swept layers (``LAYER_SUMMARY``): a metric's layers
  can differ by an order of magnitude (the intrinsic dimension of the embeddings vs later layers),
  and a mean would be a value no layer has; each layer stays in the results and the figures;
* a task curve carries the 95 % interval of each value over its items (``scoreintervals``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.analysis.channels import target_channels
from harness.analysis.scoreintervals import Z, with_intervals
from harness.plugin.contract import Channels

BRAIN_METRIC = "r_mean"
UNIQUE_METRIC = "r2_unique"  # encoding.nuisance: variance the model explains beyond the nuisance bands
BRAIN_SCOPE = "mean"
INSTRUCTION_SCOPE = "instruction"
INSTRUCTION_METRIC = "follows_format"
CORRECT_METRIC = "correct"
ACCURACY_METRICS = ("correct", "acc")
LAYER_SUMMARY = "median over layers"  # how an internal metric's layers are summarised in one curve


def best_over_layers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Over axis 0 (layers): the index of the best layer and its value, non-finite values ignored.

    The one rule for "best layer", used by the curves and by their bootstrap replicates; where a
    column has no finite value at all the index is 0 and the value NaN.
    """
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    index = np.argmax(np.where(finite, values, -np.inf), axis=0)
    best = np.take_along_axis(values, np.expand_dims(index, 0), axis=0)[0]
    return index, np.where(finite.any(axis=0), best, np.nan)


@dataclass
class Series:
    """One curve: value per checkpoint (ascending steps), with the tokens seen at each."""

    name: str
    steps: np.ndarray
    tokens: np.ndarray
    values: np.ndarray
    stderr: np.ndarray | None = None  # standard error of each value over the items it averages (None: unknown)
    items: float | None = None  # items per task behind each value (a proportion's p(1-p)/stderr^2; None: unknown)
    lo: np.ndarray | None = None  # 95 % interval of each value (NaN where it has none; None: no value has one)
    hi: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.steps)


@dataclass
class BrainCurve:
    """Brain alignment of one model on one brain target."""

    model: str
    target: str
    layer_map: pd.DataFrame  # index layer, columns step; r_mean (mean over subjects)
    steps: np.ndarray
    tokens: np.ndarray
    values: np.ndarray  # best layer per checkpoint
    best_layer: np.ndarray
    subjects: pd.DataFrame  # index subject, columns (step, layer): per-subject r_mean
    channels: Channels = Channels.VOXELS  # what its cells scored (the count the results hold)
    unique: Series | None = None  # encoding.nuisance: best-layer r2_unique per checkpoint (None: no nuisance bands)

    def series(self) -> Series:
        return Series(f"{self.target} r_mean (best layer)", self.steps, self.tokens, self.values)

    def best_layer_rows(self, arrays: pd.DataFrame, j: int) -> pd.DataFrame:
        """The rows of ``arrays`` (this curve's voxel-array index) of checkpoint ``j`` at its best layer."""
        return arrays[(arrays["step"] == int(self.steps[j])) & (arrays["layer"] == int(self.best_layer[j]))]


def model_title(model: str, family: str) -> str:
    """How views name a model: its label, with its family in parentheses where they differ."""
    return model if model == family else f"{model} ({family})"


@dataclass
class ModelCurves:
    """Every curve of one model in a run."""

    model: str
    family: str
    brain: dict[str, BrainCurve] = field(default_factory=dict)  # brain target -> curve
    instruction: Series | None = None
    correctness: Series | None = None
    accuracy: Series | None = None  # chance-corrected, over ``task_set``
    task_set: tuple[str, ...] = ()  # the "target:scope" tasks ``accuracy`` averages
    uncorrected: tuple[str, ...] = ()  # accuracy tasks left out: their chance level is unknown
    tasks: dict[str, Series] = field(default_factory=dict)  # "target:scope:metric" -> curve
    metrics: dict[str, Series] = field(default_factory=dict)  # metric name -> ``LAYER_SUMMARY``

    @property
    def title(self) -> str:
        return model_title(self.model, self.family)


def _series(name: str, frame: pd.DataFrame) -> Series | None:
    """Mean value per (step, tokens) of the rows in ``frame``, with the standard error of that mean
    and its 95 % interval.

    The standard error combines the rows' own (independent) ones; it is unknown (NaN) at a
    checkpoint where a row has none, and the series has none at all when no row has one. The
    interval of a checkpoint with one row is that row's (``lo``, ``hi`` of ``with_intervals``), of a
    mean of several rows the normal one from the combined standard error.
    """
    if frame.empty:
        return None
    frame = frame.assign(_var=pd.to_numeric(frame["stderr"], errors="coerce") ** 2 if "stderr" in frame else np.nan,
                         _lo=frame["lo"] if "lo" in frame else np.nan, _hi=frame["hi"] if "hi" in frame else np.nan)
    grouped = frame.groupby(["step", "tokens"], sort=True).agg(
        value=("value", "mean"), var=("_var", lambda v: v.sum(min_count=len(v))), n=("value", "size"),
        lo=("_lo", "first"), hi=("_hi", "first")).reset_index()
    grouped = grouped[np.isfinite(grouped["value"])]
    if grouped.empty:
        return None
    values, count = grouped["value"].to_numpy(float), grouped["n"].to_numpy(float)
    stderr = np.sqrt(grouped["var"].to_numpy(float)) / count
    single = count == 1
    lo = np.where(single, grouped["lo"].to_numpy(float), values - Z * stderr)
    hi = np.where(single, grouped["hi"].to_numpy(float), values + Z * stderr)
    known = np.isfinite(lo).any()
    return Series(name, grouped["step"].to_numpy(), grouped["tokens"].to_numpy(), values,
                  stderr if np.isfinite(stderr).any() else None, lo=lo if known else None, hi=hi if known else None)


def layer_summary(name: str, frame: pd.DataFrame) -> Series | None:
    """The ``LAYER_SUMMARY`` of a metric's rows per (step, tokens): the median over its layers (no interval)."""
    if frame.empty:
        return None
    grouped = frame.groupby(["step", "tokens"], sort=True)["value"].median().reset_index()
    grouped = grouped[np.isfinite(grouped["value"])]
    if grouped.empty:
        return None
    return Series(name, grouped["step"].to_numpy(), grouped["tokens"].to_numpy(), grouped["value"].to_numpy(float))


def _layer_rows(frame: pd.DataFrame, model: str, target: str, metric: str) -> pd.DataFrame:
    """The layered brain rows of ``metric`` for ``model`` on ``target`` (every scope)."""
    return frame[(frame["model"] == model) & (frame["kind"] == "brain") & (frame["target"] == target)
                 & (frame["metric"] == metric) & frame["layer"].notna()]


def _layer_map(mean: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The layer x checkpoint map of rows over subjects (scope ``mean``), and the tokens of each of its steps."""
    layer_map = mean.pivot_table(index="layer", columns="step", values="value", aggfunc="mean").sort_index()
    return layer_map, mean.groupby("step")["tokens"].first().reindex(layer_map.columns)


def brain_curve(frame: pd.DataFrame, model: str, target: str) -> BrainCurve | None:
    """The best-layer curve and the layer x checkpoint map for ``model`` on brain ``target``."""
    rows = _layer_rows(frame, model, target, BRAIN_METRIC)
    mean = rows[rows["scope"] == BRAIN_SCOPE]
    if mean.empty:
        return None
    layer_map, tokens_by_step = _layer_map(mean)
    values = layer_map.to_numpy(float)
    valid = np.isfinite(values).any(axis=0)
    layer_map = layer_map.loc[:, valid]
    values = values[:, valid]
    best_index, best_values = best_over_layers(values)
    subjects = rows[rows["scope"] != BRAIN_SCOPE]
    per_subject = subjects.pivot_table(index="scope", columns=["step", "layer"], values="value", aggfunc="mean")
    return BrainCurve(
        model=model, target=target, layer_map=layer_map,
        steps=layer_map.columns.to_numpy(), tokens=tokens_by_step[layer_map.columns].to_numpy(),
        values=best_values,
        best_layer=layer_map.index.to_numpy()[best_index].astype(int), subjects=per_subject,
        channels=target_channels(frame[frame["target"] == target]).get(target, Channels.VOXELS),
        unique=unique_curve(frame, model, target),
    )


def unique_curve(frame: pd.DataFrame, model: str, target: str) -> Series | None:
    """The best layer's ``r2_unique`` (mean over subjects) per checkpoint of ``model`` on ``target``; None without
    nuisance bands."""
    rows = _layer_rows(frame, model, target, UNIQUE_METRIC)
    mean = rows[rows["scope"] == BRAIN_SCOPE]
    if mean.empty:
        return None
    layer_map, tokens_by_step = _layer_map(mean)
    _, best = best_over_layers(layer_map.to_numpy(float))
    finite = np.isfinite(best)
    return Series(f"{target} {UNIQUE_METRIC} (best layer)", layer_map.columns.to_numpy()[finite],
                  tokens_by_step.to_numpy()[finite], best[finite])


def accuracy_rows(tasks: pd.DataFrame) -> pd.DataFrame:
    """One accuracy row per (target, scope, step): ``correct`` where reported, else ``acc``.

    A pooled scope whose parts are reported too (``instruction`` beside ``instruction:<rung>``) is
    left out, so each item counts once.
    """
    rows = tasks[tasks["metric"].isin(ACCURACY_METRICS)].copy()
    if rows.empty:
        return rows
    scopes: dict[object, set[str]] = {}
    for target, scope in zip(rows["target"], rows["scope"].astype(str)):
        scopes.setdefault(target, set()).add(scope)
    pooled = [any(other.startswith(f"{scope}:") for other in scopes[target])
              for target, scope in zip(rows["target"], rows["scope"].astype(str))]
    rows = rows[~np.asarray(pooled, dtype=bool)]
    rows["_rank"] = rows["metric"].map({m: i for i, m in enumerate(ACCURACY_METRICS)})
    best = rows.groupby(["target", "scope"])["_rank"].transform("min")
    return rows[rows["_rank"] == best].drop(columns="_rank")


def task_name(target: object, scope: object) -> str:
    """How a task is named in a task set: 'target:scope' (just the target for a single scope)."""
    return f"{target}:{scope}" if str(scope) else str(target)


def chance_corrected(accuracy: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...], tuple[str, ...]]:
    """Rows of ``accuracy_rows`` whose chance is known, corrected to (acc - chance) / (1 - chance).

    Returns the corrected rows (stderr and any interval scaled alike), the task set they cover and the accuracy
    tasks left out because their chance level is unknown (or 1, which leaves nothing to learn).
    """
    if accuracy.empty:
        return accuracy, (), ()
    chance = (
        pd.to_numeric(accuracy["chance"], errors="coerce")
        if "chance" in accuracy
        else pd.Series(np.nan, accuracy.index)
    )
    known = chance.notna() & (chance < 1)
    names = [task_name(t, s) for t, s in zip(accuracy["target"], accuracy["scope"])]
    kept = tuple(sorted({n for n, k in zip(names, known) if k}))
    left = tuple(sorted({n for n, k in zip(names, known) if not k} - set(kept)))
    rows = accuracy[known].copy()
    scale = 1 - chance[known]
    for column in ("value", "lo", "hi"):
        if column in rows:
            rows[column] = (pd.to_numeric(rows[column], errors="coerce") - chance[known]) / scale
    if "stderr" in rows:
        rows["stderr"] = pd.to_numeric(rows["stderr"], errors="coerce") / scale
    return rows, kept, left


def items_per_task(rows: pd.DataFrame) -> float | None:
    """The median number of items behind each proportion in ``rows`` (p(1 - p) / stderr^2 of each row
    strictly between 0 and 1 with a standard error); None when no row tells."""
    p = pd.to_numeric(rows["value"], errors="coerce").to_numpy(float)
    se = pd.to_numeric(rows["stderr"], errors="coerce").to_numpy(float) if "stderr" in rows else np.full(p.size, np.nan)
    usable = (p > 0) & (p < 1) & np.isfinite(se) & (se > 0)
    return float(np.median(p[usable] * (1 - p[usable]) / se[usable] ** 2)) if usable.any() else None


def model_curves(frame: pd.DataFrame, model: str) -> ModelCurves:
    """All curves of one model."""
    rows = frame[frame["model"] == model]
    family = str(rows["family"].iloc[0]) if len(rows) else ""
    curves = ModelCurves(model=model, family=family)
    for target in sorted(rows.loc[rows["kind"] == "brain", "target"].unique()):
        curve = brain_curve(frame, model, target)
        if curve is not None:
            curves.brain[target] = curve
    tasks = with_intervals(rows[rows["kind"] == "task"])
    instruction = tasks[tasks["scope"] == INSTRUCTION_SCOPE]
    curves.instruction = _series("instruction following", instruction[instruction["metric"] == INSTRUCTION_METRIC])
    curves.correctness = _series("correctness (instruction)", instruction[instruction["metric"] == CORRECT_METRIC])
    raw = accuracy_rows(tasks)
    corrected, curves.task_set, curves.uncorrected = chance_corrected(raw)
    curves.accuracy = _series("task accuracy (chance-corrected)", corrected)
    if curves.accuracy is not None:
        curves.accuracy.items = items_per_task(raw.loc[corrected.index])
    for (target, scope, metric), group in tasks.groupby(["target", "scope", "metric"], sort=True):
        series = _series(f"{target}:{scope}:{metric}", group)
        if series is not None:
            curves.tasks[series.name] = series
    for metric, group in rows[rows["kind"] == "metric"].groupby("metric", sort=True):
        series = layer_summary(str(metric), group)
        if series is not None:
            curves.metrics[str(metric)] = series
    return curves


def all_curves(frame: pd.DataFrame) -> list[ModelCurves]:
    """Curves of every model in a run, in table order."""
    return [model_curves(frame, model) for model in dict.fromkeys(frame["model"])]
