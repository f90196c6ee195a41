"""Items of the offline suite, drawn from held-out prose and templates; the same seed gives the same items."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from harness import DataError
from harness_plugins.tasks.offline import grammar, quiz
from harness_plugins.tasks.offline.quiz import sentences

_FINAL_WORD = re.compile(r"^(.*\s)([A-Za-z]{3,})([.!?])$")


@dataclass(frozen=True)
class Sizes:
    """How many test items each sub-task gets (the instruction task: per rung, plus a few-shot pool per rung)."""

    cloze: int = 40
    minimal_pairs: int = 48
    instruction: int = 40
    instruction_shots: int = 8
    perplexity: int = 16


def instruction_unit(rung: str) -> str:
    """The item set (and lm-eval task) of one rung of the instruction ladder."""
    return f"instruction_{rung}"


def build_items(heldout: Sequence[str], seed: int, sizes: Sizes) -> dict[str, dict[str, list[dict]]]:
    """item set -> split -> items. Held-out paragraphs are shared out so no two sub-tasks reuse one.

    The item sets are the sub-tasks, except that the instruction task has one per rung of its
    ladder (``instruction_unit``).
    """
    rng = random.Random(seed)
    paragraphs = quiz.paragraphs(heldout)
    rng.shuffle(paragraphs)
    pools: list[list[str]] = [paragraphs[i::3] for i in range(3)]
    vocab = quiz.common_words(paragraphs)  # short prompts, learnable options
    items = {
        "cloze": {"test": cloze_items(pools[0], sizes.cloze, rng)},
        "minimal_pairs": {"test": _numbered(grammar.minimal_pairs(sizes.minimal_pairs, rng))},
        **instruction_items(pools[1], vocab, sizes.instruction, sizes.instruction_shots, rng),
        "perplexity": {"test": perplexity_items(pools[2], sizes.perplexity)},
    }
    wanted = {"cloze": sizes.cloze, "minimal_pairs": sizes.minimal_pairs, "perplexity": sizes.perplexity,
              **{instruction_unit(r): sizes.instruction + sizes.instruction_shots for r in quiz.RUNGS}}
    for unit, n in wanted.items():
        got = sum(len(rows) for rows in items[unit].values())
        if got < n:
            subtask = "instruction" if unit.startswith("instruction") else unit
            which = f"{subtask} items of rung {unit.split('_', 1)[1]!r}" if subtask != unit else f"{unit} items"
            raise DataError(
                f"offline suite: the held-out corpus yields only {got} {which}, {n} asked; "
                f"lower the {subtask}_items option or give a larger corpus"
            )
    return items


def cloze_items(paragraphs: Sequence[str], n: int, rng: random.Random, max_words: int = 50) -> list[dict]:
    """LAMBADA-style: up to ``max_words`` words of a passage; predict its last word."""
    items = []
    for para in paragraphs:
        sents = sentences(para)
        ends = [i for i, s in enumerate(sents) if _FINAL_WORD.match(s) and len(s.split()) >= 6]
        if not ends:
            continue
        end = rng.choice(ends)
        start = end
        while start > 0 and len(" ".join(sents[start - 1:end + 1]).split()) <= max_words:
            start -= 1
        passage = " ".join(sents[start:end + 1])
        if len(passage.split()) > max_words:
            continue
        match = _FINAL_WORD.match(passage)
        assert match is not None
        items.append({"context": match.group(1).rstrip(), "target": match.group(2)})
        if len(items) == n:
            break
    return _numbered(items)


def instruction_items(
    paragraphs: Sequence[str], vocab: Sequence[str], n: int, shots: int, rng: random.Random
) -> dict[str, dict[str, list[dict]]]:
    """Per rung of the instruction ladder (``quiz.RUNGS``): ``n`` test questions and ``shots`` demonstrations.

    The usable sentence ends of the paragraphs are dealt to the rungs in turn, so no sentence serves
    two rungs.
    """
    ends = quiz.sentence_ends(paragraphs, vocab)
    rng.shuffle(ends)
    out = {}
    for i, rung in enumerate(quiz.RUNGS):
        asked = [q for end in ends[i :: len(quiz.RUNGS)] if (q := quiz.ask(rung, end, vocab, rng)) is not None]
        rows = _numbered([q.row() for q in asked[: n + shots]])
        out[instruction_unit(rung)] = {"test": rows[:n], "train": rows[n:]}
    return out


def perplexity_items(paragraphs: Sequence[str], n: int, max_words: int = 60) -> list[dict]:
    """Held-out paragraphs (cut to whole sentences within ``max_words``) for bits per byte."""
    items = []
    for para in paragraphs:
        kept: list[str] = []
        for sent in sentences(para):
            if len(" ".join([*kept, sent]).split()) > max_words:
                break
            kept.append(sent)
        if kept and len(" ".join(kept).split()) >= 25:
            items.append({"text": " ".join(kept)})
        if len(items) == n:
            break
    return _numbered(items)


def _numbered(items: list[dict]) -> list[dict]:
    return [{"id": i, **item} for i, item in enumerate(items)]
