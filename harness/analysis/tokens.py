"""The training-token axis: positions on a log scale and token counts in short form."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def token_positions(tokens: ArrayLike) -> np.ndarray:
    """Tokens as positions on a log axis: checkpoint 0 is drawn at half the first nonzero count."""
    tokens = np.asarray(tokens, dtype=float)
    positive = tokens[tokens > 0]
    floor = positive.min() / 2 if positive.size else 1.0
    return np.where(tokens > 0, tokens, floor)


def log_tokens(tokens: ArrayLike) -> np.ndarray:
    """log10 of ``token_positions`` (the x the change-point model is fitted on)."""
    return np.log10(token_positions(tokens))


def format_tokens(tokens: float | None) -> str:
    """A token count in short form: 3.2e9 -> '3.2B'."""
    if tokens is None or not np.isfinite(tokens):
        return "n/a"
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(tokens) >= size:
            return f"{tokens / size:.3g}{suffix}"
    return f"{tokens:.0f}"
