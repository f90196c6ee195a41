"""FreeSurfer's fsaverage5 cortex, from the meshes nilearn ships inside its package (nothing is downloaded).

fsaverage meshes are icosahedral subdivisions that nest: each finer mesh keeps the coarser one's
vertices first and appends the midpoints of its edges, so the first 10,242 vertices of each
hemisphere of fsaverage6 (40,962) or fsaverage (163,842) are fsaverage5's (checked on fsaverage5
itself in tests/views/test_cortex.py; for fsaverage6 and fsaverage, nilearn issues #3415 and #5693
show the prefix holds for fsaverage5, 6 and 7 but not for fsaverage3 and 4). A map on a finer mesh
is drawn on fsaverage5 through that prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from harness.plugin.maps import fsaverage_vertices

FSAVERAGE5 = "fsaverage5"
HEMISPHERES = ("left", "right")
NESTED = ("fsaverage5", "fsaverage6", "fsaverage")  # meshes whose vertices start with fsaverage5's


@dataclass(frozen=True)
class Mesh:
    """One hemisphere's surface: vertex coordinates (n × 3) and triangles (m × 3)."""

    coordinates: np.ndarray
    faces: np.ndarray


@lru_cache(maxsize=16)
def fsaverage5(surface: str, hemisphere: str) -> Mesh:
    """fsaverage5's ``surface`` (``pial``, ``inflated``, ``flat`` or ``sphere``) of ``hemisphere`` (left, right)."""
    from nilearn.datasets import load_fsaverage

    part = load_fsaverage(FSAVERAGE5)[surface].parts[hemisphere]
    return Mesh(np.asarray(part.coordinates, dtype=np.float64), np.asarray(part.faces, dtype=np.int64))


@lru_cache(maxsize=2)
def sulcal_depth(hemisphere: str) -> np.ndarray:
    """fsaverage5's sulcal depth per vertex of ``hemisphere`` (the grey background of a map)."""
    from nilearn.datasets import load_fsaverage_data

    return np.asarray(load_fsaverage_data(mesh=FSAVERAGE5, data_type="sulcal").data.parts[hemisphere], dtype=float)


def on_fsaverage5(mesh: str, vertices: np.ndarray, values: np.ndarray) -> dict[str, np.ndarray]:
    """hemisphere -> one value per fsaverage5 vertex (NaN where no vertex of the map lies) for ``values`` at
    ``vertices`` of ``mesh`` (both hemispheres, left first); a ``ValueError`` for a mesh that does not nest."""
    if mesh not in NESTED:
        raise ValueError(f"{mesh} does not start with fsaverage5's vertices; only {', '.join(NESTED)} are drawn")
    per = fsaverage_vertices(mesh)
    full = np.full(2 * per, np.nan)
    full[np.asarray(vertices, dtype=np.int64)] = values
    small = fsaverage_vertices(FSAVERAGE5)
    return {"left": full[:small], "right": full[per : per + small]}
