"""Cut a long token sequence into overlapping context windows, each word read from exactly one.

A word is read from the earliest window that holds all of its tokens, so every word sees as much
left context as the window allows (at least ``context - stride`` tokens once the story is longer
than a window) and all of a word's tokens come from the same forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.util.errors import DataError


@dataclass(frozen=True)
class Window:
    """Tokens [start, stop) of a story, and the words (indices) read from this window."""

    start: int
    stop: int
    words: np.ndarray  # (k,) int64, ascending

    @property
    def length(self) -> int:
        return self.stop - self.start


def plan_windows(spans: np.ndarray, num_tokens: int, context: int, stride: int, *, story: str = "") -> list[Window]:
    """Windows of at most ``context`` tokens advancing by about ``stride`` (less where a word would be cut)."""
    if context < 1 or stride < 1:
        raise ValueError("context and stride must be positive")
    num_words = spans.shape[0]
    lengths = spans[:, 1] - spans[:, 0] + 1
    if num_words and lengths.max() > context:
        w = int(np.argmax(lengths))
        raise DataError(
            f"story {story!r}: word #{w} takes {int(lengths[w])} tokens, more than the {context}-token window"
        )
    windows: list[Window] = []
    start, next_word = 0, 0
    while next_word < num_words:
        stop = min(start + context, num_tokens)
        # words are in token order, so the words that fit end at the first one that does not
        end_word = next_word + int(np.searchsorted(spans[next_word:, 1], stop, side="left"))
        if end_word == next_word:  # cannot happen: `start` is chosen so that the next word fits
            raise AssertionError("window planning made no progress")
        windows.append(Window(start, stop, np.arange(next_word, end_word, dtype=np.int64)))
        next_word = end_word
        if next_word < num_words:
            # advance by the stride, but at least far enough for the next word to end inside the
            # window and never past its first token
            first, last = int(spans[next_word, 0]), int(spans[next_word, 1])
            start = min(max(start + stride, last - context + 1), first)
    return windows


def token_forwards(windows: list[Window]) -> int:
    """Tokens run through the model for these windows."""
    return sum(w.length for w in windows)
