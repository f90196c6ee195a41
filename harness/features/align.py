"""Map a story's words to the tokens a tokenizer makes of them, through character offsets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harness.util.errors import DataError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class WordAlignment:
    """A story tokenized as one text: token ids and, per word, its first and last token index."""

    token_ids: np.ndarray  # (n_tokens,) int64
    spans: np.ndarray  # (n_words, 2) int64, inclusive [first, last] token index of each word

    @property
    def num_tokens(self) -> int:
        return int(self.token_ids.shape[0])


def story_text(words: Sequence[str]) -> tuple[str, np.ndarray]:
    """The words joined by single spaces, and each word's character span [start, stop)."""
    spans = np.zeros((len(words), 2), dtype=np.int64)
    pos = 0
    for i, word in enumerate(words):
        spans[i] = (pos, pos + len(word))
        pos += len(word) + 1
    return " ".join(words), spans


def check_fast_tokenizer(tokenizer: PreTrainedTokenizerBase) -> None:
    """Raise DataError unless the tokenizer can report character offsets."""
    if not getattr(tokenizer, "is_fast", False):
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise DataError(
            f"tokenizer {name!r} ({type(tokenizer).__name__}) cannot give character offsets; "
            "word alignment needs a fast (Rust) tokenizer"
        )


def align_words(tokenizer: PreTrainedTokenizerBase, words: Sequence[str], *, story: str = "") -> WordAlignment:
    """Tokenize the story and find, for every word, the tokens whose characters overlap it.

    A token that covers the space before a word (byte-level BPE's "Ġword") belongs to that word;
    a token that straddles two words belongs to both. Every word must get at least one token.
    """
    check_fast_tokenizer(tokenizer)
    if len(words) == 0:
        raise DataError(f"story {story!r} has no words")
    for index, word in enumerate(words):
        if not isinstance(word, str) or not word.strip():
            raise DataError(f"story {story!r}: word #{index} ({word!r}) is empty; remove it or give it text")
    text, char_spans = story_text(words)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    ids = np.asarray(encoded["input_ids"], dtype=np.int64)
    offsets = np.asarray(encoded["offset_mapping"], dtype=np.int64).reshape(-1, 2)

    # char -> word index, -1 on the separating spaces (and on spaces inside a word's edges)
    char_word = np.full(len(text), -1, dtype=np.int64)
    for i, (start, stop) in enumerate(char_spans):
        char_word[start:stop] = i
    for pos, ch in enumerate(text):
        if ch.isspace():
            char_word[pos] = -1

    first = np.full(len(words), -1, dtype=np.int64)
    last = np.full(len(words), -1, dtype=np.int64)
    for t, (start, stop) in enumerate(offsets):
        if stop <= start:
            continue  # special or empty token
        covered = char_word[start:stop]
        covered = covered[covered >= 0]
        if covered.size == 0:
            continue
        lo, hi = int(covered.min()), int(covered.max())
        for w in range(lo, hi + 1):
            if first[w] < 0:
                first[w] = t
            last[w] = t
    missing = np.flatnonzero(first < 0)
    if missing.size:
        w = int(missing[0])
        raise DataError(
            f"story {story!r}: word #{w} ({words[w]!r}) maps to no token of tokenizer "
            f"{getattr(tokenizer, 'name_or_path', '')!r}; its characters are dropped by the tokenizer"
        )
    return WordAlignment(token_ids=ids, spans=np.stack([first, last], axis=1))


def special_prefix(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token ids the tokenizer puts before a text (a BOS token, for Llama-style tokenizers)."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    if plain and len(full) >= len(plain):
        for cut in range(len(full) - len(plain) + 1):
            if full[cut : cut + len(plain)] == plain:
                return list(full[:cut])
    return []
