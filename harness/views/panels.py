"""What a brain map draws: the checkpoints chosen, per subject and checkpoint the best layer's values of one
quantity (r, or with nuisance bands r2_unique) and its FDR mask, the colour limit, and how the map is
thresholded (the drawers in ``brainmap``, ``surfacemap``, ``volumemap`` and ``sensormap`` share it).

The checkpoints shown are the first, where each brain transition ends, the peak of the best-layer
curve and the last (at most ``MAX_CHECKPOINTS``); at most ``MAX_SUBJECTS`` subjects.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from harness.analysis.curves import BrainCurve
from harness.analysis.data import read_companion_arrays, read_voxel_values
from harness.analysis.phases import PhaseResult
from harness.analysis.signals import BRAIN_BEST
from harness.analysis.tokens import format_tokens
from harness.plugin.maps import ChannelMap, map_size
from harness.views.significance import P_ARRAY, fdr_mask

CMAP = "RdBu_r"  # every map: blue below 0, red above, white at 0
MAX_CHECKPOINTS = 4
MAX_SUBJECTS = 4


def map_title(figure: Figure, text: str, fontsize: float) -> None:
    """``text`` as the figure's title, each line wrapped to the figure's width (a long dataset or mesh name
    otherwise runs off both edges)."""
    width = max(20, int(figure.get_figwidth() * 72 / (0.6 * fontsize)))  # characters: about 0.6 em each
    lines = [textwrap.fill(line, width) for line in text.split("\n")]
    figure.suptitle("\n".join(lines), fontsize=fontsize)


def map_checkpoints(curve: BrainCurve, result: PhaseResult | None, most: int = MAX_CHECKPOINTS) -> list[int]:
    """Indices into ``curve`` of the checkpoints to map: first, peak, last, and where each brain transition ends."""
    n = len(curve.steps)
    if n == 0:
        return []
    finite = np.isfinite(curve.values)
    peak = int(np.argmax(np.where(finite, curve.values, -np.inf))) if finite.any() else n - 1
    starts = []
    brain = result.signal(BRAIN_BEST) if result is not None else None
    for transition in brain.transitions if brain is not None else []:
        where = np.nonzero(curve.tokens == transition.signal.tokens[transition.end])[0]
        if where.size:
            starts.append(int(where[0]))
    chosen = [0, peak, n - 1]
    for start in starts:
        if len(set(chosen)) >= most:
            break
        chosen.append(start)
    return sorted(set(chosen))[:most]


@dataclass(frozen=True)
class Quantity:
    """What a map shows per channel: the cell's array ``<array>/<subject>``, its name in titles, the colour bar's
    label and the figure kind that opens a caption."""

    array: str
    name: str
    label: str
    kind: str
    stem: str  # the figure files' stem


R = Quantity("r", "r", "r (test stories)", "brain map", "brainmap")
# encoding.nuisance: r2_joint - r2_nuisance per voxel, the variance the model explains beyond the nuisance bands
UNIQUE = Quantity("r2_unique", "r2_unique", "r2_unique (test stories, beyond the nuisance bands)", "r2_unique map",
                  "uniquemap")


@dataclass
class BrainMap:
    """A brain map (None when nothing could be drawn), its caption and what was left out, one line each."""

    figure: Figure | None
    caption: str
    notes: list[str]
    subject: str = ""  # a map of one subject (a surface), '' for one of every subject


@dataclass
class Panel:
    """One subject at one checkpoint: the map's value per channel, and which channels' r passes FDR (None: no
    p-values there)."""

    subject: str
    column: int  # index into the curve
    values: np.ndarray
    significant: np.ndarray | None = None

    @property
    def shown(self) -> np.ndarray:
        """The values where drawn: everywhere without p-values, else only where FDR is passed (NaN elsewhere)."""
        return self.values if self.significant is None else np.where(self.significant, self.values, np.nan)


@dataclass
class MapPanels:
    """What a map draws: the checkpoints, the panels, the symmetric colour limit, notes, and what is shown."""

    curve: BrainCurve
    columns: list[int]
    panels: dict[tuple[str, int], Panel]
    subjects: list[str]
    limit: float
    q: float
    notes: list[str] = field(default_factory=list)
    quantity: Quantity = R

    def title(self, j: int) -> str:
        """A column's title: its tokens, step and best layer."""
        return (f"{format_tokens(float(self.curve.tokens[j]))} tokens\nstep {int(self.curve.steps[j])}, layer "
                f"{int(self.curve.best_layer[j])}")

    def threshold_words(self) -> str:
        """How the map is thresholded, for a caption."""
        permuted = [p for p in self.panels.values() if p.significant is not None]
        if not permuted:
            return ("unthresholded: no block permutations were run (encoding.permutations: 0), so nothing is marked "
                    "significant")
        whose = "" if self.quantity == R else " (their r)"
        if len(permuted) < len(self.panels):
            return (f"channels passing FDR q {self.q:g}{whose} (block permutations) where the checkpoint was permuted; "
                    "the others unthresholded (encoding.permutations_at: last)")
        return f"only channels passing FDR q {self.q:g}{whose} over block permutations"

    def grid(self, width: float, height: float) -> tuple[Figure, np.ndarray, list[tuple[int, int, Axes, Panel]]]:
        """A figure of subjects by rows and checkpoints by columns (``width`` x ``height`` inches a panel): its axes
        and, per panel with an r array, (row, column, axes, panel); a panel without one says so."""
        figure = Figure(figsize=(width * len(self.columns) + 1.4, height * len(self.subjects) + 0.9),
                        layout="constrained")
        axes = np.atleast_2d(figure.subplots(len(self.subjects), len(self.columns), squeeze=False))
        cells = []
        for i, subject in enumerate(self.subjects):
            for k, j in enumerate(self.columns):
                panel = self.panels.get((subject, j))
                if panel is None:
                    axes[i, k].set_axis_off()
                    axes[i, k].text(0.5, 0.5, f"no {self.quantity.name} array", ha="center", va="center",
                                    transform=axes[i, k].transAxes, fontsize=8)
                else:
                    cells.append((i, k, axes[i, k], panel))
        return figure, axes, cells

    @property
    def norm(self) -> Normalize:
        """The colour scale every panel shares: symmetric about 0."""
        return Normalize(-self.limit, self.limit)

    def colour_bar(self, figure: Figure, axes: Iterable[Axes], shrink: float) -> None:
        """The shared colour scale beside ``axes``, labelled with the quantity."""
        figure.colorbar(ScalarMappable(self.norm, colormaps[CMAP]), ax=axes, shrink=shrink, label=self.quantity.label)

    def label(self, ax: Axes, row: int, column: int, panel: Panel, *, axes_off: bool = False) -> None:
        """A ``grid`` panel's labels: the column's checkpoint over the first row, the subject beside the first column
        and the panel's note. Where the drawing hides its axes (``axes_off``) the note joins the title and the
        subject is written beside the panel; else they are the axes' labels."""
        note = self.panel_note(panel)
        if axes_off:
            ax.set_title(f"{self.title(panel.column)}; {note}" if row == 0 else note, fontsize=8)
            if column == 0:
                ax.annotate(panel.subject, xy=(-0.02, 0.5), xycoords="axes fraction", ha="right", va="center",
                            fontsize=9)
            return
        ax.set_xlabel(note, fontsize=7)
        if row == 0:
            ax.set_title(self.title(panel.column), fontsize=9)
        if column == 0:
            ax.set_ylabel(panel.subject, fontsize=9)

    def panel_note(self, panel: Panel) -> str:
        """A panel's line under its title: how many channels pass, or that it is unthresholded."""
        if panel.significant is None:
            return "unthresholded"
        tested = int(np.isfinite(panel.values).sum())
        return f"FDR q {self.q:g}: {int(panel.significant.sum())}/{tested}"


def stores(arrays: pd.DataFrame, quantity: Quantity) -> bool:
    """Whether the cells of ``arrays`` (voxel-array index rows) stored ``quantity`` (its first row's cell tells)."""
    return quantity == R or bool(read_companion_arrays(arrays.head(1), quantity.array))


def map_panels(curve: BrainCurve, result: PhaseResult | None, maps: dict[str, ChannelMap], arrays: pd.DataFrame,
               q: float, quantity: Quantity = R) -> MapPanels:
    """The panels of a map: the chosen checkpoints' best-layer ``quantity`` of the subjects with a map, masked
    where the checkpoint's r has p-values by the channels whose r passes FDR."""
    columns = map_checkpoints(curve, result)
    notes: list[str] = []
    panels: dict[tuple[str, int], Panel] = {}
    for j in columns:
        rows = curve.best_layer_rows(arrays, j)
        rows = rows[rows["subject"].isin(list(maps))]
        pvalues = read_companion_arrays(rows, P_ARRAY)
        found = read_voxel_values(rows) if quantity == R else read_companion_arrays(rows, quantity.array)
        for subject, values in found.items():
            size = map_size(maps[subject])
            if size >= 0 and values.size != size:
                notes.append(f"{subject} not drawn: its voxel map places {size} voxels, its {quantity.name} has "
                             f"{values.size}")
                continue
            p = pvalues.get(subject)
            panels[(subject, j)] = Panel(subject, j, values, fdr_mask(p, q) if p is not None else None)
    subjects = sorted({subject for subject, _ in panels})
    if len(subjects) > MAX_SUBJECTS:
        notes.append(f"first {MAX_SUBJECTS} of {len(subjects)} subjects shown")
        subjects = subjects[:MAX_SUBJECTS]
    shown = np.concatenate([p.values[np.isfinite(p.values)] for p in panels.values()]) if panels else np.zeros(0)
    limit = float(np.percentile(np.abs(shown), 99)) if shown.size else 1.0
    return MapPanels(curve, columns, panels, subjects, limit if limit > 0 else 1.0, q, sorted(set(notes)), quantity)


