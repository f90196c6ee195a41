"""A pycortex subject in pycortex's on-disk layout, built from nilearn's fsaverage5 meshes.

``<filestore>/<subject>/surfaces/{pia,wm,inflated,flat}_{lh,rh}`` (the left hemisphere as GIfTI, the right
as pycortex's ``.npz``, as ds003020's UTS02 ships them), ``transforms/<subject>_auto/`` with a reference
volume of ``voxel_mm`` voxels covering the cortex, ``matrices.xfm`` whose ``coord`` matrix is the inverse
of the reference's affine, ``mask_thick.nii.gz`` of ``n_voxels`` of the voxels the fiducial surface
(midway between pia and wm) passes through and ``mask_cortical.nii.gz`` of all of them; optionally
``surface-info/curvature.npz``.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

from harness.util.fsaverage import fsaverage5

KINDS = {"pia": "pial", "wm": "white_matter", "inflated": "inflated", "flat": "flat"}
HEMIS = {"lh": "left", "rh": "right"}


def _write_surface(path: Path, points: np.ndarray, faces: np.ndarray) -> None:
    if path.suffix == ".npz":
        np.savez(path, pts=points, polys=faces)
        return
    image = nib.gifti.GiftiImage(darrays=[
        nib.gifti.GiftiDataArray(points.astype(np.float32), intent="NIFTI_INTENT_POINTSET"),
        nib.gifti.GiftiDataArray(faces.astype(np.int32), intent="NIFTI_INTENT_TRIANGLE"),
    ])
    nib.save(image, str(path))


def write_pycortex_subject(filestore: Path, subject: str, n_voxels: int, voxel_mm: float = 8.0,
                           curvature: dict[str, np.ndarray] | None = None) -> dict:
    """The subject's database; returns ``affine`` (voxel -> mm) and ``voxels`` ((x, y, z) of each data column).
    ``curvature`` (``left``, ``right``: per vertex) is written where pycortex caches it,
    ``surface-info/curvature.npz``."""
    root = Path(filestore) / subject
    (root / "surfaces").mkdir(parents=True)
    middle = []
    for hemi, name in HEMIS.items():
        suffix = ".gii" if hemi == "lh" else ".npz"
        for kind, nilearn_kind in KINDS.items():
            mesh = fsaverage5(nilearn_kind, name)
            _write_surface(root / "surfaces" / f"{kind}_{hemi}{suffix}", mesh.coordinates, mesh.faces)
        middle.append((fsaverage5("pial", name).coordinates + fsaverage5("white_matter", name).coordinates) / 2)
    points = np.concatenate(middle)
    origin = points.min(axis=0) - voxel_mm
    shape = tuple(int(n) for n in np.ceil((points.max(axis=0) - origin) / voxel_mm) + 2)
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = origin
    coord = np.linalg.inv(affine)
    hit = np.zeros(shape, dtype=bool)  # (x, y, z)
    xyz = np.rint(points @ coord[:3, :3].T + coord[:3, 3]).astype(int)
    hit[tuple(xyz.T)] = True
    zyx = np.argwhere(hit.T)  # pycortex's order: the mask transposed, C order
    chosen = zyx[np.unique(np.linspace(0, len(zyx) - 1, n_voxels).round().astype(int))]
    assert len(chosen) == n_voxels
    thick = np.zeros(shape, dtype=np.uint8)
    thick[tuple(chosen[:, ::-1].T)] = 1
    transforms = root / "transforms" / f"{subject}_auto"
    transforms.mkdir(parents=True)
    nib.save(nib.Nifti1Image(np.zeros(shape, dtype=np.float32), affine), str(transforms / "reference.nii.gz"))
    nib.save(nib.Nifti1Image(thick, affine), str(transforms / "mask_thick.nii.gz"))
    nib.save(nib.Nifti1Image(hit.astype(np.uint8), affine), str(transforms / "mask_cortical.nii.gz"))
    (transforms / "matrices.xfm").write_text(json.dumps({"coord": coord.tolist(), "magnet": affine.tolist()}))
    if curvature is not None:
        (root / "surface-info").mkdir()
        np.savez(root / "surface-info" / "curvature.npz", **curvature)
    return {"affine": affine, "voxels": chosen[:, ::-1]}
