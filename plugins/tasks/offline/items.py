"""Items of the offline suite, drawn from held-out prose and templates; the same seed gives the same items."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from harness import DataError
from harness_plugins.tasks.offline import grammar

LETTERS = ("A", "B", "C", "D")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_FINAL_WORD = re.compile(r"^(.*\s)([A-Za-z]{3,})([.!?])$")
_WORD = re.compile(r"^[a-z]{3,12}$")
COMMON_WORDS = 1000  # instruction answers and distractors come from the most frequent held-out words


@dataclass(frozen=True)
class Sizes:
    """How many test items each sub-task gets (plus the few-shot pool of the instruction task)."""

    cloze: int = 40
    minimal_pairs: int = 48
    instruction: int = 24
    instruction_shots: int = 8
    perplexity: int = 16


def sentences(text: str) -> list[str]:
    """Sentences of a paragraph (split after . ! ? before a capital)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def build_items(heldout: Sequence[str], seed: int, sizes: Sizes) -> dict[str, dict[str, list[dict]]]:
    """sub-task -> split -> items. Held-out paragraphs are shared out so no two sub-tasks reuse one."""
    rng = random.Random(seed)
    paragraphs = [p.strip() for doc in heldout for p in doc.split("\n\n") if p.strip()]
    rng.shuffle(paragraphs)
    pools: list[list[str]] = [paragraphs[i::3] for i in range(3)]
    counts = Counter(w for p in paragraphs for w in p.split() if _WORD.match(w))
    vocab = sorted(w for w, _ in counts.most_common(COMMON_WORDS))  # short prompts, learnable options
    items = {
        "cloze": {"test": cloze_items(pools[0], sizes.cloze, rng)},
        "minimal_pairs": {"test": _numbered(grammar.minimal_pairs(sizes.minimal_pairs, rng))},
        "instruction": instruction_items(pools[1], vocab, sizes.instruction, sizes.instruction_shots, rng),
        "perplexity": {"test": perplexity_items(pools[2], sizes.perplexity)},
    }
    wanted = {"cloze": sizes.cloze, "minimal_pairs": sizes.minimal_pairs, "perplexity": sizes.perplexity,
              "instruction": sizes.instruction + sizes.instruction_shots}
    for subtask, n in wanted.items():
        got = sum(len(rows) for rows in items[subtask].values())
        if got < n:
            raise DataError(
                f"offline suite: the held-out corpus yields only {got} {subtask} items, {n} asked; "
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
    paragraphs: Sequence[str], vocab: Sequence[str], n: int, shots: int, rng: random.Random, max_words: int = 9
) -> dict[str, list[dict]]:
    """Fill-in-the-blank questions with four lettered options (common words); the answer is one letter.

    The question is the end of a held-out sentence (its last ``max_words`` words) with the last
    word blanked, so that a few-shot prompt fits a 128-token context.
    """
    common = set(vocab)
    candidates = [
        match for para in paragraphs for sent in sentences(para)
        if (match := _FINAL_WORD.match(" ".join(sent.split()[-max_words:]))) and len(sent.split()) >= 5
        and match.group(2) in common
    ]
    rng.shuffle(candidates)
    items = []
    for match in candidates[: n + shots]:
        answer = match.group(2)
        distractors = rng.sample([w for w in rng.sample(vocab, 12) if w != answer], 3)
        options = distractors + [answer]
        rng.shuffle(options)
        item = {"sentence": f"{match.group(1)}___{match.group(3)}", "answer": LETTERS[options.index(answer)]}
        item.update({letter: word for letter, word in zip(LETTERS, options, strict=True)})
        items.append(item)
    items = _numbered(items)
    return {"test": items[:n], "train": items[n:]}


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
