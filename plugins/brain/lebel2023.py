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

``load_subject`` reads only shapes: each response is an ``HDF5Responses`` that reads voxel
columns from its file when the encoder asks for a block, so a subject is never in memory whole.

Two harness extensions are read when present (the simulated dataset writes them): a
``repeats`` dataset (repeats × scans × voxels) beside ``data`` in a test story's file, from which
the noise ceiling is computed, and ``derivative/rois/<subject>.json`` (ROI -> voxel indices; each
ROI is also a mask for ``encoding.voxels: mask:NAME``).

Maps: where ``derivative/pycortex-db/<subject>/`` holds the subject's pycortex database (surfaces, a
transform and its cortical masks; fetched with the rest), each voxel is drawn on the subject's
flattened cortex (``harness.util.pycortexdb``); without it there is no map, and the report says why.

``check`` reads everything a sweep will read before it writes anything; ``data_hash`` is a
digest of the content of those files. Both remember what they learnt about each file while the
file is unchanged (``filecache``), so a second check reads only shapes and time stamps.
"""

from __future__ import annotations

import base64
import importlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from harness import (
    BrainDataset,
    DataError,
    FetchableData,
    FlatMap,
    HarnessError,
    Phones,
    PhoneTimings,
    PluginOptions,
    Story,
    SubjectData,
    cache_root,
    did_you_mean,
    hookimpl,
    noise_ceiling,
    pycortex_flatmap,
    zscore_columns,
)
from harness_plugins.brain.filecache import cached_fact, files_digest
from harness_plugins.brain.hdf5responses import HDF5Responses, column_blocks, open_hdf5
from harness_plugins.brain.textgrid import read_tiers

OPENNEURO_ID = "ds003020"
DATALAD_URL = "https://github.com/OpenNeuroDatasets/ds003020.git"
TEST_STORY = "wheretheressmoke"
SUBJECTS = tuple(f"UTS0{i}" for i in range(1, 9))
PYCORTEX_DB = "pycortex-db"  # derivative/pycortex-db/<subject>/: surfaces/ and transforms/ (the caches not needed)
SKIP_WORDS = frozenset({"sentence_start", "sentence_end", "br", "lg", "ls", "ns", "sp", "sl", ""})
WORD_TIERS = ("word", "words")
PHONE_TIERS = ("phone", "phones")
SKIP_PHONES = frozenset({"sp", "sil", "sl", "ns", "lg", "ls", "br", ""})  # silences and noise marks
CONSTANT_STD = 1e-8  # a voxel whose responses to a story vary less than this is constant (as the encoder drops it)
SCAN = "scan-1"  # the name (and version) of a response file's value scan in the file cache
WORDS = "words-2"  # ... and of a TextGrid's words
PHONES = "phones-1"  # ... and of its phones
_BLOCK_VALUES = 1 << 22  # values per block when streaming a response file


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
    tr: float = Field(2.0, gt=0)  # seconds between scans (the repetition time; ds003020: 2.0 s)
    pad: int = Field(5, ge=0)  # scans of the series not simulated at the end (public loader)
    sound_start: float = 10.0  # seconds of scanning before the story audio starts
    trim_start: int = Field(10, ge=0)  # scans dropped at the start of the series
    trim_end: int = Field(5, ge=0)  # scans dropped at the end of the series


@dataclass
class _Voxels:
    """What a subject's response files say about its voxels, merged over stories."""

    count: int
    first: Path
    nonfinite: np.ndarray  # bool per voxel: NaN or infinite somewhere
    constant: np.ndarray  # bool per voxel: constant in some story (among finite values)


class LeBel2023(BrainDataset[LeBel2023Options], FetchableData, PhoneTimings):
    """LeBel et al. 2023 natural-language fMRI (8 subjects, 2 s TR) from its derivative files; its TextGrids' phone
    tiers give the phones' timings."""

    name = "lebel2023"
    version = "1.0"

    # ------------------------------------------------------------------ layout

    @classmethod
    def default_root(cls) -> Path:
        """Where the data is looked for (and fetched to) when ``options.root`` is not set."""
        return cache_root() / "lebel2023" / OPENNEURO_ID

    @property
    def root(self) -> Path:
        return self.data_root(self.options.root)

    @property
    def derivative(self) -> Path:
        return self.root / "derivative"

    def _response_path(self, subject: str, story: str) -> Path:
        return self.derivative / "preprocessed_data" / subject / f"{story}.hf5"

    def _present_response(self, subject: str, story: str) -> Path:
        """The response file of ``subject`` to ``story``; a ``DataError`` when it is not there."""
        path = self._response_path(subject, story)
        if not path.is_file():
            raise DataError(f"{path}: not found: subject {subject}'s responses to story {story!r}")
        return path

    def _grid_path(self, story: str) -> Path:
        return self.derivative / "TextGrids" / f"{story}.TextGrid"

    def _grid(self, story: str) -> Path:
        """The story's TextGrid, which must be there."""
        path = self._grid_path(story)
        if not path.is_file():
            raise DataError(f"{path}: not found: the TextGrid of story {story!r}")
        return path

    @property
    def _respdict_path(self) -> Path:
        return self.derivative / "respdict.json"

    @cached_property
    def respdict(self) -> dict[str, int]:
        self._require()
        path = self._respdict_path
        if not path.is_file():
            raise DataError(
                f"{path}: not found; fetch the dataset with `harness data fetch lebel2023` or set options.root"
            )
        try:
            data = json.loads(path.read_bytes().decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise DataError(f"{path}: not a JSON text file") from None
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: invalid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
        if not isinstance(data, dict) or not data:
            raise DataError(f"{path}: must map each story name to its scan count (an integer)")
        for story, count in data.items():
            if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
                raise DataError(f"{path}: story {story!r} has scan count {count!r}; expected a positive integer")
        return data

    # ------------------------------------------------------------------ BrainDataset

    def _require(self) -> None:
        root = self.root
        # the root a config's cache: moves too
        fetch = f"`harness data fetch lebel2023 --root {root} --subjects UTS01 ...`"
        if not root.is_dir():
            where = "options.root" if self.options.root else "the default root (options.root is not set)"
            state = "is a file, not the ds003020 folder" if root.exists() else "does not exist"
            raise DataError(
                f"{self.name}: {root}, {where}, {state}; download the data with {fetch} or set options.root to the "
                "ds003020 folder"
            )
        if not self.derivative.is_dir():
            raise DataError(
                f"{self.derivative}: not found; {root} should be the ds003020 folder "
                "(holding derivative/respdict.json, derivative/TextGrids/ and derivative/preprocessed_data/); "
                f"download it with {fetch} or set options.root"
            )

    def subjects(self) -> list[str]:
        self._require()
        folder = self.derivative / "preprocessed_data"
        found = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        if self.options.subjects:
            for subject in self.options.subjects:
                if not (folder / subject).is_dir():
                    raise DataError(
                        f"{folder / subject}: not found: subject {subject!r} of options.subjects has no data"
                        f"{did_you_mean(subject, found)}; subjects found: {', '.join(found) or 'none'}"
                    )
            return list(self.options.subjects)
        if not found:
            raise DataError(f"{folder}: no subject folders (expected one per subject, e.g. UTS01/)")
        return found

    def split(self) -> tuple[list[str], list[str]]:
        test = self._test_stories()
        if self.options.stories is not None:
            self._known(self.options.stories, "named in options.stories")
            train = [s for s in self.options.stories if s not in test]
            if not train:
                raise DataError(
                    f"{self.name}: options.stories names no story besides the test stories ({', '.join(test)})"
                )
        else:
            train = [s for s in self._candidates() if s not in test and self._complete(s)]
            if not train:
                raise DataError(
                    f"{self.derivative}: no training stories: no story of respdict.json besides the test stories "
                    f"({', '.join(test)}) has a TextGrid and responses for every subject ({', '.join(self.subjects())})"
                )
        return train, test

    def _candidates(self) -> list[str]:
        return sorted(self.respdict)

    def _complete(self, story: str) -> bool:
        return self._grid_path(story).is_file() and all(
            self._response_path(s, story).is_file() for s in self.subjects()
        )

    def _known(self, stories: list[str], where: str) -> None:
        for story in stories:
            if story not in self.respdict:
                raise DataError(
                    f"{self._respdict_path}: no story {story!r} ({where}){did_you_mean(story, self.respdict)}"
                )

    @property
    def _sessions_path(self) -> Path:
        return self.derivative / "sess_to_story.json"

    def _test_stories(self) -> list[str]:
        if self.options.test_stories is not None:
            self._known(self.options.test_stories, "named in options.test_stories")
            return list(self.options.test_stories)
        sessions = self._sessions_path
        if sessions.is_file():
            expected = f"{sessions}: expected {{session: [[train stories], test story]}}"
            try:
                data = json.loads(sessions.read_bytes().decode("utf-8-sig"))
                entries = list(data.values())
            except (ValueError, AttributeError):
                raise DataError(expected) from None
            if not entries or not all(isinstance(e, list) and len(e) == 2 and isinstance(e[1], str) for e in entries):
                raise DataError(expected)
            stories = sorted({entry[1] for entry in entries})
            self._known(stories, f"the test story of {sessions.name}")
            return stories
        self._known([TEST_STORY], "the default test story; set options.test_stories to others")
        return [TEST_STORY]

    def stories(self) -> dict[str, Story]:
        train, test = self.split()
        return {name: self._story(name) for name in train + test}

    def _story(self, name: str) -> Story:
        return self._story_remembered(name)[0]

    def _story_remembered(self, name: str) -> tuple[Story, bool]:
        """The story's words from its TextGrid (remembered while the file is unchanged), and whether remembered."""
        found, remembered = cached_fact(self._grid(name), WORDS, _read_words)
        onsets, offsets = np.array(found["onsets"], dtype=np.float64), np.array(found["offsets"], dtype=np.float64)
        return Story(name=name, words=tuple(found["words"]), onsets=onsets, offsets=offsets), remembered

    def phones(self) -> dict[str, Phones]:
        """Every story's phones from its TextGrid's phone tier (remembered while the file is unchanged)."""
        train, test = self.split()
        return {name: Phones.of(cached_fact(self._grid(name), PHONES, _read_phones)[0]) for name in train + test}

    def scan_times(self, story: str) -> np.ndarray:
        """Times (s, story audio clock) of the kept scans of ``story``."""
        if story not in self.respdict:
            raise DataError(f"{self._respdict_path}: no story {story!r}")
        o = self.options
        times = kept_scan_times(self.respdict[story], o.tr, o.pad, o.sound_start, o.trim_start, o.trim_end)
        if times.size < 2:
            raise DataError(
                f"{self._respdict_path}: story {story!r} has {self.respdict[story]} scans, too few to keep two after "
                f"dropping pad + trim_start + trim_end = {o.pad + o.trim_start + o.trim_end}"
            )
        return times

    def _expected_rows(self, path: Path, story: str, rows: int) -> None:
        times = self.scan_times(story)
        if rows != len(times):
            o = self.options
            raise DataError(
                f"{path}: {rows} scans, but respdict.json gives {self.respdict[story]} and trimming keeps {len(times)} "
                f"(TR mismatch: {self.respdict[story]} − pad {o.pad} − trim_start {o.trim_start} − trim_end "
                f"{o.trim_end})"
            )

    def load_subject(self, subject: str) -> SubjectData:
        """The subject's responses as lazy ``HDF5Responses`` (read in voxel blocks by the encoder), scan times, ROIs,
        ceiling."""
        train, test = self.split()
        responses: dict[str, HDF5Responses] = {}
        tr_times: dict[str, np.ndarray] = {}
        ceilings: list[tuple[int, np.ndarray]] = []
        for story in train + test:
            path = self._present_response(subject, story)
            shape, repeats = _response_shape(path)
            self._expected_rows(path, story, shape[0])
            responses[story], tr_times[story] = HDF5Responses(path, shape), self.scan_times(story)
            if story in test and repeats:
                ceilings.append((shape[0], _ceiling(path, shape)))
        ceiling = None
        if ceilings:
            total = sum(n for n, _ in ceilings)
            ceiling = sum(n * c for n, c in ceilings) / total
        return SubjectData(responses=responses, tr_times=tr_times, rois=self._rois(subject), noise_ceiling=ceiling)

    def _rois(self, subject: str, voxels: int | None = None) -> dict[str, np.ndarray]:
        path = self.derivative / "rois" / f"{subject}.json"
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text())
            rois = {str(k): np.asarray(v, dtype=np.int64).reshape(-1) for k, v in data.items()}
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError, ValueError):
            raise DataError(f"{path}: expected {{ROI name: [voxel indices]}}") from None
        for roi, index in rois.items():
            if voxels is not None and index.size and (index.min() < 0 or index.max() >= voxels):
                bad = int(index.min()) if index.min() < 0 else int(index.max())
                raise DataError(f"{path}: ROI {roi!r} names voxel {bad}, outside 0..{voxels - 1} of subject {subject}")
        return rois

    # ------------------------------------------------------------------ preflight

    def check(self) -> list[str]:
        """Read everything a sweep will read: layout, every TextGrid, every response file's shape and values.

        One-line ``DataError`` naming the file for anything that would fail a cell or silently
        spoil it; notes for what is worth knowing but usable (voxels the encoder will drop, words
        after the last kept scan, stories left out for missing files).
        """
        subjects = self.subjects()
        train, test = self.split()
        stories = train + test
        notes: list[str] = []
        if self.options.stories is None:
            skipped = [s for s in self._candidates() if s not in stories and not self._complete(s)]
            if skipped:
                notes.append(
                    f"{len(skipped)} stories of respdict.json lack a TextGrid or a subject's responses and are left "
                    f"out: {_some(skipped)}"
                )
        remembered, late = self._check_words(stories)
        if late:
            notes.append(
                f"words run past the last kept scan (respdict.json and the responses may be shorter than the TextGrid; "
                f"those words only enter through earlier scans) in {len(late)} of {len(stories)} stories: {_some(late)}"
            )
        sizes: list[int] = []
        for subject in subjects:
            voxels, cached = self._check_subject(subject, stories)
            remembered += cached
            sizes.append(voxels.count)
            constant = voxels.constant & ~voxels.nonfinite
            notes.append(
                f"{subject}: {voxels.count:,} voxels, {int(voxels.nonfinite.sum()):,} with NaN or infinite values and "
                f"{int(constant.sum()):,} constant in some story (the encoding model leaves both out)"
            )
        shown = f"{sizes[0]:,} voxels" if len(set(sizes)) == 1 else f"{min(sizes):,}–{max(sizes):,} voxels"
        notes.insert(0, (
            f"{len(subjects)} subject{'s' if len(subjects) != 1 else ''} x {len(stories)} stories ({len(train)} train, "
            f"{len(test)} test), {shown}; {len(stories)} TextGrids and {len(subjects) * len(stories)} response files "
            f"checked ({remembered} unchanged since an earlier check)"
        ))
        return notes

    def _check_words(self, stories: list[str]) -> tuple[int, list[str]]:
        """Every story's words against its kept scans; (TextGrids remembered, stories whose words run past the
        scans)."""
        remembered, late = 0, []
        for story in stories:
            words, cached = self._story_remembered(story)
            remembered += cached
            times = self.scan_times(story)
            if words.onsets[0] > times[-1] or words.offsets[-1] + 30 < times[0]:  # the encoder's own test
                raise DataError(
                    f"{self._grid_path(story)}: its words ({words.onsets[0]:.0f}–{words.offsets[-1]:.0f} s) do not "
                    "overlap the "
                    f"kept scans of story {story!r} ({times[0]:.0f}–{times[-1]:.0f} s, from respdict.json's "
                    f"{self.respdict[story]})"
                )
            after = int(np.sum(words.onsets > times[-1] + self.options.tr))
            if after:
                late.append(f"{story} ({after} of {len(words.words)} words after {times[-1]:.0f} s)")
        return remembered, late

    def _check_subject(self, subject: str, stories: list[str]) -> tuple[_Voxels, int]:
        """A subject's response files: shapes against the timing, NaN and constant voxels, ROIs; (voxels, files
        remembered)."""
        voxels: _Voxels | None = None
        remembered = 0
        for story in stories:
            path = self._present_response(subject, story)
            facts, cached = cached_fact(path, SCAN, _scan_response)
            remembered += cached
            rows, count = facts["shape"]
            self._expected_rows(path, story, rows)
            _check_repeats(path, facts["repeats"], rows, count)
            nonfinite, constant = _unpack(facts["nonfinite"], count), _unpack(facts["constant"], count)
            if nonfinite.all():
                raise DataError(f"{path}: every response of subject {subject} to story {story!r} is NaN or infinite")
            if (constant | nonfinite).all():
                raise DataError(
                    f"{path}: every voxel of subject {subject}'s responses to story {story!r} is constant or NaN"
                )
            if voxels is None:
                voxels = _Voxels(count, path, nonfinite, constant)
            elif count != voxels.count:
                raise DataError(
                    f"{path}: {count} voxels, but {voxels.first.name} of subject {subject} has {voxels.count}"
                )
            else:
                voxels.nonfinite |= nonfinite
                voxels.constant |= constant
        assert voxels is not None
        if (voxels.nonfinite | voxels.constant).all():
            raise DataError(
                f"{voxels.first.parent}: every voxel of subject {subject} is NaN or constant in some story "
                f"({int(voxels.nonfinite.sum()):,} with NaN, {int((voxels.constant & ~voxels.nonfinite).sum()):,} "
                "constant); nothing to fit"
            )
        self._rois(subject, voxels.count)
        return voxels, remembered

    # ------------------------------------------------------------------ provenance

    def _files(self) -> list[Path]:
        """Every file a sweep reads, in a fixed order."""
        train, test = self.split()
        files = [self._respdict_path]
        if self.options.test_stories is None and self._sessions_path.is_file():
            files.append(self._sessions_path)
        files += [self._grid_path(s) for s in train + test]
        for subject in self.subjects():
            files += [self._response_path(subject, s) for s in train + test]
            rois = self.derivative / "rois" / f"{subject}.json"
            if rois.is_file():
                files.append(rois)
        return files

    def voxel_map(self, subject: str) -> FlatMap:
        """The subject's voxels on its flattened cortex, from its pycortex database (``derivative/pycortex-db``);
        without one, why there is no map, in one line (``DataError``)."""
        filestore = self.derivative / PYCORTEX_DB
        if not (filestore / subject).is_dir():
            raise DataError(
                f"{self.name} subject {subject}: no geometry is available; its voxels lie in the subject's own volume "
                f"and drawing them needs the subject's pycortex database (surfaces, transform and cortical mask) "
                f"at {filestore / subject}, which `harness data fetch lebel2023` downloads"
            )
        train, test = self.split()
        path = self._present_response(subject, [*train, *test][0])
        with open_hdf5(path) as handle:
            count = int(_data_set(path, handle).shape[1])
        return pycortex_flatmap(filestore, subject, count)

    def data_hash(self) -> str:
        """Digest of the content of every file read (each file's digest remembered while it is unchanged)."""
        return files_digest(self.root, self._files)

    # ------------------------------------------------------------------ download

    @classmethod
    def fetch(cls, root: Path, subjects: list[str]) -> None:
        """Download the derivative files of ``subjects`` (default: all 8) into ``root`` with openneuro-py or datalad:
        TextGrids, respdict.json, sess_to_story.json, the responses and each subject's pycortex surfaces and
        transforms (for the maps)."""
        root = Path(root).expanduser()
        subjects = list(subjects) or list(SUBJECTS)
        patterns = ["derivative/TextGrids/*", "derivative/respdict.json", "derivative/sess_to_story.json"]
        patterns += [f"derivative/preprocessed_data/{s}/*" for s in subjects]
        patterns += [f"derivative/{PYCORTEX_DB}/{s}/{part}/*" for s in subjects for part in ("surfaces", "transforms")]
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
            paths += [f"derivative/{PYCORTEX_DB}/{s}/{part}" for s in subjects for part in ("surfaces", "transforms")]
            datalad.get([str(root / p) for p in paths], dataset=str(root))
            return
        raise HarnessError(
            "lebel2023 fetch needs openneuro-py (pip install openneuro-py, or pip install 'harness[fetch]') or datalad "
            "with git-annex"
        )


# ---------------------------------------------------------------------- response files


def _some(items: list[str], shown: int = 5) -> str:
    return ", ".join(items[:shown]) + (f" and {len(items) - shown} more" if len(items) > shown else "")


def _read_words(path: Path) -> dict[str, list[Any]]:
    """The words of a TextGrid's word tier, with their onsets and offsets (s), silence and noise marks left out."""
    tiers = read_tiers(path)
    names = [name for name, _ in tiers]
    named = [(name, intervals) for name, intervals in tiers if name.strip().lower() in WORD_TIERS]
    if len(named) > 1:
        raise DataError(f"{path}: {len(named)} tiers named as the word tier ({', '.join(repr(n) for n, _ in named)}); "
                        "which holds the words is ambiguous")
    tier = named[0][1] if named else None
    if tier is None and len(names) >= 2 and names[0].strip().lower().startswith("phone"):
        tier = tiers[1][1]  # the public loader's convention: phones first, then words
    if tier is None:
        raise DataError(f"{path}: no word tier (tiers: {', '.join(names) or 'none'}; expected one named 'word')")
    kept = [(a, b, w) for a, b, w in tier if w.strip().strip("{}").strip().lower() not in SKIP_WORDS]
    if not kept:
        raise DataError(f"{path}: the word tier has no words")
    return {
        "words": [w.strip() for _, _, w in kept],
        "onsets": [a for a, _, _ in kept],
        "offsets": [b for _, b, _ in kept],
    }


def _read_phones(path: Path) -> dict[str, list[Any]]:
    """The phones of a TextGrid's phone tier (named "phone(s)", else the first of a phone and a word tier), with their
    onsets and offsets (s), silences and noise marks left out."""
    tiers = read_tiers(path)
    names = [name.strip().lower() for name, _ in tiers]
    named = [intervals for (_, intervals), name in zip(tiers, names) if name in PHONE_TIERS]
    tier = named[0] if len(named) == 1 else None
    if tier is None and not named and len(names) >= 2 and names[1] in WORD_TIERS:
        tier = tiers[0][1]  # the public loader's convention: phones first, then words
    if tier is None:
        raise DataError(f"{path}: no phone tier (tiers: {', '.join(n for n, _ in tiers) or 'none'}; expected one "
                        "named 'phone'); the nuisance feature phoneme_rate needs it")
    kept = [(a, b, p.strip()) for a, b, p in tier if p.strip().strip("{}").strip().lower() not in SKIP_PHONES]
    if not kept:
        raise DataError(f"{path}: the phone tier has no phones; the nuisance feature phoneme_rate needs them")
    return {"labels": [p for _, _, p in kept], "onsets": [a for a, _, _ in kept], "offsets": [b for _, b, _ in kept]}


def _response_shape(path: Path) -> tuple[tuple[int, int], bool]:
    """A response file's ``data`` shape (scans × voxels) and whether a valid ``repeats`` is beside it; nothing else is
    read."""
    with open_hdf5(path) as handle:
        rows, voxels = _data_set(path, handle).shape
        repeats = handle["repeats"].shape if "repeats" in handle else None
    _check_repeats(path, repeats, rows, voxels)
    return (rows, voxels), repeats is not None


def _check_repeats(path: Path, repeats: Sequence[int] | None, rows: int, voxels: int) -> None:
    """A ``repeats`` dataset's shape (None: the file has none) must be (repeats × ``rows`` × ``voxels``)."""
    if repeats is not None and tuple(repeats[1:]) != (rows, voxels):
        raise DataError(f"{path}: 'repeats' must be (repeats × {rows} × {voxels}), got {tuple(repeats)}")


def _ceiling(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The noise ceiling per voxel from a test story's ``repeats``, read a block of voxels at a time."""
    out = np.empty(shape[1], dtype=np.float32)
    with open_hdf5(path) as handle:
        repeats = handle["repeats"]
        for block in column_blocks(shape[1], repeats.shape[0] * shape[0]):
            values = np.asarray(repeats[:, :, block], dtype=np.float32)
            out[block] = noise_ceiling(np.stack([zscore_columns(r) for r in values]))
    return out


def _data_set(path: Path, handle: Any) -> Any:
    import h5py

    if not isinstance(handle.get("data"), h5py.Dataset):
        found = ", ".join(k if isinstance(handle.get(k), h5py.Dataset) else f"{k} (a group)" for k in handle.keys())
        raise DataError(f"{path}: no 'data' dataset (found: {found or 'nothing'})")
    data = handle["data"]
    if data.ndim != 2:
        raise DataError(f"{path}: 'data' must be 2-D (scans × voxels), got shape {data.shape}")
    if data.dtype.kind not in "fiu":
        raise DataError(f"{path}: 'data' holds {data.dtype}, not numbers")
    return data


def _scan_response(path: Path) -> dict[str, Any]:
    """Shape, and per voxel whether any value is NaN/infinite and whether it is constant, streamed in row blocks."""
    import h5py

    if not h5py.is_hdf5(path):
        raise DataError(f"{path}: not an HDF5 file ({path.stat().st_size:,} bytes without the HDF5 signature)")
    with open_hdf5(path) as handle:
        data = _data_set(path, handle)
        rows, voxels = data.shape
        repeats = handle.get("repeats")
        repeats_shape = list(repeats.shape) if isinstance(repeats, h5py.Dataset) else None
        nonfinite = np.zeros(voxels, dtype=bool)
        count = np.zeros(voxels)
        mean = np.zeros(voxels)
        m2 = np.zeros(voxels)
        step = max(1, _BLOCK_VALUES // max(voxels, 1))
        for start in range(0, rows, step):
            block = np.asarray(data[start : start + step], dtype=np.float64)
            finite = np.isfinite(block)
            nonfinite |= ~finite.all(0)
            n = finite.sum(0).astype(np.float64)
            values = np.where(finite, block, 0.0)
            block_mean = values.sum(0) / np.maximum(n, 1)
            block_m2 = (np.where(finite, block - block_mean, 0.0) ** 2).sum(0)
            total = count + n
            share = np.divide(n, total, out=np.zeros_like(n), where=total > 0)
            delta = block_mean - mean
            mean += delta * share
            m2 += block_m2 + delta**2 * count * share
            count = total
    constant = np.sqrt(m2 / np.maximum(count, 1)) <= CONSTANT_STD
    return {
        "shape": [rows, voxels],
        "repeats": repeats_shape,
        "nonfinite": _pack(nonfinite),
        "constant": _pack(constant),
    }


def _pack(flags: np.ndarray) -> str:
    return base64.b64encode(np.packbits(flags).tobytes()).decode()


def _unpack(text: str, count: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8), count=count).astype(bool)


@hookimpl
def register_brain_datasets(register):
    register(LeBel2023)
