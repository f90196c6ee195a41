"""Control stimuli: a story's words shuffled within sentences (or fixed windows), each onset slot kept.

A brain entry with ``control: shuffled`` reads the same stories with the word order permuted
inside each unit (``shuffle: sentence`` or ``window:N``). The sequence of onset times stays as the
dataset gives it: the word at position *i* of the shuffled story takes the *i*-th time slot, so the
encoding model's timing is the one of the original and only the context the language model sees
changes. Alignment that survives the shuffle is carried by the words themselves (lexical content);
what the original adds on top of it needs word order.

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
    """The window length of a ``window:N`` unit, None for ``sentence``; ``ValueError`` naming the allowed values otherwise."""
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
    return Units([(start, min(start + window, len(words))) for start in range(0, len(words), window)], by_sentence=False)


def story_rng(seed: int, story: str) -> np.random.Generator:
    """A generator fixed by the run's seed and the story's name (not by the order stories are read in)."""
    name = int.from_bytes(hashlib.sha256(story.encode("utf-8")).digest()[:8], "big")
    return np.random.default_rng([seed, name])


def shuffle_story(words: Sequence[str], unit: str, seed: int, story: str) -> list[str]:
    """``words`` with their order permuted inside each unit; position i keeps onset slot i."""
    rng = story_rng(seed, story)
    out = list(words)
    for start, stop in shuffle_units(words, unit).spans:
        order = rng.permutation(stop - start)
        out[start:stop] = [words[start + int(j)] for j in order]
    return out


def control_words(stories: Mapping[str, Sequence[str]], control: str | None, unit: str | None, seed: int) -> dict[str, list[str]]:
    """The words a brain entry's activations are extracted from: the stories' own, or their shuffled control."""
    if control is None:
        return {name: list(words) for name, words in stories.items()}
    if control != SHUFFLED:
        raise ValueError(f"unknown stimulus control {control!r}; allowed: {SHUFFLED}")
    return {name: shuffle_story(words, unit or SENTENCE, seed, name) for name, words in stories.items()}


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
