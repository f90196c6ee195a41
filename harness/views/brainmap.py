"""Brain maps: per-voxel r at the best layer (and, with nuisance bands, r2_unique), drawn on the dataset's own
geometry, at a few checkpoints.

The geometry is the dataset's ``voxel_map`` (``harness.plugin.maps``): a flat grid is drawn here, a
cortical surface by ``surfacemap``, a subject's own flattened cortex by ``flatmap``, a standard-space volume
by ``volumemap`` and M/EEG sensors by ``sensormap``, each from the panels of ``panels``. Where a cell has
block-permutation p-values, channels that do not pass FDR are masked (``significance``); where none
has, the map says it is unthresholded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.analysis.curves import BrainCurve
from harness.analysis.phases import PhaseResult
from harness.plugin.maps import ChannelMap, FlatMap, SensorMap, SurfaceMap, VolumeMap, VoxelMap
from harness.views.flatmap import flatmap_figures
from harness.views.panels import CMAP, BrainMap, MapPanels, Quantity, R, map_panels, map_title
from harness.views.sensormap import sensor_figure
from harness.views.surfacemap import surface_figures
from harness.views.volumemap import volume_figures


def voxel_image(voxel_map: VoxelMap, values: np.ndarray) -> np.ndarray:
    """The map as an image: each voxel's value in its cell, NaN where no voxel lies."""
    image = np.full((int(voxel_map.rows.max()) + 1, int(voxel_map.cols.max()) + 1), np.nan)
    image[voxel_map.rows, voxel_map.cols] = values
    return image


def grid_figure(data: MapPanels, maps: dict[str, ChannelMap]) -> Figure:
    """Flat-grid maps: subjects by rows, checkpoints by columns."""
    figure, axes, cells = data.grid(2.1, 2.1)
    for i, k, ax, panel in cells:
        grid = maps[panel.subject]
        assert isinstance(grid, VoxelMap)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.imshow(voxel_image(grid, panel.shown), cmap=CMAP, norm=data.norm, origin="lower", interpolation="nearest")
        data.label(ax, i, k, panel)
    if cells:
        data.colour_bar(figure, axes, 0.85)
    name = maps[data.subjects[0]].name or "voxel map"
    map_title(figure, f"{data.curve.model} on {data.curve.target}: per-voxel {data.quantity.name} at the best layer, "
                      f"on the {name}", 11)
    return figure


def brain_map_figures(curve: BrainCurve, result: PhaseResult | None, maps: dict[str, ChannelMap],
                      arrays: pd.DataFrame, q: float = 0.05, quantity: Quantity = R) -> list[BrainMap]:
    """The maps of one model on one brain target, drawn on the geometry of its subjects' maps.

    ``arrays``: the voxel-array index rows of this model and brain target; ``q``: the target's FDR level;
    ``quantity``: what is drawn per voxel (r, or r2_unique where the cells stored it).
    """
    data = map_panels(curve, result, maps, arrays, q, quantity)
    where = f"{curve.model} on {curve.target}"
    kind_words, name = quantity.kind, quantity.name
    if not data.subjects:
        caption = f"{kind_words}: {where} (per-voxel {name} at the best layer; blue below 0, red above)"
        return [BrainMap(None, caption, data.notes)]
    kinds = {type(maps[s]) for s in data.subjects}
    if len(kinds) > 1:
        names = ", ".join(sorted(k.__name__ for k in kinds))
        return [BrainMap(None, f"{kind_words}: {where}",
                         [*data.notes, f"subjects' maps are of different kinds: {names}"])]
    kind = kinds.pop()
    if kind is VoxelMap:
        caption = (f"{kind_words}: {where} (per-voxel {name} at the best layer; blue below 0, red above; "
                   f"{data.threshold_words()})")
        return [BrainMap(grid_figure(data, maps), caption, data.notes)]
    if kind is SensorMap:
        caption = (f"sensor topography{'' if quantity == R else ' of ' + name}: {where} ({name} per sensor at the "
                   f"best layer; {data.threshold_words()})")
        return [BrainMap(sensor_figure(data, {s: m for s, m in maps.items() if isinstance(m, SensorMap)}), caption,
                         data.notes)]
    if kind is SurfaceMap:
        return surface_figures(data, {s: m for s, m in maps.items() if isinstance(m, SurfaceMap)})
    if kind is FlatMap:
        return flatmap_figures(data, {s: m for s, m in maps.items() if isinstance(m, FlatMap)})
    assert kind is VolumeMap
    return volume_figures(data, {s: m for s, m in maps.items() if isinstance(m, VolumeMap)})
