"""Ground-truth stimulus features for the simulated dataset, computed from the tinylm corpus.

Per word: co-occurrence embeddings (positive PMI of a ±2-word window, reduced by SVD), word
rate (1 per word), unigram surprisal and bigram surprisal (bits, interpolated with unigrams).
Also plausible word timings (speech rate, length-dependent durations, jitter, pauses).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_STRIP = re.compile(r"[^\w']+")
WINDOW = 2
VOCAB = 5000
BIGRAM_WEIGHT = 0.7


def normalize(word: str) -> str:
    """The lookup form of a word: lower case, punctuation stripped."""
    return _STRIP.sub("", word.lower())


@dataclass
class LanguageStats:
    """Vocabulary, embeddings and n-gram counts of a corpus."""

    vocab: dict[str, int]
    embeddings: np.ndarray  # (vocab, dims)
    unigrams: Counter
    bigrams: Counter
    total: int

    @classmethod
    def from_documents(cls, documents: Sequence[str], dims: int, seed: int = 0) -> LanguageStats:
        from scipy.sparse import coo_matrix
        from scipy.sparse.linalg import svds

        tokens = [[normalize(w) for w in doc.split()] for doc in documents]
        tokens = [[w for w in doc if w] for doc in tokens]
        unigrams = Counter(w for doc in tokens for w in doc)
        bigrams = Counter(pair for doc in tokens for pair in zip(doc, doc[1:]))
        vocab = {w: i for i, (w, _) in enumerate(unigrams.most_common(VOCAB))}
        rows, cols = [], []
        for doc in tokens:
            ids = np.array([vocab.get(w, -1) for w in doc])
            for shift in range(1, WINDOW + 1):
                a, b = ids[:-shift], ids[shift:]
                ok = (a >= 0) & (b >= 0)
                rows += [a[ok], b[ok]]
                cols += [b[ok], a[ok]]
        n = len(vocab)
        r, c = np.concatenate(rows), np.concatenate(cols)
        counts = coo_matrix((np.ones(r.size, dtype=np.float64), (r, c)), shape=(n, n)).tocsr()
        counts.sum_duplicates()
        total = counts.sum()
        row_sum = np.asarray(counts.sum(1)).ravel()
        col_sum = np.asarray(counts.sum(0)).ravel() ** 0.75  # context smoothing
        col_sum = col_sum / col_sum.sum() * total
        coo = counts.tocoo()
        pmi = np.log(coo.data * total / (row_sum[coo.row] * col_sum[coo.col]))
        keep = pmi > 0
        ppmi = coo_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=(n, n)).tocsr()
        k = min(dims, n - 2)
        u, s, _ = svds(ppmi, k=k, random_state=seed)
        order = np.argsort(-s)
        u, s = u[:, order], s[order]
        signs = np.sign(u[np.abs(u).argmax(0), np.arange(k)])  # fixed sign per dimension
        embeddings = (u * np.sqrt(s) * signs).astype(np.float32)
        embeddings /= embeddings.std(0, keepdims=True) + 1e-8
        return cls(vocab, embeddings, unigrams, bigrams, sum(unigrams.values()))

    def features(self, words: Sequence[str]) -> np.ndarray:
        """(words × dims + 3): embedding, word rate, unigram and bigram surprisal."""
        dims = self.embeddings.shape[1]
        out = np.zeros((len(words), dims + 3), dtype=np.float32)
        v = len(self.unigrams) + 1
        previous = ""
        for i, raw in enumerate(words):
            word = normalize(raw)
            if word in self.vocab:
                out[i, :dims] = self.embeddings[self.vocab[word]]
            p_uni = (self.unigrams.get(word, 0) + 1) / (self.total + v)
            out[i, dims] = 1.0
            out[i, dims + 1] = -math.log2(p_uni)
            context = self.unigrams.get(previous, 0)
            p_bi = p_uni
            if context:
                p_bi = BIGRAM_WEIGHT * self.bigrams.get((previous, word), 0) / context + (1 - BIGRAM_WEIGHT) * p_uni
            out[i, dims + 2] = -math.log2(p_bi)
            previous = word
        return out

    @staticmethod
    def feature_names(dims: int) -> list[str]:
        return [f"embedding_{i}" for i in range(dims)] + ["word_rate", "unigram_surprisal", "bigram_surprisal"]


def word_timings(
    words: Sequence[str], rate: float, rng: np.random.Generator, start: float = 1.0
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    """Onsets, offsets and pauses (start, end) for ``words`` spoken at about ``rate`` words/s."""
    length = np.array([max(1, len(normalize(w))) for w in words], dtype=np.float64)
    duration = 0.12 + 0.05 * length
    duration *= np.exp(rng.normal(0, 0.25, len(words)))
    pause = np.zeros(len(words))
    for i, w in enumerate(words):
        if w.endswith((".", "!", "?")):
            pause[i] = rng.uniform(0.3, 0.8)
        elif w.endswith((",", ";", ":")):
            pause[i] = rng.uniform(0.1, 0.3)
    # scale speech (not pauses) so the overall rate matches
    speech = (len(words) / rate) - pause.sum()
    duration *= max(speech, 0.2 * len(words) / rate) / duration.sum()
    onsets = np.empty(len(words))
    offsets = np.empty(len(words))
    pauses = []
    t = start
    for i in range(len(words)):
        onsets[i] = t
        t += duration[i]
        offsets[i] = t
        if pause[i] > 0:
            pauses.append((t, t + pause[i]))
            t += pause[i]
    return onsets, offsets, pauses
