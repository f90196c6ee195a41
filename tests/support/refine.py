"""``next_checkpoints``: the tokens ``refine_checkpoints`` chooses, the form the refinement tests read best in."""

from __future__ import annotations

from collections.abc import Sequence

from harness.analysis.refine import Interval, refine_checkpoints


def next_checkpoints(intervals: Sequence[Interval], measured: Sequence[int], published: Sequence[int], budget: int) -> list[int]:
    """The tokens of the checkpoints to measure next, in the order chosen."""
    return [choice.tokens for choice in refine_checkpoints(intervals, measured, published, budget)]
