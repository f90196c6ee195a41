"""Maps on a subject's own flattened cortex (``FlatMap``, e.g. a LeBel subject's pycortex database): each
vertex coloured by the value of the voxel it falls in, over the cortex's curvature in grey (sulci dark), both
hemispheres side by side; subjects by rows, checkpoints by columns."""

from __future__ import annotations

import numpy as np

from harness.plugin.maps import FlatMap
from harness.views.panels import BrainMap, MapPanels, map_title
from harness.views.surfacemap import draw_mesh, fold_grey

GREY = 0.75  # the cortex where no value is drawn, on a map without curvature


def vertex_values(flat: FlatMap, values: np.ndarray) -> np.ndarray:
    """Per vertex of ``flat``, the value of its voxel (NaN for a vertex outside every voxel)."""
    out = np.full(len(flat.voxels), np.nan)
    inside = flat.voxels >= 0
    out[inside] = values[flat.voxels[inside]]
    return out


def background(flat: FlatMap) -> np.ndarray:
    """Per vertex, the grey under the values: sulci dark and gyri light by ``flat.curvature``, else ``GREY``."""
    if flat.curvature is None:
        return np.full(len(flat.points), GREY)
    return fold_grey(np.asarray(flat.curvature) < 0)


def flatmap_figures(data: MapPanels, maps: dict[str, FlatMap]) -> list[BrainMap]:
    """The values per voxel on each subject's flattened cortex."""
    where, quantity = f"{data.curve.model} on {data.curve.target}", data.quantity
    figure, axes, cells = data.grid(3.4, 1.9)
    for i, k, ax, panel in cells:
        flat = maps[panel.subject]
        draw_mesh(ax, flat.points, flat.faces, background(flat), vertex_values(flat, panel.shown), data.norm)
        data.label(ax, i, k, panel, axes_off=True)
    data.colour_bar(figure, axes, 0.8)
    map_title(figure, f"{where}: per-voxel {quantity.name} at the best layer on each subject's flattened cortex "
                      "(pycortex)", 11)
    folds = "sulci dark grey, gyri light; " if all(maps[s].curvature is not None for s in data.subjects) else ""
    caption = (f"{quantity.kind}: {where} (per-voxel {quantity.name} on each subject's flattened cortex, left "
               f"hemisphere left; {folds}blue below 0, red above; {data.threshold_words()})")
    return [BrainMap(figure, caption, data.notes)]
