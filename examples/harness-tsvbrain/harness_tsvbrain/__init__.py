"""A brain dataset stored as plain files, the way many labs keep their own recordings.

    ROOT/stories/<story>.tsv          word <TAB> onset_s <TAB> offset_s, one row per word
    ROOT/<subject>/<story>.npy        responses, scan times x voxels
    ROOT/split.json                   {"tr": 2.0, "test": ["story_a"]}
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness import BrainDataset, DataError, PluginOptions, Story, SubjectData, hookimpl


class TsvBrainOptions(PluginOptions):
    """The config entry's ``options:``."""

    root: Path  # the dataset directory
    subjects: list[str] | None = None  # default: every sub-directory but stories/


class TsvBrain(BrainDataset[TsvBrainOptions]):
    """fMRI responses to stories, from TSV word timings and one .npy array per subject and story."""

    name = "tsvbrain"
    version = "0.1.0"

    def _split(self) -> dict:
        path = self.options.root / "split.json"
        if not path.is_file():
            raise DataError(f"{path}: missing; it names the TR and the test stories")
        return json.loads(path.read_text())

    def stories(self) -> dict[str, Story]:
        stories = {}
        for path in sorted((self.options.root / "stories").glob("*.tsv")):
            rows = [line.split("\t") for line in path.read_text().splitlines() if line.strip()]
            words, onsets, offsets = zip(*rows, strict=True)
            stories[path.stem] = Story(path.stem, tuple(words), np.array(onsets, float), np.array(offsets, float))
        if not stories:
            raise DataError(f"{self.options.root / 'stories'}: no .tsv stories")
        return stories

    def subjects(self) -> list[str]:
        if self.options.subjects:
            return list(self.options.subjects)
        return sorted(p.name for p in self.options.root.iterdir() if p.is_dir() and p.name != "stories")

    def load_subject(self, subject: str) -> SubjectData:
        tr = float(self._split()["tr"])
        responses, times = {}, {}
        for story in self.stories():
            path = self.options.root / subject / f"{story}.npy"
            if not path.is_file():
                raise DataError(f"{path}: missing responses of subject {subject!r} to story {story!r}")
            responses[story] = np.load(path).astype(np.float32)
            times[story] = (np.arange(len(responses[story])) + 0.5) * tr  # mid-scan times
        return SubjectData(responses=responses, times=times)

    def split(self) -> tuple[list[str], list[str]]:
        test = list(self._split()["test"])
        return [s for s in self.stories() if s not in test], test


@hookimpl
def register_brain_datasets(register):
    register(TsvBrain)
