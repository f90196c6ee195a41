"""Word-level activations for a sweep: extracted once per checkpoint and stimulus set, read layer by layer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from harness.features import ActivationSet, extract_activations
from harness.features.settings import ExtractionSettings
from harness.plan.planner import ModelPlan, Plan
from harness.plan.stimuli import StimulusWords, stimulus_words
from harness.plugin.contract import Checkpoint, LoadedModel, WordAnnotation, WordAnnotations

StoryWords = dict[str, list[str]]


class InStoryOrder(ActivationSet):
    """A cached extraction of shuffled words, read with each story's rows back in story order (row i: word i)."""

    def __init__(self, acts: ActivationSet, words: StimulusWords) -> None:
        super().__init__(acts.path)
        self.words = words

    def layer(self, index: int) -> dict[str, np.ndarray]:
        return self.words.in_story_order(super().layer(index))


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
        self._stimuli: dict[str, StimulusWords] = {}
        self._annotations: dict[str, dict[str, WordAnnotation] | None] = {}
        self._layer: tuple[tuple[str, int], dict[str, np.ndarray]] | None = None

    def stimulus(self, stimulus: str) -> StimulusWords:
        """A brain entry's stories as the model reads them (shuffled for ``control: shuffled``), read once.

        This is the one place a dataset's stories become the words activations are extracted from;
        whatever order the model reads them in, the activations handed out have row i = word i.
        """
        if stimulus not in self._stimuli:
            target = self.plan.brain(stimulus)
            stories = {name: story.words for name, story in sorted(target.plugin.stories().items())}
            self._stimuli[stimulus] = stimulus_words(
                stories, target.entry.control, target.entry.shuffle, self.plan.config.seed
            )
        return self._stimuli[stimulus]

    def words(self, stimulus: str) -> StoryWords:
        """The words of each story of a brain entry, in story order (one per onset)."""
        return self.stimulus(stimulus).words

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

    def activations(
        self, model: ModelPlan, checkpoint: Checkpoint, stimulus: str, loaded: LoadedModel | None
    ) -> ActivationSet:
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

    def provide(
        self, model: str, step: int, sets: Mapping[str, ActivationSet], failures: Mapping[str, BaseException]
    ) -> None:
        """Activations of a checkpoint extracted elsewhere (another process), and the extractions that failed there."""
        for stimulus, acts in sets.items():
            self._sets[(model, step, stimulus)] = acts
        for stimulus, error in failures.items():
            self._failed[(model, step, stimulus)] = error

    def _extract(
        self, model: ModelPlan, checkpoint: Checkpoint, stimulus: str, loaded: LoadedModel | None
    ) -> ActivationSet:
        words = self.stimulus(stimulus)
        if loaded is not None:
            acts = extract_activations(loaded, words.read, self.features, self.cache_dir)
        else:
            reference = model.family.load(checkpoint, self.device)  # a reference checkpoint not loaded now
            try:
                acts = extract_activations(reference, words.read, self.features, self.cache_dir)
            finally:
                model.family.release(reference)
        return acts if words.rows is None else InStoryOrder(acts, words)

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

    def reference(
        self, model: ModelPlan, checkpoint: Checkpoint | None, stimulus: str, layer: int
    ) -> Callable[[], np.ndarray | None]:
        """A function that reads ``layer`` at another checkpoint when a metric asks for it."""

        def read() -> np.ndarray | None:
            if checkpoint is None:
                return None
            return self.stacked(self.activations(model, checkpoint, stimulus, None), layer)

        return read

    def forget_layer(self) -> None:
        """Drop the layer kept in memory (after a checkpoint)."""
        self._layer = None
