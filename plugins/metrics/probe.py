"""Linear probes of word properties, with control tasks (Hewitt & Liang 2019).

For one layer's word activations, a ridge probe (closed form, torch) predicts each word property;
folds are grouped by story, the penalty is chosen per fold and property by generalised
cross-validation on the training words, and the score is the Pearson r of held-out predictions
(mean over folds). The control task of a property is the same probe on labels reassigned at random
per word *type* (every occurrence of a word gets the value of a random occurrence of the
property), so a probe that only memorises word identity scores as well on it;
selectivity = score - control score says what the layer encodes beyond word identity.

Properties, from the words of the metric stimulus:

- ``word_length``: letters and digits in the word;
- ``log_frequency``: Zipf frequency of the word in English (``wordfreq``, offline data);
- ``sentence_position``: index of the word in its sentence (sentences end at . ! ?; only when the
  stimulus has such punctuation);
- ``surprisal``: -log2 P(word | previous word) under an interpolated bigram model (Witten-Bell)
  whose bigram counts come from the *other* stories and whose unigram back-off is wordfreq's
  English distribution, so a story is never scored with counts of its own text.

The words come from the metric context (``context.words``, one per activation row, and
``context.stories``, each row's story). The core does not provide them yet: until it does, the
metric raises a DataError naming what is missing.
Registered by ``harness_plugins.metrics.dimension`` (the ``dimension`` entry point).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from harness import DataError, Metric, MetricContext, PluginOptions, Score
from harness_plugins.metrics.common import torch_device

PROPERTIES = ("word_length", "log_frequency", "sentence_position", "surprisal")
Property = Literal["word_length", "log_frequency", "sentence_position", "surprisal"]
SENTENCE_END = (".", "!", "?")
_TOKEN = re.compile(r"[^\w']+")


def clean(word: str) -> str:
    """Lower-case word without surrounding punctuation (the type a control label is drawn for)."""
    return _TOKEN.sub("", word.lower()).strip("'")


# ---------------------------------------------------------------------------- properties


def word_length(words: Sequence[str]) -> np.ndarray:
    return np.array([sum(c.isalnum() for c in w) for w in words], dtype=np.float64)


def log_frequency(words: Sequence[str], language: str = "en") -> np.ndarray:
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
    if not any(w.rstrip("\"')]}").endswith(SENTENCE_END) for w in words):
        return None
    out = np.empty(len(words))
    position, previous_story = 0, None
    for i, (w, story) in enumerate(zip(words, stories)):
        if story != previous_story:
            position, previous_story = 0, story
        out[i] = position
        position = 0 if w.rstrip("\"')]}").endswith(SENTENCE_END) else position + 1
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


def control_labels(values: np.ndarray, types: Sequence[str], rng: np.random.Generator) -> np.ndarray:
    """Hewitt & Liang's control task: every word type gets the value of a random occurrence."""
    unique, inverse = np.unique(np.asarray(types, dtype=object), return_inverse=True)
    drawn = values[rng.integers(0, len(values), size=len(unique))]
    return drawn[inverse]


# ---------------------------------------------------------------------------- the probe


def story_folds(groups: Sequence[str], folds: int) -> list[np.ndarray]:
    """Test-row indices per fold: whole stories dealt round-robin in sorted order; with a single
    story, contiguous blocks of words."""
    groups_arr = np.asarray(groups, dtype=object)
    names = sorted(set(groups_arr.tolist()))
    if len(names) >= 2:
        k = min(folds, len(names))
        fold_of = {name: i % k for i, name in enumerate(names)}
        labels = np.array([fold_of[g] for g in groups_arr])
        return [np.flatnonzero(labels == i) for i in range(k)]
    return [block for block in np.array_split(np.arange(len(groups_arr)), folds) if len(block)]


def ridge_cv_r(x: torch.Tensor, y: torch.Tensor, test_folds: list[np.ndarray], ratios: torch.Tensor) -> torch.Tensor:
    """Held-out Pearson r of a ridge probe per target column (folds x targets).

    Per fold: centre on the training rows, one SVD of the training activations, the penalty per
    target chosen by GCV among ``ratios`` x the mean squared singular value, predictions of the
    test rows.
    """
    n = x.shape[0]
    scores = []
    for test in test_folds:
        mask = torch.ones(n, dtype=torch.bool, device=x.device)
        mask[torch.as_tensor(test, device=x.device)] = False
        xtr, ytr, xte, yte = x[mask], y[mask], x[~mask], y[~mask]
        mx, my = xtr.mean(0, keepdim=True), ytr.mean(0, keepdim=True)
        xtr, ytr, xte = xtr - mx, ytr - my, xte - mx
        u, s, vt = torch.linalg.svd(xtr, full_matrices=False)
        uty = u.T @ ytr  # (k x targets)
        alphas = ratios * (s * s).mean()
        shrink = (s * s)[None, :] / ((s * s)[None, :] + alphas[:, None])  # (alphas x k)
        # GCV: residual = |y|^2 - 2 sum h (u'y)^2 + sum h^2 (u'y)^2 (orthonormal u), over (n - tr H)^2
        yy = (ytr * ytr).sum(0)
        uty2 = uty * uty
        resid = yy[None, :] - 2 * shrink @ uty2 + (shrink * shrink) @ uty2
        gcv = resid / (xtr.shape[0] - shrink.sum(1, keepdim=True)).clamp_min(1.0) ** 2
        best = gcv.argmin(0)  # per target
        factors = s[:, None] / (s[:, None] ** 2 + alphas[best][None, :])  # (k x targets)
        coef = vt.T @ (factors * uty)
        pred = xte @ coef + my
        scores.append(_pearson(pred, yte))
    return torch.stack(scores)


def _pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a - a.mean(0), b - b.mean(0)
    den = a.norm(dim=0) * b.norm(dim=0)
    return torch.where(den > 0, (a * b).sum(0) / den.clamp_min(1e-30), torch.zeros_like(den))


class ProbeOptions(PluginOptions):
    """Options of ``Probe``."""

    properties: list[Property] = Field(default_factory=lambda: list(PROPERTIES))
    folds: int = Field(default=5, ge=2)  # story-grouped folds (fewer when there are fewer stories)
    ratios: list[float] = Field(default_factory=lambda: [10.0**e for e in range(-3, 4)])  # penalty / mean s^2
    max_words: int | None = Field(default=20000, ge=10)  # seeded subsample of words (rows)
    language: str = "en"  # wordfreq language for log_frequency and the surprisal back-off
    seed: int | None = None  # control labels and subsample; None = the sweep seed


class Probe(Metric[ProbeOptions]):
    """``probe_r/P``, ``probe_control_r/P``, ``probe_selectivity/P`` for every word property P."""

    name = "probe"
    version = "1.0"
    _targets: tuple[int, dict[str, np.ndarray]] | None = None  # (stimulus key, properties) of the last call

    def compute(self, activations: np.ndarray, context: MetricContext) -> list[Score]:
        words, stories = _words(context, len(activations))
        key = hash((tuple(words), tuple(stories), tuple(self.options.properties), self.options.language))
        if self._targets is None or self._targets[0] != key:  # the same stimulus at every layer and checkpoint
            self._targets = (key, self.properties(words, stories))
        targets = self._targets[1]
        return self.score(activations, targets, [clean(w) for w in words], stories, context)

    def properties(self, words: Sequence[str], stories: Sequence[str]) -> dict[str, np.ndarray]:
        """Property -> one value per word (properties the stimulus cannot give are left out)."""
        lang = self.options.language
        out: dict[str, np.ndarray | None] = {}
        for prop in self.options.properties:
            if prop == "word_length":
                out[prop] = word_length(words)
            elif prop == "log_frequency":
                out[prop] = log_frequency(words, lang)
            elif prop == "sentence_position":
                out[prop] = sentence_position(words, stories)
            else:
                out[prop] = bigram_surprisal(words, stories, lang)
        return {k: v for k, v in out.items() if v is not None}

    def score(self, activations: np.ndarray, targets: dict[str, np.ndarray], types: Sequence[str],
              stories: Sequence[str], context: MetricContext) -> list[Score]:
        """The probe, its control and the selectivity for every target (one value per row)."""
        opts = self.options
        rng = np.random.default_rng(context.seed if opts.seed is None else opts.seed)
        x_np = np.asarray(activations)
        if x_np.ndim != 2 or len(x_np) < 4:
            raise DataError(f"probe: expected a (words x dims) array with 4+ rows, got shape {x_np.shape}")
        rows = np.arange(len(x_np))
        if opts.max_words is not None and len(rows) > opts.max_words:
            rows = np.sort(rng.choice(len(rows), size=opts.max_words, replace=False))
        names = list(targets)
        if not names:
            return []
        columns = [targets[n][rows] for n in names]
        kept_types = [types[i] for i in rows]
        columns += [control_labels(c, kept_types, rng) for c in columns]
        device = torch_device(context.device)
        dtype = torch.float64 if device.type == "cpu" else torch.float32
        x = torch.as_tensor(np.ascontiguousarray(x_np[rows]), device=device).to(dtype)
        if not bool(torch.isfinite(x).all()):
            raise DataError("probe: activations contain NaN or infinite values")
        y = torch.as_tensor(np.stack(columns, axis=1), device=device).to(dtype)
        folds = story_folds([stories[i] for i in rows], opts.folds)
        ratios = torch.as_tensor(opts.ratios, device=device, dtype=dtype)
        r = ridge_cv_r(x, y, folds, ratios).double().cpu().numpy()  # folds x (2 * properties)
        k, p = r.shape[0], len(names)
        scores = []
        for j, name in enumerate(names):
            probe, control = r[:, j], r[:, p + j]
            sel = probe - control
            for metric, values in (("probe_r", probe), ("probe_control_r", control), ("probe_selectivity", sel)):
                stderr = float(values.std(ddof=1) / math.sqrt(k)) if k > 1 else None
                scores.append(Score(f"{metric}/{name}", float(values.mean()), stderr=stderr))
        return scores


def _words(context: MetricContext, rows: int) -> tuple[list[str], list[str]]:
    """The words (and their stories) of the activation rows, from the context when the core gives them."""
    words = context.words
    if words is None:
        raise DataError("probe: the metric context carries no words (MetricContext.words, one per activation row)")
    stories = list(context.stories) if context.stories is not None else [""] * len(words)
    if len(words) != rows or len(stories) != rows:
        raise DataError(f"probe: {len(words)} words and {len(stories)} story labels for {rows} activation rows")
    return [str(w) for w in words], [str(s) for s in stories]
