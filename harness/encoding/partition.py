"""Variance partitioning against nuisance bands (``encoding.nuisance``): the joint and the nuisance-only model.

For each subject the nuisance features alone are fitted once (the first time a block of its voxels
is scored) and kept for every later layer and checkpoint, and under the cache for every later
sweep and worker when the dataset has a data hash (``harness.encoding.alone``); for each layer the model's
features and the nuisance features are fitted together by banded ridge (``harness.encoding.banded``),
one penalty per band per voxel. Per voxel, on the test stories: ``r2_joint`` and ``r2_nuisance``
(coefficients of determination) and ``r2_unique = r2_joint − r2_nuisance``, the variance the model
explains beyond the nuisance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.encoding.alone import empty_alone, read_alone, write_alone
from harness.encoding.banded import BandedRidgeCV, ratio_weights
from harness.encoding.design import delay_matrices, scan_interval, story_design
from harness.encoding.folded import FoldedBlock
from harness.encoding.nuisance import ON_PHONES, phone_midpoints, word_features, word_names
from harness.encoding.responses import ResponseBlock, SubjectResponses
from harness.encoding.ridge import RidgeCV, RidgeCVResult, story_folds
from harness.encoding.settings import EncodingSettings
from harness.encoding.stats import pearson_r, r2_score
from harness.plugin.contract import Phones, Story

Block = ResponseBlock | FoldedBlock
# (story, scan times, word onsets) -> the story's sparse word delay stack and its number of delays (the scorer's)
WordDelays = Callable[[str, np.ndarray, np.ndarray], tuple[Any, int]]
# a subject -> the folder its nuisance-only fit is kept in (harness.encoding.alone), None: in memory only
AloneFolder = Callable[[SubjectResponses], Path | None]


@dataclass
class JointFit:
    """One block's joint and nuisance-only results per voxel (test stories)."""

    r_joint: np.ndarray
    r2_joint: np.ndarray
    r2_nuisance: np.ndarray
    band_alphas: np.ndarray  # (2 bands: model, nuisance) × voxels


def fit_block(solver: RidgeCV | BandedRidgeCV, block: Block, voxel_batch: int | None, **options: Any) -> Any:
    """``solver`` fitted on a block: rows gathered by fold (``fit_folded``), or as read (the baseline); ``options``
    go to the fit (``return_weights``)."""
    if isinstance(block, ResponseBlock):
        return solver.fit(block.y_train, voxel_batch=voxel_batch, **options)
    return solver.fit_folded(block.folded, voxel_batch=voxel_batch, **options)


class NuisanceBand:
    """The nuisance features of one dataset: their design per group of subjects, the nuisance-only fit per subject
    (kept for the whole sweep, and in the folder ``alone_folder`` gives when it gives one), and each layer's joint
    solver."""

    def __init__(self, settings: EncodingSettings, stories: Mapping[str, Story], train: Sequence[str],
                 test: Sequence[str], phones: Mapping[str, Phones] | None, word_delays: WordDelays,
                 device: str, alone_folder: AloneFolder | None = None) -> None:
        self.settings = settings
        self.stories = stories
        self.train, self.test = list(train), list(test)
        self.words = word_features(settings.nuisance, {s: stories[s] for s in self.train + self.test})
        self.on_phones = [n for n in settings.nuisance if n in ON_PHONES]
        self.phones = phones
        self.word_delays = word_delays
        self.device = device
        self.alone_folder = alone_folder
        self._designs: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # design key -> (train rows, test rows)
        self._solvers: dict[str, RidgeCV] = {}  # design key -> the nuisance-only solver
        self._alone: dict[str, np.ndarray] = {}  # subject -> (2 × voxels) r2 and r of the nuisance-only fit
        self._folders: dict[str, Path | None] = {}  # subject -> where its nuisance-only fit is kept

    def design(self, info: SubjectResponses) -> tuple[np.ndarray, np.ndarray]:
        """The nuisance band's (train rows, test rows) at ``info``'s scan times (shared by subjects with the same)."""
        key = info.design_key(self.train + self.test)
        if key not in self._designs:
            self._designs[key] = (np.concatenate([self._story(s, info) for s in self.train]),
                                  np.concatenate([self._story(s, info) for s in self.test]))
        return self._designs[key]

    def _story(self, story: str, info: SubjectResponses) -> np.ndarray:
        """(scans × delays·features) of one story: word features at the words' midpoints, phone rates at the
        phones'."""
        times, onsets = info.times[story], info.onsets[story]
        parts = []
        if word_names(self.settings.nuisance):
            parts.append(story_design(self.words[story], *self.word_delays(story, times, onsets)))
        if self.on_phones:
            assert self.phones is not None
            shift = float(onsets[0] - self.stories[story].onsets[0])  # the subject's clock, as for its words
            delays = self.settings.delay_seconds(scan_interval(times))
            stack = delay_matrices(phone_midpoints(self.phones[story]) + shift, times, delays,
                                   self.settings.lanczos_window)
            ones = np.ones((stack.shape[2], 1), dtype=np.float32)
            parts.extend(story_design(ones, stack) for _ in self.on_phones)
        return np.concatenate(parts, axis=1)

    def _folds(self, info: SubjectResponses) -> list[np.ndarray]:
        return story_folds([len(info.times[s]) for s in self.train], self.settings.folds)

    def joint_solver(self, x_train: np.ndarray, x_test: np.ndarray, info: SubjectResponses) -> BandedRidgeCV:
        """The banded ridge of a layer's design (band 0) beside the nuisance band (band 1), at ``info``'s scan
        times."""
        n_train, n_test = self.design(info)
        solver = BandedRidgeCV(
            [x_train, n_train], self._folds(info), self.settings.alpha_values(),
            ratio_weights(self.settings.nuisance_ratio_values()), test_bands=[x_test, n_test], device=self.device,
            precision=self.settings.precision,
        )
        solver.prepare()
        return solver

    def _alone_solver(self, info: SubjectResponses) -> RidgeCV:
        key = info.design_key(self.train + self.test)
        if key not in self._solvers:
            n_train, n_test = self.design(info)
            self._solvers[key] = RidgeCV(n_train, self._folds(info), self.settings.alpha_values(), X_test=n_test,
                                         device=self.device, precision=self.settings.precision, shared_grams=True)
        return self._solvers[key]

    def alone(self, info: SubjectResponses, block: Block) -> np.ndarray:
        """The nuisance-only r2 of the block's voxels: kept from an earlier block, sweep or worker, else fitted now and
        kept."""
        kept = self._kept(info)
        missing = np.isnan(kept[0, block.kept])
        if missing.any():
            result: RidgeCVResult = fit_block(self._alone_solver(info), block, self.settings.voxel_batch)
            assert result.predictions is not None
            kept[0, block.kept] = r2_score(block.y_test, result.predictions)
            kept[1, block.kept] = pearson_r(block.y_test, result.predictions)
            folder = self._folders[info.subject]
            if folder is not None:
                write_alone(folder, kept)
        return kept[0, block.kept]

    def _kept(self, info: SubjectResponses) -> np.ndarray:
        """``info``'s nuisance-only fit so far: read from its folder the first time it is asked for (when there is one
        and it is intact), else none of its voxels fitted."""
        if info.subject not in self._alone:
            folder = self.alone_folder(info) if self.alone_folder is not None else None
            found = read_alone(folder, info.n_total) if folder is not None else None
            self._folders[info.subject] = folder
            self._alone[info.subject] = found if found is not None else empty_alone(info.n_total)
        return self._alone[info.subject]

    def alone_r(self, subject: str, kept: np.ndarray) -> np.ndarray:
        """The nuisance-only Pearson r of ``subject``'s voxels ``kept`` (after ``alone``)."""
        return self._alone[subject][1, kept]

    def fit(self, solver: BandedRidgeCV, info: SubjectResponses, block: Block) -> JointFit:
        """One block fitted jointly (one layer's ``solver``) and by the nuisance alone (kept across layers)."""
        result = fit_block(solver, block, self.settings.voxel_batch)
        assert result.predictions is not None
        return JointFit(pearson_r(block.y_test, result.predictions), r2_score(block.y_test, result.predictions),
                        self.alone(info, block), result.alphas)


def unique_summaries(r_joint: np.ndarray, r_nuisance: np.ndarray, r2_joint: np.ndarray, r2_nuisance: np.ndarray,
                     top: np.ndarray, rois: Mapping[str, np.ndarray]) -> dict[str, float]:
    """The cell's partition scores of one subject: means over its voxels, ``r2_unique`` also over the top voxels
    (``top``) and per ROI (positions among the voxels)."""
    unique = r2_joint - r2_nuisance
    values = {"r_joint": float(r_joint.mean()), "r_nuisance": float(r_nuisance.mean()),
              "r2_joint": float(r2_joint.mean()), "r2_nuisance": float(r2_nuisance.mean()),
              "r2_unique": float(unique.mean()), "r2_unique_top": float(unique[top].mean())}
    for roi, inside in sorted(rois.items()):
        values[f"r2_unique_roi:{roi}"] = float(unique[inside].mean())
    return values
