"""A subject's responses for the encoder: checked once, then read a block of voxels at a time.

A block holds every training and test scan of a contiguous range of voxels, z-scored per story,
with the voxels that are NaN or constant in some story dropped. Whether a voxel is dropped and
how it is z-scored depend on that voxel's own column only, so fitting block by block gives the
same result as fitting all voxels at once; only one block needs to be in memory.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from harness.encoding.stats import zscore_columns
from harness.plugin.contract import ResponseArray, Story, SubjectData
from harness.util.errors import DataError

FLOAT_BYTES = 4
RESPONSE_COPIES = 3  # a block in flight costs about this many times its float32 responses (read, z-scored, fit inputs)


@dataclass
class ResponseBlock:
    """A range of one subject's voxels ready for fitting."""

    kept: np.ndarray  # indices (among all the subject's voxels) of the voxels kept in this block
    y_train: np.ndarray  # (train scans × kept) float32, z-scored per story
    y_test: np.ndarray  # (test scans × kept) float32, z-scored per story


@dataclass
class SubjectResponses:
    """What the encoder knows of one subject from one look at its data (shapes and timing, not values)."""

    subject: str
    n_total: int  # voxels in the responses
    scans: int  # training plus test rows (scans or samples)
    times: dict[str, np.ndarray]  # story -> time (s) of each row
    rois: dict[str, np.ndarray] = field(default_factory=dict)  # ROI -> indices among all voxels
    ceiling: np.ndarray | None = None  # per voxel (all voxels)
    data: SubjectData | None = None  # kept when every response is a lazy reader (holding it costs nothing)
    onsets: dict[str, np.ndarray] = field(default_factory=dict)  # story -> word onsets on this subject's clock

    @property
    def nbytes(self) -> int:
        """Size of the subject's responses as float32."""
        return FLOAT_BYTES * self.scans * self.n_total

    def design_key(self, stories: list[str]) -> str:
        """Subjects with the same sample times and word onsets share design matrices and decompositions."""
        digest = hashlib.sha256()
        for story in stories:
            digest.update(story.encode())
            digest.update(np.asarray(self.times[story], dtype=np.float64).tobytes())
            digest.update(np.asarray(self.onsets[story], dtype=np.float64).tobytes())
        return digest.hexdigest()


def inspect_subject(
    where: str, subject: str, data: SubjectData, train: list[str], test: list[str], stories: Mapping[str, Story]
) -> SubjectResponses:
    """Check a subject's responses against its sample times and the stories' words; no response value is read."""
    n_voxels: int | None = None
    scans = 0
    for story in train + test:
        if story not in data.responses:
            raise DataError(f"{where}: no responses for story {story!r}")
        resp: ResponseArray = data.responses[story]
        shape = tuple(resp.shape)
        times = np.asarray(data.times.get(story, np.zeros(0)))
        if len(shape) != 2:
            raise DataError(f"{where}: responses for story {story!r} must be 2-D (scans × voxels), got shape {shape}")
        if shape[0] != len(times):
            raise DataError(f"{where}: story {story!r} has {shape[0]} response scans but {len(times)} scan times")
        if len(times) < 2 or not np.all(np.diff(times) > 0):
            raise DataError(f"{where}: scan times of story {story!r} must be at least two increasing values")
        words = stories[story]
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
            n_voxels = int(shape[1])
        elif shape[1] != n_voxels:
            raise DataError(f"{where}: story {story!r} has {shape[1]} voxels, earlier stories have {n_voxels}")
        scans += int(shape[0])
    assert n_voxels is not None
    rois = {}
    for roi, index in data.rois.items():
        index = np.asarray(index, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= n_voxels):
            raise DataError(f"{where}: ROI {roi!r} names voxels outside 0..{n_voxels - 1}")
        rois[roi] = index
    ceiling = None
    if data.noise_ceiling is not None:
        ceiling = np.asarray(data.noise_ceiling, dtype=np.float32).reshape(-1)
        if ceiling.size != n_voxels:
            raise DataError(f"{where}: noise ceiling has {ceiling.size} values for {n_voxels} voxels")
    story_times = {s: np.asarray(data.times[s], dtype=np.float64) for s in train + test}
    word_onsets = {s: data.onsets(stories[s]) for s in train + test}
    lazy = not any(isinstance(data.responses[s], np.ndarray) for s in train + test)
    return SubjectResponses(subject, n_voxels, scans, story_times, rois, ceiling, data if lazy else None, word_onsets)


def block_size(budget: int, scans: int) -> int:
    """Voxels per block so that a block in flight (``RESPONSE_COPIES`` × its float32 size) fits in ``budget`` bytes."""
    return max(1, budget // (RESPONSE_COPIES * FLOAT_BYTES * max(scans, 1)))


def read_blocks(
    where: str, data: SubjectData, info: SubjectResponses, train: list[str], test: list[str], voxels: int
) -> Iterator[ResponseBlock]:
    """The subject's voxels in blocks of ``voxels`` (in column order), each read when the previous one is done with."""
    for start in range(0, info.n_total, voxels):
        yield read_block(where, data, info, train, test, start, min(info.n_total, start + voxels))


def read_block(
    where: str, data: SubjectData, info: SubjectResponses, train: list[str], test: list[str], start: int, stop: int
) -> ResponseBlock:
    """Voxels ``start:stop`` of every story, z-scored per story, voxels NaN or constant in some story dropped."""
    width = stop - start
    raw: dict[str, np.ndarray] = {}
    bad = np.zeros(width, dtype=bool)
    for story in train + test:
        block = np.asarray(data.responses[story][:, start:stop], dtype=np.float32)
        if block.shape != (len(info.times[story]), width):
            raise DataError(
                f"{where}: story {story!r} gave a block of shape {block.shape} for voxels {start}:{stop}, "
                f"expected ({len(info.times[story])}, {width})"
            )
        finite = np.isfinite(block)
        bad |= ~finite.all(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            bad |= ~(np.nanstd(np.where(finite, block, np.nan), axis=0) > 1e-8)
        raw[story] = block
    kept = np.nonzero(~bad)[0]
    y_train = _stack(raw, train, kept)
    y_test = _stack(raw, test, kept)
    return ResponseBlock(kept + start, y_train, y_test)


def _stack(raw: dict[str, np.ndarray], stories: list[str], kept: np.ndarray) -> np.ndarray:
    """The kept columns of ``stories``' blocks, z-scored per story, one below the other; each raw block freed once
    copied."""
    out = np.empty((sum(len(raw[s]) for s in stories), kept.size), dtype=np.float32)
    row = 0
    for story in stories:
        block = raw.pop(story)
        out[row : row + len(block)] = zscore_columns(block[:, kept])
        row += len(block)
    return out
