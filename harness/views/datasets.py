"""What a run's brain datasets say about themselves: a notice for the report, maps of their channels and the FDR
level their maps are masked at.

The run's config copy names each brain dataset and its options; the dataset is built from them
through the registry (no data is loaded) and asked for ``notice()`` and, per subject,
``voxel_map()``. A dataset that cannot be built where the run is analysed (its plugin missing, its
options no longer valid) or whose map fails is reported in one line, never fatal to the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from harness.analysis.data import load_config_text
from harness.encoding.settings import EncodingSettings
from harness.plan.config import BrainEntry, entry_label, parse_config
from harness.plan.planner import build_plugin
from harness.plugin.contract import BrainDataset, Channels
from harness.plugin.maps import ChannelMap, FlatMap, SurfaceMap, VolumeMap, VoxelMap, fsaverage_vertices
from harness.plugin.registry import get_registry
from harness.util.errors import DataError, one_line

DEFAULT_FDR_Q = float(EncodingSettings.model_fields["fdr_q"].default)


@dataclass
class DatasetInfo:
    """One brain target of a run: its plugin's notice and the voxel map of each subject that has one."""

    label: str
    plugin: str
    notice: str = ""
    channels: Channels = Channels.VOXELS  # what the dataset's response columns are called
    maps: dict[str, ChannelMap] = field(default_factory=dict)  # subject -> map
    fdr_q: float = field(default_factory=lambda: DEFAULT_FDR_Q)  # the entry's encoding.fdr_q: maps are masked at it
    nuisance: list[str] = field(default_factory=list)  # the entry's encoding.nuisance bands (r2_unique is beyond them)
    left_out: str = ""  # what the dataset left out of the data on disk, as the cells' provenance records it
    problems: list[str] = field(default_factory=list)  # why a notice or a map is missing, one line each


def _entries(run_dir: Path) -> dict[str, BrainEntry]:
    text = load_config_text(run_dir)
    if not text:
        return {}
    config = parse_config(yaml.safe_load(text), str(run_dir / "config.yaml"))
    return {entry_label(entry): entry for entry in config.brain}


def _checked_map(voxel_map: ChannelMap | None, subject: str) -> ChannelMap | None:
    """``voxel_map`` with its indices checked (integers in range), or a ``ValueError`` naming what is wrong."""
    if voxel_map is None or not isinstance(voxel_map, VoxelMap | SurfaceMap | VolumeMap | FlatMap):
        return voxel_map
    if isinstance(voxel_map, FlatMap):
        points, faces, voxels = (np.asarray(a) for a in (voxel_map.points, voxel_map.faces, voxel_map.voxels))
        if (points.ndim != 2 or points.shape[1] != 2 or faces.ndim != 2 or faces.shape[1] != 3
                or voxels.shape != (len(points),) or (faces.size and not 0 <= faces.min() <= faces.max() < len(points))
                or (voxels.size and not -1 <= voxels.min() <= voxels.max() < voxel_map.n_voxels)
                or (voxel_map.curvature is not None and np.shape(voxel_map.curvature) != (len(points),))):
            raise ValueError(f"voxel_map({subject!r}): a flat map needs points (n x 2), triangles of their indices, "
                             f"per point a voxel from -1 to {voxel_map.n_voxels - 1} (and a curvature, where given)")
        return voxel_map
    if isinstance(voxel_map, SurfaceMap):
        vertices = np.asarray(voxel_map.vertices)
        try:
            total = 2 * fsaverage_vertices(voxel_map.mesh)
        except ValueError as error:
            raise ValueError(f"voxel_map({subject!r}): {error}") from None
        if vertices.ndim != 1 or (vertices.size and (vertices.min() < 0 or vertices.max() >= total
                                                     or not np.all(vertices == vertices.astype(int)))):
            raise ValueError(f"voxel_map({subject!r}): vertices must be integers from 0 to {total - 1} "
                             f"({voxel_map.mesh}, both hemispheres)")
        return SurfaceMap(voxel_map.mesh, vertices.astype(int), voxel_map.name)
    if isinstance(voxel_map, VolumeMap):
        if np.asarray(voxel_map.mask).ndim != 3 or np.asarray(voxel_map.affine).shape != (4, 4):
            raise ValueError(f"voxel_map({subject!r}): a volume needs a 3-D mask and a 4 x 4 affine")
        return voxel_map
    rows, cols = np.asarray(voxel_map.rows), np.asarray(voxel_map.cols)
    if rows.ndim != 1 or rows.shape != cols.shape:
        raise ValueError(
            f"voxel_map({subject!r}): rows and cols must be 1-D and of one length, got {rows.shape} and {cols.shape}"
        )
    if rows.size and (
        rows.min() < 0 or cols.min() < 0 or not (np.all(rows == rows.astype(int)) and np.all(cols == cols.astype(int)))
    ):
        raise ValueError(f"voxel_map({subject!r}): rows and cols must be non-negative integers")
    return VoxelMap(rows.astype(int), cols.astype(int), voxel_map.name)


def dataset_info(run_dir: Path, subjects: Mapping[str, Iterable[str]]) -> dict[str, DatasetInfo]:
    """What each brain dataset of the run's config says: its notice, and the voxel maps of the subjects
    ``subjects`` names for its label (label -> subjects with per-voxel arrays)."""
    run_dir = Path(run_dir)
    try:
        entries = _entries(run_dir)
    except Exception as error:  # noqa: BLE001 - a config the harness no longer accepts costs the notes, not the report
        return {label: DatasetInfo(label, "", problems=[f"the run's config.yaml could not be read: {one_line(error)}"])
                for label in subjects}
    found = {}
    for label in [*entries, *(label for label in subjects if label not in entries)]:
        names = subjects.get(label, ())
        entry = entries.get(label)
        if entry is None:
            found[label] = DatasetInfo(label, "", problems=["not in the run's config.yaml"])
            continue
        info = found[label] = DatasetInfo(label, entry.dataset, fdr_q=entry.encoding.fdr_q,
                                          nuisance=list(entry.encoding.nuisance))
        try:
            dataset = build_plugin(
                get_registry(), BrainDataset, entry.dataset, entry.options, f"brain[{label}]", "config.yaml"
            )
            info.notice = dataset.notice().strip()
            info.channels = Channels(dataset.channels)
        except Exception as error:  # noqa: BLE001 - any plugin failure is reported in the report
            info.problems.append(
                f"dataset {entry.dataset!r} could not be built here, so its notice and maps are missing: "
                f"{one_line(error)}"
            )
            continue
        for subject in names:
            try:
                voxel_map = _checked_map(dataset.voxel_map(subject), subject)
            except Exception as error:  # noqa: BLE001 - a failing map costs that map only
                # a dataset's own refusal (DataError) is written for the reader: its message alone
                problem = f"no brain map: {one_line(error, named=not isinstance(error, DataError))}"
                if problem not in info.problems:  # a dataset without geometry says so once, not per subject
                    info.problems.append(problem)
                continue
            if voxel_map is not None:
                info.maps[subject] = voxel_map
    return found
