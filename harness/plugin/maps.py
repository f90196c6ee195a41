"""Where a brain dataset's channels lie, so that one value per channel can be drawn: the kinds of map.

A dataset declares its geometry through ``BrainDataset.voxel_map(subject)``, returning one of:

- ``VoxelMap``: cells of a flat 2-D grid (a simulated sheet, a flattened cortex already gridded);
- ``SurfaceMap``: vertices of a FreeSurfer fsaverage mesh (``fsaverage5``, ``fsaverage6``, ...),
  the left hemisphere's then the right's;
- ``VolumeMap``: voxels of a 3-D grid in a standard space (MNI), inside a mask, with the grid's affine;
- ``FlatMap``: voxels of a subject's own volume shown on that subject's flattened cortex (a pycortex
  subject: ``harness.util.pycortexdb`` reads one), each vertex taking the voxel it falls in;
- ``SensorMap``: M/EEG sensors, with their positions as the recording gives them (an MNE ``Info``).

Channel ``i`` is column ``i`` of ``SubjectData.responses``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class VoxelMap:
    """Where a subject's voxels lie on a flat 2-D map, so that one value per voxel can be drawn as an image.

    Voxel ``i`` (in the column order of ``SubjectData.responses``) sits in map cell
    ``(rows[i], cols[i])``; cells without a voxel stay blank. ``name`` says what the map is.
    """

    rows: np.ndarray  # per voxel, its row on the map (non-negative integers)
    cols: np.ndarray  # per voxel, its column
    name: str = ""  # e.g. "flattened cortex", "simulated 2-D sheet"


def fsaverage_vertices(mesh: str) -> int:
    """Vertices per hemisphere of FreeSurfer's ``mesh`` (``fsaverage`` is ``fsaverage7``): 10·4^k + 2."""
    order = 7 if mesh == "fsaverage" else int(mesh.removeprefix("fsaverage")) if mesh.startswith("fsaverage") else -1
    if not 3 <= order <= 7 or mesh not in {"fsaverage", f"fsaverage{order}"}:
        raise ValueError(f"unknown mesh {mesh!r}; allowed: fsaverage3 ... fsaverage6, fsaverage")
    return 10 * 4**order + 2


@dataclass(frozen=True)
class SurfaceMap:
    """Voxel (vertex) ``i`` is vertex ``vertices[i]`` of ``mesh``, counted over both hemispheres: the left
    hemisphere's vertices first (0 .. n-1), then the right's (n .. 2n-1), n = ``fsaverage_vertices(mesh)``."""

    mesh: str  # "fsaverage5", "fsaverage6", ... or "fsaverage"
    vertices: np.ndarray  # per voxel, its vertex over both hemispheres
    name: str = ""


@dataclass(frozen=True)
class VolumeMap:
    """Voxel ``i`` is the ``i``-th voxel inside ``mask`` (C order) of a 3-D grid whose ``affine`` maps voxel
    indices to millimetres in ``space``."""

    mask: np.ndarray  # (x, y, z) booleans
    affine: np.ndarray  # 4 x 4
    space: str = "MNI152NLin2009cAsym"
    name: str = ""


@dataclass(frozen=True)
class FlatMap:
    """A subject's own flattened cortex: ``points`` (vertices x 2, both hemispheres laid side by side), its
    triangles ``faces`` (vertex indices), and per vertex the voxel it shows, ``voxels`` (an index into the
    ``n_voxels`` response columns; -1: a vertex outside every voxel of the responses); optionally per vertex
    the folded cortex's ``curvature`` (positive on gyri, negative in sulci), which shades the background."""

    points: np.ndarray
    faces: np.ndarray
    voxels: np.ndarray
    n_voxels: int
    name: str = ""
    curvature: np.ndarray | None = None  # per vertex; None: a uniform grey background


@dataclass(frozen=True)
class SensorMap:
    """Sensor ``i`` is channel ``i`` of ``info`` (an ``mne.Info`` whose channels carry their positions)."""

    info: Any  # mne.Info, channels in the order of the response columns
    name: str = ""


ChannelMap = VoxelMap | SurfaceMap | VolumeMap | FlatMap | SensorMap


def map_size(channel_map: ChannelMap) -> int:
    """How many channels ``channel_map`` places."""
    if isinstance(channel_map, VoxelMap):
        return int(np.asarray(channel_map.rows).size)
    if isinstance(channel_map, SurfaceMap):
        return int(np.asarray(channel_map.vertices).size)
    if isinstance(channel_map, VolumeMap):
        return int(np.count_nonzero(channel_map.mask))
    if isinstance(channel_map, FlatMap):
        return int(channel_map.n_voxels)
    return len(channel_map.info["ch_names"])
