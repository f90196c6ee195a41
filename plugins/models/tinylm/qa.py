"""Question/answer documents for tinylm's training mix, built from training prose only.

Each document is a short few-shot quiz in the prompt format of the offline suite's ``instruction``
task: the task line, then fill-in-the-blank questions (the end of a training sentence with its
last word blanked), four lettered options (the blanked word and three common words) and
``Answer: <letter>``. The model organism thus meets the answer format during training, as a
pretraining mix with a little instruction data would, while the suite's items come from the
held-out documents it never sees.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

LETTERS = ("A", "B", "C", "D")
DESCRIPTION = "Fill in the blank. Answer with a letter."  # the instruction task's task line
SHOT_SEPARATOR = "\n\n"
COMMON_WORDS = 1000  # answers and distractors: the most frequent plain words of the training text
MAX_WORDS = 9  # a question is at most the last 9 words of a sentence
MAX_QUESTIONS = 4  # questions per document: 1 to this many

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_FINAL_WORD = re.compile(r"^(.*\s)([A-Za-z]{3,})([.!?])$")
_WORD = re.compile(r"^[a-z]{3,12}$")


@dataclass(frozen=True)
class Question:
    """One fill-in-the-blank question: the sentence with ``___``, four options and the answer letter."""

    sentence: str
    options: tuple[str, str, str, str]
    answer: str

    def render(self) -> str:
        """The question as the instruction task shows it, followed by its answer."""
        choices = " ".join(f"{letter}) {word}" for letter, word in zip(LETTERS, self.options, strict=True))
        return f"{self.sentence}\n{choices}\nAnswer: {self.answer}"


def questions(documents: Sequence[str], seed: int) -> list[Question]:
    """Every usable question of the documents (one per qualifying sentence), in a seeded order."""
    rng = random.Random(seed)
    paragraphs = [p.strip() for doc in documents for p in doc.split("\n\n") if p.strip()]
    counts = Counter(w for p in paragraphs for w in p.split() if _WORD.match(w))
    vocab = sorted(w for w, _ in counts.most_common(COMMON_WORDS))
    if len(vocab) < 12:
        return []
    common = set(vocab)
    out: list[Question] = []
    for para in paragraphs:
        for sent in _SENTENCE_END.split(para):
            words = sent.strip().split()
            match = _FINAL_WORD.match(" ".join(words[-MAX_WORDS:]))
            if len(words) < 5 or not match or match.group(2) not in common:
                continue
            answer = match.group(2)
            options = [w for w in rng.sample(vocab, 4) if w != answer][:3] + [answer]
            rng.shuffle(options)
            out.append(Question(f"{match.group(1)}___{match.group(3)}", tuple(options), LETTERS[options.index(answer)]))
    rng.shuffle(out)
    return out


def qa_documents(documents: Sequence[str], seed: int) -> list[str]:
    """The questions of the documents grouped into quizzes of 1 to ``MAX_QUESTIONS``, each under the task line."""
    rng = random.Random(seed + 1)
    pool = questions(documents, seed)
    docs: list[str] = []
    i = 0
    while i < len(pool):
        n = rng.randint(1, MAX_QUESTIONS)
        docs.append(DESCRIPTION + SHOT_SEPARATOR + SHOT_SEPARATOR.join(q.render() for q in pool[i : i + n]))
        i += n
    return docs
