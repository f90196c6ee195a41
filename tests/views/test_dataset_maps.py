"""Each brain dataset's map, from fixtures in the real formats, drawn by the report's map drawers."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from harness import DataError, FlatMap, SensorMap, SurfaceMap, VolumeMap
from harness.analysis.curves import BrainCurve
from harness.util.curvature import mesh_curvature
from harness.util.fsaverage import fsaverage5
from harness.views.datasets import _checked_map
from harness.views.flatmap import background, flatmap_figures
from harness.views.lagprofile import lag_profile_figure
from harness.views.panels import MapPanels, Panel
from harness.views.sensormap import sensor_figure
from harness.views.surfacemap import GYRUS, SULCUS, surface_figures
from harness.views.volumemap import volume_figures
from harness_plugins.brain.lebel2023 import LeBel2023
from harness_plugins.brain.narratives import Narratives, NarrativesOptions
from tests.support.lebel_fixture import VOXELS, write_fixture
from tests.support.narratives_fixture import write_narratives
from tests.support.pycortex_fixture import write_pycortex_subject

FSAVERAGE6 = 40962


def _curve(steps: int) -> BrainCurve:
    return BrainCurve("tiny", "data", pd.DataFrame(), np.arange(steps), np.array([0, *np.logspace(6, 9, steps - 1)]),
                      np.linspace(0, 0.2, steps), np.zeros(steps, dtype=int), pd.DataFrame())


def _panels(subject: str, r: np.ndarray, p_mask: np.ndarray | None = None) -> MapPanels:
    panels = {(subject, 0): Panel(subject, 0, r * 0.1), (subject, 1): Panel(subject, 1, r, p_mask)}
    return MapPanels(_curve(2), [0, 1], panels, [subject], float(np.nanmax(np.abs(r))), 0.05)


def _gifti(path: Path, volumes: int, vertices: int) -> None:
    rows = np.random.default_rng(0).normal(size=(volumes, vertices)).astype(np.float32)
    nib.save(nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(row, intent="NIFTI_INTENT_NONE") for row in rows]),
             str(path))


def test_narratives_fsaverage6_draws_flat_and_inflated_on_both_hemispheres(tmp_path):
    root = write_narratives(tmp_path / "ds002345")
    dataset = Narratives(NarrativesOptions(root=str(root)))
    subject = dataset.subjects()[0]
    story = next(s for s in [*dataset.split()[0], *dataset.split()[1]] if subject in dataset.scans[s])
    for path in dataset._response_paths(dataset.scans[story][subject]):  # fsaverage6's real vertex count
        _gifti(path, 3, FSAVERAGE6)
    surface = dataset.voxel_map(subject)
    assert isinstance(surface, SurfaceMap) and surface.mesh == "fsaverage6" and surface.vertices.size == 2 * FSAVERAGE6
    r = np.sin(np.arange(2 * FSAVERAGE6) / 500.0)
    drawn = surface_figures(_panels(subject, r, r > 0.5), {subject: surface})
    assert len(drawn) == 1 and drawn[0].figure is not None and drawn[0].subject == subject
    titles = [ax.get_title() for ax in drawn[0].figure.axes if ax.get_title()]
    assert titles == ["flat, left", "flat, right", "inflated, left", "inflated, right"]
    assert "passing FDR q 0.05" in drawn[0].caption and "the others unthresholded" in drawn[0].caption
    drawn[0].figure.savefig(tmp_path / "surface.png")
    left = SurfaceMap("fsaverage6", surface.vertices[:FSAVERAGE6],  # one hemisphere: a narrow figure
                      name="the sub-001 surface of every story of this dataset, on fsaverage6 in native order")
    half = r[:FSAVERAGE6]
    (long,) = surface_figures(_panels(subject, half, half > 0.5), {subject: left})
    figure = long.figure
    assert figure is not None
    title = figure._suptitle  # the title stays within the figure, however long its names
    assert title is not None
    box, canvas = title.get_window_extent(FigureCanvasAgg(figure).get_renderer()), figure.bbox
    assert box.x0 >= canvas.x0 and box.x1 <= canvas.x1, (box, canvas)


def test_narratives_vertices_of_no_fsaverage_mesh_are_one_line(tmp_path):
    dataset = Narratives(NarrativesOptions(root=str(write_narratives(tmp_path / "ds002345"))))
    with pytest.raises(DataError, match=r"12 vertices per hemisphere, no fsaverage mesh's count \(fsaverage6 has 40,962\)"):
        dataset.voxel_map(dataset.subjects()[0])


def test_narratives_mni_volume_draws_a_glass_brain(tmp_path):
    root = write_narratives(tmp_path / "ds002345", volume=True)
    dataset = Narratives(NarrativesOptions(root=str(root), space="MNI152NLin2009cAsym"))
    subject = dataset.subjects()[0]
    volume = dataset.voxel_map(subject)
    assert isinstance(volume, VolumeMap) and volume.affine.shape == (4, 4)
    n = int(volume.mask.sum())
    assert n == dataset.load_subject(subject).responses[dataset.split()[1][0]].shape[1]
    drawn = volume_figures(_panels(subject, np.linspace(-0.3, 0.3, n)), {subject: volume})
    assert drawn[0].figure is not None and "glass brain" in drawn[0].caption
    assert "unthresholded: no block permutations were run" in drawn[0].caption


def test_lebel_without_a_pycortex_subject_says_why_there_is_no_map(tmp_path):
    write_fixture(tmp_path)
    dataset = LeBel2023(LeBel2023.Options(root=str(tmp_path)))
    with pytest.raises(DataError, match="no geometry is available; its voxels lie in the subject's own volume"):
        dataset.voxel_map(dataset.subjects()[0])


def test_meg_topographies_from_the_recordings_kit_positions_and_lag_profiles(tmp_path):
    pytest.importorskip("mne_bids")
    from harness_plugins.brain.simmeg import SimulatedMEG, SimulatedMEGOptions

    dataset = SimulatedMEG(SimulatedMEGOptions(cache=str(tmp_path / "cache"), subjects=1, sessions=1, stories=3,
                                               words_per_story=100, sensors=24, sfreq=100.0, resample=50.0))
    sensors = dataset.voxel_map(dataset.subjects()[0])
    assert isinstance(sensors, SensorMap) and len(sensors.info["ch_names"]) == 24
    assert all(name.startswith("MEG ") for name in sensors.info["ch_names"])  # KIT channel names, MNE's layout
    positions = np.array([channel["loc"][:3] for channel in sensors.info["chs"]])
    assert np.ptp(positions, axis=0).min() > 0.05  # spread over the head (m)
    r = np.cos(np.arange(24) / 4.0) * 0.2
    figure = sensor_figure(_panels("01", r, np.abs(r) > 0.15), {"01": sensors})
    panels = [ax for ax in figure.axes if ax.get_title()]
    assert len(panels) == 2
    from matplotlib.patches import Ellipse

    for ax in panels:  # the interpolated map fills the head outline and stops there (not past it, with few sensors)
        assert isinstance(ax.images[0].get_clip_path()._patch, Ellipse)
    figure.savefig(tmp_path / "topo.png")
    lags = np.linspace(0, 0.8, 41)
    rows = []
    for step in range(3):
        profile = np.exp(-((lags - 0.3) ** 2) / 0.005)[:, None] * step + 0.1 * np.ones((41, 24))
        path = tmp_path / f"cell{step}.npz"
        np.savez(path, **{"r/01": r, "lag_profile/01": profile, "lags_s": lags})
        rows.append({"model": "tiny", "target": "data", "step": step, "layer": 0, "subject": "01", "path": path,
                     "key": "r/01"})
    drawn = lag_profile_figure(_curve(3), pd.DataFrame(rows))
    assert drawn is not None and drawn.figure is not None and "100–400 ms shaded" in drawn.caption
    lines = drawn.figure.axes[0].get_lines()
    assert len(lines) == 3 and np.argmax(lines[-1].get_ydata()) == np.argmin(np.abs(lags - 0.3))
    shaded = [patch.get_x() + patch.get_width() for patch in drawn.figure.axes[0].patches]
    assert shaded == [pytest.approx(400)]
    short = pd.DataFrame([{**row, "path": _cut(row["path"], lags <= 0.2)} for row in rows])
    clipped = lag_profile_figure(_curve(3), short)  # a TRF that stops at 200 ms: the window shaded up to 200 ms
    assert clipped is not None and "100–200 ms shaded" in clipped.caption
    assert [patch.get_x() + patch.get_width() for patch in clipped.figure.axes[0].patches] == [pytest.approx(200)]


def _cut(path, keep):
    """A copy of the cell's arrays with only the lags ``keep`` selects."""
    with np.load(path) as cell:
        arrays = {key: cell[key][keep] if key != "r/01" else cell[key] for key in cell.files}
    cut = path.with_name(path.stem + "_cut.npz")
    np.savez(cut, **arrays)
    return cut


def test_lebel_with_a_pycortex_subject_draws_a_flatmap(tmp_path):
    write_fixture(tmp_path)
    dataset = LeBel2023(LeBel2023.Options(root=str(tmp_path)))
    subject = dataset.subjects()[0]
    written = write_pycortex_subject(tmp_path / "derivative" / "pycortex-db", subject, VOXELS)
    flat = dataset.voxel_map(subject)
    assert isinstance(flat, FlatMap) and flat.n_voxels == VOXELS and "pycortex transform UTS01_auto" in flat.name
    assert _checked_map(flat, subject) is flat  # the report's check of a dataset's map
    left = fsaverage5("flat", "left").coordinates.shape[0]
    assert flat.points.shape == (2 * left, 2) and flat.faces.max() < 2 * left
    drawn = [np.unique(flat.faces[flat.faces < left]), np.unique(flat.faces[flat.faces >= left])]
    assert flat.points[drawn[0], 0].max() <= 0 <= flat.points[drawn[1], 0].min()  # left hemisphere on the left
    assert set(flat.voxels[flat.voxels >= 0]) == set(range(VOXELS))  # every voxel is shown by some vertex
    fiducial = np.concatenate([(fsaverage5("pial", h).coordinates + fsaverage5("white_matter", h).coordinates) / 2
                               for h in ("left", "right")])
    taken = flat.voxels >= 0
    centres = nib.affines.apply_affine(written["affine"], written["voxels"][flat.voxels[taken]])
    assert np.linalg.norm(fiducial[taken] - centres, axis=1).max() <= 8.0 * np.sqrt(3) / 2 + 1e-6  # the voxel it is in
    computed = np.concatenate([mesh_curvature(fiducial[:left], fsaverage5("pial", "left").faces),
                               mesh_curvature(fiducial[left:], fsaverage5("pial", "right").faces)])
    assert flat.curvature is not None and np.allclose(flat.curvature, computed)  # no surface-info/: from the mesh
    assert set(np.unique(background(flat))) == {SULCUS, GYRUS}
    r = np.linspace(-0.3, 0.3, VOXELS)
    maps = flatmap_figures(_panels(subject, r, r > 0.1), {subject: flat})
    assert maps[0].figure is not None and "flattened cortex" in maps[0].caption
    assert "sulci dark grey, gyri light" in maps[0].caption
    maps[0].figure.savefig(tmp_path / "flat.png")


def test_a_pycortex_subjects_stored_curvature_shades_the_flatmap(tmp_path):
    write_fixture(tmp_path)
    dataset = LeBel2023(LeBel2023.Options(root=str(tmp_path)))
    subject = dataset.subjects()[0]
    n = fsaverage5("flat", "left").coordinates.shape[0]
    stored = {"left": -np.ones(n), "right": np.linspace(-1, 1, n)}  # what pycortex's get_surfinfo caches
    write_pycortex_subject(tmp_path / "derivative" / "pycortex-db", subject, VOXELS, curvature=stored)
    flat = dataset.voxel_map(subject)
    assert flat.curvature is not None and np.array_equal(flat.curvature, np.concatenate([stored["left"], stored["right"]]))
    assert np.all(background(flat)[:n] == SULCUS) and np.mean(background(flat)[n:] == GYRUS) == pytest.approx(0.5, abs=0.01)
    np.savez(tmp_path / "derivative" / "pycortex-db" / subject / "surface-info" / "curvature.npz",
             left=np.ones(n - 1), right=np.ones(n))
    with pytest.raises(DataError, match=rf"curvature.npz: {n - 1:,} curvature values for hemisphere lh, its surface "
                                        rf"has {n:,} vertices"):
        dataset.voxel_map(subject)
    path = tmp_path / "derivative" / "pycortex-db" / subject / "surface-info" / "curvature.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # cut short
    with pytest.raises(DataError, match=r"curvature.npz: not pycortex's curvature \(arrays 'left' and 'right'\): "):
        dataset.voxel_map(subject)
    np.savez(path, lh=np.ones(n), rh=np.ones(n))  # other names
    with pytest.raises(DataError, match=r"curvature.npz: not pycortex's curvature \(arrays 'left' and 'right'\): "):
        dataset.voxel_map(subject)


def test_a_pycortex_subject_without_a_mask_of_the_responses_count_is_one_line(tmp_path):
    write_fixture(tmp_path)
    dataset = LeBel2023(LeBel2023.Options(root=str(tmp_path)))
    subject = dataset.subjects()[0]
    write_pycortex_subject(tmp_path / "derivative" / "pycortex-db", subject, VOXELS + 3)
    with pytest.raises(DataError, match=rf"no mask of {VOXELS} voxels, the responses' count \(mask_cortical.nii.gz "):
        dataset.voxel_map(subject)
