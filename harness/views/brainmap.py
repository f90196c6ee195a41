"""Brain maps: per-voxel r at the best layer, drawn on a dataset's flat voxel map, at a few checkpoints.

The checkpoints shown are the first, where each brain transition ends, the peak of the best-layer
curve and the last (at most ``MAX_CHECKPOINTS``); one row per subject (at most ``MAX_SUBJECTS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.analysis.curves import BrainCurve
from harness.analysis.data import read_voxel_values
from harness.analysis.phases import PhaseResult
from harness.analysis.signals import BRAIN_BEST
from harness.analysis.tokens import format_tokens
from harness.plugin.contract import VoxelMap

MAX_CHECKPOINTS = 4
MAX_SUBJECTS = 4


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


def voxel_image(voxel_map: VoxelMap, values: np.ndarray) -> np.ndarray:
    """The map as an image: each voxel's value in its cell, NaN where no voxel lies."""
    image = np.full((int(voxel_map.rows.max()) + 1, int(voxel_map.cols.max()) + 1), np.nan)
    image[voxel_map.rows, voxel_map.cols] = values
    return image


@dataclass
class BrainMap:
    """A brain map (None when nothing could be drawn), its caption and what was left out, one line each."""

    figure: Figure | None
    caption: str
    notes: list[str]


def brain_map_figure(curve: BrainCurve, result: PhaseResult | None, maps: dict[str, VoxelMap],
                     arrays: pd.DataFrame) -> BrainMap:
    """Per-voxel r at the best layer, subjects by rows and chosen checkpoints by columns.

    ``arrays``: the voxel-array index rows of this model and brain target.
    """
    columns = map_checkpoints(curve, result)
    notes: list[str] = []
    images: dict[tuple[str, int], np.ndarray] = {}
    for j in columns:
        step, layer = int(curve.steps[j]), int(curve.best_layer[j])
        rows = arrays[(arrays["step"] == step) & (arrays["layer"] == layer) & arrays["subject"].isin(list(maps))]
        for subject, values in read_voxel_values(rows).items():
            voxel_map = maps[subject]
            if values.size != voxel_map.rows.size:
                notes.append(
                    f"{subject} not drawn: its voxel map places {voxel_map.rows.size} voxels, its r has {values.size}"
                )
                continue
            images[(subject, j)] = voxel_image(voxel_map, values)
    subjects = sorted({subject for subject, _ in images})
    caption = f"brain map: {curve.model} on {curve.target} (per-voxel r at the best layer; blue below 0, red above)"
    if not subjects:
        return BrainMap(None, caption, sorted(set(notes)))
    if len(subjects) > MAX_SUBJECTS:
        notes.append(f"first {MAX_SUBJECTS} of {len(subjects)} subjects shown")
        subjects = subjects[:MAX_SUBJECTS]
    shown = np.concatenate([image[np.isfinite(image)] for image in images.values()])
    limit = float(np.percentile(np.abs(shown), 99)) if shown.size else 1.0
    limit = limit if limit > 0 else 1.0
    figure = Figure(figsize=(2.1 * len(columns) + 1.4, 2.1 * len(subjects) + 0.9), layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(subjects), len(columns), squeeze=False))
    mesh = None
    for i, subject in enumerate(subjects):
        for k, j in enumerate(columns):
            ax = axes[i, k]
            ax.set_xticks([])
            ax.set_yticks([])
            image = images.get((subject, j))
            if image is not None:
                mesh = ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit, origin="lower", interpolation="nearest")
            else:
                ax.text(0.5, 0.5, "no r array", ha="center", va="center", transform=ax.transAxes, fontsize=8)
            if i == 0:
                ax.set_title(
                    f"{format_tokens(float(curve.tokens[j]))} tokens\nstep {int(curve.steps[j])}, layer "
                    f"{int(curve.best_layer[j])}",
                    fontsize=9,
                )
            if k == 0:
                ax.set_ylabel(subject, fontsize=9)
    if mesh is not None:
        figure.colorbar(mesh, ax=axes, shrink=0.85, label="r (test stories)")
    name = next(iter(maps.values())).name or "voxel map"
    figure.suptitle(f"{curve.model} on {curve.target}: per-voxel r at the best layer, on the {name}", fontsize=11)
    return BrainMap(figure, caption, sorted(set(notes)))
