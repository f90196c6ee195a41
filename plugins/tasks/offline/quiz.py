"""The instruction task's questions: a ladder of fill-in-the-blank rungs in one prompt format.

Shared by the offline suite (items from held-out prose) and tinylm's training mix (quizzes from
training prose), so that the organism trains on exactly the format it is tested on. A question
is the end of a sentence (its last ``MAX_WORDS`` words) with the last word blanked, four lettered
options (the blanked word and three distractors) and ``Answer: <letter>``; chance is 1/4.

Rungs, easiest first, by how much of the answer the prompt itself states:

- ``stated``: a line below the options states the answer letter (``The answer is B.``): copying
  it from context solves the question, a copy two-layer attention models learn: tinylm climbs
  from chance to near 1 late in its training;
- ``copy``: the sentence stands unblanked on a line above the question and no distractor occurs
  there: the right option is the one word of the options that the prompt states, but mapping it
  to its letter takes one more step (tinylm does not learn it in its budget);
- ``complete``: nothing is stated: the blanked word must be inferred from the language alone.

Distractors are common words that occur nowhere in the question (the answer may), so the rungs
differ only in what the prompt states. For the default organism ``copy`` and ``complete`` stay near
chance: the ladder shows correctness consolidating on the easy rung only.

A sentence gives more questions than its end (``inner_blanks``): any other common word of it
blanked, shown with up to ``AFTER_BLANK`` words that follow it; the offline suite asks them when
it needs more items than the sentence ends give.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

RUNGS = ("stated", "copy", "complete")  # easiest first
CHANCE = 0.25  # one right option out of four
LETTERS = ("A", "B", "C", "D")
DESCRIPTION = "Fill in the blank. Answer with a letter."  # the task line above the questions
SHOT_SEPARATOR = "\n\n"
BLANK = "___"
MAX_WORDS = 9  # a question is at most the last 9 words of a sentence: a few-shot prompt fits 128 tokens
MIN_SENTENCE_WORDS = 5
AFTER_BLANK = 3  # words after an inner blank that its question shows (the rest of the window precedes it)
COMMON_WORDS = 1000  # answers and distractors come from the most frequent plain words

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_FINAL_WORD = re.compile(r"^(.*\s)([A-Za-z]{3,})([.!?])$")
_WORD = re.compile(r"^[a-z]{3,12}$")
_INNER_WORD = re.compile(r"^([a-z]{3,12})([,;:]?)$")  # a word that can be blanked inside a sentence

Blank = tuple[str, str, str]  # (the question's text before the blank, the blanked word, its text after the blank)


@dataclass(frozen=True)
class Question:
    """One question of a rung: an optional passage line, the sentence with ``___``, options, answer letter."""

    rung: str
    sentence: str
    options: tuple[str, ...]
    answer: str
    passage: str = ""  # a line above the sentence
    hint: str = ""  # a line below the options

    def prompt(self) -> str:
        """The question as the instruction task shows it, up to ``Answer:``."""
        choices = " ".join(f"{letter}) {word}" for letter, word in zip(LETTERS, self.options, strict=True))
        lines = [self.passage, self.sentence, choices, self.hint, "Answer:"]
        return "\n".join(line for line in lines if line)

    def render(self) -> str:
        """The prompt followed by its answer, as a demonstration or a training quiz shows it."""
        return f"{self.prompt()} {self.answer}"

    def row(self) -> dict[str, str]:
        """The question as a JSONL item of the offline suite."""
        options = dict(zip(LETTERS, self.options, strict=True))
        return {"rung": self.rung, "passage": self.passage, "sentence": self.sentence, **options, "hint": self.hint,
                "answer": self.answer, "prompt": self.prompt()}


def paragraphs(documents: Iterable[str]) -> list[str]:
    """The non-empty paragraphs of the documents (split on blank lines)."""
    return [p.strip() for doc in documents for p in doc.split("\n\n") if p.strip()]


def sentences(text: str) -> list[str]:
    """Sentences of a paragraph (split after . ! ? before a capital)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def common_words(texts: Iterable[str], n: int = COMMON_WORDS) -> list[str]:
    """The ``n`` most frequent plain lower-case words of the texts, sorted."""
    counts = Counter(w for text in texts for w in text.split() if _WORD.match(w))
    return sorted(w for w, _ in counts.most_common(n))


def sentence_ends(texts: Iterable[str], vocab: Sequence[str]) -> list[Blank]:
    """(words before the blank, blanked word, final punctuation) of every usable sentence, in text order.

    Usable: at least ``MIN_SENTENCE_WORDS`` words, ending in a word of ``vocab`` and . ! or ?.
    """
    common = set(vocab)
    return [end for text in texts for sent in sentences(text) if (end := sentence_end(sent, common)) is not None]


def sentence_end(sentence: str, common: Container[str]) -> Blank | None:
    """The question about a sentence's last word (its last ``MAX_WORDS`` words, the last blanked), or None
    when the sentence is not usable (see ``sentence_ends``)."""
    words = sentence.split()
    match = _FINAL_WORD.match(" ".join(words[-MAX_WORDS:]))
    if len(words) >= MIN_SENTENCE_WORDS and match and match.group(2) in common:
        return match.group(1), match.group(2), match.group(3)
    return None


def inner_blanks(sentence: str, common: Container[str]) -> list[Blank]:
    """Every question about a word of ``common`` inside a sentence of at least ``MIN_SENTENCE_WORDS`` words
    (not its first or last word), in text order.

    A question shows at most ``MAX_WORDS`` words: the blank, up to ``AFTER_BLANK`` words after it
    and the words before it.
    """
    words = sentence.split()
    if len(words) < MIN_SENTENCE_WORDS:
        return []
    out = []
    for k in range(1, len(words) - 1):
        match = _INNER_WORD.match(words[k])
        if match and match.group(1) in common:
            stop = min(len(words), k + 1 + AFTER_BLANK)
            start = max(0, stop - MAX_WORDS)
            before = "".join(w + " " for w in words[start:k])
            after = match.group(2) + "".join(" " + w for w in words[k + 1 : stop])
            out.append((before, match.group(1), after))
    return out


def ask(rung: str, blank: Blank, vocab: Sequence[str], rng: random.Random) -> Question | None:
    """The question of ``rung`` about one blank (a sentence end, see ``sentence_ends``, or an inner blank,
    see ``inner_blanks``); None when ``vocab`` has fewer than three words that the question does not show."""
    if rung not in RUNGS:
        raise ValueError(f"unknown rung {rung!r}; known: {', '.join(RUNGS)}")
    before, answer, after = blank
    shown = {w.strip(".,;:!?\"'()").lower() for w in f"{before} {after}".split()} | {answer.lower()}
    distractors = [w for w in rng.sample(vocab, min(len(vocab), 16)) if w not in shown][:3]
    if len(distractors) < 3:  # a small vocabulary: look through all of it
        unseen = [w for w in vocab if w not in shown]
        if len(unseen) < 3:
            return None
        distractors = rng.sample(unseen, 3)
    options = [*distractors, answer]
    rng.shuffle(options)
    letter = LETTERS[options.index(answer)]
    passage = f"{before}{answer}{after}" if rung == "copy" else ""
    hint = f"The answer is {letter}." if rung == "stated" else ""
    return Question(rung, f"{before}{BLANK}{after}", tuple(options), letter, passage, hint)
