"""LeBel et al. 2023 (OpenNeuro ds003020, Huth lab): podcast stories heard in the scanner.

Reads the published derivative layout under ``root`` (the ds003020 directory)::

    derivative/preprocessed_data/<subject>/<story>.hf5   HDF5, dataset "data": (scans × voxels)
    derivative/TextGrids/<story>.TextGrid                Praat TextGrid with a "phone" and a "word" tier
    derivative/respdict.json                             story -> scan count of the stimulus series
    derivative/sess_to_story.json                        (optional) session -> [train stories, test story]

Timing follows the Huth lab's public loader: a story's series has ``respdict[story] − 5`` scans
of TR 2 s, scan i centred at ``2·i − 10 + 1`` s of story audio (sound starts 10 s into the
run); scans 10 … −5 of that series are the ones kept, so each response file must have
``respdict[story] − 20`` rows. Words are the word-tier intervals minus silence and noise
markers (sp, sl, sentence_start/end, {BR}, {LG}, {LS}, {NS}, empty). The word tier is the one
named "word(s)", else the second tier when the first is the phone tier (the public loader reads
tier 1 by position).

Two harness extensions are read when present (the simulated dataset writes them): a
``repeats`` dataset (repeats × scans × voxels) beside ``data`` in a test story's file, from which
the noise ceiling is computed, and ``derivative/rois/<subject>.json`` (ROI -> voxel indices).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
from functools import cached_property
from pathlib import Path

import numpy as np
from pydantic import Field

from harness import (
    BrainDataset,
    DataError,
    FetchableData,
    HarnessError,
    PluginOptions,
    Story,
    SubjectData,
    cache_root,
    hookimpl,
    noise_ceiling,
    zscore_columns,
)
from harness_plugins.brain.textgrid import read_textgrid

OPENNEURO_ID = "ds003020"
DATALAD_URL = "https://github.com/OpenNeuroDatasets/ds003020.git"
TEST_STORY = "wheretheressmoke"
SUBJECTS = tuple(f"UTS0{i}" for i in range(1, 9))
SKIP_WORDS = frozenset({"sentence_start", "sentence_end", "br", "lg", "ls", "ns", "sp", "sl", ""})
WORD_TIERS = ("word", "words")


def kept_scan_times(
    n_scans: int, tr: float = 2.0, pad: int = 5, sound_start: float = 10.0, trim_start: int = 10, trim_end: int = 5
) -> np.ndarray:
    """Centre times (s, story audio clock) of the scans a story's response file holds."""
    index = np.arange(trim_start, n_scans - pad - trim_end)
    return index * tr - sound_start + tr / 2


class LeBel2023Options(PluginOptions):
    """Options of ``LeBel2023``."""

    root: str | None = None  # the ds003020 directory; default <cache>/lebel2023/ds003020
    subjects: list[str] | None = None  # default: every subject folder in preprocessed_data
    stories: list[str] | None = None  # training stories; default: all others with data
    test_stories: list[str] | None = None  # default: sess_to_story.json's, else wheretheressmoke
    tr: float = Field(2.0, gt=0)
    pad: int = Field(5, ge=0)  # scans of the series not simulated at the end (public loader)
    sound_start: float = 10.0  # seconds of scanning before the story audio starts
    trim_start: int = Field(10, ge=0)  # scans dropped at the start of the series
    trim_end: int = Field(5, ge=0)  # scans dropped at the end of the series


class LeBel2023(BrainDataset[LeBel2023Options], FetchableData):
    """LeBel et al. 2023 natural-language fMRI (8 subjects, 2 s TR) from its derivative files."""

    name = "lebel2023"
    version = "1.0"

    # ------------------------------------------------------------------ layout

    @classmethod
    def default_root(cls) -> Path:
        """Where the data is looked for (and fetched to) when ``options.root`` is not set."""
        return cache_root() / "lebel2023" / OPENNEURO_ID

    @property
    def root(self) -> Path:
        return Path(self.options.root).expanduser() if self.options.root else self.default_root()

    @property
    def derivative(self) -> Path:
        return self.root / "derivative"

    def _response_path(self, subject: str, story: str) -> Path:
        return self.derivative / "preprocessed_data" / subject / f"{story}.hf5"

    @cached_property
    def respdict(self) -> dict[str, int]:
        self._require()
        path = self.derivative / "respdict.json"
        if not path.is_file():
            raise DataError(f"{self.name}: {path} not found; fetch the dataset with `harness data fetch lebel2023` or set options.root")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: invalid JSON ({error.msg})") from None
        if not isinstance(data, dict) or not all(isinstance(v, int) for v in data.values()):
            raise DataError(f"{path}: must map each story name to its scan count (an integer)")
        return data

    # ------------------------------------------------------------------ BrainDataset

    def _require(self) -> None:
        if not self.derivative.is_dir():
            raise DataError(
                f"{self.name}: no ds003020 derivative folder at {self.derivative}; "
                "download it with `harness data fetch lebel2023 --subjects UTS01 ...` or set options.root"
            )

    def subjects(self) -> list[str]:
        self._require()
        if self.options.subjects:
            return list(self.options.subjects)
        folder = self.derivative / "preprocessed_data"
        found = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        if not found:
            raise DataError(f"{self.name}: no subject folders in {folder}")
        return found

    def split(self) -> tuple[list[str], list[str]]:
        test = self._test_stories()
        if self.options.stories is not None:
            train = [s for s in self.options.stories if s not in test]
        else:
            grids = self.derivative / "TextGrids"
            subjects = self.subjects()
            train = sorted(
                s for s in self.respdict
                if s not in test and (grids / f"{s}.TextGrid").is_file()
                and all(self._response_path(subj, s).is_file() for subj in subjects)
            )
        return train, test

    def _test_stories(self) -> list[str]:
        if self.options.test_stories is not None:
            return list(self.options.test_stories)
        sessions = self.derivative / "sess_to_story.json"
        if sessions.is_file():
            try:
                data = json.loads(sessions.read_text())
                return sorted({entry[1] for entry in data.values()})
            except (json.JSONDecodeError, TypeError, IndexError, AttributeError):
                raise DataError(f"{sessions}: expected {{session: [[train stories], test story]}}") from None
        return [TEST_STORY]

    def stories(self) -> dict[str, Story]:
        train, test = self.split()
        return {name: self._story(name) for name in train + test}

    def _story(self, name: str) -> Story:
        path = self.derivative / "TextGrids" / f"{name}.TextGrid"
        if not path.is_file():
            raise DataError(f"{self.name}: missing story {name!r}: no TextGrid at {path}")
        tiers = read_textgrid(path)
        names = list(tiers)
        tier = next((tiers[t] for t in names if t.strip().lower() in WORD_TIERS), None)
        if tier is None and len(names) >= 2 and names[0].strip().lower().startswith("phone"):
            tier = tiers[names[1]]  # the public loader's convention: phones first, then words
        if tier is None:
            raise DataError(f"{path}: no word tier (tiers: {', '.join(tiers) or 'none'}; expected one named 'word')")
        kept = [(a, b, w) for a, b, w in tier if w.strip().strip("{}").strip().lower() not in SKIP_WORDS]
        if not kept:
            raise DataError(f"{path}: the word tier has no words")
        return Story(
            name=name,
            words=tuple(w.strip() for _, _, w in kept),
            onsets=np.array([a for a, _, _ in kept], dtype=np.float64),
            offsets=np.array([b for _, b, _ in kept], dtype=np.float64),
        )

    def scan_times(self, story: str) -> np.ndarray:
        """Times (s, story audio clock) of the kept scans of ``story``."""
        if story not in self.respdict:
            raise DataError(f"{self.name}: missing story {story!r} in {self.derivative / 'respdict.json'}")
        o = self.options
        times = kept_scan_times(self.respdict[story], o.tr, o.pad, o.sound_start, o.trim_start, o.trim_end)
        if times.size < 2:
            raise DataError(f"{self.name}: story {story!r} has too few scans ({self.respdict[story]}) for the trimming")
        return times

    def load_subject(self, subject: str) -> SubjectData:
        import h5py

        train, test = self.split()
        responses: dict[str, np.ndarray] = {}
        tr_times: dict[str, np.ndarray] = {}
        ceilings: list[tuple[int, np.ndarray]] = []
        for story in train + test:
            path = self._response_path(subject, story)
            if not path.is_file():
                raise DataError(f"{self.name}: missing story {story!r} for subject {subject}: no {path}")
            times = self.scan_times(story)
            try:
                with h5py.File(path, "r") as handle:
                    key = "data" if "data" in handle else None
                    if key is None:
                        raise DataError(f"{path}: no 'data' dataset (found: {', '.join(handle.keys()) or 'none'})")
                    data = np.asarray(handle[key][...], dtype=np.float32)
                    repeats = np.asarray(handle["repeats"][...], dtype=np.float32) if "repeats" in handle else None
            except OSError as error:
                raise DataError(f"{path}: not a readable HDF5 file ({error})") from None
            if data.ndim != 2:
                raise DataError(f"{path}: 'data' must be 2-D (scans × voxels), got shape {data.shape}")
            if data.shape[0] != len(times):
                raise DataError(
                    f"{path}: {data.shape[0]} scans, but respdict.json gives {self.respdict[story]} and trimming "
                    f"keeps {len(times)} (TR mismatch)"
                )
            responses[story], tr_times[story] = data, times
            if story in test and repeats is not None:
                if repeats.ndim != 3 or repeats.shape[1:] != data.shape:
                    raise DataError(f"{path}: 'repeats' must be (repeats × {data.shape[0]} × {data.shape[1]}), got {repeats.shape}")
                ceilings.append((data.shape[0], noise_ceiling(np.stack([zscore_columns(r) for r in repeats]))))
        ceiling = None
        if ceilings:
            total = sum(n for n, _ in ceilings)
            ceiling = sum(n * c for n, c in ceilings) / total
        return SubjectData(responses=responses, tr_times=tr_times, rois=self._rois(subject), noise_ceiling=ceiling)

    def _rois(self, subject: str) -> dict[str, np.ndarray]:
        path = self.derivative / "rois" / f"{subject}.json"
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text())
            return {str(k): np.asarray(v, dtype=np.int64) for k, v in data.items()}
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
            raise DataError(f"{path}: expected {{ROI name: [voxel indices]}}") from None

    def data_hash(self) -> str:
        """Digest of respdict.json and the names and sizes of the files read."""
        digest = hashlib.sha256()
        try:
            digest.update((self.derivative / "respdict.json").read_bytes())
            train, test = self.split()
            for story in train + test:
                grid = self.derivative / "TextGrids" / f"{story}.TextGrid"
                digest.update(f"{story}:{grid.stat().st_size}".encode())
                for subject in self.subjects():
                    path = self._response_path(subject, story)
                    digest.update(f"{subject}/{story}:{path.stat().st_size}".encode())
        except (OSError, HarnessError):
            return ""
        return digest.hexdigest()[:16]

    # ------------------------------------------------------------------ download

    @classmethod
    def fetch(cls, root: Path, subjects: list[str]) -> None:
        """Download the derivative files of ``subjects`` (default: all 8) into ``root`` with openneuro-py or datalad."""
        root = Path(root).expanduser()
        subjects = list(subjects) or list(SUBJECTS)
        patterns = ["derivative/TextGrids/*", "derivative/respdict.json", "derivative/sess_to_story.json"]
        patterns += [f"derivative/preprocessed_data/{s}/*" for s in subjects]
        try:
            openneuro = importlib.import_module("openneuro")
        except ImportError:
            openneuro = None
        if openneuro is not None:
            root.mkdir(parents=True, exist_ok=True)
            openneuro.download(dataset=OPENNEURO_ID, target_dir=str(root), include=patterns)
            return
        try:
            datalad = importlib.import_module("datalad.api")
        except ImportError:
            datalad = None
        if datalad is not None and shutil.which("git-annex"):
            if not (root / ".datalad").exists():
                datalad.install(path=str(root), source=DATALAD_URL)
            paths = ["derivative/TextGrids", "derivative/respdict.json"]
            paths += [f"derivative/preprocessed_data/{s}" for s in subjects]
            datalad.get([str(root / p) for p in paths], dataset=str(root))
            return
        raise HarnessError("lebel2023 fetch needs openneuro-py (pip install openneuro-py, or pip install 'harness[fetch]') or datalad with git-annex")


@hookimpl
def register_brain_datasets(register):
    register(LeBel2023)
