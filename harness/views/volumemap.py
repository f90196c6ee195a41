"""Maps of a standard-space volume: r (or r2_unique) per voxel as nilearn's glass brain (MNI space), one figure per
model and target: subjects by rows, checkpoints by columns."""

from __future__ import annotations

import numpy as np

from harness.plugin.maps import VolumeMap
from harness.views.panels import CMAP, BrainMap, MapPanels, map_title


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
        data.label(ax, i, k, panel, axes_off=True)
    data.colour_bar(figure, axes, 0.8)
    space, name = maps[data.subjects[0]].space, data.quantity.name
    map_title(figure, f"{where}: per-voxel {name} at the best layer ({space}, glass brain)", 11)
    caption = (f"{data.quantity.kind}: {where} (per-voxel {name} as a glass brain in {space}; blue below 0, red "
               f"above; {data.threshold_words()})")
    return [BrainMap(figure, caption, data.notes)]
