"""fsaverage5 from nilearn's package data (offline), the nesting of the fsaverage meshes, and maps on them."""

from __future__ import annotations

import socket
from collections import defaultdict

import numpy as np
import pytest

from harness.plugin.maps import SurfaceMap, fsaverage_vertices
from harness.util.curvature import mesh_curvature
from harness.util.fsaverage import fsaverage5, on_fsaverage5, sulcal_depth
from harness_plugins.brain.simsurface import sheet_vertices


def test_meshes_load_without_a_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    fsaverage5.cache_clear()
    for surface in ("pial", "inflated", "flat", "sphere"):
        for hemisphere in ("left", "right"):
            mesh = fsaverage5(surface, hemisphere)
            assert mesh.coordinates.shape == (10242, 3) and mesh.faces.shape[1] == 3
    assert sulcal_depth("right").shape == (10242,)


def test_fsaverage5_appends_each_subdivision_after_the_coarser_vertices():
    """The nesting a finer mesh's prefix relies on, checked on fsaverage5 itself: its first 12 vertices are the
    icosahedron's (5 neighbours each), and every vertex from 2,562 (fsaverage4's count) on is the midpoint, on
    the sphere, of two neighbouring earlier vertices."""
    mesh = fsaverage5("sphere", "left")
    x = mesh.coordinates / np.linalg.norm(mesh.coordinates, axis=1, keepdims=True)
    neighbours = defaultdict(set)
    for a, b in np.concatenate([mesh.faces[:, [0, 1]], mesh.faces[:, [1, 2]], mesh.faces[:, [2, 0]]]):
        neighbours[a].add(b)
        neighbours[b].add(a)
    assert all(len(neighbours[i]) == 5 for i in range(12))
    coarse = fsaverage_vertices("fsaverage4")
    worst = 0.0
    for i in range(coarse, len(x)):
        parents = [j for j in neighbours[i] if j < coarse]
        middles = [(x[a] + x[b]) / np.linalg.norm(x[a] + x[b]) for a in parents for b in parents if a < b]
        worst = max(worst, min(float(np.linalg.norm(m - x[i])) for m in middles))
    assert worst < 1e-3


def test_a_finer_mesh_is_drawn_through_its_fsaverage5_prefix():
    per = fsaverage_vertices("fsaverage6")
    assert per == 40962 and fsaverage_vertices("fsaverage5") == 10242
    vertices = np.array([0, 10241, 10242, per, per + 5, 2 * per - 1])
    drawn = on_fsaverage5("fsaverage6", vertices, np.arange(6.0))
    assert drawn["left"][0] == 0 and drawn["left"][10241] == 1 and drawn["right"][0] == 3 and drawn["right"][5] == 4
    assert np.isfinite(drawn["left"]).sum() == 2 and np.isfinite(drawn["right"]).sum() == 2  # 10242, 2n-1: not in 5
    with pytest.raises(ValueError, match="fsaverage4 does not start with fsaverage5's vertices"):
        on_fsaverage5("fsaverage4", np.array([0]), np.array([1.0]))
    with pytest.raises(ValueError, match="unknown mesh 'fsaverage9'"):
        fsaverage_vertices("fsaverage9")


def test_the_simulated_sheet_lies_on_distinct_neighbouring_vertices():
    vertices = sheet_vertices(1024, 32)
    assert len(set(vertices.tolist())) == 1024 and vertices.max() < 10242
    pial = fsaverage5("pial", "left").coordinates
    steps = np.linalg.norm(np.diff(pial[vertices.reshape(32, 32)], axis=1), axis=-1)  # along a grid row
    assert np.median(steps) < 8.0  # mm: neighbouring cells are neighbouring vertices (fsaverage5 spacing ~3-5 mm)
    surface = SurfaceMap("fsaverage5", vertices)
    assert on_fsaverage5(surface.mesh, surface.vertices, np.ones(1024))["right"].size == 10242


@pytest.mark.parametrize("hemisphere", ["left", "right"])
def test_curvature_from_the_mesh_is_negative_in_fsaverage5s_sulci(hemisphere):
    """Computed on the fiducial surface (midway between pial and white), its sign agrees with FreeSurfer's
    sulcal depth (positive in sulci) at most vertices; the triangles wound the other way give the same."""
    fiducial = (fsaverage5("pial", hemisphere).coordinates + fsaverage5("white_matter", hemisphere).coordinates) / 2
    faces = fsaverage5("pial", hemisphere).faces
    depth = sulcal_depth(hemisphere)
    curvature = mesh_curvature(fiducial, faces)
    assert np.corrcoef(curvature, depth)[0, 1] < -0.75
    assert np.mean((curvature < 0) == (depth > 0)) > 0.78
    assert np.allclose(mesh_curvature(fiducial, faces[:, ::-1]), curvature)
