"""Voxel selection (``encoding.voxels``): which of a subject's voxels the encoder fits and scores.

``all`` scores every voxel. ``reliable:F`` / ``reliable:N`` keeps the voxels with the highest
noise ceiling, which the dataset computes from repeats of the test stories only (so the choice
never sees a training response); ``mask:NAME`` keeps a mask (or ROI) the dataset provides. The
selection is made once per subject, before any fit, and recorded with each cell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from harness.encoding.responses import ResponseBlock, SubjectResponses
from harness.encoding.settings import parse_voxel_selector
from harness.util.errors import DataError, did_you_mean

SELECTED_PREFIX = "voxels/"  # cell array: the selected voxels' indices, voxels/<subject>
CEILING_PREFIX = "voxels_ceiling/"  # cell array: their noise ceilings, voxels_ceiling/<subject>


@dataclass(frozen=True)
class VoxelSelection:
    """One subject's selected voxels (indices among all its voxels, ascending) and their noise ceilings where known."""

    rule: str  # the encoding.voxels value that chose them
    index: np.ndarray
    ceiling: np.ndarray | None  # per selected voxel, from the test stories' repeats; None: the dataset gives none


def subject_masks(info: SubjectResponses, masks: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The masks a subject can be limited to: the dataset's ``masks``, then its ROIs under their own names."""
    return {**info.rois, **{name: np.asarray(index, dtype=np.int64).reshape(-1) for name, index in masks.items()}}


def select_voxels(
    value: str, info: SubjectResponses, masks: Mapping[str, np.ndarray], where: str
) -> VoxelSelection | None:
    """The voxels ``encoding.voxels: value`` keeps of one subject, or None for ``all``; a one-line ``DataError``
    when the dataset cannot give what the rule needs (``where`` names the subject)."""
    selector = parse_voxel_selector(value)
    if selector.kind == "all":
        return None
    named = subject_masks(info, masks)
    rule = str(selector)
    if selector.kind == "mask":
        assert selector.mask is not None
        if selector.mask not in named:
            raise DataError(f"{where}: encoding.voxels: {rule}: no such mask{did_you_mean(selector.mask, named)}; "
                            f"the dataset's masks: {', '.join(sorted(named)) or 'none'}")
        index = np.unique(named[selector.mask])
        if index.size and (index[0] < 0 or index[-1] >= info.n_total):
            raise DataError(f"{where}: mask {selector.mask!r} names voxels outside 0..{info.n_total - 1}")
        if not index.size:
            raise DataError(f"{where}: encoding.voxels: {rule}: the mask is empty")
    else:
        if info.ceiling is None:
            others = f" or mask:NAME ({', '.join(sorted(named))})" if named else ""
            raise DataError(
                f"{where}: encoding.voxels: {rule} ranks voxels by the noise ceiling of repeated test stories, "
                f"and the dataset gives none for this subject; use all{others}"
            )
        count = selector.count if selector.count is not None else math.ceil((selector.fraction or 0) * info.n_total)
        if count > info.n_total:
            raise DataError(
                f"{where}: encoding.voxels: {rule} asks for {count} voxels, the subject has {info.n_total}; "
                f"use a count up to {info.n_total} or a fraction like reliable:0.1"
            )
        ranking = np.where(np.isfinite(info.ceiling), info.ceiling, -np.inf)
        index = np.sort(np.argsort(-ranking, kind="stable")[:count])
    ceiling = info.ceiling[index].astype(np.float32) if info.ceiling is not None else None
    return VoxelSelection(rule, index.astype(np.int64), ceiling)


def restrict(block: ResponseBlock, selection: VoxelSelection | None) -> ResponseBlock:
    """The block's selected voxels only (the block itself when nothing is left out)."""
    if selection is None:
        return block
    inside = np.isin(block.kept, selection.index)
    if inside.all():
        return block
    return ResponseBlock(block.kept[inside], block.y_train[:, inside], block.y_test[:, inside])


def voxel_counts(selection: VoxelSelection | None, n_total: int, n_scored: int) -> dict[str, float]:
    """``n_dropped`` (selected voxels NaN or constant in some story) and, with a selection, ``n_unselected``."""
    if selection is None:
        return {"n_dropped": float(n_total - n_scored)}
    return {"n_dropped": float(selection.index.size - n_scored), "n_unselected": float(n_total - selection.index.size)}


def selection_arrays(selection: VoxelSelection | None, subject: str) -> dict[str, np.ndarray]:
    """What a cell records of the selection: the indices chosen and, where known, their noise ceilings."""
    if selection is None:
        return {}
    arrays = {f"{SELECTED_PREFIX}{subject}": selection.index}
    if selection.ceiling is not None:
        arrays[f"{CEILING_PREFIX}{subject}"] = selection.ceiling
    return arrays
