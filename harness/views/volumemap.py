"""Maps of a standard-space volume: r (or r2_unique) per voxel as nilearn's glass brain (MNI space), one figure per
model and target: subjects by rows, checkpoints by columns."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from harness.plugin.maps import VolumeMap
from harness.views.panels import BrainMap, MapPanels, map_title

CMAP = "RdBu_r"


def volume_image(volume: VolumeMap, values: np.ndarray):  # type: ignore[no-untyped-def]
    """A NIfTI image of ``values`` at the voxels inside ``volume``'s mask (0 elsewhere and where NaN)."""
    import nibabel as nib

    grid = np.zeros(volume.mask.shape, dtype=np.float32)
    grid[volume.mask] = np.nan_to_num(values)
    return nib.Nifti1Image(grid, np.asarray(volume.affine, dtype=np.float64))


def volume_figures(data: MapPanels, maps: dict[str, VolumeMap]) -> list[BrainMap]:
    """Glass brains of the values per voxel (left, top and right views in one panel)."""
    from nilearn.plotting import plot_glass_brain

    where = f"{data.curve.model} on {data.curve.target}"
    figure, axes, cells = data.grid(3.6, 1.6)
    for i, k, ax, panel in cells:
        ax.set_axis_off()
        plot_glass_brain(volume_image(maps[panel.subject], panel.shown), axes=ax, figure=figure, display_mode="lzr",
                         cmap=CMAP, vmin=-data.limit, vmax=data.limit, plot_abs=False, colorbar=False,
                         annotate=False, black_bg=False)
        note = data.panel_note(panel)
        ax.set_title(f"{data.title(panel.column)}; {note}" if i == 0 else note, fontsize=8)
        if k == 0:
            ax.annotate(panel.subject, xy=(-0.02, 0.5), xycoords="axes fraction", ha="right", va="center", fontsize=9)
    figure.colorbar(ScalarMappable(Normalize(-data.limit, data.limit), colormaps[CMAP]), ax=axes, shrink=0.8,
                    label=data.quantity.label)
    space, name = maps[data.subjects[0]].space, data.quantity.name
    map_title(figure, f"{where}: per-voxel {name} at the best layer ({space}, glass brain)", 11)
    caption = (f"{data.quantity.kind}: {where} (per-voxel {name} as a glass brain in {space}; blue below 0, red "
               f"above; {data.threshold_words()})")
    return [BrainMap(figure, caption, data.notes)]
