"""Question/answer documents for tinylm's training mix, built from training prose only.

Each document is a short few-shot quiz in the prompt format of the offline suite's ``instruction``
task (``harness_plugins.tasks.offline.quiz``): the task line, then one to ``MAX_QUESTIONS``
questions of one rung of its ladder, each followed by ``Answer: <letter>``. The easy ``stated``
rung gets the largest share of the training sentences (``SHARES``). The model organism thus meets
the answer format and every rung during training, as a pretraining mix with instruction data
would, while the suite's items come from the held-out documents it never sees.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from harness_plugins.tasks.offline.quiz import (
    DESCRIPTION,
    RUNGS,
    SHOT_SEPARATOR,
    Question,
    ask,
    common_words,
    paragraphs,
    sentence_ends,
)

MAX_QUESTIONS = 4  # questions per document: 1 to this many
# share of the training sentences each rung gets: the easy rung most, as it is the one to be learned
SHARES = {"stated": 3, "copy": 1, "complete": 1}


def questions(documents: Sequence[str], seed: int) -> list[Question]:
    """Every usable question of the documents (one per usable sentence, dealt to the rungs by ``SHARES``), in a
    seeded order."""
    rng = random.Random(seed)
    texts = paragraphs(documents)
    vocab = common_words(texts)
    if len(vocab) < 12:
        return []
    ends = sentence_ends(texts, vocab)
    rng.shuffle(ends)
    deal = [rung for rung in RUNGS for _ in range(SHARES[rung])]
    asked = (ask(deal[i % len(deal)], end, vocab, rng) for i, end in enumerate(ends))
    return [q for q in asked if q is not None]


def qa_documents(documents: Sequence[str], seed: int) -> list[str]:
    """The questions grouped by rung into quizzes of 1 to ``MAX_QUESTIONS``, each under the task line, shuffled."""
    rng = random.Random(seed + 1)
    asked = questions(documents, seed)
    docs: list[str] = []
    for rung in RUNGS:
        pool = [q for q in asked if q.rung == rung]
        i = 0
        while i < len(pool):
            n = rng.randint(1, MAX_QUESTIONS)
            docs.append(DESCRIPTION + SHOT_SEPARATOR + SHOT_SEPARATOR.join(q.render() for q in pool[i : i + n]))
            i += n
    rng.shuffle(docs)
    return docs
