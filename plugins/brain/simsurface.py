"""The simulated sheet of cortex laid onto fsaverage5's left hemisphere, so its maps draw on a real cortex.

The sheet's voxels (cells of a square grid, row by row) are given a contiguous patch of vertices
around the left superior temporal gyrus: the ``count`` vertices of the flattened hemisphere nearest
to it, cut into bands of ``side`` vertices from front to back (one band per grid row) and ordered
from top to bottom within a band (the grid's columns). Neighbouring cells get neighbouring vertices,
so the sheet's smooth tunings and planted regions stay smooth and contiguous on the cortex.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from harness import fsaverage5

PATCH_CENTRE_MM = (-56.0, -22.0, 6.0)  # left superior temporal gyrus, fsaverage (MNI305) millimetres


@lru_cache(maxsize=8)
def sheet_vertices(count: int, side: int) -> np.ndarray:
    """Per cell of the sheet (row-major, ``side`` cells a row, ``count`` in all), its fsaverage5 vertex of the
    left hemisphere; a ``ValueError`` when the flattened hemisphere has fewer than ``count`` vertices."""
    flat = fsaverage5("flat", "left")
    on_flat = np.unique(flat.faces)  # the medial wall is cut away from the flat patch
    if count > on_flat.size:
        raise ValueError(f"the sheet has {count} voxels, the flattened fsaverage5 hemisphere {on_flat.size} vertices")
    pial = fsaverage5("pial", "left").coordinates
    centre = on_flat[np.argmin(np.linalg.norm(pial[on_flat] - np.array(PATCH_CENTRE_MM), axis=1))]
    xy = flat.coordinates[:, :2]
    patch = on_flat[np.argsort(np.linalg.norm(xy[on_flat] - xy[centre], axis=1), kind="stable")[:count]]
    patch = patch[np.argsort(xy[patch, 0], kind="stable")]  # front to back: the grid's rows
    out = np.empty(count, dtype=np.int64)
    for start in range(0, count, side):
        band = patch[start : start + side]
        out[start : start + band.size] = band[np.argsort(xy[band, 1], kind="stable")]
    return out
