"""MEG-MASC (Gwilliams et al. 2023): English speakers listening to four stories in two MEG sessions.

Reads a BIDS MEG tree (the dataset's ``bids_anonym`` folder) through mne-bids::

    participants.tsv                                       participant_id column: sub-01, ...
    sub-<s>/ses-<n>/meg/sub-<s>_ses-<n>_task-<k>_meg.*     one recording per story (task k = story k)
    sub-<s>/ses-<n>/meg/sub-<s>_ses-<n>_task-<k>_events.tsv

As in the dataset's public loader code, each row of an events file holds ``onset`` and
``duration`` (s from the start of the recording) and a ``trial_type`` that is a Python dict
literal with ``kind`` ('word', 'phoneme' or 'sound'), ``word``, ``story``, ``story_uid``,
``sound_id``, ``sound`` and ``word_index``; the words of a recording are its rows of kind 'word'
in onset order. A story's words are those of the first recording of it found (its clock starts
at that recording's first word); every recording keeps its own word onsets
(``SubjectData.word_onsets``), so recordings need not share a clock.

Each recording is read with ``mne_bids.read_raw_bids``, reduced to its MEG channels, band-pass
filtered (``l_freq``–``h_freq`` Hz) and resampled (``sfreq`` Hz) by MNE, and read in fT (fT/cm). Where a subject heard a
story in both sessions, the second session is mapped onto the first one's clock through their
word onsets, the two are averaged, and the test stories' sessions are the repeats of the noise
ceiling.

Preflight (``check``) opens every recording the sweep will read (``megfiles``): its header and
first and last samples, its sidecar's ``SamplingFrequency`` and ``RecordingDuration`` against it,
its ``channels.tsv`` against its channels, its words inside it. A recording without an events
file, or two of one session claiming a story, are errors; subjects listed in participants.tsv
without recordings (not downloaded) are left out with a note (``left_out``).
"""

from __future__ import annotations

import ast
import csv
import hashlib
import importlib
import re
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from harness import (
    BrainDataset,
    DataError,
    FetchableData,
    HarnessError,
    Modality,
    PluginOptions,
    SensorMap,
    Story,
    SubjectData,
    cache_root,
    did_you_mean,
    hookimpl,
    noise_ceiling,
    one_line,
    zscore_columns,
)
from harness_plugins.brain.filecache import cached_fact, file_digest
from harness_plugins.brain.megfiles import (
    HEADER,
    read_channel_names,
    read_header,
    read_participant_ids,
    read_sidecar,
    sidecar_number,
)

OSF_PROJECTS = ("ag3kj", "h2tzn", "u5327")  # where the dataset is published (bids_anonym/ in each)
BIDS_FOLDER = "bids_anonym"
TEST_STORY = "lw1"
UNITS = {"mag": "fT", "grad": "fT/cm"}  # sensor values as read (so that they are far from float32's floor)
WORDS = "megmasc-words-1"  # the name (and version) of an events file's words in the file cache
WORD_TOLERANCE = 0.1  # s: how far past a recording's last sample its last word may end


class MEGMASCOptions(PluginOptions):
    """Options of ``MEGMASC``."""

    root: str | None = None  # the BIDS root (bids_anonym); default <cache>/megmasc/bids_anonym
    subjects: list[str] | None = None  # without "sub-"; default: participants.tsv, else every sub-* folder
    sessions: list[str] | None = None  # default: every session a subject has
    stories: list[str] | None = None  # training stories; default: every other story found
    test_stories: list[str] | None = None  # default: lw1 (else the first story found)
    l_freq: float | None = Field(0.5, ge=0)  # band-pass low edge (Hz); None: no high-pass
    h_freq: float | None = Field(30.0, gt=0)  # band-pass high edge (Hz); None: no low-pass
    sfreq: float = Field(50.0, gt=0)  # resampled rate (Hz)


class MEGMASC(BrainDataset[MEGMASCOptions], FetchableData):
    """MEG-MASC story listening (BIDS MEG) read through mne-bids and preprocessed with MNE."""

    name = "megmasc"
    version = "1.0"
    modality = Modality.MEG

    # ------------------------------------------------------------------ layout

    @classmethod
    def default_root(cls) -> Path:
        return cache_root() / "megmasc" / BIDS_FOLDER

    @property
    def root(self) -> Path:
        return self.data_root(self.options.root)

    def _require(self) -> None:
        if not self.root.is_dir():
            raise DataError(
                f"{self.root}: not found; fetch the dataset with `harness data fetch megmasc` or set options.root"
            )

    def _wanted(self, entities: dict[str, str]) -> bool:
        """Whether a file of these BIDS entities is a recording of a subject and session the options keep."""
        if "sub" not in entities or "ses" not in entities or "task" not in entities:
            return False
        o = self.options
        return (o.subjects is None or entities["sub"] in o.subjects) and (
            o.sessions is None or entities["ses"] in o.sessions
        )

    @cached_property
    def recordings(self) -> dict[tuple[str, str], dict[str, Path]]:
        """(subject, session) -> story -> events file; a recording without its events file, or two
        recordings of one session that claim the same story, are errors."""
        self._require()
        found: dict[tuple[str, str], dict[str, Path]] = {}
        for events in sorted(self.root.glob("sub-*/ses-*/meg/*_events.tsv")):
            entities = _entities(events.name)
            if "sub" not in entities or "ses" not in entities or "task" not in entities:
                continue
            story = _story_name(events)
            stories = found.setdefault((entities["sub"], entities["ses"]), {})
            if story in stories and self._wanted(entities):
                raise DataError(f"{events}: claims story {story!r}, as {stories[story]} does in the same session; "
                                "which recording is that story is ambiguous")
            stories[story] = events
        for raw in sorted(self.root.glob("sub-*/ses-*/meg/*_meg.*")):
            events = _events_of(raw)
            if raw.suffix != ".json" and self._wanted(_entities(raw.name)) and not events.is_file():
                raise DataError(
                    f"{events}: not found; recording {raw.name} has no events file, so its story and words are unknown"
                )
        if not found:
            raise DataError(f"{self.root}: no sub-*/ses-*/meg/*_events.tsv files; is this the BIDS root of MEG-MASC?")
        return found

    def subjects(self) -> list[str]:
        have = sorted({subject for subject, _ in self.recordings})
        if self.options.subjects is not None:
            for subject in self.options.subjects:
                if subject not in have:
                    raise DataError(f"{self.root}: no recordings of subject {subject!r}{did_you_mean(subject, have)}")
            return list(self.options.subjects)
        ids = self._listed()
        return have if ids is None else [s for s in ids if s in have]

    def _listed(self) -> list[str] | None:
        """The subjects of participants.tsv (without sub-); None when there is no participants.tsv."""
        listed = self.root / "participants.tsv"
        return read_participant_ids(listed) if listed.is_file() else None

    def left_out(self) -> list[str]:
        """Subjects of participants.tsv without recordings (not downloaded), and recorded subjects it does not list."""
        ids = self._listed()
        if ids is None or self.options.subjects is not None:
            return []
        have = sorted({subject for subject, _ in self.recordings})
        out = []
        absent = [s for s in ids if s not in have]
        if absent:
            out.append(f"{len(absent)} subject(s) listed in participants.tsv without recordings under {self.root} "
                       f"(not downloaded): {_some(absent)}")
        unlisted = [s for s in have if s not in ids]
        if unlisted:
            out.append(
                f"{len(unlisted)} subject(s) with recordings but not listed in participants.tsv: {_some(unlisted)}"
            )
        return out

    def _sessions(self, subject: str) -> list[str]:
        have = sorted(session for s, session in self.recordings if s == subject)
        wanted = self.options.sessions
        return [s for s in have if wanted is None or s in wanted]

    def _all_stories(self) -> list[str]:
        return sorted({story for stories in self.recordings.values() for story in stories})

    def split(self) -> tuple[list[str], list[str]]:
        found = self._all_stories()
        test = self.options.test_stories or ([TEST_STORY] if TEST_STORY in found else found[:1])
        for story in test + (self.options.stories or []):
            if story not in found:
                raise DataError(f"{self.root}: no recording of story {story!r}{did_you_mean(story, found)}")
        train = self.options.stories or [s for s in found if s not in test]
        return list(train), list(test)

    # ------------------------------------------------------------------ words

    def _words(self, events: Path) -> dict[str, Any]:
        return cached_fact(events, WORDS, _read_words)[0]

    def stories(self) -> dict[str, Story]:
        train, test = self.split()
        out = {}
        for story in train + test:
            events = next(paths[story] for _, paths in sorted(self.recordings.items()) if story in paths)
            words = self._words(events)
            onsets = np.asarray(words["onsets"], dtype=np.float64)
            start = onsets[0] if onsets.size else 0.0
            out[story] = Story(
                story, tuple(words["words"]), onsets - start, np.asarray(words["offsets"], dtype=np.float64) - start
            )
        return out

    # ------------------------------------------------------------------ responses

    def _read_recording(self, events: Path) -> tuple[np.ndarray, np.ndarray]:
        """(samples × MEG channels) float32 preprocessed as the options say, and each sample's time (s)."""
        from mne_bids import BIDSPath, read_raw_bids

        entities = _entities(events.name)
        path = BIDSPath(
            subject=entities["sub"],
            session=entities["ses"],
            task=entities["task"],
            run=entities.get("run"),
            datatype="meg",
            root=self.root,
        )
        try:
            raw = read_raw_bids(path, verbose="error")
        except (OSError, ValueError, RuntimeError) as error:
            raise DataError(
                f"{(_raw_files(events) or [events])[0]}: cannot read the recording: {one_line(error)}"
            ) from None
        raw.pick("meg", exclude="bads").load_data(verbose="error")
        o = self.options
        if o.l_freq is not None or o.h_freq is not None:
            raw.filter(o.l_freq, o.h_freq, verbose="error")
        if abs(raw.info["sfreq"] - o.sfreq) > 1e-6:
            raw.resample(o.sfreq, verbose="error")
        return raw.get_data(units=UNITS).T.astype(np.float32), raw.times.astype(np.float64)

    def load_subject(self, subject: str) -> SubjectData:
        train, test = self.split()
        sessions = self._sessions(subject)
        stories = self.stories()
        responses, times, onsets = {}, {}, {}
        ceilings: list[tuple[int, np.ndarray]] = []
        for story in train + test:
            heard = [
                self.recordings[(subject, session)][story]
                for session in sessions
                if story in self.recordings[(subject, session)]
            ]
            if not heard:
                raise DataError(
                    f"{self.root}: subject {subject} has no recording of story {story!r} (sessions "
                    f"{', '.join(sessions)})"
                )
            repeats, clock, first_onsets = [], None, None
            for events in heard:
                words = self._words(events)
                if tuple(words["words"]) != stories[story].words:
                    raise DataError(
                        f"{events}: its words differ from those of story {story!r} in the first recording of it"
                    )
                data, sample_times = self._read_recording(events)
                word_onsets = np.asarray(words["onsets"], dtype=np.float64)
                if clock is None:
                    clock, first_onsets = sample_times, word_onsets
                    repeats.append(data)
                else:
                    assert first_onsets is not None
                    repeats.append(_onto_clock(data, sample_times, word_onsets, clock, first_onsets))
            assert clock is not None and first_onsets is not None
            responses[story] = np.mean(repeats, axis=0).astype(np.float32)
            times[story], onsets[story] = clock, first_onsets
            if story in test and len(repeats) > 1:
                ceilings.append((len(clock), noise_ceiling(np.stack([zscore_columns(r) for r in repeats]))))
        ceiling = None
        if ceilings:
            ceiling = sum(n * c for n, c in ceilings) / sum(n for n, _ in ceilings)
        return SubjectData(responses=responses, times=times, noise_ceiling=ceiling, word_onsets=onsets)

    def voxel_map(self, subject: str) -> SensorMap:
        """The MEG sensors of the subject's first recording, in the order ``load_subject`` reads them, with the
        positions the recording stores (its data is not read)."""
        import mne

        events = next(iter(self.recordings[(subject, self._sessions(subject)[0])].values()))
        path = (_raw_files(events) or [events])[0]
        try:
            raw = mne.io.read_raw(path, preload=False, verbose="error")
        except Exception as error:  # noqa: BLE001 - MNE raises many kinds on a damaged file
            raise DataError(f"{path}: not a readable MEG recording ({one_line(error)})") from None
        raw.pick("meg", exclude="bads")
        positions = np.array([channel["loc"][:3] for channel in raw.info["chs"]])
        if not np.isfinite(positions).all() or np.allclose(positions, 0):
            raise DataError(f"{path}: its channels carry no sensor positions, so there is no topography to draw")
        return SensorMap(raw.info, name=f"sensors of {path.name}")

    # ------------------------------------------------------------------ checks

    def check(self) -> list[str]:
        """Layout, participants.tsv, every events file's words, and each recording of the split's stories
        opened with its sidecar and channel list (see ``_check_recording``)."""
        train, test = self.split()
        stories = self.stories()
        subjects = self.subjects()
        if not subjects:
            raise DataError(f"{self.root}: no subjects")
        remembered = checked = 0
        for subject in subjects:
            sessions = self._sessions(subject)
            for story in train + test:
                heard_paths = [p for p in (self.recordings[(subject, s)].get(story) for s in sessions) if p is not None]
                if not heard_paths:
                    raise DataError(f"{self.root}: subject {subject} has no recording of story {story!r}")
                for events in heard_paths:
                    if tuple(self._words(events)["words"]) != stories[story].words:
                        raise DataError(
                            f"{events}: its words differ from those of story {story!r} in the first recording of it"
                        )
                    remembered += self._check_recording(events)
                    checked += 1
        summary = (f"{len(subjects)} subjects, {len(train)} training and {len(test)} test stories; "
                   f"band-pass {self.options.l_freq}–{self.options.h_freq} Hz, resampled to {self.options.sfreq:g} Hz; "
                   f"{checked} recordings ({remembered} unchanged since an earlier check)")
        return [summary, *(f"left out: {line}" for line in self.left_out())]

    def _check_recording(self, events: Path) -> bool:
        """The recording beside ``events`` opened (header, first and last samples), its sidecar's sampling rate
        and duration and its channels.tsv against it, its words inside it; whether its header was remembered."""
        raws = _raw_files(events)
        stem = events.name.removesuffix("_events.tsv")
        if not raws:
            raise DataError(f"{events.parent / stem}_meg.*: not found; no MEG recording beside {events.name}")
        raw = raws[0]
        header, remembered = cached_fact(raw, HEADER, read_header)
        sfreq, seconds = header["sfreq"], header["samples"] / header["sfreq"]
        sidecar_path = events.parent / f"{stem}_meg.json"
        sidecar = read_sidecar(sidecar_path)
        rate = sidecar_number(sidecar_path, sidecar, "SamplingFrequency", required=True)
        assert rate is not None
        if abs(rate - sfreq) > 1e-3 * sfreq:
            raise DataError(f"{sidecar_path}: SamplingFrequency {rate:g} Hz, but {raw.name} is sampled at {sfreq:g} Hz")
        duration = sidecar_number(sidecar_path, sidecar, "RecordingDuration", required=False)
        if duration is not None and abs(duration - seconds) > 2 / sfreq:
            raise DataError(
                f"{raw}: {seconds:g} s of data, but {sidecar_path.name} says RecordingDuration {duration:g} s (file "
                "cut short?)"
            )
        _same_channels(events.parent / f"{stem}_channels.tsv", header["channels"], raw.name)
        end = max(self._words(events)["offsets"])
        if end > seconds + WORD_TOLERANCE:
            raise DataError(
                f"{raw}: {seconds:g} s of data, but the words of {events.name} run to {end:g} s (file cut short?)"
            )
        return remembered

    def data_hash(self) -> str:
        try:
            digest = hashlib.sha256()
            for subject in self.subjects():
                for session in self._sessions(subject):
                    for _, events in sorted(self.recordings[(subject, session)].items()):
                        for path in [events, *_raw_files(events)]:
                            digest.update(f"{path.relative_to(self.root)}:{file_digest(path)}".encode())
        except (OSError, HarnessError):
            return ""
        return digest.hexdigest()[:16]

    # ------------------------------------------------------------------ download

    @classmethod
    def fetch(cls, root: Path, subjects: list[str]) -> None:
        """Download the BIDS tree of ``subjects`` (default: all) from the dataset's OSF projects with osfclient."""
        try:
            osf_api = importlib.import_module("osfclient.api")
        except ImportError:
            raise HarnessError(
                "megmasc fetch needs osfclient (pip install osfclient, or pip install 'harness[fetch]')"
            ) from None
        root = Path(root).expanduser()
        wanted = {f"sub-{s.removeprefix('sub-')}" for s in subjects}
        client = osf_api.OSF()
        for project_id in OSF_PROJECTS:
            storage = client.project(project_id).storage("osfstorage")
            for remote in storage.files:
                relative = _inside_bids(remote.path)
                if relative is None:
                    continue
                top = relative.split("/", 1)[0]
                if wanted and top.startswith("sub-") and top not in wanted:
                    continue
                target = root / relative
                if target.is_file() and target.stat().st_size == getattr(remote, "size", -1):
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".partial")
                with open(partial, "wb") as handle:
                    remote.write_to(handle)
                partial.replace(target)


# ---------------------------------------------------------------------- files


def _inside_bids(remote_path: str) -> str | None:
    """The path below ``bids_anonym/`` of a file in an OSF project, None for files outside it."""
    parts = remote_path.strip("/").split("/")
    if BIDS_FOLDER not in parts:
        return None
    return "/".join(parts[parts.index(BIDS_FOLDER) + 1 :]) or None


def _entities(name: str) -> dict[str, str]:
    """The BIDS entities of a file name (``sub-01_ses-0_task-1_meg.fif`` -> sub, ses, task)."""
    return dict(part.split("-", 1) for part in name.split("_")[:-1] if "-" in part)


def _some(items: list[str], shown: int = 10) -> str:
    return ", ".join(items[:shown]) + (f" and {len(items) - shown} more" if len(items) > shown else "")


def _same_channels(path: Path, recorded: list[str], raw_name: str) -> None:
    """A channels.tsv lists exactly the recording's channels."""
    listed = read_channel_names(path)
    missing = [c for c in recorded if c not in set(listed)]
    extra = [c for c in listed if c not in set(recorded)]
    if missing or extra:
        raise DataError(
            f"{path}: lists {len(listed)} channels, {raw_name} has {len(recorded)}"
            + (f"; not listed: {_some(missing, 5)}" if missing else "")
            + (f"; not recorded: {_some(extra, 5)}" if extra else "")
        )


def _raw_files(events: Path) -> list[Path]:
    """The recording beside an events file: ``<stem>_meg.<ext>``, or the parts ``<stem>_split-<n>_meg.fif`` of a large
    FIF."""
    stem = events.name.removesuffix("_events.tsv")
    found = [*events.parent.glob(f"{stem}_meg.*"), *events.parent.glob(f"{stem}_split-*_meg.*")]
    return sorted(p for p in found if p.suffix != ".json")


def _events_of(raw: Path) -> Path:
    """The events file of a recording (of any part of a split FIF)."""
    return raw.parent / f"{re.sub(r'_split-[^_]+$', '', raw.name.split('_meg.')[0])}_events.tsv"


def _event_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of an events file with their trial_type parsed (a dict literal), in onset order."""
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        for column in ("onset", "duration", "trial_type"):
            if column not in (reader.fieldnames or []):
                raise DataError(f"{path}: no {column!r} column (columns: {', '.join(reader.fieldnames or [])})")
        for number, row in enumerate(reader, start=2):
            try:
                info = ast.literal_eval(row["trial_type"])
                onset, duration = float(row["onset"]), float(row["duration"])
            except (ValueError, SyntaxError):
                raise DataError(
                    f"{path}: line {number}: trial_type is not a dict literal, or onset/duration not numbers"
                ) from None
            if not isinstance(info, dict):
                raise DataError(f"{path}: line {number}: trial_type is not a dict literal")
            rows.append({**info, "onset": onset, "duration": duration})
    return sorted(rows, key=lambda r: r["onset"])


def _read_words(path: Path) -> dict[str, Any]:
    """Words, onsets and offsets (s of the recording) of an events file's rows of kind 'word'."""
    words = [r for r in _event_rows(path) if r.get("kind") == "word"]
    if not words:
        raise DataError(f"{path}: no events of kind 'word'")
    stories = {str(r.get("story", "")) for r in words}
    if len(stories) != 1 or "" in stories:
        raise DataError(f"{path}: words must name one story in trial_type's 'story', found {sorted(stories)}")
    return {"story": stories.pop(), "words": [str(r.get("word", "")) for r in words],
            "onsets": [r["onset"] for r in words], "offsets": [r["onset"] + r["duration"] for r in words]}


def _story_name(events: Path) -> str:
    return str(cached_fact(events, WORDS, _read_words)[0]["story"])


def _onto_clock(
    data: np.ndarray, times: np.ndarray, onsets: np.ndarray, clock: np.ndarray, clock_onsets: np.ndarray
) -> np.ndarray:
    """``data`` sampled at ``times`` read at the samples of ``clock``, the two aligned by their word onsets.

    A time on ``clock`` maps to this recording's time piecewise linearly between matching word
    onsets (a constant shift before the first and after the last); values are linearly interpolated.
    """
    mapped = np.interp(clock, clock_onsets, onsets)
    mapped = np.where(clock < clock_onsets[0], clock - clock_onsets[0] + onsets[0], mapped)
    mapped = np.where(clock > clock_onsets[-1], clock - clock_onsets[-1] + onsets[-1], mapped)
    out = np.empty((len(clock), data.shape[1]), dtype=np.float32)
    for channel in range(data.shape[1]):
        out[:, channel] = np.interp(mapped, times, data[:, channel])
    return out


@hookimpl
def register_brain_datasets(register):
    register(MEGMASC)
