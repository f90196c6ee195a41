"""Linear probes of word properties, with control tasks (Hewitt & Liang 2019).

For one layer's word activations, a probe predicts each word property from the layer, trained on
some stories and scored on the held-out ones (folds grouped by story):

- a continuous property: a ridge probe (closed form; penalty per fold and property by generalised
  cross-validation on the training words); score ``probe_r/P``, the Pearson r of held-out
  predictions (mean over folds; a property of several columns, the mean over its columns);
- a categorical property: an L2-regularised multinomial logistic regression (penalty per fold by
  held-out likelihood on a story-grouped part of the training words); scores ``probe_acc/P``,
  held-out accuracy, and ``probe_acc_corrected/P`` = (acc - chance) / (1 - chance), where chance
  is the accuracy of always answering the training words' most frequent class.

The control task of a property is the same probe on labels reassigned at random per word *type*
(every occurrence of a word gets the value of one random occurrence), so a probe that only
memorises word identity scores as well on it; ``probe_selectivity/P`` = score - control score
(r or accuracy) says what the layer encodes beyond word identity.

Properties: those of ``wordprops`` computed from the stimulus words (length, Zipf frequency,
sentence position, bigram surprisal, part of speech), and every per-word annotation of the
stimulus dataset when it declares ``WordAnnotations`` (the simulated dataset: its ground-truth
features). The words come from the metric context (``context.words``, one per activation row,
and ``context.stories``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from harness import DataError, Metric, MetricContext, PluginOptions, Score, WordAnnotation, hookimpl, torch_threads
from harness_plugins.metrics.common import metric_seed, torch_device
from harness_plugins.metrics.probefit import (
    FoldMoments,
    control_labels,
    fold_moments,
    group_folds,
    logistic_cv_accuracy,
    ridge_cv_r,
)
from harness_plugins.metrics.propcache import cached_properties, properties_path
from harness_plugins.metrics.wordprops import (
    bigram_surprisal,
    clean,
    log_frequency,
    part_of_speech,
    sentence_position,
    word_length,
)

PROPERTIES = ("word_length", "log_frequency", "sentence_position", "surprisal", "part_of_speech")
Property = Literal["word_length", "log_frequency", "sentence_position", "surprisal", "part_of_speech"]


@dataclass(frozen=True)
class Target:
    """What one probe predicts: one value (or row of values) per activation row."""

    values: np.ndarray  # (rows,) or (rows x k) numbers; (rows,) labels when categorical
    categorical: bool = False


@dataclass
class _Stimulus:
    """What the probe reads from a stimulus once: the targets, each word's type (for the control task), its story."""

    targets: dict[str, Target]
    types: list[str]
    stories: list[str]


@dataclass
class _Labels:
    """The rows probed, the varying targets on them with their control labels, and the story-grouped folds."""

    rows: np.ndarray
    stories: list[str]
    continuous: dict[str, np.ndarray]
    categorical: dict[str, np.ndarray]
    controls: dict[str, np.ndarray]
    folds: list[np.ndarray]


class ProbeOptions(PluginOptions):
    """Options of ``Probe``."""

    # the word properties probed for (each a linear probe with a shuffled-label control)
    properties: list[Property] = Field(default_factory=lambda: list(PROPERTIES))
    annotations: bool = True  # also probe the stimulus dataset's word annotations, when it supplies any
    folds: int = Field(default=5, ge=2)  # story-grouped folds (fewer when there are fewer stories)
    # ridge penalty / mean s^2
    ratios: list[float] = Field(default_factory=lambda: [10.0**e for e in range(-3, 4)], min_length=1)
    # logistic L2 penalty; several: chosen per fold on held-out stories
    penalties: list[float] = Field(default_factory=lambda: [0.01], min_length=1)
    max_iter: int = Field(default=10, ge=1)  # L-BFGS iterations per logistic fit
    max_words: int | None = Field(default=20000, ge=10)  # seeded subsample of words (rows)
    language: str = "en"  # wordfreq language for log_frequency and the surprisal back-off
    seed: int | None = None  # control labels and subsample; None = the sweep seed


class Probe(Metric[ProbeOptions]):
    """For every word property P: ``probe_r/P`` (continuous) or ``probe_acc/P`` and
    ``probe_acc_corrected/P`` (categorical), the control task's ``probe_control_r/P`` or
    ``probe_control_acc/P``, and ``probe_selectivity/P``."""

    name = "probe"
    version = "1.1"
    # the last call's stimulus: words and stories, annotations
    _stimulus: tuple[tuple[object, ...], object, _Stimulus] | None = None
    _labels: tuple[tuple[object, ...], _Labels] | None = None  # the last call's rows and control labels, by their key

    def compute(self, activations: np.ndarray, context: MetricContext) -> list[Score]:
        words, stories = _words(context, len(activations))
        key = (tuple(words), tuple(stories))
        last = self._stimulus  # the same stimulus at every layer and checkpoint (annotations: the same object)
        if last is None or last[0] != key or last[1] is not context.annotations:
            last = self._stimulus = (key, context.annotations, self._read_stimulus(words, stories, context))
        stimulus = last[2]
        return self.score(activations, stimulus.targets, stimulus.types, stimulus.stories, context)

    def _read_stimulus(self, words: Sequence[str], stories: Sequence[str], context: MetricContext) -> _Stimulus:
        targets = self.properties(words, stories)
        if self.options.annotations and context.annotations:
            for name, annotation in context.annotations.items():
                if name in targets:
                    raise DataError(
                        f"probe: the stimulus dataset's annotation {name!r} has the name of a word property; "
                        f"rename the annotation or leave {name!r} out of the probe's 'properties'"
                    )
                targets[name] = _annotation_target(name, annotation, stories)
        return _Stimulus(targets, [clean(w) for w in words], list(stories))

    def properties(self, words: Sequence[str], stories: Sequence[str]) -> dict[str, Target]:
        """Property -> one value per word (properties the stimulus cannot give are left out),
        computed once per stimulus and settings and then read from disk (``propcache``)."""
        settings = {"properties": list(self.options.properties), "language": self.options.language}
        stored = cached_properties(properties_path(words, stories, settings), lambda: {
            name: (t.values.astype(str) if t.categorical else t.values, t.categorical)
            for name, t in self.computed_properties(words, stories).items()})
        return {name: Target(values, categorical) for name, (values, categorical) in stored.items()}

    def computed_properties(self, words: Sequence[str], stories: Sequence[str]) -> dict[str, Target]:
        """``properties`` computed from the words here and now."""
        lang = self.options.language
        out: dict[str, Target] = {}
        for prop in self.options.properties:
            if prop == "word_length":
                out[prop] = Target(word_length(words))
            elif prop == "log_frequency":
                out[prop] = Target(log_frequency(words, lang))
            elif prop == "sentence_position":
                position = sentence_position(words, stories)
                if position is not None:
                    out[prop] = Target(position)
            elif prop == "surprisal":
                out[prop] = Target(bigram_surprisal(words, stories, lang))
            else:
                out[prop] = Target(part_of_speech(words, stories), categorical=True)
        return out

    def score(self, activations: np.ndarray, targets: dict[str, Target], types: Sequence[str],
              stories: Sequence[str], context: MetricContext) -> list[Score]:
        """The probe, its control and the selectivity for every target (one value per row);
        targets that do not vary over the words probed are left out."""
        x_np = np.asarray(activations)
        if x_np.ndim != 2 or len(x_np) < 4:
            raise DataError(f"probe: expected a (words x dims) array with 4+ rows, got shape {x_np.shape}")
        seed = metric_seed(self.options.seed, context)
        key = (targets, types, stories, seed, len(x_np))  # held, so compared by identity: no stale hit
        if (
            self._labels is None
            or any(a is not b for a, b in zip(self._labels[0][:3], key[:3]))
            or self._labels[0][3:] != key[3:]
        ):
            self._labels = (key, self._draw_labels(targets, types, stories, seed, len(x_np)))
        labels = self._labels[1]
        if not labels.continuous and not labels.categorical:
            return []
        device = torch_device(context.device)
        dtype = torch.float64 if device.type == "cpu" else torch.float32
        x = torch.as_tensor(np.ascontiguousarray(x_np[labels.rows]), device=device).to(dtype)
        if not bool(torch.isfinite(x).all()):
            raise DataError("probe: activations contain NaN or infinite values")
        scores = []
        with torch_threads(1 if device.type == "cpu" else None):  # small solves: threads only stall on a busy CPU
            moments = fold_moments(x, labels.folds)  # one Gram matrix per fold, shared by every probe
            if labels.continuous:
                scores += self._ridge(x, labels.continuous, labels.controls, moments)
            if labels.categorical:
                scores += self._logistic(x, labels.categorical, labels.controls, moments, labels.stories)
        order = {name: i for i, name in enumerate(targets)}
        return sorted(scores, key=lambda score: order[score.metric.split("/", 1)[1]])

    def _draw_labels(self, targets: dict[str, Target], types: Sequence[str], stories: Sequence[str], seed: int,
                     n: int) -> _Labels:
        """The rows probed (a seeded subsample beyond ``max_words``), each varying target's values on
        them and its control labels: the same at every layer of a stimulus, so drawn once."""
        rng = np.random.default_rng(seed)
        rows = np.arange(n)
        if self.options.max_words is not None and n > self.options.max_words:
            rows = np.sort(rng.choice(n, size=self.options.max_words, replace=False))
        kept_types = [types[i] for i in rows]
        kept_stories = [stories[i] for i in rows]
        continuous: dict[str, np.ndarray] = {}
        categorical: dict[str, np.ndarray] = {}
        for name, target in targets.items():
            values = target.values[rows]
            if target.categorical:
                _, codes = np.unique(values.astype(str), return_inverse=True)
                if codes.max(initial=0) > 0:
                    categorical[name] = codes
            else:
                values = values.astype(np.float64).reshape(len(rows), -1)
                varying = values.std(0) > 0
                if varying.any():
                    continuous[name] = values[:, varying]
        # control labels drawn continuous properties first, each in the order of ``targets``
        controls = {
            name: control_labels(values, kept_types, rng) for name, values in {**continuous, **categorical}.items()
        }
        return _Labels(
            rows, kept_stories, continuous, categorical, controls, group_folds(kept_stories, self.options.folds)
        )

    def _ridge(self, x: torch.Tensor, targets: dict[str, np.ndarray], controls: dict[str, np.ndarray],
               moments: list[FoldMoments]) -> list[Score]:
        names = list(targets)
        blocks = [targets[n] for n in names] + [controls[n] for n in names]
        edges = np.cumsum([0] + [b.shape[1] for b in blocks])
        y = torch.as_tensor(np.concatenate(blocks, axis=1), device=x.device, dtype=x.dtype)
        ratios = torch.as_tensor(self.options.ratios, device=x.device, dtype=x.dtype)
        r = ridge_cv_r(x, y, moments, ratios).double().cpu().numpy()  # folds x columns
        per_block = [r[:, edges[i]:edges[i + 1]].mean(1) for i in range(len(blocks))]  # mean over a property's columns
        scores = []
        for j, name in enumerate(names):
            probe, control = per_block[j], per_block[len(names) + j]
            scores += _fold_scores(name, (("probe_r", probe, None), ("probe_control_r", control, None),
                                          ("probe_selectivity", probe - control, None)))
        return scores

    def _logistic(self, x: torch.Tensor, targets: dict[str, np.ndarray], controls: dict[str, np.ndarray],
                  moments: list[FoldMoments], stories: Sequence[str]) -> list[Score]:
        names = list(targets)
        columns = [targets[n] for n in names] + [controls[n] for n in names]
        y = torch.as_tensor(np.stack(columns, axis=1), device=x.device, dtype=torch.long)
        classes = torch.as_tensor([int(c.max()) + 1 for c in columns], device=x.device)
        acc, chance = logistic_cv_accuracy(
            x, y, classes, moments, stories, self.options.penalties, self.options.max_iter
        )
        scores = []
        p = len(names)
        for j, name in enumerate(names):
            probe, control, guess = acc[:, j], acc[:, p + j], chance[:, j]
            corrected = (probe - guess) / np.maximum(1 - guess, 1e-12)
            scores += _fold_scores(
                name,
                (
                    ("probe_acc", probe, float(guess.mean())),
                    ("probe_acc_corrected", corrected, None),
                    ("probe_control_acc", control, float(chance[:, p + j].mean())),
                    ("probe_selectivity", probe - control, None),
                ),
            )
        return scores


def _fold_scores(name: str, items: Sequence[tuple[str, np.ndarray, float | None]]) -> list[Score]:
    """Scores ``metric/name``: mean over folds, stderr over folds, chance where given."""
    out = []
    for metric, values, chance in items:
        k = len(values)
        stderr = float(values.std(ddof=1) / math.sqrt(k)) if k > 1 else None
        out.append(Score(f"{metric}/{name}", float(values.mean()), stderr=stderr, chance=chance))
    return out


def _annotation_target(name: str, annotation: WordAnnotation, stories: Sequence[str]) -> Target:
    """One dataset annotation as a target over the activation rows (stories in the rows' order)."""
    parts, counts = [], {}
    for story in stories:
        counts[story] = counts.get(story, 0) + 1
    for story, words in counts.items():
        if story not in annotation.values:
            raise DataError(f"probe: the stimulus dataset's annotation {name!r} has no values for story {story!r}")
        values = np.asarray(annotation.values[story])
        if len(values) != words:
            raise DataError(f"probe: the stimulus dataset's annotation {name!r} has {len(values)} values "
                            f"for the {words} words of story {story!r}")
        parts.append(values)
    values = np.concatenate(parts, axis=0)
    if not annotation.categorical and (values.dtype.kind not in "biuf" or not np.isfinite(values).all()):
        raise DataError(
            f"probe: the stimulus dataset's annotation {name!r} is continuous "
            "but has values that are not finite numbers"
        )
    return Target(values, annotation.categorical)


def _words(context: MetricContext, rows: int) -> tuple[list[str], list[str]]:
    """The words (and their stories) of the activation rows, from the context when the core gives them."""
    words = context.words
    if words is None:
        raise DataError("probe: the metric context carries no words (MetricContext.words, one per activation row)")
    stories = list(context.stories) if context.stories is not None else [""] * len(words)
    if len(words) != rows or len(stories) != rows:
        raise DataError(f"probe: {len(words)} words and {len(stories)} story labels for {rows} activation rows")
    return [str(w) for w in words], [str(s) for s in stories]


@hookimpl
def register_metrics(register):
    register(Probe)
