"""Readers of the Narratives (OpenNeuro ds002345) files, each failing with one line naming the file.

- ``participants.tsv``: ``participant_id`` and comma-separated ``task`` and ``condition`` lists
  (one entry per story the participant heard);
- ``code/scan_exclude.json``: the published exclusions, {task: {subject: [scan name prefixes]}};
- ``sub-*/func/*_events.tsv``: ``onset``, ``duration`` (s from the first volume), ``trial_type``
  (``story``, ``music``, ...) and ``stim_file`` (the audio file played, ``<stimulus>_audio.wav``);
- ``stimuli/gentle/<stimulus>/align.json``: the Gentle forced alignment of the transcript,
  ``{"transcript": ..., "words": [{"word", "case", "start", "end", "phones", ...}]}`` with
  ``start``/``end`` in seconds of the audio file, for the words whose ``case`` is ``success``;
  such a word's ``phones`` are ``[{"phone": "<ARPAbet>_<B|I|E|S>", "duration": s}, ...]``, one
  after the other from its ``start`` (``oov_S`` spanning a word Gentle has no pronunciation of);
- responses: GIfTI ``.func.gii`` (one data array per volume) or 4-D NIfTI, read with nibabel.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness import DataError

AUDIO_SUFFIX = "_audio.wav"
UNKNOWN_PHONE = "oov"  # Gentle's one phone over a word it has no pronunciation of


def _read_tsv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            rows = list(reader)
            columns = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a readable tab-separated file ({error})") from None
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(f"{path}: no {', '.join(missing)} column (columns: {', '.join(columns) or 'none'})")
    for line, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            fields = len(row.get(None) or []) + sum(v is not None for k, v in row.items() if k is not None)  # type: ignore[call-overload]
            raise DataError(f"{path}: line {line}: {fields} fields, but the header has {len(columns)} columns")
    return rows


def read_participants(path: Path) -> dict[str, dict[str, str]]:
    """subject (``sub-XXX``) -> {task: condition} from ``participants.tsv``'s task and condition lists."""
    out: dict[str, dict[str, str]] = {}
    for line, row in enumerate(_read_tsv(path, ("participant_id", "task")), start=2):
        if not row["participant_id"].strip().startswith("sub-"):
            raise DataError(f"{path}: line {line}: participant_id {row['participant_id']!r} is not sub-<label>")
        tasks = [t.strip() for t in (row.get("task") or "").split(",")]
        conditions = [c.strip() for c in (row.get("condition") or "").split(",")] if row.get("condition") else []
        if conditions and len(conditions) != len(tasks):
            raise DataError(f"{path}: line {line}: {len(tasks)} tasks but {len(conditions)} conditions")
        out[row["participant_id"].strip()] = {
            t: (conditions[i] if conditions else "n/a") for i, t in enumerate(tasks) if t and t != "n/a"
        }
    if not out:
        raise DataError(f"{path}: no participants")
    return out



def _read_json(path: Path) -> Any:
    """The JSON in ``path``; a ``DataError`` naming the file (and the line) when it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not readable ({error})") from None
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: invalid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None

def read_exclusions(path: Path) -> set[str]:
    """Every scan name prefix that ``code/scan_exclude.json`` excludes (e.g. ``sub-001_task-pieman_run-1``)."""
    data = _read_json(path)
    expected = f"{path}: expected {{task: {{subject: [scan names]}}}}"
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DataError(expected)
    out: set[str] = set()
    for subjects in data.values():
        for scans in subjects.values():
            if not isinstance(scans, list) or not all(isinstance(s, str) for s in scans):
                raise DataError(expected)
            out.update(scans)
    return out


def is_excluded(scan: str, exclusions: set[str]) -> bool:
    """Whether scan name ``scan`` (``sub-001_task-pieman_run-1``) is one an exclusion names or a run of it."""
    return any(scan == prefix or scan.startswith(prefix + "_") for prefix in exclusions)


@dataclass(frozen=True)
class ScanEvents:
    """What an events file says about a scan: the story played and when (s from the first volume)."""

    stimulus: str  # the audio file's name without _audio.wav
    audio_onset: float  # when the audio file starts (its first event)
    story_start: float  # the first story event's onset
    story_end: float  # the last story event's end


def read_events(path: Path) -> ScanEvents | None:
    """The story of a scan's events file; None when it plays several (the schema task).

    ``trial_type`` is compared without case or surrounding spaces ("Story " is a story event);
    a file with no story event is an error naming the trial types it has.
    """
    rows = _read_tsv(path, ("onset", "duration", "trial_type", "stim_file"))
    parsed = []
    for line, row in enumerate(rows, start=2):
        try:
            onset, duration = float(row["onset"]), float(row["duration"])
        except (TypeError, ValueError):
            raise DataError(
                f"{path}: line {line}: onset {row['onset']!r} and duration {row['duration']!r} must be numbers"
            ) from None
        parsed.append((onset, duration, (row["trial_type"] or "").strip().casefold(), (row["stim_file"] or "").strip()))
    stories = {stim for _, _, kind, stim in parsed if kind == "story"}
    if not stories:
        kinds = sorted({kind for _, _, kind, _ in parsed})
        raise DataError(
            f"{path}: no event with trial_type 'story' (trial types: {', '.join(map(repr, kinds)) or 'none'})"
        )
    if len(stories) != 1:
        return None
    stim = stories.pop()
    if not stim.endswith(AUDIO_SUFFIX):
        raise DataError(f"{path}: stim_file {stim!r} of the story is not a <stimulus>{AUDIO_SUFFIX} file")
    story_rows = [(o, d) for o, d, kind, s in parsed if kind == "story"]
    return ScanEvents(
        stimulus=stim.removesuffix(AUDIO_SUFFIX),
        audio_onset=min(o for o, _, _, s in parsed if s == stim),
        story_start=min(o for o, _ in story_rows),
        story_end=max(o + d for o, d in story_rows),
    )


def read_alignment(path: Path) -> dict[str, Any]:
    """The words of a Gentle ``align.json`` (JSON-ready), unaligned words timed between their neighbours.

    A word whose ``case`` is not ``success`` (``not-found-in-audio``) has no time of its own: the
    words of a run of them share the interval from the end of the aligned word before to the
    start of the aligned word after, in equal parts.
    """
    data = _read_json(path)
    entries = data.get("words") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise DataError(f"{path}: expected a Gentle alignment, {{'words': [{{'word', 'case', 'start', 'end'}}, ...]}}")
    words: list[str] = []
    start = np.full(len(entries), np.nan)
    end = np.full(len(entries), np.nan)
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("word"), str):
            raise DataError(f"{path}: word {i} has no 'word' text")
        words.append(entry["word"])
        if entry.get("case") == "success":
            try:
                start[i], end[i] = float(entry["start"]), float(entry["end"])
            except (KeyError, TypeError, ValueError):
                raise DataError(
                    f"{path}: word {i} ({entry['word']!r}) is aligned but has no numeric start and end"
                ) from None
    aligned = np.flatnonzero(np.isfinite(start))
    if aligned.size == 0:
        raise DataError(f"{path}: no word was aligned to the audio (no 'case': 'success')")
    if np.any(np.diff(start[aligned]) < 0):
        raise DataError(f"{path}: aligned words are not in time order")
    missing = np.flatnonzero(~np.isfinite(start))
    i = 0
    while i < missing.size:  # each run of unaligned words
        j = i
        while j + 1 < missing.size and missing[j + 1] == missing[j] + 1:
            j += 1
        first, last = missing[i], missing[j]
        before = end[first - 1] if first > 0 else start[aligned[0]]
        after = start[last + 1] if last + 1 < len(entries) else end[aligned[-1]]
        edges = np.linspace(min(before, after), after, last - first + 2)  # overlapping neighbours: at the next start
        start[first:last + 1], end[first:last + 1] = edges[:-1], edges[1:]
        i = j + 1
    return {"words": words, "onsets": start.tolist(), "offsets": end.tolist(), "interpolated": int(missing.size)}


def read_phones(path: Path) -> dict[str, list[Any]]:
    """The phones of a Gentle ``align.json`` (JSON-ready): each aligned word's phones, timed one after the other from
    its start by their durations (s of the audio file, the words' clock).

    Words not found in the audio have no phones; a word aligned as unknown (one ``oov`` phone over
    the whole word) gives none, as its phones are not known.
    """
    data = _read_json(path)
    entries = data.get("words") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise DataError(f"{path}: expected a Gentle alignment, {{'words': [{{'word', 'case', 'start', 'phones'}}]}}")
    labels: list[str] = []
    onsets: list[float] = []
    offsets: list[float] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("case") != "success":
            continue
        try:
            time = float(entry["start"])
            phones = [(str(phone["phone"]), float(phone["duration"])) for phone in entry["phones"]]
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: word {i} ({entry.get('word')!r}) is aligned but its start or phones "
                            "('phones': [{'phone', 'duration'}, ...]) are not readable") from None
        for label, duration in phones:
            if duration < 0:
                raise DataError(f"{path}: word {i} ({entry.get('word')!r}) has a phone of negative duration")
            if label.rpartition("_")[0].lower() != UNKNOWN_PHONE:
                labels.append(label)
                onsets.append(time)
                offsets.append(time + duration)
            time += duration
    if not labels:
        raise DataError(f"{path}: no aligned word has phones; the nuisance feature phoneme_rate needs them")
    return {"labels": labels, "onsets": onsets, "offsets": offsets}


def read_gifti(path: Path) -> np.ndarray:
    """(volumes × vertices) float32 from a ``.func.gii`` holding one data array per volume."""
    import nibabel as nib

    try:
        image = nib.load(str(path))
        arrays = [np.asarray(d.data, dtype=np.float32).reshape(-1) for d in image.darrays]
    except Exception as error:  # nibabel raises many kinds on a damaged file
        raise DataError(f"{path}: not a readable GIfTI file ({type(error).__name__}: {error})") from None
    if not arrays or len({a.size for a in arrays}) != 1:
        raise DataError(f"{path}: expected one data array per volume, all of one length")
    return np.stack(arrays)


def read_nifti(path: Path, mask: np.ndarray) -> np.ndarray:
    """(volumes × voxels in ``mask``) float32 from a 4-D NIfTI image."""
    import nibabel as nib

    try:
        data = np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)
    except Exception as error:
        raise DataError(f"{path}: not a readable NIfTI file ({type(error).__name__}: {error})") from None
    if data.ndim != 4 or data.shape[:3] != mask.shape:
        raise DataError(f"{path}: shape {data.shape}; expected a 4-D image over the mask's grid {mask.shape}")
    return np.ascontiguousarray(data[mask].T)


def read_mask(path: Path) -> np.ndarray:
    """A 3-D boolean brain mask (NIfTI) and its grid."""
    import nibabel as nib

    try:
        data = np.asarray(nib.load(str(path)).dataobj)
    except Exception as error:
        raise DataError(f"{path}: not a readable NIfTI file ({type(error).__name__}: {error})") from None
    if data.ndim != 3:
        raise DataError(f"{path}: a brain mask must be 3-D, got shape {data.shape}")
    return data > 0


def repetition_time(paths: list[Path]) -> tuple[float, Path] | None:
    """``RepetitionTime`` and the sidecar holding it: the first of ``paths`` (BIDS sidecars, most specific first) that
    has one."""
    for path in paths:
        if path.is_file():
            data = _read_json(path)
            if not isinstance(data, dict):
                raise DataError(f"{path}: expected a JSON object of BIDS keys, got {type(data).__name__}")
            value = data.get("RepetitionTime")
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                    raise DataError(f"{path}: RepetitionTime {value!r} is not a positive number")
                return float(value), path
    return None
