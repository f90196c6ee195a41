"""Word-level activations for a sweep: extracted once per checkpoint and stimulus set, read layer by layer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from harness.config import ExtractionSettings
from harness.features import ActivationSet, extract_activations
from harness.interfaces import BrainDataset, Checkpoint, LoadedModel, WordAnnotation, WordAnnotations
from harness.planner import ModelPlan, Plan

StoryWords = dict[str, list[str]]


class ActivationProvider:
    """Hands out the activations of the checkpoint being measured (and of reference checkpoints).

    An extraction that failed is not retried for the other cells of the same checkpoint: they
    fail with the same error. The last layer read is kept in memory, since brain and metric cells
    of one layer follow each other.
    """

    def __init__(self, plan: Plan, device: str, cache_dir: Path) -> None:
        self.plan, self.device, self.cache_dir = plan, device, cache_dir
        self.features: ExtractionSettings = plan.config.features
        self._sets: dict[tuple[str, int, str], ActivationSet] = {}
        self._failed: dict[tuple[str, int, str], BaseException] = {}
        self._words: dict[str, StoryWords] = {}
        self._annotations: dict[str, dict[str, WordAnnotation] | None] = {}
        self._layer: tuple[tuple[str, int], dict[str, np.ndarray]] | None = None

    def words(self, stimulus: str) -> StoryWords:
        """The words of each story of a brain entry, read once."""
        if stimulus not in self._words:
            plugin = self.plan.target(stimulus).plugin
            assert isinstance(plugin, BrainDataset), "a stimulus set is a brain entry"
            self._words[stimulus] = {name: list(story.words) for name, story in sorted(plugin.stories().items())}
        return self._words[stimulus]

    def row_words(self, stimulus: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(word, story) of each row of ``stacked``: the stories' words in sorted story order."""
        words = self.words(stimulus)
        ordered = sorted(words)
        return (tuple(w for name in ordered for w in words[name]),
                tuple(name for name in ordered for _ in words[name]))

    def annotations(self, stimulus: str) -> dict[str, WordAnnotation] | None:
        """The per-word annotations of a brain entry that declares ``WordAnnotations``, read once; else None."""
        if stimulus not in self._annotations:
            plugin = self.plan.target(stimulus).plugin
            self._annotations[stimulus] = plugin.word_annotations() if isinstance(plugin, WordAnnotations) else None
        return self._annotations[stimulus]

    def activations(self, model: ModelPlan, checkpoint: Checkpoint, stimulus: str, loaded: LoadedModel | None) -> ActivationSet:
        """Word-level activations of one checkpoint on one stimulus set (loading it when ``loaded`` is None)."""
        key = (model.label, checkpoint.step, stimulus)
        if key in self._failed:
            raise self._failed[key]
        if key not in self._sets:
            try:
                self._sets[key] = self._extract(model, checkpoint, stimulus, loaded)
            except Exception as error:
                self._failed[key] = error
                raise
        return self._sets[key]

    def _extract(self, model: ModelPlan, checkpoint: Checkpoint, stimulus: str, loaded: LoadedModel | None) -> ActivationSet:
        if loaded is not None:
            return extract_activations(loaded, self.words(stimulus), self.features, self.cache_dir)
        reference = model.family.load(checkpoint, self.device)  # a reference checkpoint not loaded now
        try:
            return extract_activations(reference, self.words(stimulus), self.features, self.cache_dir)
        finally:
            model.family.release(reference)

    def layer(self, acts: ActivationSet, layer: int) -> dict[str, np.ndarray]:
        """One layer's activations per story."""
        key = (acts.key, layer)
        if self._layer is None or self._layer[0] != key:
            self._layer = (key, acts.layer(layer))
        return self._layer[1]

    def stacked(self, acts: ActivationSet, layer: int) -> np.ndarray:
        """One layer's activations of all stories as one (words x dims) float32 matrix."""
        per_story = self.layer(acts, layer)
        return np.concatenate([per_story[name] for name in sorted(per_story)], axis=0).astype(np.float32, copy=False)

    def reference(self, model: ModelPlan, checkpoint: Checkpoint | None, stimulus: str, layer: int) -> Callable[[], np.ndarray | None]:
        """A function that reads ``layer`` at another checkpoint when a metric asks for it."""

        def read() -> np.ndarray | None:
            if checkpoint is None:
                return None
            return self.stacked(self.activations(model, checkpoint, stimulus, None), layer)

        return read

    def forget_layer(self) -> None:
        """Drop the layer kept in memory (after a checkpoint)."""
        self._layer = None
