"""Narratives (Nastase et al. 2021; OpenNeuro ds002345): spoken stories heard in the scanner, TR 1.5 s.

Reads the BIDS tree under ``root`` (the ds002345 directory)::

    participants.tsv                          participant_id; task and condition: one entry per story heard
    code/scan_exclude.json                    the published scan exclusions (honoured)
    sub-<s>/func/<scan>_events.tsv            onset, duration, trial_type, stim_file (<stimulus>_audio.wav)
    sub-<s>/func/<scan>_bold.json             RepetitionTime (else task-<task>_bold.json at the root)
    stimuli/gentle/<stimulus>/align.json      Gentle forced alignment of the transcript (words and their phones)
    derivatives/<pipeline>/sub-<s>/func/<scan>_space-fsaverage6_hemi-{L,R}_desc-clean.func.gii
    derivatives/<pipeline>/sub-<s>/func/<scan>_space-MNI152NLin2009cAsym_res-native_desc-clean_bold.nii.gz
    derivatives/<pipeline>/tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-<task>_desc-brain_mask.nii.gz

``<scan>`` is ``sub-<s>_task-<task>[_run-<n>]``. A story is a stimulus (the audio a scan's story
events play: ``pieman``, ``milkywayoriginal``, ...); a subject's scan of it is the first of its
runs that ``participants.tsv`` lists and ``scan_exclude.json`` does not exclude, with its response
files on disk (two scans of different tasks playing one story are an error). Scans that play
several stories (the ``schema`` task) or a stimulus without an alignment are left out.

Timing: the audio file starts at the onset of its first event (the music before some stories is
part of it); volume i is centred at ``(i + 0.5)·TR`` s after the first volume, so on the story
audio's clock at ``(i + 0.5)·TR − audio onset``. The volumes kept are those centred inside the
story events, less the first ``trim_start`` (6 by default, as the dataset's own analyses).
Responses are the cleaned derivative (``desc-clean``: confounds regressed out by AFNI): on
fsaverage6, the left then the right hemisphere's vertices (masks ``left`` and ``right`` for
``encoding.voxels: mask:left``); in MNI space, the voxels inside every story's brain mask.

Preflight (``check``) reads every scan the sweep will: its sidecar's RepetitionTime, its
response files' shapes (volumes against the story's words, vertices against the subject's other
scans and the other subjects). A scan with only some of its files is an error naming the missing
one; stories without an alignment and subjects listed but not downloaded are left out with a
note (``left_out``).
"""

from __future__ import annotations

import importlib
import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from harness import (
    BrainDataset,
    Channels,
    DataError,
    FetchableData,
    HarnessError,
    Phones,
    PhoneTimings,
    PluginOptions,
    Story,
    SubjectData,
    SurfaceMap,
    VolumeMap,
    cache_root,
    did_you_mean,
    fsaverage_vertices,
    hookimpl,
)
from harness_plugins.brain.filecache import cached_fact, files_digest
from harness_plugins.brain.narrativefiles import (
    ScanEvents,
    is_excluded,
    read_alignment,
    read_events,
    read_exclusions,
    read_gifti,
    read_mask,
    read_nifti,
    read_participants,
    read_phones,
    repetition_time,
)

OPENNEURO_ID = "ds002345"
SURFACE = "fsaverage6"
VOLUME = "MNI152NLin2009cAsym"
WORDS = "narratives-words-1"  # the name (and version) of an alignment's words in the file cache
PHONES = "narratives-phones-1"  # ... and of its phones
SHAPE = "narratives-shape-2"  # ... and of a response file's shape
TR_TOLERANCE = 1e-3  # seconds between options.tr and a sidecar's RepetitionTime taken as equal
_SCAN_NAME = re.compile(r"^(sub-[^_]+)_task-([^_]+)(?:_run-([^_]+))?$")


class NarrativesOptions(PluginOptions):
    """Options of ``Narratives``."""

    root: str | None = None  # the ds002345 directory; default <cache>/narratives/ds002345
    subjects: list[str] | None = None  # sub-XXX (or XXX); default: every subject with a kept scan of every story
    stories: list[str] | None = None  # training stories (stimulus names); default: every other story found
    test_stories: list[str] | None = None  # default: the last story found, alphabetically, outside stories
    pipeline: Literal["afni-smooth", "afni-nosmooth"] = "afni-smooth"  # derivative read
    space: Literal["fsaverage6", "MNI152NLin2009cAsym"] = "fsaverage6"  # surface (GIfTI) or volume (NIfTI)
    tr: float = Field(1.5, gt=0)  # checked against the sidecars' RepetitionTime where present
    trim_start: int = Field(6, ge=0)  # volumes dropped after the story starts

    @field_validator("subjects")
    @classmethod
    def _bids_subjects(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [s if s.startswith("sub-") else f"sub-{s}" for s in value]


@dataclass(frozen=True)
class Scan:
    """One subject's scan of one story."""

    subject: str  # sub-XXX
    task: str
    name: str  # sub-XXX_task-T[_run-N]
    events: Path
    timing: ScanEvents


class Narratives(BrainDataset[NarrativesOptions], FetchableData, PhoneTimings):
    """Narratives story listening (BIDS fMRI, TR 1.5 s): a cleaned AFNI derivative read with nibabel; the alignments'
    phones give the phones' timings."""

    name = "narratives"
    version = "1.0"
    fetch_by_story: ClassVar[bool] = True

    # ------------------------------------------------------------------ layout

    @classmethod
    def default_root(cls) -> Path:
        return cache_root() / "narratives" / OPENNEURO_ID

    @property
    def root(self) -> Path:
        return self.data_root(self.options.root)

    @property
    def _participants_path(self) -> Path:
        return self.root / "participants.tsv"

    @property
    def _exclusions_path(self) -> Path:
        return self.root / "code" / "scan_exclude.json"

    def _alignment_path(self, story: str) -> Path:
        return self.root / "stimuli" / "gentle" / story / "align.json"

    def _response_paths(self, scan: Scan) -> list[Path]:
        return self._responses_of(scan.subject, scan.name)

    def _responses_of(self, subject: str, name: str) -> list[Path]:
        folder = self.root / "derivatives" / self.options.pipeline / subject / "func"
        if self.options.space == SURFACE:
            return [folder / f"{name}_space-{SURFACE}_hemi-{h}_desc-clean.func.gii" for h in ("L", "R")]
        return [folder / f"{name}_space-{VOLUME}_res-native_desc-clean_bold.nii.gz"]

    def _scan_names(self) -> list[str]:
        """Every scan with an events file or a response file of the options' pipeline and space."""
        names = {p.name.removesuffix("_events.tsv") for p in self.root.glob("sub-*/func/*_events.tsv")}
        space = SURFACE if self.options.space == SURFACE else VOLUME
        derivative = self.root / "derivatives" / self.options.pipeline
        names |= {p.name.split("_space-")[0] for p in derivative.glob(f"sub-*/func/*_space-{space}_*desc-clean*")}
        return sorted(n for n in names if _SCAN_NAME.match(n))

    def _mask_path(self, task: str) -> Path:
        folder = self.root / "derivatives" / self.options.pipeline / f"tpl-{VOLUME}"
        return folder / f"tpl-{VOLUME}_res-{task}_desc-brain_mask.nii.gz"

    def _require(self) -> None:
        fetch = "`harness data fetch narratives --stories <story> ...`"
        if not self.root.is_dir():
            raise DataError(
                f"{self.root}: not found; download the data with {fetch} or set options.root to the ds002345 folder"
            )
        for path in (self._participants_path, self._exclusions_path):
            if not path.is_file():
                raise DataError(
                    f"{path}: not found; {self.root} should be the ds002345 folder; download it with {fetch}"
                )

    @cached_property
    def participants(self) -> dict[str, dict[str, str]]:
        """sub-XXX -> {task: condition}, from participants.tsv."""
        self._require()
        return read_participants(self._participants_path)

    @cached_property
    def exclusions(self) -> set[str]:
        self._require()
        return read_exclusions(self._exclusions_path)

    @property
    def scans(self) -> dict[str, dict[str, Scan]]:
        """story -> subject -> the scan read: listed, not excluded, one story, aligned, responses on disk."""
        return self._discovered[0]

    @property
    def excluded(self) -> list[str]:
        """Names of the scans on disk that code/scan_exclude.json excludes."""
        return self._discovered[1]

    @property
    def unaligned(self) -> dict[str, list[str]]:
        """story -> the scans of it left out because stimuli/gentle/<story>/align.json is not there."""
        return self._discovered[2]

    @cached_property
    def _discovered(self) -> tuple[dict[str, dict[str, Scan]], list[str], dict[str, list[str]]]:
        participants, exclusions = self.participants, self.exclusions
        found: dict[str, dict[str, Scan]] = {}
        excluded: list[str] = []
        unaligned: dict[str, list[str]] = {}
        for name in self._scan_names():
            subject, task = name.split("_")[0], name.split("_")[1].removeprefix("task-")
            if task not in participants.get(subject, {}):
                continue
            if is_excluded(name, exclusions):
                excluded.append(name)
                continue
            events = self.root / subject / "func" / f"{name}_events.tsv"
            if not self._downloaded(events, self._responses_of(subject, name)):
                continue
            timing = read_events(events)
            if timing is None:  # several stories in one scan (the schema task)
                continue
            if not self._alignment_path(timing.stimulus).is_file():
                unaligned.setdefault(timing.stimulus, []).append(name)
                continue
            kept = found.setdefault(timing.stimulus, {})
            if subject in kept and kept[subject].task != task:
                raise DataError(
                    f"{events}: plays story {timing.stimulus!r}, as {kept[subject].events} of task "
                    f"{kept[subject].task} does; "
                    "which scan is that story is ambiguous"
                )
            kept.setdefault(subject, Scan(subject, task, name, events, timing))
        if not found:
            where = next((f"{self._alignment_path(s)} not found; " for s in unaligned), "")
            raise DataError(
                f"{self.root}: {where}no scan with its events, a story alignment (stimuli/gentle/) and "
                f"{self.options.pipeline} "
                f"responses in space {self.options.space}; download some with `harness data fetch narratives --stories "
                "<story> ...`"
            )
        return found, excluded, unaligned

    @staticmethod
    def _downloaded(events: Path, responses: list[Path]) -> bool:
        """Whether a scan's events and response files are all there; False when none of its responses is
        (not downloaded); a scan with some of its files is an error naming the first one missing."""
        present = [p for p in responses if p.is_file()]
        if not present:
            return False
        missing = [p for p in [events, *responses] if not p.is_file()]
        if missing:
            raise DataError(
                f"{missing[0]}: not found, but {present[0].name} is there (a partial download? fetch the story again)"
            )
        return True

    # ------------------------------------------------------------------ BrainDataset

    def split(self) -> tuple[list[str], list[str]]:
        found = sorted(self.scans)
        for where, named in (
            ("options.stories", self.options.stories),
            ("options.test_stories", self.options.test_stories),
        ):
            for story in named or []:
                if story not in self.scans and story in self.unaligned:
                    raise DataError(f"{self._alignment_path(story)}: not found; story {story!r} ({where}) has "
                                    f"{len(self.unaligned[story])} scans but no alignment")
                if story not in self.scans:
                    raise DataError(
                        f"{self.root}: no kept scan of story {story!r} ({where}){did_you_mean(story, found)}; stories "
                        f"found: {', '.join(found)}"
                    )
        if self.options.test_stories is not None:
            test = list(self.options.test_stories)
        else:
            outside = [s for s in found if s not in (self.options.stories or [])]
            if not outside:
                raise DataError(
                    f"{self.name}: options.stories names every story found; name the held-out ones in "
                    "options.test_stories"
                )
            test = [outside[-1]]
        train = [s for s in (self.options.stories if self.options.stories is not None else found) if s not in test]
        if not train:
            raise DataError(
                f"{self.name}: no training story besides the test stories ({', '.join(test)}); stories found: "
                f"{', '.join(found)}"
                + "".join(f"; {self._alignment_path(s)} not found" for s in sorted(self.unaligned))
            )
        return train, test

    def subjects(self) -> list[str]:
        train, test = self.split()
        stories = train + test
        if self.options.subjects is not None:
            for subject in self.options.subjects:
                for story in stories:
                    if subject not in self.scans[story]:
                        raise DataError(
                            f"{self.root}: subject {subject} has no kept scan of story {story!r} "
                            f"({self._why_not(subject, story)})"
                        )
            return list(self.options.subjects)
        common = sorted(set.intersection(*(set(self.scans[s]) for s in stories)))
        if not common:
            counts = ", ".join(f"{s}: {len(self.scans[s])}" for s in stories)
            raise DataError(f"{self.root}: no subject has a kept scan of every story ({counts} subjects); "
                            "choose stories the same subjects heard (options.stories, options.test_stories)")
        return common

    def _why_not(self, subject: str, story: str) -> str:
        tasks = self.participants.get(subject)
        if tasks is None:
            return "not in participants.tsv"
        excluded = [n for n in self.excluded if n.startswith(subject + "_")]
        if excluded:
            return (
                f"participants.tsv lists tasks {', '.join(tasks)}; excluded by scan_exclude.json: {', '.join(excluded)}"
            )
        return f"participants.tsv lists tasks {', '.join(tasks)}; or its files are not on disk"

    def stories(self) -> dict[str, Story]:
        train, test = self.split()
        return {name: self._story(name)[0] for name in train + test}

    def _story(self, name: str) -> tuple[Story, int, bool]:
        """(the story's words, how many were timed by interpolation, whether remembered from an earlier read)."""
        found, remembered = cached_fact(self._alignment_path(name), WORDS, read_alignment)
        story = Story(name=name, words=tuple(found["words"]), onsets=np.asarray(found["onsets"], dtype=np.float64),
                      offsets=np.asarray(found["offsets"], dtype=np.float64))
        return story, int(found["interpolated"]), remembered

    def phones(self) -> dict[str, Phones]:
        """Every story's phones from its Gentle alignment (remembered while the file is unchanged)."""
        train, test = self.split()
        return {name: Phones.of(cached_fact(self._alignment_path(name), PHONES, read_phones)[0])
                for name in train + test}

    def _check_tr(self, scan: Scan) -> None:
        sidecars = [scan.events.parent / f"{scan.name}_bold.json", self.root / f"task-{scan.task}_bold.json"]
        found = repetition_time(sidecars)
        if found is not None and abs(found[0] - self.options.tr) > TR_TOLERANCE:
            raise DataError(
                f"{found[1]}: RepetitionTime {found[0]:g} s (scan {scan.name}), but options.tr is {self.options.tr:g} s"
            )

    def kept(self, scan: Scan, volumes: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices of the kept volumes, their centre times on the story audio's clock)."""
        timing, tr = scan.timing, self.options.tr
        times = (np.arange(volumes) + 0.5) * tr - timing.audio_onset
        start = timing.story_start - timing.audio_onset + self.options.trim_start * tr
        index = np.flatnonzero((times >= start) & (times <= timing.story_end - timing.audio_onset))
        if index.size < 2:
            raise DataError(
                f"{self._response_paths(scan)[0]}: {volumes} volumes, fewer than two inside the story events "
                f"({timing.story_start:g}–{timing.story_end:g} s) after trim_start {self.options.trim_start}"
            )
        return index, times[index]

    @cached_property
    def _mask(self) -> np.ndarray | None:
        """MNI space: the voxels inside every story's brain mask; None on the surface."""
        if self.options.space == SURFACE:
            return None
        train, test = self.split()
        tasks = sorted({scan.task for story in train + test for scan in self.scans[story].values()})
        masks = [(self._mask_path(t), read_mask(self._mask_path(t))) for t in tasks if self._mask_path(t).is_file()]
        missing = [self._mask_path(t) for t in tasks if not self._mask_path(t).is_file()]
        if missing:
            raise DataError(f"{missing[0]}: not found: the brain mask of the {VOLUME} responses")
        first_path, mask = masks[0]
        for path, other in masks[1:]:
            if other.shape != mask.shape:
                raise DataError(f"{path}: grid {other.shape} differs from {first_path.name}'s {mask.shape}; "
                                f"stories recorded at different resolutions cannot share voxels; use space {SURFACE}")
            mask = mask & other
        return mask

    def _responses(self, scan: Scan) -> tuple[np.ndarray, int | None]:
        """A scan's responses (volumes × vertices or voxels) and, on the surface, the left hemisphere's vertices."""
        paths = self._response_paths(scan)
        if self._mask is None:
            hemispheres = [read_gifti(p) for p in paths]
            if hemispheres[0].shape[0] != hemispheres[1].shape[0]:
                raise DataError(
                    f"{paths[1]}: {hemispheres[1].shape[0]} volumes, but the left hemisphere has "
                    f"{hemispheres[0].shape[0]}"
                )
            return np.concatenate(hemispheres, axis=1), hemispheres[0].shape[1]
        return read_nifti(paths[0], self._mask), None

    def load_subject(self, subject: str) -> SubjectData:
        train, test = self.split()
        responses: dict[str, np.ndarray] = {}
        times: dict[str, np.ndarray] = {}
        left: int | None = None
        for story in train + test:
            scan = self.scans[story].get(subject)
            if scan is None:
                raise DataError(
                    f"{self.root}: subject {subject} has no kept scan of story {story!r} "
                    f"({self._why_not(subject, story)})"
                )
            self._check_tr(scan)
            data, left = self._responses(scan)
            index, times[story] = self.kept(scan, data.shape[0])
            responses[story] = data[index]
        width = next(iter(responses.values())).shape[1]
        # fsaverage6 hemispheres
        masks = {} if left is None else {"left": np.arange(left), "right": np.arange(left, width)}
        return SubjectData(responses=responses, times=times, masks=masks)

    def voxel_map(self, subject: str) -> SurfaceMap | VolumeMap:
        """fsaverage6's vertices, the left hemisphere's then the right's (as ``load_subject`` joins them), or the
        MNI voxels inside every story's brain mask; reads one response file (its vertices) or the masks."""
        train, test = self.split()
        scan = next((self.scans[s][subject] for s in train + test if subject in self.scans[s]), None)
        if scan is None:
            raise DataError(f"{self.root}: subject {subject} has no kept scan, so no map")
        if self.options.space == SURFACE:
            path = self._response_paths(scan)[0]
            per = read_gifti(path).shape[1]
            mesh = {fsaverage_vertices(m): m for m in (SURFACE, "fsaverage5", "fsaverage")}.get(per)
            if mesh is None:
                raise DataError(f"{path}: {per:,} vertices per hemisphere, no fsaverage mesh's count ({SURFACE} has "
                                f"{fsaverage_vertices(SURFACE):,}), so there is no cortex to draw them on")
            full = fsaverage_vertices(mesh)
            return SurfaceMap(mesh, np.concatenate([np.arange(per), full + np.arange(per)]), name=mesh)
        import nibabel as nib

        assert self._mask is not None
        affine = nib.load(str(self._mask_path(scan.task))).affine
        return VolumeMap(self._mask, np.asarray(affine), VOLUME, name=f"{VOLUME} brain mask")

    # ------------------------------------------------------------------ preflight

    def check(self) -> list[str]:
        """Metadata, every alignment, every scan's sidecar TR and response files (shape, volumes against the
        words' span, vertices against the subject's other scans and the other subjects), what was left out."""
        train, test = self.split()
        subjects = self.subjects()
        stories = train + test
        notes, remembered = self._check_words(stories)
        widths: dict[str, list[tuple[int, Path]]] = {}
        for subject in subjects:
            for story in stories:
                columns, path, cached = self._check_scan(self.scans[story][subject])
                remembered += cached
                widths.setdefault(subject, []).append((columns, path))
            _same_width(widths[subject], self.channels, f"{subject}'s other scans")
        width = _same_width([scans[0] for scans in widths.values()], self.channels, "the other subjects")
        notes.insert(
            0,
            f"{len(subjects)} subject{'s' if len(subjects) != 1 else ''} x {len(stories)} stories ({len(train)} train, "
            f"{len(test)} test), {width:,} {self.channels} ({self.options.pipeline}, {self.options.space}); "
            f"{len(self.excluded)} scans excluded by code/scan_exclude.json; {remembered} files unchanged since an "
            "earlier check",
        )
        return [*notes, *(f"left out: {line}" for line in self.left_out())]

    @property
    def channels(self) -> Channels:
        """Vertices on the surface (fsaverage6), voxels in a volume space."""
        return Channels.VERTICES if self.options.space == SURFACE else Channels.VOXELS

    def _check_words(self, stories: list[str]) -> tuple[list[str], int]:
        """Every story's alignment read: notes on words Gentle did not find, and how many were remembered."""
        notes, remembered = [], 0
        for story in stories:
            words, interpolated, cached = self._story(story)
            remembered += cached
            if interpolated:
                notes.append(
                    f"{story}: {interpolated} of {len(words.words)} words not found in the audio by Gentle, timed "
                    "between their neighbours"
                )
        return notes, remembered

    def _check_scan(self, scan: Scan) -> tuple[int, Path, int]:
        """(columns, first response file, files remembered) of a scan whose TR, response shapes and span are checked."""
        self._check_tr(scan)
        paths = self._response_paths(scan)
        found = [cached_fact(path, SHAPE, _shape) for path in paths]
        shapes = [shape for shape, _ in found]
        if len({s[0] for s in shapes}) != 1:
            raise DataError(f"{paths[-1]}: {shapes[-1][0]} volumes, but the left hemisphere has {shapes[0][0]}")
        if self._mask is None and len({s[1] for s in shapes}) != 1:
            raise DataError(
                f"{paths[-1]}: {shapes[-1][1]} vertices, but the left hemisphere ({paths[0].name}) has {shapes[0][1]}"
            )
        if self._mask is not None and shapes[0][1] != self._mask.size:
            raise DataError(f"{paths[0]}: a grid of {shapes[0][1]} voxels, but the brain mask's has {self._mask.size}")
        self._check_span(scan, shapes[0][0], paths[0])
        columns = sum(s[1] for s in shapes) if self._mask is None else int(self._mask.sum())
        return columns, paths[0], sum(cached for _, cached in found)

    def _check_span(self, scan: Scan, volumes: int, path: Path) -> None:
        """The scan's volumes reach the story's last word (within a TR) and its kept volumes overlap the words."""
        words = self._story(scan.timing.stimulus)[0]
        tr, last = self.options.tr, float(words.offsets[-1]) + scan.timing.audio_onset  # on the scan's clock
        if volumes * tr + tr < last:
            raise DataError(
                f"{path}: {volumes} volumes ({volumes * tr:g} s), but the story's words run to {last:g} s of the scan "
                "(cut short? a partial download?)"
            )
        _, kept_times = self.kept(scan, volumes)
        if words.onsets[0] > kept_times[-1] or words.offsets[-1] + 30 < kept_times[0]:
            raise DataError(
                f"{self._alignment_path(words.name)}: its words ({words.onsets[0]:.0f}–{words.offsets[-1]:.0f} s) do "
                "not "
                f"overlap the kept volumes of {scan.name} ({kept_times[0]:.0f}–{kept_times[-1]:.0f} s)"
            )

    def left_out(self) -> list[str]:
        """Stories without an alignment, and subjects participants.tsv lists for every story whose files are not on
        disk."""
        train, test = self.split()
        out = [f"story {story} ({len(names)} scans): {self._alignment_path(story)} not found"
               for story, names in sorted(self.unaligned.items()) if story not in train + test]
        if self.options.subjects is None:
            absent = self._not_downloaded(train + test)
            if absent:
                out.append(
                    f"{len(absent)} subject(s) listed in participants.tsv for every story ({', '.join(train + test)}) "
                    f"without their files under {self.root} (not downloaded): {_some(absent)}"
                )
        return out

    def _not_downloaded(self, stories: list[str]) -> list[str]:
        """Subjects that heard every story (per participants.tsv), with no excluded scan of them, but no kept scan of
        one."""
        kept = set(self.subjects())
        tasks = {story: {scan.task for scan in self.scans[story].values()} for story in stories}
        out = []
        for subject, heard in sorted(self.participants.items()):
            lacking = [s for s in stories if subject not in self.scans[s]]
            if subject in kept or not lacking or any(not tasks[s] & set(heard) for s in lacking):
                continue
            if any(n.startswith(f"{subject}_task-{t}") for s in lacking for t in tasks[s] for n in self.excluded):
                continue
            out.append(subject)
        return out

    # ------------------------------------------------------------------ provenance

    def _files(self) -> list[Path]:
        train, test = self.split()
        files = [self._participants_path, self._exclusions_path]
        files += [self._alignment_path(s) for s in train + test]
        for subject in self.subjects():
            for story in train + test:
                scan = self.scans[story][subject]
                files += [scan.events, *self._response_paths(scan)]
        if self.options.space == VOLUME:
            files += sorted({self._mask_path(scan.task) for s in train + test for scan in self.scans[s].values()})
        return files

    def data_hash(self) -> str:
        """Digest of the content of every file read (each file's digest remembered while it is unchanged)."""
        return files_digest(self.root, self._files)

    # ------------------------------------------------------------------ download

    @classmethod
    def fetch(cls, root: Path, subjects: list[str], stories: list[str] | None = None) -> None:
        """Download the metadata, then ``stories``' alignments, events and afni-smooth fsaverage6 responses.

        Subjects: those of ``subjects`` (default: every participant) that heard a story, per
        participants.tsv. Needs openneuro-py.
        """
        if not stories:
            raise DataError(
                "narratives: name the stories to download with --stories (e.g. --stories black bronx forgot "
                "piemanpni); "
                "the whole dataset is several hundred GB"
            )
        try:
            openneuro = importlib.import_module("openneuro")
        except ImportError:
            raise HarnessError(
                "narratives fetch needs openneuro-py (pip install openneuro-py, or pip install 'harness[fetch]')"
            ) from None
        root = Path(root).expanduser()
        root.mkdir(parents=True, exist_ok=True)
        metadata = [
            "dataset_description.json",
            "participants.tsv",
            "participants.json",
            "code/scan_exclude.json",
            "task-*_bold.json",
        ]
        openneuro.download(dataset=OPENNEURO_ID, target_dir=str(root), include=metadata)
        patterns = fetch_patterns(read_participants(root / "participants.tsv"), subjects, stories)
        openneuro.download(dataset=OPENNEURO_ID, target_dir=str(root), include=patterns)


def fetch_patterns(participants: dict[str, dict[str, str]], subjects: list[str], stories: list[str]) -> list[str]:
    """The ds002345 paths (globs) holding ``stories`` for ``subjects`` (all when empty): stimuli, events, sidecars,
    responses.

    A story's task is the task of participants.tsv that is the story's name or begins it
    (``milkywayoriginal`` is heard in task ``milkyway``).
    """
    wanted = {s if s.startswith("sub-") else f"sub-{s}" for s in subjects}
    tasks = sorted({t for heard in participants.values() for t in heard})
    patterns: list[str] = []
    for story in stories:
        task = next((t for t in sorted(tasks, key=len, reverse=True) if story.startswith(t)), None)
        if task is None:
            raise DataError(
                f"narratives: no task of participants.tsv plays story {story!r}{did_you_mean(story, tasks)}"
            )
        patterns.append(f"stimuli/gentle/{story}/align.json")
        for subject, heard in sorted(participants.items()):
            if task in heard and (not wanted or subject in wanted):
                patterns += [
                    f"{subject}/func/{subject}_task-{task}_*events.tsv",
                    f"{subject}/func/{subject}_task-{task}_*bold.json",
                    f"derivatives/afni-smooth/{subject}/func/{subject}_task-{task}_*space-{SURFACE}_hemi-*_desc-clean.func.gii",
                ]
    return patterns


def _some(items: list[str], shown: int = 10) -> str:
    return ", ".join(items[:shown]) + (f" and {len(items) - shown} more" if len(items) > shown else "")


def _same_width(found: list[tuple[int, Path]], unit: str, others: str) -> int:
    """The most common count of vertices (voxels) of ``found`` (count, file); a file with another count is an error."""
    counts = Counter(width for width, _ in found)
    common = counts.most_common(1)[0][0]
    for width, path in found:
        if width != common:
            raise DataError(f"{path}: {width} {unit}, but {others} have {common} ({counts[common]} of {len(found)})")
    return common


def _shape(path: Path) -> list[int]:
    """[volumes, columns] of a response file (GIfTI: vertices; NIfTI: every voxel of the grid), read to its end."""
    if path.name.endswith(".func.gii"):
        return list(read_gifti(path).shape)
    import nibabel as nib

    try:
        image = nib.load(str(path))
        shape = image.shape
        if len(shape) == 4:
            np.asarray(image.dataobj[..., shape[3] - 1])  # the last volume: a file cut short fails here
    except Exception as error:
        raise DataError(f"{path}: not a readable NIfTI file ({type(error).__name__}: {error})") from None
    if len(shape) != 4:
        raise DataError(f"{path}: expected a 4-D image, got shape {shape}")
    return [int(shape[3]), int(np.prod(shape[:3]))]


@hookimpl
def register_brain_datasets(register: Any) -> None:
    register(Narratives)
