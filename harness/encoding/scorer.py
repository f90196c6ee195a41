"""``BrainScorer``: one brain dataset's encoding model (fMRI: FIR; M/EEG: TRF), every pending layer of a checkpoint per
pass."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.encoding.alone import alone_folder, alone_key
from harness.encoding.banded import BandedRidgeCV
from harness.encoding.design import delay_matrices, scan_interval, sparse_delays, story_design
from harness.encoding.folded import FoldedBlock, FoldedResponses
from harness.encoding.footprint import layer_bytes, shared_bytes
from harness.encoding.nuisance import check_nuisance
from harness.encoding.partition import JointFit, NuisanceBand, fit_block, unique_summaries
from harness.encoding.prepared import PreparedSubject, prepare_subject, prepared_folder, prepared_key
from harness.encoding.residency import choose_residency, device_free, host_available
from harness.encoding.responses import ResponseBlock, SubjectResponses, block_size, inspect_subject, read_blocks
from harness.encoding.ridge import RidgeCV, RidgeCVResult, story_folds
from harness.encoding.settings import EncodingSettings
from harness.encoding.stats import block_permutation_pvalues, fdr_bh, pearson_r
from harness.encoding.transfer import ahead_on_device
from harness.encoding.trf import lag_profile, trf_design
from harness.encoding.voxels import VoxelSelection, restrict, select_voxels, selection_arrays, voxel_counts
from harness.plugin.contract import BrainDataset, CellOutput, Channels, Modality, Score, Story
from harness.util.devices import resolve_device
from harness.util.errors import DataError
from harness.util.threads import torch_threads

SMALL_WORK = 5e10  # flops below which a fit runs on one CPU thread (threads cost more than they save)
# of the free memory (GPU, else host), the decompositions of the layers fitted together may hold
DECOMPOSITION_SHARE = 0.25
log = logging.getLogger(__name__)


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
    """Fits and scores the encoding model of every subject of ``dataset`` for the layers of a checkpoint.

    fMRI: word features Lanczos-resampled to scan times and delayed (``delays``); M/EEG: a
    temporal response function (``harness.encoding.trf``: features at word onsets, lagged over
    ``lags_s``, optionally PCA-reduced). Both are fitted by the same grouped-CV ridge, one
    penalty per channel. Built once per dataset and sweep: sample times, Lanczos/delay matrices
    and folds are cached across layers and checkpoints; ``score(features)`` takes the layer's word
    features per story.

    ``score_layers({layer: features})`` scores several layers in one pass over the responses:
    each block of voxels is read (or found resident) once and fitted on every layer's
    decomposition; ``score(features)`` is one layer. Numbers do not depend on how many layers
    share a pass.

    Responses: each subject's are prepared once (cleaned, z-scored per story, voxel-major;
    ``harness.encoding.prepared``: on disk under the cache when the dataset has a data hash) and
    gathered by fold (``FoldedResponses``). ``settings.memory_gb`` (``auto`` by default;
    ``harness.encoding.residency``) decides whether they stay resident (on the GPU, or in host
    memory) across layers and checkpoints, or stream in blocks of voxels per pass. Subjects are
    fitted one after the other; subjects with the same scan times share one design and one
    decomposition per layer.

    ``baseline=True`` keeps the path before prepared responses (kept to be measured against):
    each layer reads the dataset again in blocks when the responses do not fit ``memory_gb``,
    and fits with ``RidgeCV.fit``.
    """

    def __init__(self, dataset: BrainDataset, settings: EncodingSettings, *, device: str = "cpu", seed: int = 0,
                 baseline: bool = False) -> None:
        self.dataset = dataset
        self.settings = settings
        self.device = resolve_device(device)
        self.seed = seed
        self.name = getattr(dataset, "name", type(dataset).__name__)
        modality = Modality(getattr(dataset, "modality", Modality.FMRI))
        self.trf = modality.recording
        self.channels = Channels(getattr(dataset, "channels", modality.channels))  # n_voxels, n_sensors, ...
        self.stories: dict[str, Story] = dataset.stories()
        train, test = dataset.split()
        self.train, self.test = sorted(train), sorted(test)
        self._check_split()
        self.subjects = list(dataset.subjects())
        if not self.subjects:
            raise DataError(f"{self.name}: the dataset has no subjects")
        self.baseline = baseline
        self.info: dict[str, SubjectResponses] = {}
        # subject -> its voxels scored (encoding.voxels); None: all
        self.selected: dict[str, VoxelSelection | None] = {}
        for subject in self.subjects:  # one at a time: an in-memory subject is released before the next is loaded
            data = dataset.load_subject(subject)
            self.info[subject] = inspect_subject(
                self._where(subject), subject, data, self.train, self.test, self.stories
            )
            self.selected[subject] = select_voxels(
                settings.voxels, self.info[subject], data.masks, self._where(subject)
            )
            del data
        total = sum(i.nbytes for i in self.info.values())
        memory = 2.0 if baseline and settings.memory_gb == "auto" else settings.memory_gb
        self.residency = choose_residency(total, self.device, memory, host_available(), device_free(self.device))
        if not baseline:
            log.info("%s: %s", self.name, self.residency.line)
        self.budget = self.residency.budget
        self.resident = self.residency.resident
        self._kept: dict[str, list[ResponseBlock]] = {}  # subject -> its blocks read by ``blocks``, when resident
        self._folded: dict[str, list[FoldedBlock]] = {}  # subject -> its blocks gathered by fold, when resident
        self._prepared: dict[str, PreparedSubject] = {}  # subject -> its prepared responses on disk (memory-mapped)
        self._data_hash: str | None = None
        self._delays: dict[tuple[str, bytes], Any] = {}
        phones = check_nuisance(settings.nuisance, dataset)
        # encoding.nuisance: the nuisance band (its nuisance-only fits kept for the sweep, and under the cache) and a
        # joint fit per layer
        self.nuisance = NuisanceBand(settings, self.stories, self.train, self.test, phones, self._delay,
                                     self.device, self._alone_folder) if settings.nuisance else None

    # ------------------------------------------------------------------ set-up

    def _where(self, subject: str) -> str:
        return f"{self.name}: subject {subject}"

    def _check_split(self) -> None:
        problem = split_problem(self.train, self.test, self.stories)
        if problem:
            raise DataError(f"{self.name}: {problem}")

    def block_voxels(self, subject: str) -> int:
        """Voxels per block read from ``subject``'s responses: all of them when resident, else what the budget
        allows."""
        info = self.info[subject]
        return info.n_total if self.resident else min(info.n_total, block_size(self.budget, info.scans))

    def blocks(self, subject: str) -> Iterator[ResponseBlock]:
        """``subject``'s responses a block of voxels at a time, read from the dataset (kept across calls when resident;
        the baseline path)."""
        if subject in self._kept:
            yield from self._kept[subject]
            return
        reader = self._read(subject)
        if self.resident:
            self._kept[subject] = list(reader)
            yield from self._kept[subject]
        else:
            yield from reader

    def _read(self, subject: str) -> Iterator[ResponseBlock]:
        """``subject``'s responses read from the dataset, cleaned and z-scored, ``block_voxels`` voxels at a time."""
        info = self.info[subject]
        data = info.data if info.data is not None else self.dataset.load_subject(subject)
        if info.data is None:  # in memory again: check it is the data inspected
            again = inspect_subject(self._where(subject), subject, data, self.train, self.test, self.stories)
            if again.n_total != info.n_total or again.scans != info.scans:
                raise DataError(f"{self._where(subject)}: the responses changed shape since the scorer was built")
        selection = self.selected[subject]
        return (restrict(block, selection) for block in
                read_blocks(self._where(subject), data, info, self.train, self.test, self.block_voxels(subject)))

    def fit_blocks(self, info: SubjectResponses) -> Iterator[FoldedBlock]:
        """``info``'s responses a block of voxels at a time, training rows gathered by fold, on the fitting device
        (kept across passes, layers and checkpoints when resident; on CUDA, host blocks are copied one ahead)."""
        if info.subject not in self._folded:
            folds = story_folds([len(info.times[s]) for s in self.train], self.settings.folds)
            cuda = self.device.startswith("cuda")
            where = self.device if self.residency.where == "device" or not cuda else "cpu"
            made = (FoldedBlock(b.kept, FoldedResponses.of(b.y_train, folds, where, pin=cuda and where == "cpu"),
                                np.ascontiguousarray(b.y_test)) for b in self.response_blocks(info))
            if not self.resident:
                yield from ahead_on_device(made, self.device)
                return
            self._folded[info.subject] = list(made)
        yield from ahead_on_device(self._folded[info.subject], self.device)

    def response_blocks(self, info: SubjectResponses) -> Iterator[ResponseBlock]:
        """``info``'s cleaned, z-scored responses a block at a time: from its prepared file when the dataset has a data
        hash (prepared on first use), else read from the dataset; only the voxels ``encoding.voxels`` selects."""
        key = self._responses_key(info)
        if key is None:
            yield from self._read(info.subject)
            return
        prepared = self._prepared.get(info.subject)
        if prepared is None:
            folder = prepared_folder(key)
            data = info.data if info.data is not None else self.dataset.load_subject(info.subject)
            prepared = prepare_subject(
                self._where(info.subject), data, info, self.train, self.test, self.block_voxels(info.subject), folder
            )
            del data
            if not self.resident:  # kept to be read again next pass (memory-mapped: it holds no memory)
                self._prepared[info.subject] = prepared
        step = max(1, prepared.n_kept if self.resident else min(prepared.n_kept, self.block_voxels(info.subject)))
        for start in range(0, prepared.n_kept, step):
            yield restrict(prepared.block(start, min(prepared.n_kept, start + step)), self.selected[info.subject])

    def _responses_key(self, info: SubjectResponses) -> str | None:
        """The key of ``info``'s prepared responses (``prepared_key``), or None when the dataset has no data hash."""
        if self._data_hash is None:
            self._data_hash = self.dataset.data_hash()
        if not self._data_hash:
            return None
        return prepared_key(self.name, self._data_hash, info, self.train, self.test)

    def _alone_folder(self, info: SubjectResponses) -> Path | None:
        """Where ``info``'s nuisance-only fit is kept (``harness.encoding.alone``), or None when the dataset has no
        data hash."""
        key = self._responses_key(info)
        if key is None:
            return None
        return alone_folder(alone_key(key, info.design_key(self.train + self.test), self.settings))

    # ------------------------------------------------------------------ design

    def _delay(self, story: str, times: np.ndarray, onsets: np.ndarray) -> tuple[Any, int]:
        """The story's delay stack at these scan times and word onsets, sparse (kept across layers), and its number of
        delays."""
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
                raise DataError(
                    f"{self.name}: features for story {story!r} have shape {tuple(array.shape)}, "
                    f"expected ({n_words}, dims)"
                )
            if width is not None and array.shape[1] != width:
                raise DataError(
                    f"{self.name}: features for story {story!r} have {array.shape[1]} dims, other stories {width}"
                )
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
        trf = trf_design(
            features, subject.onsets, subject.times, self.train, self.test, self.settings.lags_s, self.settings.pca
        )
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
        solver = RidgeCV(x_train, folds, self.settings.alpha_values(), X_test=x_test, device=self.device,
                         precision=self.settings.precision, shared_grams=not self.baseline)
        if self.nuisance is not None:
            design.joint = self.nuisance.joint_solver(x_train, x_test, first)
        design.x_train = design.x_test = None
        del x_train, x_test
        solver.prepare()  # before any response block is read: its temporaries never meet a block's
        return solver, design

    def score(self, features: Mapping[str, np.ndarray]) -> CellOutput:
        """Fit every subject on the training stories, score Pearson r on the test stories."""
        result = self.score_layers({0: features})[0]
        if isinstance(result, Exception):
            raise result
        return result

    def score_layers(self, layers: Mapping[int, Mapping[str, np.ndarray]]) -> dict[int, CellOutput | Exception]:
        """Score several layers (layer -> its word features per story, read when asked for) in one pass
        over each subject's responses; a layer whose features or fit fail gets its exception, the others go on."""
        failed: dict[int, Exception] = {}
        fits: dict[int, dict[str, tuple[SubjectFit, LayerDesign]]] = {layer: {} for layer in layers}
        for members in self.groups():
            pending = [layer for layer in layers if layer not in failed]
            for chunk in self._chunks(pending, layers, members[0]):
                try:
                    self._fit_group(members, {layer: layers[layer] for layer in chunk}, fits, failed)
                except Exception as error:  # noqa: BLE001 - reading the responses failed: every layer of the pass fails
                    failed.update((layer, error) for layer in chunk if layer not in failed)
        return {layer: failed[layer] if layer in failed else self._output(fits[layer]) for layer in layers}

    def _fit_group(self, members: list[SubjectResponses], layers: Mapping[int, Mapping[str, np.ndarray]],
                   fits: dict[int, dict[str, tuple[SubjectFit, LayerDesign]]], failed: dict[int, Exception]) -> None:
        """Fit ``members`` (subjects sharing sample times) on each of ``layers``, a pass over each subject's
        responses."""
        first = members[0]
        with torch_threads(self._threads(layers, members)):
            solvers: dict[int, tuple[RidgeCV, LayerDesign]] = {}
            for layer, features in layers.items():
                try:
                    self._check_features(features)
                    solvers[layer] = self.solver(features, first)
                except Exception as error:  # noqa: BLE001 - this layer's cell fails, the others go on
                    failed[layer] = error
            for info in members:
                parts = {layer: _Parts() for layer in solvers}
                block_rows = self.settings.permutation_block(
                    scan_interval(info.times[self.test[0]]), recording=self.trf
                )
                blocks = self.blocks(info.subject) if self.baseline else self.fit_blocks(info)
                for block in blocks:
                    if not block.kept.size:
                        continue
                    for layer, (solver, design) in solvers.items():
                        if layer in failed:
                            continue
                        try:
                            parts[layer].add(
                                self, block.kept, self._fit(solver, block), block.y_test, design, block_rows
                            )
                            if self.nuisance is not None and design.joint is not None:
                                parts[layer].add_joint(self.nuisance.fit(design.joint, info, block))
                        except Exception as error:  # noqa: BLE001 - this layer's cell fails, the others go on
                            failed[layer] = error
                    del block
                for layer, (_, design) in solvers.items():
                    if layer not in failed:
                        if not parts[layer].kept:
                            raise DataError(
                                f"{self._where(info.subject)}: every voxel is NaN or constant in some story"
                            )
                        fits[layer][info.subject] = (parts[layer].join(), design)
            del solvers

    def _threads(self, layers: Mapping[int, Mapping[str, np.ndarray]], members: list[SubjectResponses]) -> int | None:
        """One CPU thread for small fits (threads cost more than they save), else torch's setting; decided per layer's
        work."""
        first = members[0]
        n_train = sum(len(first.times[s]) for s in self.train)
        # a rough width: the choice of threads needs no more
        width = 4 * max(next(iter(f.values())).shape[1] for f in layers.values())
        work = 2.0 * n_train * width * sum(m.n_total for m in members) * (self.settings.folds + 2)
        return 1 if self.device == "cpu" and work < SMALL_WORK else None

    def _chunks(
        self, pending: list[int], layers: Mapping[int, Mapping[str, np.ndarray]], first: SubjectResponses
    ) -> list[list[int]]:
        """``pending`` layers in groups whose decompositions fit beside each other (all of them, unless features are
        wide)."""
        if not pending or self.baseline:
            return [[layer] for layer in pending]
        at_once = self.layers_per_pass(first, next(iter(layers[pending[0]].values())).shape[1])
        return [pending[i : i + at_once] for i in range(0, len(pending), at_once)]

    def layers_per_pass(self, first: SubjectResponses, dims: int) -> int:
        """How many layers of ``dims`` feature dimensions are fitted in one pass over the responses of ``first``'s
        group: as many as their decompositions (``harness.encoding.footprint``: with ``encoding.nuisance``, one more
        per band ratio, and the nuisance-only model's) fit in ``DECOMPOSITION_SHARE`` of the free memory; at least
        one."""
        per_dim = self._per_dim(first)
        per_layer = layer_bytes(self.settings, first.scans, per_dim * dims, per_dim)  # about the design's width
        free = device_free(self.device) if self.device.startswith("cuda") else None
        room = DECOMPOSITION_SHARE * (free if free is not None else host_available())
        room -= shared_bytes(self.settings, first.scans, per_dim)
        return max(1, int(room // max(per_layer, 1)))

    def _per_dim(self, info: SubjectResponses) -> int:
        """Design columns per feature dimension: the FIR delays (fMRI); about 4 for a TRF's lags."""
        if self.trf:
            return 4
        return len(self.settings.delay_seconds(scan_interval(info.times[self.train[0]])))

    def _output(self, fits: dict[str, tuple[SubjectFit, LayerDesign]]) -> CellOutput:
        """One layer's scores and per-voxel arrays from every subject's fit, subjects in dataset order within groups."""
        scores: list[Score] = []
        arrays: dict[str, np.ndarray] = {}
        per_subject: dict[str, dict[str, float]] = {}
        for members in self.groups():
            for info in members:
                fit, design = fits[info.subject]
                values = self._summaries(info, fit)
                if fit.profile is not None and design.lags_s is not None:
                    arrays[f"lag_profile/{info.subject}"] = np.stack(
                        [_full(row, fit.kept, info.n_total) for row in fit.profile]
                    )
                    arrays["lags_s"] = design.lags_s
                    values["peak_lag_s"] = float(design.lags_s[int(np.argmax(fit.profile.mean(axis=1)))])
                per_subject[info.subject] = values
                scores.extend(Score(metric, value, scope=info.subject) for metric, value in values.items())
                arrays[f"r/{info.subject}"] = _full(fit.r, fit.kept, info.n_total)
                arrays[f"alpha/{info.subject}"] = _full(fit.alphas, fit.kept, info.n_total)
                if fit.r2_joint is not None and fit.r2_nuisance is not None and fit.band_alphas is not None:
                    arrays[f"r2_unique/{info.subject}"] = _full(fit.r2_joint - fit.r2_nuisance, fit.kept, info.n_total)
                    arrays[f"r2_nuisance/{info.subject}"] = _full(fit.r2_nuisance, fit.kept, info.n_total)
                    arrays[f"alpha_nuisance/{info.subject}"] = _full(fit.band_alphas[1], fit.kept, info.n_total)
                if fit.pvalues is not None:  # block-permutation p-values, for maps masked by FDR
                    arrays[f"p/{info.subject}"] = _full(fit.pvalues, fit.kept, info.n_total)
                arrays.update(selection_arrays(self.selected[info.subject], info.subject))
        common = set.intersection(*(set(v) for v in per_subject.values()))
        for metric in sorted(common, key=list(next(iter(per_subject.values()))).index):
            across = [per_subject[s][metric] for s in self.subjects]
            stderr = float(np.std(across, ddof=1) / math.sqrt(len(across))) if len(across) > 1 else None
            scores.append(Score(metric, float(np.mean(across)), stderr=stderr, scope="mean"))
        return CellOutput(scores, arrays)

    def _fit(self, solver: RidgeCV, block: ResponseBlock | FoldedBlock) -> RidgeCVResult:
        """One block fitted on one layer's decomposition: rows gathered by fold (``fit_folded``), or as read (the
        baseline)."""
        result: RidgeCVResult = fit_block(solver, block, self.settings.voxel_batch, return_weights=self.trf)
        return result

    def fit_subject(self, solver: RidgeCV, design: LayerDesign, info: SubjectResponses) -> SubjectFit:
        """Fit and test one subject on ``solver``'s decomposition (one layer), a block of voxels (channels) at a
        time."""
        parts = _Parts()
        block_rows = self.settings.permutation_block(scan_interval(info.times[self.test[0]]), recording=self.trf)
        for block in self.blocks(info.subject) if self.baseline else self.fit_blocks(info):
            if block.kept.size:
                parts.add(self, block.kept, self._fit(solver, block), block.y_test, design, block_rows)
                if self.nuisance is not None and design.joint is not None:
                    parts.add_joint(self.nuisance.fit(design.joint, info, block))
            del block
        if not parts.kept:
            raise DataError(f"{self._where(info.subject)}: every voxel is NaN or constant in some story")
        return parts.join()

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
        rois = {}
        for roi, index in sorted(info.rois.items()):
            inside = position[index][position[index] >= 0]
            if inside.size:
                values[f"r_roi:{roi}"] = float(r[inside].mean())
                rois[roi] = inside
        if self.nuisance is not None and fit.r_joint is not None and fit.r2_joint is not None:
            assert fit.r2_nuisance is not None
            values.update(unique_summaries(fit.r_joint, self.nuisance.alone_r(info.subject, fit.kept), fit.r2_joint,
                                           fit.r2_nuisance, top, rois))
        if fit.pvalues is not None:
            values["frac_significant"] = float(fdr_bh(fit.pvalues, self.settings.fdr_q).mean())
        values[self.channels.count_metric] = float(r.size)
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
    r_joint: np.ndarray | None = None  # encoding.nuisance: the joint (model + nuisance) model's test r
    r2_joint: np.ndarray | None = None  # ... its test R²
    r2_nuisance: np.ndarray | None = None  # ... the nuisance-only model's test R²
    band_alphas: np.ndarray | None = None  # ... (2 × kept) the joint model's penalty per band (model, nuisance)


@dataclass
class _Parts:
    """One subject's per-block results for one layer, joined into a ``SubjectFit`` once every block is in."""

    kept: list[np.ndarray] = field(default_factory=list)
    r: list[np.ndarray] = field(default_factory=list)
    alphas: list[np.ndarray] = field(default_factory=list)
    cv: list[np.ndarray] = field(default_factory=list)
    pvalues: list[np.ndarray] = field(default_factory=list)
    profile: list[np.ndarray] = field(default_factory=list)
    r_joint: list[np.ndarray] = field(default_factory=list)
    r2_joint: list[np.ndarray] = field(default_factory=list)
    r2_nuisance: list[np.ndarray] = field(default_factory=list)
    band_alphas: list[np.ndarray] = field(default_factory=list)

    def add(self, scorer: BrainScorer, kept: np.ndarray, result: RidgeCVResult, y_test: np.ndarray, design: LayerDesign,
            block_rows: int) -> None:
        """A block's fit: r on the test rows, the penalties, and (M/EEG) lag profiles and (when asked) p-values."""
        assert result.predictions is not None
        predictions = result.predictions
        if design.test_rows is not None:
            y_test, predictions = y_test[design.test_rows], predictions[design.test_rows]
        self.kept.append(kept)
        self.r.append(pearson_r(y_test, predictions))
        self.alphas.append(result.alphas)
        self.cv.append(result.cv_scores)
        if scorer.trf and result.weights is not None:
            self.profile.append(lag_profile(result.weights, design.n_inputs))  # (lags × block channels)
        if scorer.settings.permutations > 0:
            self.pvalues.append(
                block_permutation_pvalues(
                    y_test, predictions, scorer.settings.permutations, block_rows, seed=scorer.seed
                )
            )

    def add_joint(self, joint: JointFit) -> None:
        """A block's joint and nuisance-only fit (``encoding.nuisance``), after its ``add``."""
        for name in ("r_joint", "r2_joint", "r2_nuisance", "band_alphas"):
            getattr(self, name).append(getattr(joint, name))

    def join(self) -> SubjectFit:
        joined = {k: np.concatenate(v, axis=-1) if v else None for k, v in vars(self).items()}
        return SubjectFit(**joined)  # type: ignore[arg-type]


@dataclass
class LayerDesign:
    """One layer's design rows at a group's sample times (the matrices dropped once the solver holds them)."""

    x_train: np.ndarray | None
    x_test: np.ndarray | None
    test_rows: np.ndarray | None = None  # the test rows that are scored (None: all)
    lags_s: np.ndarray | None = None  # M/EEG: each lag of the TRF in seconds
    n_inputs: int = 0  # M/EEG: word features entering the TRF (after standardisation / PCA)
    joint: BandedRidgeCV | None = None  # encoding.nuisance: the layer beside the nuisance band, one penalty per band


def _full(values: np.ndarray, kept: np.ndarray, n_total: int) -> np.ndarray:
    """Per kept voxel values back at their original positions, NaN for dropped voxels."""
    out = np.full(n_total, np.nan, dtype=np.float32)
    out[kept] = values
    return out
