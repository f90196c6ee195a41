"""Scoring of the instruction task, called by lm-eval through ``process_results`` in the YAML.

*follows_format*: the generation (up to its first newline) is exactly one option label, written
``B``, ``B.``, ``B)`` or ``(B)``. *correct*: it follows the format and the label is the answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_LABEL = re.compile(r"^\(?([A-D])[.)]?$")


def answer_label(generation: str) -> str | None:
    """The option letter a generation answers with, or None when it is not a bare label."""
    first_line = generation.strip().split("\n", 1)[0].strip()
    match = _LABEL.match(first_line)
    return match.group(1) if match else None


def process_instruction(doc: Mapping[str, str], results: Sequence[str]) -> dict[str, int]:
    """lm-eval per-item scores: follows_format and correct, each 0 or 1."""
    label = answer_label(results[0])
    return {"follows_format": int(label is not None), "correct": int(label == doc["answer"])}
