"""Bootstrap replicates of a brain-alignment curve, resampling subjects and voxels.

For each replicate, subjects are drawn with replacement and, within each drawn subject, voxels are
drawn with replacement; the replicate curves are the best-layer mean r and the mean over layers at
every checkpoint, computed exactly as the point estimates. Voxels are resampled in equal random groups (at most
``VOXEL_GROUPS`` per subject), which for a mean matches the voxel bootstrap while keeping memory
independent of the voxel count. Without per-voxel arrays only subjects are resampled (from the
per-subject rows of the table); with one subject and no arrays there is no interval.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis.channels import bootstrap_method
from harness.analysis.curves import BrainCurve, best_over_layers
from harness.analysis.streams import stream

VOXEL_GROUPS = 2000


@dataclass
class Replicates:
    """Bootstrap replicate curves (n_boot x checkpoints) and how they were drawn."""

    curves: np.ndarray  # best layer
    method: str  # "voxels+subjects" ("sensors+subjects", ...: channels.bootstrap_method), "subjects" or "none"
    layer_mean: np.ndarray | None = None  # mean over layers (None: not drawn)

    def band(self, ci: float = 0.95) -> tuple[np.ndarray, np.ndarray] | None:
        """The percentile interval of the best-layer curve at each checkpoint (None without replicates)."""
        if not len(self.curves):
            return None
        tail = (1 - ci) / 2 * 100
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a checkpoint without any finite replicate
            lo, hi = np.nanpercentile(self.curves, [tail, 100 - tail], axis=0)
        return lo, hi

    def of_layer_mean(self) -> Replicates:
        """The layer-mean replicates as a ``Replicates`` of their own."""
        curves = self.layer_mean if self.layer_mean is not None else np.empty((0, self.curves.shape[1]))
        return Replicates(curves, self.method if len(curves) else "none")


Cell = tuple[int, int]  # (step, layer)
CellValues = dict[Cell, np.ndarray]  # (step, layer) -> (n_boot,) replicate values


def _voxel_means(
    arrays: pd.DataFrame, n_boot: int, rng: np.random.Generator
) -> tuple[list[str], dict[str, CellValues]]:
    """subject -> {(step, layer): (n_boot,) bootstrap mean r over resampled voxel groups}."""
    subjects = sorted(str(s) for s in arrays["subject"].unique())
    weights: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    means: dict[str, CellValues] = {s: {} for s in subjects}
    cache: dict[str, dict[str, np.ndarray]] = {}
    ordered = arrays.sort_values(["path", "subject"])
    for path, key, subject, step, layer in zip(ordered["path"].astype(str), ordered["key"], ordered["subject"],
                                                ordered["step"], ordered["layer"]):
        if path not in cache:
            cache.clear()
            with np.load(path) as loaded:
                cache[path] = {k: loaded[k] for k in loaded.files if k.startswith("r/")}
        r = np.asarray(cache[path][key], dtype=np.float64).ravel()
        if subject not in weights:
            groups = min(VOXEL_GROUPS, r.size)
            labels = rng.permutation(r.size) % groups
            counts = rng.multinomial(groups, np.full(groups, 1.0 / groups), size=n_boot).astype(np.float64)
            weights[subject] = (labels, counts)
        labels, counts = weights[subject]
        if labels.size != r.size:
            continue  # a cell with a different voxel set cannot share the subject's resampling
        finite = np.isfinite(r)
        sums = np.bincount(labels, weights=np.where(finite, r, 0.0), minlength=counts.shape[1])
        sizes = np.bincount(labels, weights=finite.astype(float), minlength=counts.shape[1])
        with np.errstate(invalid="ignore", divide="ignore"):
            means[subject][(int(step), int(layer))] = (counts @ sums) / (counts @ sizes)
    return subjects, means


def _replicates(curve: BrainCurve, values: CellValues, n_boot: int, method: str) -> Replicates:
    """(n_boot, checkpoints) replicate curves: the best layer's value and the mean over layers."""
    layers = curve.layer_map.index.to_numpy()
    best = np.full((n_boot, len(curve.steps)), np.nan)
    mean = np.full((n_boot, len(curve.steps)), np.nan)
    for j, step in enumerate(curve.steps):
        stack = np.array([values.get((int(step), int(layer)), np.full(n_boot, np.nan)) for layer in layers])
        best[:, j] = best_over_layers(stack)[1]
        mean[:, j] = _nanmean(stack.T)
    return Replicates(best, method, mean)


def _nanmean(matrix: np.ndarray) -> np.ndarray:
    """Row means ignoring NaN (NaN where a row has no finite value), without warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.where(np.isfinite(matrix), matrix, np.nan), axis=1)


def _subject_draws(n_subjects: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, n_subjects, size=(n_boot, n_subjects))


def brain_replicates(curve: BrainCurve, arrays: pd.DataFrame | None, n_boot: int, seed: int) -> Replicates:
    """Replicate curves for ``curve`` from per-voxel arrays, else from per-subject table rows."""
    rng = stream(seed, "brain", curve.model, curve.target)
    if n_boot <= 0:
        return Replicates(np.empty((0, len(curve.steps))), "none")
    if arrays is not None and not arrays.empty:
        subjects, means = _voxel_means(arrays, n_boot, rng)
        draws = _subject_draws(len(subjects), n_boot, rng)
        cells: set[Cell] = set().union(*(m.keys() for m in means.values()))
        values: CellValues = {}
        for cell in cells:
            stack = np.array([means[s].get(cell, np.full(n_boot, np.nan)) for s in subjects])  # (S, B)
            picked = stack[draws, np.arange(n_boot)[:, None]]  # (B, S)
            values[cell] = _nanmean(picked)
        return _replicates(curve, values, n_boot, bootstrap_method(curve.channels))
    per_subject = curve.subjects
    if per_subject is None or len(per_subject.index) < 2:
        return Replicates(np.empty((0, len(curve.steps))), "none")
    draws = _subject_draws(len(per_subject.index), n_boot, rng)
    matrix = per_subject.to_numpy(float)  # (S, cells)
    values = {}
    columns = zip(per_subject.columns.get_level_values("step"), per_subject.columns.get_level_values("layer"))
    for j, (step, layer) in enumerate(columns):
        column = matrix[:, j][draws]  # (B, S)
        values[(int(step), int(layer))] = _nanmean(column)
    return _replicates(curve, values, n_boot, "subjects")
