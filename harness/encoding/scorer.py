"""``BrainScorer``: one brain dataset's encoding model (fMRI: FIR; M/EEG: TRF), scored layer by layer."""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from harness.config import EncodingSettings
from harness.devices import resolve_device
from harness.encoding.design import delay_matrices, scan_interval, story_design
from harness.encoding.ridge import RidgeCV, story_folds
from harness.encoding.stats import block_permutation_pvalues, fdr_bh, pearson_r, zscore_columns
from harness.encoding.trf import lag_profile, trf_design
from harness.errors import DataError
from harness.interfaces import BrainDataset, CellOutput, Modality, Score, Story
from harness.threads import torch_threads

SMALL_WORK = 5e10  # flops below which a fit runs on one CPU thread (threads cost more than they save)


@dataclass
class PreparedSubject:
    """A subject's responses ready for fitting: z-scored per story, bad voxels dropped."""

    subject: str
    y_train: np.ndarray  # (train scans × kept voxels) float32
    y_test: np.ndarray  # (test scans × kept voxels) float32
    kept: np.ndarray  # indices of kept voxels among all voxels
    n_total: int
    times: dict[str, np.ndarray]  # story -> time (s) of each row
    rois: dict[str, np.ndarray] = field(default_factory=dict)  # ROI -> positions among kept voxels
    ceiling: np.ndarray | None = None  # per kept voxel
    onsets: dict[str, np.ndarray] = field(default_factory=dict)  # story -> word onsets on this subject's clock

    @property
    def n_dropped(self) -> int:
        return self.n_total - len(self.kept)

    def design_key(self, stories: list[str]) -> str:
        """Subjects with the same sample times and word onsets share design matrices and decompositions."""
        digest = hashlib.sha256()
        for story in stories:
            digest.update(story.encode())
            digest.update(np.asarray(self.times[story], dtype=np.float64).tobytes())
            digest.update(np.asarray(self.onsets[story], dtype=np.float64).tobytes())
        return digest.hexdigest()


class BrainScorer:
    """Fits and scores the encoding model of every subject of ``dataset`` for one layer at a time.

    fMRI: word features Lanczos-resampled to scan times and delayed (``delays``); M/EEG: a
    temporal response function (``harness.encoding.trf``: features at word onsets, lagged over
    ``lags_s``, optionally PCA-reduced). Both are fitted by the same grouped-CV ridge, one
    penalty per channel. Built once per dataset and sweep: responses, Lanczos/delay matrices and
    folds are cached across layers and checkpoints; ``score(features)`` takes the layer's word
    features per story.
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
        self.prepared = {s: self._prepare(s) for s in self.subjects}
        self._delays: dict[tuple[str, bytes], np.ndarray] = {}

    # ------------------------------------------------------------------ set-up

    def _check_split(self) -> None:
        if len(self.train) < 2:
            raise DataError(f"{self.name}: needs at least 2 training stories, the split gives {len(self.train)}")
        if not self.test:
            raise DataError(f"{self.name}: the split gives no test story")
        overlap = set(self.train) & set(self.test)
        if overlap:
            raise DataError(f"{self.name}: stories in both train and test: {', '.join(sorted(overlap))}")
        for story in self.train + self.test:
            if story not in self.stories:
                raise DataError(f"{self.name}: story {story!r} is in the split but has no words (stories: {', '.join(sorted(self.stories))})")

    def _prepare(self, subject: str) -> PreparedSubject:
        data = self.dataset.load_subject(subject)
        where = f"{self.name}: subject {subject}"
        n_voxels: int | None = None
        bad: np.ndarray | None = None
        blocks: dict[str, np.ndarray] = {}
        for story in self.train + self.test:
            if story not in data.responses:
                raise DataError(f"{where}: no responses for story {story!r}")
            resp = np.asarray(data.responses[story], dtype=np.float32)
            times = np.asarray(data.times.get(story, np.zeros(0)))
            if resp.ndim != 2:
                raise DataError(f"{where}: responses for story {story!r} must be 2-D (scans × voxels), got shape {resp.shape}")
            if resp.shape[0] != len(times):
                raise DataError(f"{where}: story {story!r} has {resp.shape[0]} response scans but {len(times)} scan times")
            if len(times) < 2 or not np.all(np.diff(times) > 0):
                raise DataError(f"{where}: scan times of story {story!r} must be at least two increasing values")
            words = self.stories[story]
            onsets = data.onsets(words)
            if len(onsets) != len(words.words):
                raise DataError(f"{where}: story {story!r} has {len(onsets)} word onsets for {len(words.words)} words")
            end = onsets[-1] + (words.offsets[-1] - words.onsets[-1]) if len(onsets) else 0.0
            if len(onsets) and (times[-1] < onsets[0] or times[0] > end + 30):
                raise DataError(
                    f"{where}: samples of story {story!r} ({times[0]:.0f}–{times[-1]:.0f} s) do not overlap its words "
                    f"({onsets[0]:.0f}–{end:.0f} s)"
                )
            if n_voxels is None:
                n_voxels, bad = resp.shape[1], np.zeros(resp.shape[1], dtype=bool)
            elif resp.shape[1] != n_voxels:
                raise DataError(f"{where}: story {story!r} has {resp.shape[1]} voxels, earlier stories have {n_voxels}")
            assert bad is not None
            finite = np.isfinite(resp)
            bad |= ~finite.all(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
                bad |= ~(np.nanstd(np.where(finite, resp, np.nan), axis=0) > 1e-8)
            blocks[story] = resp
        assert n_voxels is not None and bad is not None
        kept = np.nonzero(~bad)[0]
        if kept.size == 0:
            raise DataError(f"{where}: every voxel is NaN or constant in some story")
        y_train = np.concatenate([zscore_columns(blocks[s][:, kept]) for s in self.train])
        y_test = np.concatenate([zscore_columns(blocks[s][:, kept]) for s in self.test])
        position = np.full(n_voxels, -1)
        position[kept] = np.arange(kept.size)
        rois = {}
        for roi, index in data.rois.items():
            index = np.asarray(index, dtype=np.int64)
            if index.size and (index.min() < 0 or index.max() >= n_voxels):
                raise DataError(f"{where}: ROI {roi!r} names voxels outside 0..{n_voxels - 1}")
            rois[roi] = position[index][position[index] >= 0]
        ceiling = None
        if data.noise_ceiling is not None:
            ceiling = np.asarray(data.noise_ceiling, dtype=np.float32).reshape(-1)
            if ceiling.size != n_voxels:
                raise DataError(f"{where}: noise ceiling has {ceiling.size} values for {n_voxels} voxels")
            ceiling = ceiling[kept]
        series_times = {s: np.asarray(data.times[s], dtype=np.float64) for s in self.train + self.test}
        word_onsets = {s: data.onsets(self.stories[s]) for s in self.train + self.test}
        return PreparedSubject(subject, y_train, y_test, kept, n_voxels, series_times, rois, ceiling, word_onsets)

    # ------------------------------------------------------------------ design

    def _delay(self, story: str, times: np.ndarray, onsets: np.ndarray) -> np.ndarray:
        key = (story, times.tobytes() + onsets.tobytes())
        if key not in self._delays:
            words = self.stories[story]
            story_onsets = np.asarray(words.onsets, dtype=np.float64)
            midpoints = (story_onsets + np.asarray(words.offsets, dtype=np.float64)) / 2 + (onsets - story_onsets)
            delays = self.settings.delay_seconds(scan_interval(times))
            self._delays[key] = delay_matrices(midpoints, times, delays, self.settings.lanczos_window)
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

    def design(self, features: Mapping[str, np.ndarray], subject: PreparedSubject, stories: list[str]) -> np.ndarray:
        """Stacked fMRI design rows of ``stories`` at ``subject``'s scan times."""
        return np.concatenate([story_design(features[s], self._delay(s, subject.times[s], subject.onsets[s])) for s in stories])

    def designs(self, features: Mapping[str, np.ndarray], subject: PreparedSubject) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
        """(training rows, test rows, the test rows scored (None: all), arrays to keep) for ``subject``."""
        if not self.trf:
            return self.design(features, subject, self.train), self.design(features, subject, self.test), None, {}
        trf = trf_design(features, subject.onsets, subject.times, self.train, self.test, self.settings.lags_s, self.settings.pca)
        return trf.x_train, trf.x_test, trf.test_rows, {"lags_s": trf.lags_s.astype(np.float32), "n_inputs": np.array([trf.n_inputs])}

    # ------------------------------------------------------------------ scoring

    def score(self, features: Mapping[str, np.ndarray]) -> CellOutput:
        """Fit every subject on the training stories, score Pearson r on the test stories."""
        self._check_features(features)
        groups: dict[str, list[PreparedSubject]] = {}
        for subject in self.subjects:
            prepared = self.prepared[subject]
            groups.setdefault(prepared.design_key(self.train + self.test), []).append(prepared)
        scores: list[Score] = []
        arrays: dict[str, np.ndarray] = {}
        per_subject: dict[str, dict[str, float]] = {}
        for members in groups.values():
            first = members[0]
            x_train, x_test, scored, extra = self.designs(features, first)
            folds = story_folds([len(first.times[s]) for s in self.train], self.settings.folds)
            work = 2.0 * x_train.shape[0] * x_train.shape[1] * sum(m.y_train.shape[1] for m in members) * (len(folds) + 2)
            with torch_threads(1 if self.device == "cpu" and work < SMALL_WORK else None):
                solver = RidgeCV(x_train, folds, self.settings.alpha_values(), X_test=x_test, device=self.device)
                fits = [solver.fit(m.y_train, voxel_batch=self.settings.voxel_batch, return_weights=self.trf) for m in members]
            for prepared, result in zip(members, fits):
                assert result.predictions is not None
                y_test, predictions = prepared.y_test, result.predictions
                if scored is not None:
                    y_test, predictions = y_test[scored], predictions[scored]
                r = pearson_r(y_test, predictions)
                values = self._summaries(prepared, r, result.cv_scores, y_test, predictions)
                if "lags_s" in extra and result.weights is not None:
                    profile = lag_profile(result.weights, int(extra["n_inputs"][0]))  # (lags × kept channels)
                    arrays[f"lag_profile/{prepared.subject}"] = np.stack([_full(row, prepared) for row in profile])
                    arrays["lags_s"] = extra["lags_s"]
                    values["peak_lag_s"] = float(extra["lags_s"][int(np.argmax(profile.mean(axis=1)))])
                per_subject[prepared.subject] = values
                for metric, value in values.items():
                    scores.append(Score(metric, value, scope=prepared.subject))
                arrays[f"r/{prepared.subject}"] = _full(r, prepared)
                arrays[f"alpha/{prepared.subject}"] = _full(result.alphas, prepared)
        common = set.intersection(*(set(v) for v in per_subject.values()))
        for metric in sorted(common, key=list(next(iter(per_subject.values()))).index):
            across = [per_subject[s][metric] for s in self.subjects]
            stderr = float(np.std(across, ddof=1) / math.sqrt(len(across))) if len(across) > 1 else None
            scores.append(Score(metric, float(np.mean(across)), stderr=stderr, scope="mean"))
        return CellOutput(scores, arrays)

    def _summaries(self, prepared: PreparedSubject, r: np.ndarray, cv: np.ndarray, y_test: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
        values: dict[str, float] = {"r_mean": float(r.mean())}
        n_top = max(1, math.ceil(self.settings.top_fraction * r.size))
        top = np.argsort(-cv, kind="stable")[:n_top]  # chosen on training data (CV score)
        values["r_top"] = float(r[top].mean())
        if prepared.ceiling is not None and float(prepared.ceiling.mean()) > 0:
            values["r_mean_norm"] = float(r.mean() / prepared.ceiling.mean())
        for roi, index in sorted(prepared.rois.items()):
            if index.size:
                values[f"r_roi:{roi}"] = float(r[index].mean())
        if self.settings.permutations > 0:
            block = self.settings.permutation_block(scan_interval(prepared.times[self.test[0]]), recording=self.trf)
            pvalues = block_permutation_pvalues(y_test, predictions, self.settings.permutations, block, seed=self.seed)
            values["frac_significant"] = float(fdr_bh(pvalues, self.settings.fdr_q).mean())
        values["n_voxels"] = float(r.size)
        values["n_dropped"] = float(prepared.n_dropped)
        return values


def _full(values: np.ndarray, prepared: PreparedSubject) -> np.ndarray:
    """Per kept voxel values back at their original positions, NaN for dropped voxels."""
    out = np.full(prepared.n_total, np.nan, dtype=np.float32)
    out[prepared.kept] = values
    return out
