"""``BrainScorer``: one brain dataset's encoding model (fMRI: FIR; M/EEG: TRF), scored layer by layer."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.config import EncodingSettings
from harness.devices import resolve_device
from harness.encoding.design import delay_matrices, scan_interval, sparse_delays, story_design
from harness.encoding.responses import ResponseBlock, SubjectResponses, block_size, inspect_subject, read_blocks
from harness.encoding.ridge import RidgeCV, story_folds
from harness.encoding.stats import block_permutation_pvalues, fdr_bh, pearson_r
from harness.encoding.trf import lag_profile, trf_design
from harness.encoding.voxels import VoxelSelection, restrict, select_voxels, selection_arrays, voxel_counts
from harness.errors import DataError
from harness.interfaces import BrainDataset, CellOutput, Modality, Score, Story
from harness.threads import torch_threads

SMALL_WORK = 5e10  # flops below which a fit runs on one CPU thread (threads cost more than they save)


def split_problem(train: list[str], test: list[str], stories: Mapping[str, Story]) -> str | None:
    """What is wrong with a (train, test) split of ``stories`` for the encoder, or None."""
    if len(train) < 2:
        return f"needs at least 2 training stories, the split gives {len(train)}"
    if not test:
        return "the split gives no test story"
    overlap = sorted(set(train) & set(test))
    if overlap:
        return f"stories in both train and test: {', '.join(overlap)}"
    missing = [story for story in train + test if story not in stories]
    if missing:
        return f"story {missing[0]!r} is in the split but has no words (stories: {', '.join(sorted(stories))})"
    return None


class BrainScorer:
    """Fits and scores the encoding model of every subject of ``dataset`` for one layer at a time.

    fMRI: word features Lanczos-resampled to scan times and delayed (``delays``); M/EEG: a
    temporal response function (``harness.encoding.trf``: features at word onsets, lagged over
    ``lags_s``, optionally PCA-reduced). Both are fitted by the same grouped-CV ridge, one
    penalty per channel. Built once per dataset and sweep: sample times, Lanczos/delay matrices
    and folds are cached across layers and checkpoints; ``score(features)`` takes the layer's word
    features per story.

    Memory: subjects are fitted one after the other, a block of voxels at a time. When every
    subject's responses together fit in ``settings.memory_gb`` they are read once and kept
    across layers; otherwise each subject is read again for each layer, in blocks of voxels
    sized so that a block in flight fits in that budget, and released. Subjects with the same
    scan times share one design and one decomposition per layer.
    """

    def __init__(self, dataset: BrainDataset, settings: EncodingSettings, *, device: str = "cpu", seed: int = 0) -> None:
        self.dataset = dataset
        self.settings = settings
        self.device = resolve_device(device)
        self.seed = seed
        self.name = getattr(dataset, "name", type(dataset).__name__)
        self.trf = Modality(getattr(dataset, "modality", Modality.FMRI)).recording
        self.stories: dict[str, Story] = dataset.stories()
        train, test = dataset.split()
        self.train, self.test = sorted(train), sorted(test)
        self._check_split()
        self.subjects = list(dataset.subjects())
        if not self.subjects:
            raise DataError(f"{self.name}: the dataset has no subjects")
        self.budget = int(settings.memory_gb * (1 << 30))
        self.info: dict[str, SubjectResponses] = {}
        self.selected: dict[str, VoxelSelection | None] = {}  # subject -> its voxels scored (encoding.voxels); None: all
        for subject in self.subjects:  # one at a time: an in-memory subject is released before the next is loaded
            data = dataset.load_subject(subject)
            self.info[subject] = inspect_subject(self._where(subject), subject, data, self.train, self.test, self.stories)
            self.selected[subject] = select_voxels(settings.voxels, self.info[subject], data.masks, self._where(subject))
            del data
        self.resident = sum(i.nbytes for i in self.info.values()) <= self.budget
        self._kept: dict[str, list[ResponseBlock]] = {}  # subject -> its blocks, when resident
        self._delays: dict[tuple[str, bytes], Any] = {}

    # ------------------------------------------------------------------ set-up

    def _where(self, subject: str) -> str:
        return f"{self.name}: subject {subject}"

    def _check_split(self) -> None:
        problem = split_problem(self.train, self.test, self.stories)
        if problem:
            raise DataError(f"{self.name}: {problem}")

    def block_voxels(self, subject: str) -> int:
        """Voxels per block read from ``subject``'s responses: all of them when resident, else what the budget allows."""
        info = self.info[subject]
        return info.n_total if self.resident else min(info.n_total, block_size(self.budget, info.scans))

    def blocks(self, subject: str) -> Iterator[ResponseBlock]:
        """``subject``'s responses a block of voxels at a time (kept across calls when resident)."""
        if subject in self._kept:
            yield from self._kept[subject]
            return
        info = self.info[subject]
        data = info.data if info.data is not None else self.dataset.load_subject(subject)
        if info.data is None:  # in memory again: check it is the data inspected
            again = inspect_subject(self._where(subject), subject, data, self.train, self.test, self.stories)
            if again.n_total != info.n_total or again.scans != info.scans:
                raise DataError(f"{self._where(subject)}: the responses changed shape since the scorer was built")
        reader = read_blocks(self._where(subject), data, info, self.train, self.test, self.block_voxels(subject))
        if self.resident:
            self._kept[subject] = list(reader)
            yield from self._kept[subject]
        else:
            yield from reader

    # ------------------------------------------------------------------ design

    def _delay(self, story: str, times: np.ndarray, onsets: np.ndarray) -> tuple[Any, int]:
        """The story's delay stack at these scan times and word onsets, sparse (kept across layers), and its number of delays."""
        key = (story, times.tobytes() + onsets.tobytes())
        if key not in self._delays:
            words = self.stories[story]
            story_onsets = np.asarray(words.onsets, dtype=np.float64)
            midpoints = (story_onsets + np.asarray(words.offsets, dtype=np.float64)) / 2 + (onsets - story_onsets)
            delays = self.settings.delay_seconds(scan_interval(times))
            dense = delay_matrices(midpoints, times, delays, self.settings.lanczos_window)
            self._delays[key] = (sparse_delays(dense), len(delays))
        return self._delays[key]

    def _check_features(self, features: Mapping[str, np.ndarray]) -> None:
        width = None
        for story in self.train + self.test:
            if story not in features:
                raise DataError(f"{self.name}: features are missing story {story!r}")
            array = features[story]
            n_words = len(self.stories[story].words)
            if array.ndim != 2 or array.shape[0] != n_words:
                raise DataError(f"{self.name}: features for story {story!r} have shape {tuple(array.shape)}, expected ({n_words}, dims)")
            if width is not None and array.shape[1] != width:
                raise DataError(f"{self.name}: features for story {story!r} have {array.shape[1]} dims, other stories {width}")
            width = array.shape[1]
            if not np.isfinite(array).all():
                raise DataError(f"{self.name}: features for story {story!r} contain NaN or infinite values")

    def design(self, features: Mapping[str, np.ndarray], subject: SubjectResponses, stories: list[str]) -> np.ndarray:
        """Stacked fMRI design rows of ``stories`` at ``subject``'s scan times."""
        return np.concatenate([story_design(features[s], *self._delay(s, subject.times[s], subject.onsets[s]))
                               for s in stories])

    def designs(self, features: Mapping[str, np.ndarray], subject: SubjectResponses) -> LayerDesign:
        """The training and test rows of the layer's design at ``subject``'s sample times."""
        if not self.trf:
            return LayerDesign(self.design(features, subject, self.train), self.design(features, subject, self.test))
        trf = trf_design(features, subject.onsets, subject.times, self.train, self.test, self.settings.lags_s, self.settings.pca)
        return LayerDesign(trf.x_train, trf.x_test, trf.test_rows, trf.lags_s.astype(np.float32), trf.n_inputs)

    # ------------------------------------------------------------------ scoring

    def groups(self) -> list[list[SubjectResponses]]:
        """Subjects that share scan times (hence one design and one decomposition per layer), in subject order."""
        groups: dict[str, list[SubjectResponses]] = {}
        for subject in self.subjects:
            info = self.info[subject]
            groups.setdefault(info.design_key(self.train + self.test), []).append(info)
        return list(groups.values())

    def solver(self, features: Mapping[str, np.ndarray], first: SubjectResponses) -> tuple[RidgeCV, LayerDesign]:
        """The ridge decomposition of the layer's features at ``first``'s sample times (shared by its
        group), and the design it was built from (its matrices released)."""
        design = self.designs(features, first)
        x_train, x_test = design.x_train, design.x_test
        assert x_train is not None and x_test is not None
        folds = story_folds([len(first.times[s]) for s in self.train], self.settings.folds)
        solver = RidgeCV(x_train, folds, self.settings.alpha_values(), X_test=x_test, device=self.device)
        design.x_train = design.x_test = None
        del x_train, x_test
        solver.prepare()  # before any response block is read: its temporaries never meet a block's
        return solver, design

    def score(self, features: Mapping[str, np.ndarray]) -> CellOutput:
        """Fit every subject on the training stories, score Pearson r on the test stories."""
        self._check_features(features)
        scores: list[Score] = []
        arrays: dict[str, np.ndarray] = {}
        per_subject: dict[str, dict[str, float]] = {}
        for members in self.groups():
            first = members[0]
            n_train = sum(len(first.times[s]) for s in self.train)
            width = 4 * next(iter(features.values())).shape[1]  # a rough width: the choice of threads needs no more
            work = 2.0 * n_train * width * sum(m.n_total for m in members) * (self.settings.folds + 2)
            with torch_threads(1 if self.device == "cpu" and work < SMALL_WORK else None):
                solver, design = self.solver(features, first)
                for info in members:
                    fit = self.fit_subject(solver, design, info)
                    values = self._summaries(info, fit)
                    if fit.profile is not None and design.lags_s is not None:
                        arrays[f"lag_profile/{info.subject}"] = np.stack([_full(row, fit.kept, info.n_total) for row in fit.profile])
                        arrays["lags_s"] = design.lags_s
                        values["peak_lag_s"] = float(design.lags_s[int(np.argmax(fit.profile.mean(axis=1)))])
                    per_subject[info.subject] = values
                    scores.extend(Score(metric, value, scope=info.subject) for metric, value in values.items())
                    arrays[f"r/{info.subject}"] = _full(fit.r, fit.kept, info.n_total)
                    arrays[f"alpha/{info.subject}"] = _full(fit.alphas, fit.kept, info.n_total)
                    arrays.update(selection_arrays(self.selected[info.subject], info.subject))
                del solver
        common = set.intersection(*(set(v) for v in per_subject.values()))
        for metric in sorted(common, key=list(next(iter(per_subject.values()))).index):
            across = [per_subject[s][metric] for s in self.subjects]
            stderr = float(np.std(across, ddof=1) / math.sqrt(len(across))) if len(across) > 1 else None
            scores.append(Score(metric, float(np.mean(across)), stderr=stderr, scope="mean"))
        return CellOutput(scores, arrays)

    def fit_subject(self, solver: RidgeCV, design: LayerDesign, info: SubjectResponses) -> SubjectFit:
        """Fit and test one subject on ``solver``'s decomposition, a block of voxels (channels) at a time."""
        parts: dict[str, list[np.ndarray]] = {"kept": [], "r": [], "alphas": [], "cv": [], "pvalues": [], "profile": []}
        block_rows = self.settings.permutation_block(scan_interval(info.times[self.test[0]]), recording=self.trf)
        for block in self.blocks(info.subject):
            block = restrict(block, self.selected[info.subject])
            if not block.kept.size:
                continue
            result = solver.fit(block.y_train, voxel_batch=self.settings.voxel_batch, return_weights=self.trf)
            assert result.predictions is not None
            y_test, predictions = block.y_test, result.predictions
            if design.test_rows is not None:
                y_test, predictions = y_test[design.test_rows], predictions[design.test_rows]
            parts["kept"].append(block.kept)
            parts["r"].append(pearson_r(y_test, predictions))
            parts["alphas"].append(result.alphas)
            parts["cv"].append(result.cv_scores)
            if self.trf and result.weights is not None:
                parts["profile"].append(lag_profile(result.weights, design.n_inputs))  # (lags × block channels)
            if self.settings.permutations > 0:
                parts["pvalues"].append(block_permutation_pvalues(
                    y_test, predictions, self.settings.permutations, block_rows, seed=self.seed
                ))
            del result, block
        if not parts["kept"]:
            raise DataError(f"{self._where(info.subject)}: every voxel is NaN or constant in some story")
        joined = {k: np.concatenate(v, axis=-1) if v else None for k, v in parts.items()}
        return SubjectFit(**joined)  # type: ignore[arg-type]

    def _summaries(self, info: SubjectResponses, fit: SubjectFit) -> dict[str, float]:
        r = fit.r
        values: dict[str, float] = {"r_mean": float(r.mean())}
        n_top = max(1, math.ceil(self.settings.top_fraction * r.size))
        top = np.argsort(-fit.cv, kind="stable")[:n_top]  # chosen on training data (CV score)
        values["r_top"] = float(r[top].mean())
        ceiling = info.ceiling[fit.kept] if info.ceiling is not None else None
        if ceiling is not None and float(ceiling.mean()) > 0:
            values["r_mean_norm"] = float(r.mean() / ceiling.mean())
        position = np.full(info.n_total, -1)
        position[fit.kept] = np.arange(fit.kept.size)
        for roi, index in sorted(info.rois.items()):
            inside = position[index][position[index] >= 0]
            if inside.size:
                values[f"r_roi:{roi}"] = float(r[inside].mean())
        if fit.pvalues is not None:
            values["frac_significant"] = float(fdr_bh(fit.pvalues, self.settings.fdr_q).mean())
        values["n_voxels"] = float(r.size)
        values.update(voxel_counts(self.selected[info.subject], info.n_total, fit.kept.size))
        return values


@dataclass
class SubjectFit:
    """One subject's per-voxel results over its kept voxels (in column order)."""

    kept: np.ndarray  # indices among all voxels
    r: np.ndarray  # test-set Pearson r
    alphas: np.ndarray  # chosen penalty
    cv: np.ndarray  # cross-validation score of the chosen penalty
    pvalues: np.ndarray | None = None  # block-permutation p-values, when permutations > 0
    profile: np.ndarray | None = None  # M/EEG: (lags × kept channels) lag profile of the TRF weights


@dataclass
class LayerDesign:
    """One layer's design rows at a group's sample times (the matrices dropped once the solver holds them)."""

    x_train: np.ndarray | None
    x_test: np.ndarray | None
    test_rows: np.ndarray | None = None  # the test rows that are scored (None: all)
    lags_s: np.ndarray | None = None  # M/EEG: each lag of the TRF in seconds
    n_inputs: int = 0  # M/EEG: word features entering the TRF (after standardisation / PCA)


def _full(values: np.ndarray, kept: np.ndarray, n_total: int) -> np.ndarray:
    """Per kept voxel values back at their original positions, NaN for dropped voxels."""
    out = np.full(n_total, np.nan, dtype=np.float32)
    out[kept] = values
    return out
