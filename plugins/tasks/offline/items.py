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
    _check_counts(items, sizes)
    return items


def _check_counts(items: dict[str, dict[str, list[dict]]], sizes: Sizes) -> None:
    """A ``DataError`` (one line: the option, what was asked, the most the corpus allows) when an item set
    is short."""
    for unit in ("cloze", "minimal_pairs", "perplexity"):
        got, asked = len(items[unit]["test"]), getattr(sizes, unit)
        if got < asked:
            raise DataError(f"offline suite: the held-out corpus yields only {got} {unit} items, {asked} asked; "
                            f"lower the {unit}_items option (at most {got}) or give a larger corpus")
    ladder = [items[instruction_unit(rung)] for rung in quiz.RUNGS]
    shots = sizes.instruction_shots
    most = min(len(rows["test"]) for rows in ladder) if all(len(rows["train"]) == shots for rows in ladder) else 0
    if most < sizes.instruction:
        raise DataError(f"offline suite: the held-out corpus yields only {most} instruction items per rung "
                        f"(besides {shots} demonstrations), {sizes.instruction} asked; lower the instruction_items "
                        f"option (at most {most}) or give a larger corpus")


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
    two rungs, and each rung asks about the ends of its sentences. When some rung has fewer than
    ``n + shots`` of them, every rung asks more (``extended_ladder``).
    """
    sents = [sent for para in paragraphs for sent in sentences(para)]
    common = set(vocab)
    ends = [(sent, end) for sent in sents if (end := quiz.sentence_end(sent, common)) is not None]
    rng.shuffle(ends)
    asked = [[(sent, quiz.ask(rung, end, vocab, rng)) for sent, end in ends[i :: len(quiz.RUNGS)]]
             for i, rung in enumerate(quiz.RUNGS)]
    if all(sum(q is not None for _, q in part) >= n + shots for part in asked):
        return {instruction_unit(rung): _split([q for _, q in part if q is not None], n, shots)
                for rung, part in zip(quiz.RUNGS, asked, strict=True)}
    return extended_ladder(asked, sents, vocab, n, shots, rng)


Asked = list[tuple[str, quiz.Question | None]]  # (sentence, the question about its end), in a seeded order


def extended_ladder(
    asked: Sequence[Asked], sents: Sequence[str], vocab: Sequence[str], n: int, shots: int, rng: random.Random
) -> dict[str, dict[str, list[dict]]]:
    """The ladder of any size: each rung also asks about the inner words of its sentences (``quiz.inner_blanks``).

    A sentence belongs to one rung: the rung its end was dealt to, else one dealt in turn from the
    remaining sentences in a seeded order. No two questions show the same text. The demonstrations
    are the first questions of ``shots`` sentences (sentence ends where there are enough) that no
    test question uses; the test questions take every other sentence's first question, then its
    second, and so on, so that the sentence ends come first, in the order a smaller ladder asks them.
    """
    owner: dict[str, int] = {}
    for i, part in enumerate(asked):
        for sent, _ in part:
            owner.setdefault(sent, i)
    rest = [sent for sent in dict.fromkeys(sents) if sent not in owner]
    rng.shuffle(rest)
    common, seen = set(vocab), set[str]()
    out = {}
    for i, rung in enumerate(quiz.RUNGS):
        mine = [(sent, end) for sent, end in _first_occurrences(asked[i]) if owner[sent] == i]
        mine += [(sent, None) for sent in rest[i :: len(quiz.RUNGS)]]
        groups = [_sentence_questions(rung, sent, end, common, vocab, rng, seen) for sent, end in mine]
        ends = [g for (_, end), g in zip(mine, groups, strict=True) if g and g[0] is end]
        inner = [g for (_, end), g in zip(mine, groups, strict=True) if g and g[0] is not end]
        out[instruction_unit(rung)] = _ladder_split(ends, inner, n, shots)
    return out


def _ladder_split(
    ends: Sequence[Sequence[quiz.Question]], inner: Sequence[Sequence[quiz.Question]], n: int, shots: int
) -> dict[str, list[dict]]:
    """Test items and demonstrations from the question groups of a rung's sentences (those that begin with
    their sentence's end, and the others): the demonstrations are the first questions of the last
    ``shots`` sentence-end groups (or of the first groups, where there are fewer), and no test item
    comes from their sentences."""
    lo = max(len(ends) - shots, 0)
    ordered = [*ends, *inner]
    demos, tests = ordered[lo : lo + shots], ordered[:lo] + ordered[lo + shots :]
    return {"test": _numbered([q.row() for q in _round_robin(tests)[:n]]),
            "train": _numbered([g[0].row() for g in demos])}


def _first_occurrences(part: Asked) -> Asked:
    """Each sentence once, where it first occurs."""
    firsts: dict[str, quiz.Question | None] = {}
    for sent, end in part:
        firsts.setdefault(sent, end)
    return list(firsts.items())


def _sentence_questions(
    rung: str, sent: str, end: quiz.Question | None, common: set[str], vocab: Sequence[str], rng: random.Random,
    seen: set[str],
) -> list[quiz.Question]:
    """The question about a sentence's end (when given), then its inner blanks' in a seeded order; none whose
    text is in ``seen`` (which gains theirs)."""
    blanks = quiz.inner_blanks(sent, common)
    rng.shuffle(blanks)
    out = []
    for question in [end, *(quiz.ask(rung, blank, vocab, rng) for blank in blanks)]:
        if question is not None and question.sentence not in seen:
            seen.add(question.sentence)
            out.append(question)
    return out


def _round_robin(groups: Sequence[Sequence[quiz.Question]]) -> list[quiz.Question]:
    """The first question of each group, then the second of each, and so on."""
    longest = max((len(g) for g in groups), default=0)
    return [g[k] for k in range(longest) for g in groups if k < len(g)]


def _split(questions: Sequence[quiz.Question], n: int, shots: int) -> dict[str, list[dict]]:
    """The first ``n`` questions to test, the next ``shots`` as demonstrations."""
    rows = _numbered([q.row() for q in questions[: n + shots]])
    return {"test": rows[:n], "train": rows[n:]}


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
