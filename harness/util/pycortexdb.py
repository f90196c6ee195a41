"""A subject of a pycortex database (a "filestore") read with nibabel, as the flat map of its voxels.

pycortex's documented on-disk layout, per subject directory ``<filestore>/<subject>/``:

- ``surfaces/<kind>_<hemi>.gii`` (or ``.npz`` with ``pts`` and ``polys``), kind ``flat``, ``fiducial``,
  ``pia``, ``wm``, ``inflated``; hemi ``lh`` or ``rh``; the fiducial surface, where not stored, is the
  midway of ``wm`` and ``pia`` (as pycortex takes it), else ``pia`` alone;
- ``transforms/<name>/matrices.xfm``: JSON whose ``coord`` matrix (4 x 4) takes surface coordinates (mm)
  to voxel coordinates (x, y, z) of ``transforms/<name>/reference.nii.gz``;
- ``transforms/<name>/mask_<type>.nii.gz``: the voxels kept; pycortex orders masked data as the mask
  transposed to (z, y, x) in C order, and picks the mask whose voxel count is the data's;
- ``surface-info/curvature.npz`` (optional; arrays ``left`` and ``right``): the fiducial surface's smoothed
  mean curvature per vertex, which pycortex caches there once asked for it; where it is absent the
  curvature is computed from the fiducial surface.

Each vertex of the fiducial surface takes the voxel it falls in (nearest voxel centre, pycortex's
``PointNN``); the flat surface's triangles draw it, over the curvature (sulci dark). Nothing of pycortex
is imported.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from harness.plugin.maps import FlatMap
from harness.util.curvature import mesh_curvature
from harness.util.errors import DataError, one_line

HEMISPHERES = ("lh", "rh")
HEMISPHERE_KEYS = {"lh": "left", "rh": "right"}
CURVATURE = "curvature.npz"  # surface-info/: what pycortex's get_surfinfo(subject, "curvature") caches


def read_surface(directory: Path, kind: str, hemi: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(points, triangles) of ``<directory>/<kind>_<hemi>.gii`` or ``.npz``; None when neither is there."""
    gifti, packed = directory / f"{kind}_{hemi}.gii", directory / f"{kind}_{hemi}.npz"
    if gifti.is_file():
        import nibabel as nib

        image = nib.load(str(gifti))
        if not isinstance(image, nib.gifti.GiftiImage):
            raise DataError(f"{gifti}: not a GIfTI image")
        points = image.agg_data("NIFTI_INTENT_POINTSET")
        faces = image.agg_data("NIFTI_INTENT_TRIANGLE")
        if points is None or faces is None or not len(points):
            raise DataError(f"{gifti}: no point set and triangles in this GIfTI surface")
        return np.asarray(points, dtype=np.float64), np.asarray(faces, dtype=np.int64)
    if packed.is_file():
        with np.load(packed) as loaded:
            if not {"pts", "polys"} <= set(loaded.files):
                raise DataError(f"{packed}: a pycortex surface needs arrays 'pts' and 'polys', found {loaded.files}")
            return np.asarray(loaded["pts"], dtype=np.float64), np.asarray(loaded["polys"], dtype=np.int64)
    return None


def fiducial(directory: Path, hemi: str) -> tuple[np.ndarray, np.ndarray]:
    """The fiducial surface (points, triangles): stored, or midway between ``wm`` and ``pia``, or ``pia``."""
    stored = read_surface(directory, "fiducial", hemi)
    if stored is not None:
        return stored
    pia, white = read_surface(directory, "pia", hemi), read_surface(directory, "wm", hemi)
    if pia is not None and white is not None:
        return (pia[0] + white[0]) / 2, pia[1]
    if pia is not None:
        return pia
    raise DataError(f"{directory}: no fiducial, pia or wm surface of hemisphere {hemi} (fiducial_{hemi}.gii, "
                    f"pia_{hemi}.gii, wm_{hemi}.gii)")


def curvature(subject_dir: Path, hemi: str, surface: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Per vertex of the fiducial ``surface``, its mean curvature (gyri positive): pycortex's own
    ``surface-info/curvature.npz`` (``left``, ``right``) where the subject has one (unreadable, or not one value
    per vertex: a ``DataError``), else computed from the surface (``harness.util.curvature``)."""
    stored = subject_dir / "surface-info" / CURVATURE
    if stored.is_file():
        try:
            with np.load(stored) as loaded:
                values = np.asarray(loaded[HEMISPHERE_KEYS[hemi]], dtype=np.float64)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            raise DataError(f"{stored}: not pycortex's curvature (arrays 'left' and 'right'): "
                            f"{one_line(error)}") from None
        if values.shape != (len(surface[0]),):
            raise DataError(f"{stored}: {values.size:,} curvature values for hemisphere {hemi}, its surface has "
                            f"{len(surface[0]):,} vertices")
        return values
    return mesh_curvature(*surface)


def transform_name(subject_dir: Path) -> str:
    """The subject's one transform, or ``<subject>_auto`` among several (the Huth lab's name)."""
    names = sorted(p.name for p in (subject_dir / "transforms").glob("*") if (p / "matrices.xfm").is_file())
    if not names:
        raise DataError(f"{subject_dir}: no transforms/<name>/matrices.xfm in this pycortex subject")
    if len(names) == 1:
        return names[0]
    auto = f"{subject_dir.name}_auto"
    if auto in names:
        return auto
    raise DataError(f"{subject_dir}: several transforms ({', '.join(names)}) and none named {auto}")


def voxel_index(transform_dir: Path, n_voxels: int) -> np.ndarray:
    """(z, y, x) volume of each kept voxel's column in the data (-1 elsewhere), from the mask of ``n_voxels``."""
    import nibabel as nib

    counts = {}
    for path in sorted(transform_dir.glob("mask_*.nii.gz")):
        image = nib.load(str(path))
        if not isinstance(image, nib.spatialimages.SpatialImage) or len(image.shape) != 3:
            raise DataError(f"{path}: not a 3-D NIfTI mask")
        mask = np.asarray(image.get_fdata()).T != 0
        counts[path.name] = int(mask.sum())
        if counts[path.name] == n_voxels:
            index = np.full(mask.shape, -1, dtype=np.int64)
            index[mask] = np.arange(n_voxels)
            return index
    found = ", ".join(f"{name} {count:,}" for name, count in counts.items()) or "no mask_*.nii.gz"
    raise DataError(f"{transform_dir}: no mask of {n_voxels:,} voxels, the responses' count ({found})")


def pycortex_flatmap(filestore: Path, subject: str, n_voxels: int) -> FlatMap:
    """The flat map of ``subject``'s ``n_voxels`` voxels from the pycortex database at ``filestore``."""
    subject_dir = Path(filestore) / subject
    if not subject_dir.is_dir():
        raise DataError(f"{subject_dir}: no such pycortex subject")
    name = transform_name(subject_dir)
    transform_dir = subject_dir / "transforms" / name
    try:
        coord = np.asarray(json.loads((transform_dir / "matrices.xfm").read_text())["coord"], dtype=np.float64)
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"{transform_dir / 'matrices.xfm'}: no 4 x 4 'coord' matrix ({error})") from None
    if coord.shape != (4, 4):
        raise DataError(f"{transform_dir / 'matrices.xfm'}: 'coord' is {coord.shape}, not 4 x 4")
    index = voxel_index(transform_dir, n_voxels)
    surfaces = subject_dir / "surfaces"
    points, faces, voxels, folds = [], [], [], []
    offset = 0
    for hemi in HEMISPHERES:
        flat = read_surface(surfaces, "flat", hemi)
        if flat is None:
            raise DataError(f"{surfaces}: no flat_{hemi}.gii (or .npz): the subject has no flattened cortex")
        middle, middle_faces = fiducial(surfaces, hemi)
        if len(middle) != len(flat[0]):
            raise DataError(f"{surfaces}: flat_{hemi} has {len(flat[0]):,} vertices, the fiducial surface "
                            f"{len(middle):,}")
        xy = flat[0][:, :2].copy()
        drawn = xy[np.unique(flat[1]), 0]  # the patch's vertices (the cut-away ones are in no triangle)
        xy[:, 0] -= drawn.max() if hemi == "lh" else drawn.min()  # the left hemisphere left of 0, the right right
        points.append(xy)
        faces.append(flat[1] + offset)
        voxels.append(_nearest_voxel(middle, coord, index))
        folds.append(curvature(subject_dir, hemi, (middle, middle_faces)))
        offset += len(xy)
    return FlatMap(np.concatenate(points), np.concatenate(faces), np.concatenate(voxels), n_voxels,
                   f"flattened cortex of {subject} (pycortex transform {name})", np.concatenate(folds))


def _nearest_voxel(points: np.ndarray, coord: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Per point (mm), the data column of the voxel whose centre is nearest through ``coord`` (-1: none)."""
    xyz = np.rint(points @ coord[:3, :3].T + coord[:3, 3]).astype(np.int64)
    zyx = xyz[:, ::-1]
    inside = np.all((zyx >= 0) & (zyx < np.array(index.shape)), axis=1)
    out = np.full(len(points), -1, dtype=np.int64)
    out[inside] = index[tuple(zyx[inside].T)]
    return out
