"""Checks of the plan as a whole, run by preflight: the device, and each brain entry's split, folds and story coverage.

The plugins check their own files; these check what the sweep would do with them: a ``device``
that is not there, a split the encoder cannot use, more ``folds`` than training stories, and
stories whose responses end well before their words do, which would be scored on a
part of the story only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.encoding.responses import inspect_subject
from harness.encoding.scorer import split_problem
from harness.encoding.voxels import select_voxels
from harness.plan.config import BrainEntry, SweepConfig
from harness.plugin.contract import BrainDataset, Story
from harness.store.database import check_run_directory
from harness.util.devices import resolve_device
from harness.util.errors import ConfigError, DataError
from harness.util.files import creatable_problem

DEFAULT_RUN = "runs/sweep"  # the run directory of a config that names none (load_config names one after the file)
LEAST_COVERED = 0.9  # a story whose responses cover less of its words' span than this is truncated


@dataclass
class Coverage:
    """What share of each story's words the responses cover, per subject: the truncated ones, with their fraction."""

    # "subject/story" -> scored fraction (below LEAST_COVERED)
    truncated: dict[str, float] = field(default_factory=dict)


def check_run(config: SweepConfig, source: str) -> Path:
    """The run directory of a new sweep; a ``DataError`` naming the config file when it cannot be one."""
    run_dir = Path(config.run or DEFAULT_RUN)
    try:
        check_run_directory(run_dir, existing=False)
    except DataError as error:
        raise DataError(f"{source}: run: {error}") from None
    return run_dir


def check_cache(config: SweepConfig, source: str) -> None:
    """The cache root (the config's ``cache:``, else ``HARNESS_CACHE``) can be made and written in; else a one-line
    ``DataError``."""
    root = config.cache_dir()
    problem = creatable_problem(root)
    if problem:
        where = (
            f"{source}: cache" if config.cache else "HARNESS_CACHE" if os.environ.get("HARNESS_CACHE") else "the cache"
        )
        raise DataError(
            f"{where}: {root}: {problem}; the harness keeps trained models, task files and activations there"
        )


def check_device(config: SweepConfig, source: str) -> list[str]:
    """The config's ``device`` on this machine: 'cuda' with no GPU visible is a ``ConfigError`` naming the config file.

    A sweep on a Ray cluster it does not start finds its devices on the cluster, so that is said in a note.
    """
    if config.executor == "ray" and config.ray.address is not None:
        return [f"device: {config.device!r} is checked on the Ray cluster when the sweep connects to it"]
    try:
        resolve_device(config.device)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None
    return []


def check_split(dataset: BrainDataset, stories: Mapping[str, Story]) -> tuple[list[str], list[str]]:
    """(train, test) of ``dataset``; a ``DataError`` when the encoder could not use them."""
    train, test = (sorted(part) for part in dataset.split())
    problem = split_problem(train, test, stories)
    if problem:
        raise DataError(problem)
    return train, test


def check_folds(entry: BrainEntry, n_train: int) -> list[str]:
    """More folds than training stories: an error when ``folds`` was set, a note when the default is reduced."""
    folds = entry.encoding.folds
    if folds <= n_train:
        return []
    if "folds" in entry.encoding.model_fields_set:
        raise ConfigError(f"encoding.folds: {folds} folds grouped by story need at least {folds} training stories, "
                          f"the split gives {n_train}; set folds to at most {n_train}")
    return [f"encoding.folds: the default {folds} folds are reduced to {n_train}, one per training story "
            f"(the split gives {n_train} training stories)"]


def scored_fraction(times: np.ndarray, onsets: np.ndarray, offsets: np.ndarray) -> float:
    """The share of the words' span (first onset to last offset) before the last sample (and one sample interval after
    it).

    Only the end counts: loaders drop a story's first scans by convention, and those words still
    enter through later scans (the encoder's delays).
    """
    if len(onsets) == 0 or len(times) < 2:
        return 1.0
    step = float(np.median(np.diff(times)))
    start, end = float(onsets[0]), float(offsets[-1])
    covered = min(end, float(times[-1]) + step) - start
    return 1.0 if end <= start else float(np.clip(covered / (end - start), 0.0, 1.0))


def check_coverage(dataset: BrainDataset, entry: BrainEntry, train: list[str], test: list[str],
                   stories: Mapping[str, Story]) -> tuple[Coverage, list[str]]:
    """Each subject's responses against each story's words, one subject in memory at a time, and the
    voxels ``encoding.voxels`` selects of each (a mask it has, a noise ceiling where ``reliable:`` needs one).

    A story covered below ``LEAST_COVERED`` is a ``DataError`` unless the entry sets
    ``allow_truncated_story: true``; then it is a note, and its scored fraction is kept.
    """
    coverage = Coverage()
    for subject in dataset.subjects():
        data = dataset.load_subject(subject)
        info = inspect_subject(f"subject {subject}", subject, data, train, test, stories)
        select_voxels(entry.encoding.voxels, info, data.masks, f"subject {subject}")
        del data
        for story in train + test:
            words = stories[story]
            onsets = info.onsets[story]
            offsets = onsets + (
                np.asarray(words.offsets, dtype=np.float64) - np.asarray(words.onsets, dtype=np.float64)
            )
            fraction = scored_fraction(info.times[story], onsets, offsets)
            if fraction < LEAST_COVERED:
                coverage.truncated[f"{subject}/{story}"] = round(fraction, 4)
                if not entry.allow_truncated_story:
                    raise DataError(_truncated(subject, story, info.times[story], onsets, offsets, fraction))
    if not coverage.truncated:
        return coverage, []
    shown = ", ".join(f"{key} {value:.0%}" for key, value in coverage.truncated.items())
    return coverage, [
        f"allow_truncated_story: {len(coverage.truncated)} truncated "
        f"stor{'y' if len(coverage.truncated) == 1 else 'ies'} "
        f"scored on part of their words (share scored, recorded with each cell): {shown}"
    ]


def _truncated(
    subject: str, story: str, times: np.ndarray, onsets: np.ndarray, offsets: np.ndarray, fraction: float
) -> str:
    return (
        f"subject {subject}, story {story!r}: its responses ({times[0]:.0f}–{times[-1]:.0f} s) cover only "
        f"{fraction:.0%} "
        f"of its words ({onsets[0]:.0f}–{offsets[-1]:.0f} s); check the response files, or set "
        "allow_truncated_story: true on this entry to score the part covered"
    )
