"""``harness show``'s compact view: per model and target, one table of checkpoints by layer (brain) or by
metric (tasks, internal metrics) that fits the terminal, numbers never cut.

Brain targets: r_mean over subjects (scope ``mean``) by layer, the best layer of each checkpoint marked
``*``, and the best value with its 95 % interval. Internal metrics: each metric's median over layers (the
summary the analysis reads), or one layer's value with ``--layer``. Tasks: each score by metric. Columns
that do not fit are left out and counted in a note; column names too long for their numbers are keyed
below the table instead (c1, c2, ...).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.analysis.curves import best_over_layers
from harness.analysis.scoreintervals import interval_text
from harness.analysis.tokens import format_tokens

BEST = "*"
GAP = 2  # spaces between columns
LONGEST_NAME = 14  # a longer column name is keyed below the table


@dataclass
class Pivot:
    """One table as text: its title, column names, rows of cells, and notes under it."""

    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def lines(self, width: int = 80) -> list[str]:
        """The title wrapped to ``width``, the table as aligned lines (numbers right-aligned), then its notes."""
        widths = [max(len(text) for text in column) for column in zip(self.header, *self.rows)]
        out = textwrap.wrap(self.title, width, subsequent_indent="  ", break_long_words=False) or [""]
        for cells in [self.header, *self.rows]:
            out.append((" " * GAP).join(text.rjust(width) for text, width in zip(cells, widths)).rstrip())
        return out + self.notes


IntervalOf = Callable[[pd.DataFrame], pd.DataFrame]  # rows -> the same rows with lo and hi


def brain_pivot(title: str, rows: pd.DataFrame, width: int, intervals: IntervalOf | None) -> Pivot:
    """r_mean over subjects by layer, the best layer of each checkpoint marked, its value with a 95 % interval."""
    steps = pd.MultiIndex.from_frame(rows[["step", "tokens"]].drop_duplicates().sort_values(["step", "tokens"]))
    table = rows.pivot_table(index=["step", "tokens"], columns="layer", values="value", aggfunc="mean").reindex(steps)
    position, best_value = best_over_layers(table.to_numpy(float).T)  # the analysis's one best-layer rule
    # a checkpoint whose every layer is NaN has no best layer
    best_layer = pd.Series(np.where(np.isfinite(best_value), table.columns.to_numpy()[position], np.nan), table.index)
    found = best_layer.dropna()
    keys = [(*index, int(layer)) for index, layer in zip(found.index, found)]
    best_rows = rows.set_index(["step", "tokens", "layer"]).loc[keys].reset_index()
    shown = intervals(best_rows) if intervals is not None else best_rows.assign(lo=np.nan, hi=np.nan)
    lo, hi, values = (shown[c].to_numpy(float) for c in ("lo", "hi", "value"))
    texts = {(step, tokens): f"{values[i]:.3f} L{int(layer)} {interval_text(lo[i], hi[i], 3)}".rstrip()
             for i, (step, tokens, layer) in enumerate(zip(shown["step"], shown["tokens"], shown["layer"]))}
    best = [texts.get(key, "") for key in table.index]
    cells = {f"L{int(layer)}": [f"{value:.3f}{BEST if mark == layer else ' '}" if np.isfinite(value) else ""
                                for value, mark in zip(table[layer], best_layer)] for layer in table.columns}
    pivot = _fit(title + f" ({BEST} best layer)", table.index, cells, {"best [95 % CI]": best}, width)
    units = sorted({str(unit) for unit in shown.get("interval", pd.Series(dtype=str)).dropna() if unit})
    pivot.notes += [f"  95 % CI: resampling {unit}" for unit in units]
    return pivot


def wide_pivot(title: str, rows: pd.DataFrame, width: int) -> Pivot:
    """Each (scope, metric) of ``rows`` as a column, one value per checkpoint (the mean where there are several)."""
    pairs = zip(rows["scope"], rows["metric"])
    labels = [metric if scope in ("", "mean") else f"{scope} {metric}" for scope, metric in pairs]
    frame = rows.assign(column=labels)
    order = list(dict.fromkeys(labels))
    table = frame.pivot_table(index=["step", "tokens"], columns="column", values="value", aggfunc="mean").sort_index()
    cells = {label: [f"{value:.4g}" if np.isfinite(value) else "" for value in table[label]] for label in order}
    return _fit(title, table.index, cells, {}, width)


def _fit(title: str, index: pd.Index, cells: dict[str, list[str]], last: dict[str, list[str]], width: int) -> Pivot:
    """The columns that fit ``width`` after step and tokens (and ``last``, always kept), long names keyed below."""
    steps = [str(int(step)) for step, _ in index]
    tokens = [format_tokens(float(count)) for _, count in index]
    header, columns = ["step", "tokens"], [steps, tokens]
    keys: list[str] = []
    used = sum(max(len(h), *map(len, c)) for h, c in zip(header, columns)) + GAP
    used += sum(max(len(name), *map(len, values)) + GAP for name, values in last.items())
    left_out = 0
    for name, values in cells.items():
        shown_name = name if len(name) <= LONGEST_NAME else f"c{len(keys) + 1}"
        need = max(len(shown_name), *map(len, values)) + GAP
        if used + need > width:
            left_out += 1
            continue
        if shown_name != name:
            keys.append(f"{shown_name} = {name}")
        header.append(shown_name)
        columns.append(values)
        used += need
    for name, values in last.items():
        header.append(name)
        columns.append(values)
    notes = [f"  {key}" for key in keys]
    if left_out:
        notes.append(f"  {left_out} more column{'s' if left_out > 1 else ''} left out at this width: --all, or pick "
                     "with --metric")
    return Pivot(title, header, [list(row) for row in zip(*columns)], notes)


KIND_ORDER = {"brain": 0, "task": 1, "metric": 2}


def run_pivots(scores: pd.DataFrame, width: int, layer: int | None = None, intervals: IntervalOf | None = None,
               most_rows: int | None = None, titles: dict[str, str] | None = None) -> list[Pivot]:
    """One pivot per model and target of ``scores``: brain targets first, then tasks, then metrics; at most
    ``most_rows`` checkpoints each (spread evenly, the first and last kept); ``titles``: how to name a model
    (a group: 'tiny (mean of 3 members)'), its label where not given."""
    out = []
    groups = sorted(scores.groupby(["model", "target"], sort=True),
                    key=lambda item: (item[0][0], KIND_ORDER.get(str(item[1]["kind"].iloc[0]), 3), item[0][1]))
    for (model, target), rows in groups:
        rows, note = _some_steps(rows, most_rows)
        pivot = _pivot(f"{(titles or {}).get(str(model), model)} x {target}", rows, width, layer, intervals)
        if pivot is not None:
            pivot.notes += [note] if note else []
            out.append(pivot)
    return out


def _pivot(name: str, rows: pd.DataFrame, width: int, layer: int | None, intervals: IntervalOf | None) -> Pivot | None:
    """The pivot of one model and target (None where the filters left nothing of it to show)."""
    kind = str(rows["kind"].iloc[0])
    if kind == "brain":
        brain = rows[(rows["metric"] == "r_mean") & (rows["scope"] == "mean")]
        if layer is not None:
            brain = brain[brain["layer"] == layer]
        return brain_pivot(f"{name}: r_mean over subjects by layer", brain, width, intervals) if len(brain) else None
    if kind == "metric":
        picked = rows[rows["layer"] == layer] if layer is not None else rows
        by = picked.groupby(["step", "tokens", "scope", "metric"], as_index=False, sort=False)
        summary = pd.DataFrame(by["value"].median())
        what = f"at layer {layer}" if layer is not None else "median over layers"
        return wide_pivot(f"{name}: {what}", summary, width) if len(summary) else None
    return wide_pivot(f"{name}: scores", rows, width)


def _some_steps(rows: pd.DataFrame, most: int | None) -> tuple[pd.DataFrame, str]:
    """``rows`` of at most ``most`` checkpoints, spread evenly over them (first and last kept), and a note
    when some were left out."""
    steps = np.sort(rows["step"].unique())
    if most is None or len(steps) <= most:
        return rows, ""
    kept = steps[np.unique(np.linspace(0, len(steps) - 1, most).round().astype(int))]
    return rows[rows["step"].isin(kept)], (f"  {len(kept)} of {len(steps)} checkpoints shown, spread evenly: "
                                           "--step to choose, --limit for more")
