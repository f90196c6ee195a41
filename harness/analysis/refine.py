"""Where an adaptive sweep measures next: published checkpoints inside the least resolved transitions.

``refine_checkpoints`` is the rule, a pure function of token counts. Its intervals are the
(lo_tokens, hi_tokens) of the transitions found so far (95 % intervals of their locations, from
``harness.analysis.findings.transition_intervals``); ``gap_intervals`` stands in while a model has
fewer checkpoints than a change point needs (``harness.sweep.adaptive.least_resolved``).

Positions are log10 tokens with checkpoint 0 at half the first nonzero published count, as on
the analysis's token axis (``tokens.token_positions``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis.curves import best_over_layers
from harness.analysis.tokens import token_positions

Interval = tuple[float, float]  # (lo_tokens, hi_tokens)
TRANSITION, GAP = "transition", "gap"


@dataclass(frozen=True)
class Choice:
    """One checkpoint chosen: its tokens, the piece of the interval or gap it splits, and which of the two."""

    tokens: int
    lo: float
    hi: float
    source: str  # TRANSITION or GAP


def _axis(published: Sequence[int]) -> Callable[[float], float]:
    """log10 position of a token count; counts at or below checkpoint 0's position sit there."""
    floor = float(token_positions(np.asarray([0, *published], dtype=float))[0])
    return lambda tokens: math.log10(max(float(tokens), floor))


def _pick(lo: float, hi: float, taken: set[int], free: list[int], position: Callable[[float], float],
          source: str) -> Choice | None:
    """In the widest piece of (lo, hi) between taken checkpoints that holds a free one, the free one nearest its
    middle."""
    start, end = position(lo), position(hi)
    cuts = sorted({t for t in taken if start < position(t) < end}, key=position)
    edges = [lo, *cuts, hi]
    pieces = sorted(zip(edges, edges[1:]), key=lambda p: (-round(position(p[1]) - position(p[0]), 12), position(p[0])))
    for a, b in pieces:
        inside = [t for t in free if position(a) < position(t) < position(b)]
        if inside:
            middle = (position(a) + position(b)) / 2
            best = min(inside, key=lambda t: (round(abs(position(t) - middle), 12), t))
            return Choice(best, float(a), float(b), source)
    return None


def refine_checkpoints(intervals: Sequence[Interval], measured: Sequence[int], published: Sequence[int],
                       budget: int) -> list[Choice]:
    """Up to ``budget`` unmeasured published checkpoints (in tokens), with where each was placed.

    Intervals are taken widest first (log10 tokens; ties: the earlier), one checkpoint each per
    pass, passes repeated until the budget is spent or no interval holds an unmeasured published
    checkpoint strictly inside: the one nearest the log-midpoint of the interval, or, once the
    interval holds measured or chosen checkpoints, of its widest piece between them that still
    holds one. What is left of the budget goes to the widest gaps between neighbouring measured
    (and chosen) checkpoints, by the same rule.
    """
    if budget <= 0 or not published:
        return []
    position = _axis(published)
    taken = {int(t) for t in measured}
    free = sorted({int(t) for t in published} - taken)
    spans = [(float(min(lo, hi)), float(max(lo, hi))) for lo, hi in intervals
             if math.isfinite(lo) and math.isfinite(hi) and position(max(lo, hi)) > position(min(lo, hi))]
    spans.sort(key=lambda s: (-round(position(s[1]) - position(s[0]), 12), position(s[0])))
    chosen: list[Choice] = []

    def take(choice: Choice) -> None:
        chosen.append(choice)
        taken.add(choice.tokens)
        free.remove(choice.tokens)

    placed = True
    while placed and len(chosen) < budget:
        placed = False
        for lo, hi in spans:
            if len(chosen) >= budget:
                break
            choice = _pick(lo, hi, taken, free, position, TRANSITION)
            if choice is not None:
                take(choice)
                placed = True
    everything = (float(min(published)), float(max(published)))
    while len(chosen) < budget:
        choice = _pick(*everything, taken, free, position, GAP)
        if choice is None:
            break
        take(choice)
    return chosen


# --------------------------------------------------------------------------- the default intervals


def _signals(results: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    """(tokens, values) per brain target (r_mean over subjects, best layer per step) and per task's instruction
    following."""
    signals = []
    brain = results[(results["kind"] == "brain") & (results["metric"] == "r_mean") & (results["scope"] == "mean")]
    for _, frame in brain.groupby("target", sort=True):
        table = frame.pivot_table(index="layer", columns="step", values="value", aggfunc="mean")
        _, best = best_over_layers(table.to_numpy())
        tokens = frame.groupby("step")["tokens"].first().reindex(table.columns)
        signals.append((tokens.to_numpy(dtype=float), best))
    tasks = results[
        (results["kind"] == "task") & (results["scope"] == "instruction") & (results["metric"] == "follows_format")
    ]
    for _, frame in tasks.groupby("target", sort=True):
        by_step = frame.groupby("step").agg(tokens=("tokens", "first"), value=("value", "mean")).sort_index()
        signals.append((by_step["tokens"].to_numpy(dtype=float), by_step["value"].to_numpy(dtype=float)))
    return signals


def gap_intervals(results: pd.DataFrame, model: str) -> list[Interval]:
    """Per signal of ``model``, the interval between neighbouring measured checkpoints where it changes most.

    The signals: each brain target's alignment curve (``r_mean`` of scope ``mean``, best layer per
    step) and each task's instruction following (scope ``instruction``, ``follows_format``). The
    intervals come largest change first, the change taken relative to the curve's range; a flat
    or one-point curve gives none.
    """
    if results.empty:
        return []
    found: list[tuple[float, Interval]] = []
    for tokens, values in _signals(results[results["model"] == model]):
        keep = np.isfinite(values)
        tokens, values = tokens[keep], values[keep]
        if len(values) < 2:
            continue
        spread = float(values.max() - values.min())
        if not spread > 0:
            continue
        change = np.abs(np.diff(values)) / spread
        index = int(np.argmax(change))
        found.append((float(change[index]), (float(tokens[index]), float(tokens[index + 1]))))
    found.sort(key=lambda item: -item[0])
    out: list[Interval] = []
    for _, interval in found:
        if interval not in out:
            out.append(interval)
    return out
