"""Maps on a cortical surface: r (or r2_unique) per vertex on fsaverage5's flat and inflated cortex, left and right.

A ``SurfaceMap`` on fsaverage5, fsaverage6 or fsaverage is drawn on fsaverage5 (the finer meshes'
first 10,242 vertices per hemisphere are fsaverage5's: ``harness.util.fsaverage``), over the sulcal
depth in grey. Flat: the hemisphere's flattened patch (the medial wall cut away), faces coloured by
the mean of their vertices; inflated: the lateral view through nilearn. One figure per subject:
checkpoints by rows, views by columns; hemispheres without a vertex of the map are left out.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.tri import Triangulation

from harness.plugin.maps import SurfaceMap, fsaverage_vertices
from harness.util.fsaverage import HEMISPHERES, fsaverage5, on_fsaverage5, sulcal_depth
from harness.views.panels import CMAP, BrainMap, MapPanels, map_title

VIEWS = (("flat", "left"), ("flat", "right"), ("inflated", "left"), ("inflated", "right"))


SULCUS, GYRUS = 0.55, 0.8  # the greys of a map's background


def fold_grey(in_sulcus: np.ndarray) -> np.ndarray:
    """Per vertex, the background's grey: darker in a sulcus."""
    return np.where(in_sulcus, SULCUS, GYRUS)


def _grey(hemisphere: str) -> np.ndarray:
    """Per vertex of fsaverage5's ``hemisphere``, a grey from the sulcal depth."""
    return fold_grey(sulcal_depth(hemisphere) > 0)


def draw_flat(ax: Axes, hemisphere: str, values: np.ndarray, norm: Normalize) -> None:
    """``values`` (one per fsaverage5 vertex, NaN: not drawn) on the flattened ``hemisphere``."""
    mesh = fsaverage5("flat", hemisphere)
    draw_mesh(ax, mesh.coordinates[:, :2], mesh.faces, _grey(hemisphere), values, norm)


def draw_mesh(ax: Axes, points: np.ndarray, faces: np.ndarray, grey: np.ndarray, values: np.ndarray,
              norm: Normalize) -> None:
    """A flat mesh (``points``: vertices x 2) in ``grey`` (0-1 per vertex), ``values`` per vertex over it (NaN:
    not drawn), each face coloured by the mean of its vertices."""
    x, y = points[:, 0], points[:, 1]
    ax.tripcolor(Triangulation(x, y, faces), facecolors=grey[faces].mean(axis=1), cmap="gray", vmin=0, vmax=1,
                 edgecolors="none", rasterized=True)
    face_values = values[faces].mean(axis=1)
    missing = ~np.isfinite(face_values)
    if not missing.all():
        shown = Triangulation(x, y, faces, mask=missing)
        ax.tripcolor(shown, facecolors=np.where(missing, 0.0, face_values), cmap=CMAP, norm=norm, edgecolors="none",
                     rasterized=True)
    ax.set_aspect("equal")
    ax.set_axis_off()


def draw_inflated(ax: Axes, hemisphere: str, values: np.ndarray, norm: Normalize) -> None:
    """``values`` on the inflated ``hemisphere``, seen from the side (nilearn's matplotlib engine)."""
    from nilearn.plotting import plot_surf

    mesh = fsaverage5("inflated", hemisphere)
    depth = sulcal_depth(hemisphere)
    plot_surf((mesh.coordinates, mesh.faces), surf_map=np.where(np.isfinite(values), values, 0.0),
              bg_map=depth, hemi=hemisphere, view="lateral", axes=ax, figure=ax.figure, cmap=CMAP,
              vmin=norm.vmin, vmax=norm.vmax, threshold=1e-9 if not np.isfinite(values).all() else None,
              colorbar=False, engine="matplotlib", bg_on_data=False)
    for mesh_faces in ax.collections:
        mesh_faces.set_rasterized(True)
    ax.set_axis_off()


def surface_figures(data: MapPanels, maps: dict[str, SurfaceMap]) -> list[BrainMap]:
    """One figure per subject: each chosen checkpoint's values on the flat and inflated cortex, left and right."""
    where = f"{data.curve.model} on {data.curve.target}"
    out: list[BrainMap] = []
    norm = data.norm
    notes = list(data.notes)
    for subject in data.subjects:
        surface = maps[subject]
        values: dict[int, dict[str, np.ndarray]] = {}
        try:
            for j in data.columns:
                panel = data.panels.get((subject, j))
                if panel is not None:
                    values[j] = on_fsaverage5(surface.mesh, surface.vertices, panel.shown)
        except ValueError as error:
            notes.append(f"{subject} not drawn: {error}")
            continue
        covered = _hemispheres(surface)
        views = [(kind, h) for kind, h in VIEWS if h in covered]
        rows = [j for j in data.columns if j in values]
        figure = Figure(figsize=(2.3 * len(views) + 1.2, 1.9 * len(rows) + 0.9), layout="constrained")
        for r, j in enumerate(rows):
            panel = data.panels[(subject, j)]
            for c, (kind, hemisphere) in enumerate(views):
                projection = "3d" if kind == "inflated" else None
                ax = figure.add_subplot(len(rows), len(views), r * len(views) + c + 1, projection=projection)
                (draw_flat if kind == "flat" else draw_inflated)(ax, hemisphere, values[j][hemisphere], norm)
                if r == 0:
                    ax.set_title(f"{kind}, {hemisphere}", fontsize=9)
                if c == 0:
                    ax.annotate(f"{data.title(j)}\n{data.panel_note(panel)}", xy=(-0.02, 0.5),
                                xycoords="axes fraction", ha="right", va="center", fontsize=7)
        quantity = data.quantity
        data.colour_bar(figure, figure.axes, 0.6)
        name = surface.name or surface.mesh
        map_title(figure, f"{where}, {subject}: per-vertex {quantity.name} at the best layer\non {name} (drawn on "
                  "fsaverage5)", 10)
        caption = (f"{quantity.kind}: {where}, {subject} (per-vertex {quantity.name} on the cortical surface, flat "
                   f"and inflated; blue below 0, red above; {data.threshold_words()})")
        out.append(BrainMap(figure, caption, [], subject))
    if not out:
        return [BrainMap(None, f"{data.quantity.kind}: {where}", notes)]
    out[0].notes = notes
    return out


def _hemispheres(surface: SurfaceMap) -> set[str]:
    """The hemispheres ``surface`` places a vertex on."""
    per = fsaverage_vertices(surface.mesh)
    vertices = np.asarray(surface.vertices)
    return {h for h, inside in zip(HEMISPHERES, (vertices < per, vertices >= per)) if inside.any()}
