"""Word properties a probe predicts, computed from the words of a stimulus (one value per word).

- ``word_length``: letters and digits in the word;
- ``log_frequency``: Zipf frequency of the word in English (``wordfreq``, offline data);
- ``sentence_position``: index of the word in its sentence (sentences end at . ! ?; only when the
  stimulus has such punctuation);
- ``surprisal``: -log2 P(word | previous word) under an interpolated bigram model (Witten-Bell)
  whose bigram counts come from the *other* stories and whose unigram back-off is wordfreq's
  English distribution, so a story is never scored with counts of its own text;
- ``part_of_speech`` (categorical): the coarse tag of Petrov et al.'s universal tagset (NOUN,
  VERB, ADJ, ADV, PRON, DET, ADP, NUM, CONJ, PRT, X; PUNCT for a word that is only punctuation)
  of the Penn Treebank tag from the English tagger that ``textblob`` ships inside its wheel
  (Pattern's lexicon, suffix rules and Brill contextual rules; nothing is downloaded), tagged
  sentence by sentence.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

SENTENCE_END = (".", "!", "?")
_TOKEN = re.compile(r"[^\w']+")
_EDGE_PUNCTUATION = "\"'()[]{}.,;:!?-–—…`*"
_UNIVERSAL = {  # Penn Treebank tag -> universal tag (Petrov, Das & McDonald 2012); anything else is X
    **dict.fromkeys(("NN", "NNS", "NNP", "NNPS"), "NOUN"),
    **dict.fromkeys(("VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "MD"), "VERB"),
    **dict.fromkeys(("JJ", "JJR", "JJS"), "ADJ"),
    **dict.fromkeys(("RB", "RBR", "RBS", "WRB"), "ADV"),
    **dict.fromkeys(("PRP", "PRP$", "WP", "WP$"), "PRON"),
    **dict.fromkeys(("DT", "PDT", "WDT", "EX"), "DET"),
    "IN": "ADP", "CD": "NUM", "CC": "CONJ",
    **dict.fromkeys(("POS", "RP", "TO"), "PRT"),
    **dict.fromkeys((".", ",", ":", "(", ")", '"', "``", "''", "#", "$"), "PUNCT"),
}


def clean(word: str) -> str:
    """Lower-case word without surrounding punctuation (the type a control label is drawn for)."""
    return _TOKEN.sub("", word.lower()).strip("'")


def ends_sentence(word: str) -> bool:
    """Whether the word carries sentence-final punctuation (. ! ?, before closing quotes or brackets)."""
    return word.rstrip("\"')]}").endswith(SENTENCE_END)


def word_length(words: Sequence[str]) -> np.ndarray:
    """Letters and digits in each word."""
    return np.array([sum(c.isalnum() for c in w) for w in words], dtype=np.float64)


def log_frequency(words: Sequence[str], language: str = "en") -> np.ndarray:
    """Zipf frequency (log10 per billion words + 9) of each word's type in ``language``; 0 when unknown."""
    from wordfreq import zipf_frequency

    cache: dict[str, float] = {}
    out = np.empty(len(words))
    for i, w in enumerate(words):
        key = clean(w)
        if key not in cache:
            cache[key] = zipf_frequency(key, language) if key else 0.0
        out[i] = cache[key]
    return out


def sentence_position(words: Sequence[str], stories: Sequence[str]) -> np.ndarray | None:
    """Index of each word in its sentence; None when no word ends a sentence (no punctuation)."""
    if not any(ends_sentence(w) for w in words):
        return None
    out = np.empty(len(words))
    position, previous_story = 0, None
    for i, (w, story) in enumerate(zip(words, stories)):
        if story != previous_story:
            position, previous_story = 0, story
        out[i] = position
        position = 0 if ends_sentence(w) else position + 1
    return out


def bigram_surprisal(words: Sequence[str], stories: Sequence[str], language: str = "en") -> np.ndarray:
    """-log2 P(w | v): Witten-Bell interpolation of bigram counts from the other stories with
    wordfreq's unigram distribution (floored at 1e-8 for words it does not know)."""
    from wordfreq import word_frequency

    types = [clean(w) for w in words]
    by_story: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    for i in range(1, len(types)):
        if stories[i] == stories[i - 1]:
            by_story[stories[i]][(types[i - 1], types[i])] += 1
    total: Counter[tuple[str, str]] = Counter()
    for counts in by_story.values():
        total.update(counts)
    unigram: dict[str, float] = {}
    out = np.empty(len(words))
    cached_story: str | None = None
    pairs: dict[tuple[str, str], int] = {}
    context_counts: Counter[str] = Counter()
    followers: defaultdict[str, set[str]] = defaultdict(set)
    for i, (w, story) in enumerate(zip(types, stories)):
        if story != cached_story:  # counts of every story but this one
            cached_story = story
            own = by_story.get(story, Counter())
            pairs = {pair: n - own.get(pair, 0) for pair, n in total.items() if n - own.get(pair, 0) > 0}
            context_counts, followers = Counter(), defaultdict(set)
            for (v, u), n in pairs.items():
                context_counts[v] += n
                followers[v].add(u)
        if w not in unigram:
            unigram[w] = max(word_frequency(w, language) if w else 0.0, 1e-8)
        p = unigram[w]
        if i > 0 and stories[i - 1] == story:
            v = types[i - 1]
            c_v, t_v = context_counts.get(v, 0), len(followers.get(v, ()))
            if c_v:
                lam = c_v / (c_v + t_v)
                p = lam * pairs.get((v, w), 0) / c_v + (1 - lam) * p
        out[i] = -math.log2(p)
    return out


def sentences(words: Sequence[str], stories: Sequence[str]) -> list[range]:
    """Row ranges of the sentences: a sentence ends after . ! ? and at the end of each story."""
    out, start = [], 0
    for i, w in enumerate(words):
        last_of_story = i + 1 == len(words) or stories[i + 1] != stories[i]
        if ends_sentence(w) or last_of_story:
            out.append(range(start, i + 1))
            start = i + 1
    return out


def part_of_speech(words: Sequence[str], stories: Sequence[str]) -> np.ndarray:
    """Universal part-of-speech tag of each word (textblob's bundled English tagger), sentence by
    sentence; a word that is only punctuation is PUNCT."""
    from textblob.en import parser

    out = np.empty(len(words), dtype=object)
    for sentence in sentences(words, stories):
        tokens = [words[i].strip(_EDGE_PUNCTUATION) for i in sentence]
        kept = [j for j, t in enumerate(tokens) if t]
        tagged = parser.find_tags([tokens[j] for j in kept]) if kept else []
        for i in sentence:
            out[i] = "PUNCT"
        for j, (_, tag) in zip(kept, tagged):
            out[sentence[j]] = _UNIVERSAL.get(str(tag).split("-", 1)[0], "X")  # NNP-LOC (an entity) is an NNP
    return out
