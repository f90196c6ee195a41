"""Small LeBel 2023 (ds003020) datasets in the real derivative layout, and TextGrids in Praat's three text formats."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from harness_plugins.brain.textgrid import Interval, write_textgrid

STORIES = {"alpha": 40, "beta": 38, "wheretheressmoke": 36}  # respdict scan counts
VOXELS = 12
WORDS = ["sentence_start", "i", "went", "sp", "{NS}", "to", "the", "{BR}", "store", "", "today", "sentence_end"] * 6


def grid_tiers(words: Sequence[str], start: float = 1.0, step: float = 0.5) -> dict[str, list[Interval]]:
    """A phone and a word tier: one interval per word from ``start``, ``step`` s each, after a silence."""
    word_tier: list[Interval] = [(0.0, start, "")]
    phone_tier: list[Interval] = [(0.0, start, "")]
    t = start
    for w in words:
        word_tier.append((t, t + step, w))
        phone_tier.append((t, t + step, w.upper()[:2] or "SP"))
        t += step
    return {"phone": phone_tier, "word": word_tier}


def write_grid(path: Path, words: Sequence[str], start: float = 1.0, step: float = 0.5) -> None:
    write_textgrid(path, grid_tiers(words, start, step))


def write_responses(path: Path, data: np.ndarray, repeats: np.ndarray | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        handle.create_dataset("data", data=data)
        if repeats is not None:
            handle.create_dataset("repeats", data=repeats)


def write_fixture(
    root: Path,
    subjects: Sequence[str] = ("UTS01", "UTS02"),
    stories: Mapping[str, int] = STORIES,
    voxels: int = VOXELS,
    test_story: str = "wheretheressmoke",
) -> Path:
    """A ds003020 folder under ``root``: TextGrids, respdict.json, sess_to_story.json and (scans × voxels) responses."""
    derivative = root / "derivative"
    (derivative / "TextGrids").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for story, n in stories.items():
        write_grid(derivative / "TextGrids" / f"{story}.TextGrid", WORDS)
        for subject in subjects:
            write_responses(derivative / "preprocessed_data" / subject / f"{story}.hf5", rng.standard_normal((n - 20, voxels)).astype(np.float32))
    (derivative / "respdict.json").write_text(json.dumps(dict(stories)))
    train = [s for s in stories if s != test_story]
    (derivative / "sess_to_story.json").write_text(json.dumps({"1": [train, test_story]}))
    return root


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


def short_textgrid(tiers: Mapping[str, Sequence[Interval]], xmax: float, bom: bool = False) -> str:
    """The tiers in Praat's short text format."""
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "0", _number(xmax), "<exists>", str(len(tiers))]
    for name, intervals in tiers.items():
        lines += ['"IntervalTier"', f'"{name}"', "0", _number(xmax), str(len(intervals))]
        for start, end, text in intervals:
            lines += [_number(start), _number(end), '"' + text.replace('"', '""') + '"']
    return ("\ufeff" if bom else "") + "\n".join(lines) + "\n"


def chronological_textgrid(tiers: Mapping[str, Sequence[Interval]], xmax: float) -> str:
    """The tiers in Praat's chronological text format (entries sorted by time, then tier)."""
    lines = ['"Praat chronological TextGrid text file"', f"0 {_number(xmax)}   ! Time domain.", f"{len(tiers)}   ! Number of tiers."]
    lines += [f'"IntervalTier" "{name}" 0 {_number(xmax)}' for name in tiers]
    entries = sorted((start, index, end, text) for index, intervals in enumerate(tiers.values(), start=1) for start, end, text in intervals)
    names = list(tiers)
    for start, index, end, text in entries:
        lines += ["", f"! {names[index - 1]}:", f"{index} {_number(start)} {_number(end)}", '"' + text.replace('"', '""') + '"']
    return "\n".join(lines) + "\n"
