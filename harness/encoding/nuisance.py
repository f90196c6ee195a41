"""Nuisance features (``encoding.nuisance``): low-level properties of the stimulus, fitted as their own band.

Each is a value at every word (or every phone), resampled to scan times and delayed exactly as
the model's word features are (Lanczos at the word's, or phone's, midpoint; FIR delays; z-scored
per story), so that what they explain of a voxel can be told apart from what the model adds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from harness.plugin.contract import BrainDataset, Modality, Phones, PhoneTimings, Story
from harness.util.errors import DataError

NUISANCE: dict[str, str] = {
    "word_rate": "1 at every word: resampled to scans, the number of words heard per scan (the Huth lab's word rate)",
    "word_length": "the number of letters of each word",
    "word_frequency": "each word's Zipf frequency in English, log10 of its uses per billion words (wordfreq's "
                      "data; 0 for a word it does not know)",
    "phoneme_rate": "1 at every phone of the dataset's phone tier, silences left out: phones heard per scan "
                    "(needs a dataset that gives timed phones, e.g. lebel2023's TextGrids)",
}
ON_PHONES = ("phoneme_rate",)  # resampled at the phones' midpoints, not the words'


def word_names(names: Sequence[str]) -> list[str]:
    """The nuisance features of ``names`` that are values at words."""
    return [n for n in names if n not in ON_PHONES]


@lru_cache(maxsize=1 << 16)
def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, "en"))


def word_value(name: str, word: str) -> float:
    """The nuisance feature ``name`` of one word."""
    if name == "word_rate":
        return 1.0
    if name == "word_length":
        letters = sum(c.isalpha() for c in word)
        return float(letters or len(word))
    if name == "word_frequency":
        return _zipf(word.lower())
    raise ValueError(f"{name!r} is not a nuisance feature of words")


def word_features(names: Sequence[str], stories: Mapping[str, Story]) -> dict[str, np.ndarray]:
    """Story -> (words × features) values of the word-level nuisance features of ``names``, in that order."""
    chosen = word_names(names)
    return {s: np.array([[word_value(n, w) for n in chosen] for w in story.words], dtype=np.float32).reshape(
        len(story.words), len(chosen)) for s, story in stories.items()}


def phone_midpoints(phones: Phones) -> np.ndarray:
    """Each phone's midpoint (s)."""
    return (np.asarray(phones.onsets, dtype=np.float64) + np.asarray(phones.offsets, dtype=np.float64)) / 2


def check_nuisance(names: Sequence[str], dataset: BrainDataset[Any]) -> dict[str, Phones] | None:
    """What ``names`` need of ``dataset``, checked: the phones when a feature is on phones (else None).

    A ``DataError`` in one line when the dataset cannot give what a feature needs.
    """
    if not names:
        return None
    name = getattr(dataset, "name", type(dataset).__name__)
    modality = Modality(getattr(dataset, "modality", Modality.FMRI))
    if modality.recording:
        raise DataError(f"encoding.nuisance: nuisance bands are fitted for fMRI only, and {name} records "
                        f"{modality.value.upper()}; remove encoding.nuisance from this entry")
    on_phones = [n for n in names if n in ON_PHONES]
    if not on_phones:
        return None
    if not isinstance(dataset, PhoneTimings):
        raise DataError(f"encoding.nuisance: {on_phones[0]} needs timed phones (a phone tier), which dataset {name} "
                        f"does not give; remove it or use a dataset with phone tiers (e.g. lebel2023)")
    phones = dataset.phones()
    for story in dataset.stories():
        if story not in phones or not len(phones[story].onsets):
            raise DataError(f"encoding.nuisance: {on_phones[0]} needs the phones of story {story!r}, which dataset "
                            f"{name} does not give")
    return phones
