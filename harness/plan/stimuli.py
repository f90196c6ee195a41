"""Control stimuli: the model reads each story with its words shuffled within sentences (or windows).

A brain entry with ``control: shuffled`` reads the same stories with the word order permuted
inside each unit (``shuffle: sentence`` or ``window:N``). The model reads the shuffled words; each
word's activation is then put back at the word's own position, so it keeps the onset at which the
word was heard. The encoding model thus sees the same words at the same times as for the original,
and only the context each word was read in changes: alignment that survives the shuffle is carried
by the words themselves (lexical content), what the original scores above it needs word order.

Sentences end at a word ending in ``.``, ``!`` or ``?`` (closing quotes or brackets after it
allowed); a story whose words carry no such punctuation (transcripts without it, such as LeBel's
TextGrids) is shuffled in windows of ``SENTENCE_FALLBACK_WINDOW`` words instead. The permutation
of a story depends on the run's seed and the story's name only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

SHUFFLED = "shuffled"
SENTENCE = "sentence"
SENTENCE_FALLBACK_WINDOW = 12  # words per window for a story without sentence punctuation
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]»]*$")
_WINDOW = re.compile(r"window:(\d+)")
SHUFFLE_UNITS = "sentence, window:N (N ≥ 2)"


def parse_shuffle_unit(unit: str) -> int | None:
    """The window length of a ``window:N`` unit, None for ``sentence``; ``ValueError`` naming the allowed values
    otherwise."""
    if unit == SENTENCE:
        return None
    match = _WINDOW.fullmatch(unit)
    if match is None or int(match.group(1)) < 2:
        raise ValueError(f"{unit!r} is not a shuffle unit; allowed: {SHUFFLE_UNITS}")
    return int(match.group(1))


def ends_sentence(word: str) -> bool:
    """True for a word that ends a sentence (``end.``, ``why?"``)."""
    return bool(_SENTENCE_END.search(word))


@dataclass(frozen=True)
class Units:
    """How one story was cut for shuffling: [start, stop) spans covering every word, and by what."""

    spans: list[tuple[int, int]]
    by_sentence: bool  # False: fixed windows (asked for, or no sentence punctuation in the story)


def shuffle_units(words: Sequence[str], unit: str) -> Units:
    """The spans a story's words are shuffled within: its sentences, or windows of N words."""
    window = parse_shuffle_unit(unit)
    if window is None:
        ends = [i + 1 for i, word in enumerate(words) if ends_sentence(word)]
        if ends:
            if ends[-1] != len(words):
                ends.append(len(words))  # words after the last sentence end form one more unit
            starts = [0, *ends[:-1]]
            return Units(list(zip(starts, ends)), by_sentence=True)
        window = SENTENCE_FALLBACK_WINDOW
    return Units(
        [(start, min(start + window, len(words))) for start in range(0, len(words), window)], by_sentence=False
    )


def story_rng(seed: int, story: str) -> np.random.Generator:
    """A generator fixed by the run's seed and the story's name (not by the order stories are read in)."""
    name = int.from_bytes(hashlib.sha256(story.encode("utf-8")).digest()[:8], "big")
    return np.random.default_rng([seed, name])


def shuffle_story(words: Sequence[str], unit: str, seed: int, story: str) -> tuple[list[str], np.ndarray]:
    """``words`` with their order permuted inside each unit, and the original position of each shuffled word.

    Of two equal words in one unit the earlier stays the earlier, so an order that changes no word is
    the identity and the positions returned are then ``0, 1, 2, ...``.
    """
    rng = story_rng(seed, story)
    shuffled = list(words)
    source = np.arange(len(words))
    for start, stop in shuffle_units(words, unit).spans:
        moved = [words[start + int(j)] for j in rng.permutation(stop - start)]
        free: dict[str, list[int]] = {}
        for index in range(start, stop):
            free.setdefault(words[index], []).append(index)
        shuffled[start:stop] = moved
        source[start:stop] = [free[word].pop(0) for word in moved]
    return shuffled, source


@dataclass(frozen=True)
class StimulusWords:
    """A brain entry's stimulus: the words the model reads, and where each story's word sits among them."""

    read: dict[str, list[str]]  # story -> the words in the order the model reads them
    words: dict[str, list[str]]  # story -> the words in story order (one per onset)
    # story -> for each word in story order, its row among ``read``; None: same order
    rows: dict[str, np.ndarray] | None

    def in_story_order(self, layer: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per-story activations of ``read`` (rows in reading order) with row i back at word i."""
        return layer if self.rows is None else {name: rows[self.rows[name]] for name, rows in layer.items()}


def stimulus_words(
    stories: Mapping[str, Sequence[str]], control: str | None, unit: str | None, seed: int
) -> StimulusWords:
    """What a brain entry's activations are extracted from: the stories' own words, or their shuffled control."""
    words = {name: list(story) for name, story in stories.items()}
    if control is None:
        return StimulusWords(words, words, None)
    if control != SHUFFLED:
        raise ValueError(f"unknown stimulus control {control!r}; allowed: {SHUFFLED}")
    read, rows = {}, {}
    for name, story in words.items():
        read[name], source = shuffle_story(story, unit or SENTENCE, seed, name)
        rows[name] = np.argsort(source)  # source[rows[j]] == j: the row that holds word j
    return StimulusWords(read, words, rows)


def describe_control(stories: Mapping[str, Sequence[str]], unit: str) -> str:
    """One line saying how the stories are shuffled (sentences found, or windows used instead)."""
    cut = {name: shuffle_units(words, unit) for name, words in stories.items()}
    if parse_shuffle_unit(unit) is not None:
        return f"word order shuffled within windows of {unit.split(':')[1]} words in {len(cut)} stories"
    fallback = sorted(name for name, units in cut.items() if not units.by_sentence)
    if len(fallback) == len(cut):
        return (f"no sentence punctuation in the words: word order shuffled within windows of "
                f"{SENTENCE_FALLBACK_WINDOW} words in {len(cut)} stories")
    sentences = sum(len(units.spans) for units in cut.values() if units.by_sentence)
    line = f"word order shuffled within {sentences} sentences of {len(cut) - len(fallback)} stories"
    if fallback:
        line += (f"; {len(fallback)} without sentence punctuation ({', '.join(fallback[:3])}"
                 f"{', ...' if len(fallback) > 3 else ''}) within windows of {SENTENCE_FALLBACK_WINDOW} words")
    return line
