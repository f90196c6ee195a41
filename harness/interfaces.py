"""The four plugin kinds: what a model family, brain dataset, task or metric must provide.

A plugin is a class with a ``name``, a ``version`` and a nested ``Options`` model (pydantic,
unknown keys rejected). The harness builds it as ``Plugin(options)`` from the config entry's
``options:`` mapping, so everything a plugin needs to know comes through ``self.options``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

KINDS = ("model", "brain", "task", "metric")
KIND_TITLES = {"model": "model family", "brain": "brain dataset", "task": "task", "metric": "metric"}


class PluginOptions(BaseModel):
    """Base for a plugin's ``Options``: typed, frozen, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Plugin:
    """Common base: a name, a version and typed options."""

    kind: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[str] = "0"
    Options: ClassVar[type[PluginOptions]] = PluginOptions

    def __init__(self, options: PluginOptions | None = None) -> None:
        self.options = options if options is not None else self.Options()


# --------------------------------------------------------------------------- model families


@dataclass(frozen=True, order=True)
class Checkpoint:
    """One published training checkpoint: its step, the tokens seen by then and its revision."""

    step: int
    tokens: int
    revision: str | None = None  # hub branch/tag or local directory name; None = default


@dataclass
class LoadedModel:
    """A checkpoint in memory: a transformers causal LM (eval mode) and its fast tokenizer."""

    model: Any
    tokenizer: Any
    checkpoint: Checkpoint
    identity: str  # stable id for caches: hub repo id or absolute local path
    commit: str | None = None  # resolved commit hash where the hub or cache gives one
    device: str = "cpu"


class ModelFamily(Plugin):
    """A family of checkpoints of one model (e.g. Pythia-160m at 154 training steps).

    Implement ``checkpoints`` (every published checkpoint, ascending by step, with tokens seen),
    ``num_layers`` (hidden states returned: embeddings + one per block) and ``load``.
    """

    kind = "model"

    def checkpoints(self) -> list[Checkpoint]:
        raise NotImplementedError

    def num_layers(self) -> int:
        raise NotImplementedError

    def load(self, checkpoint: Checkpoint, device: str = "cpu") -> LoadedModel:
        raise NotImplementedError

    def fingerprint(self) -> str:
        """What identifies the weights beyond the config's options (e.g. resolved defaults); '' if nothing."""
        return ""

    def release(self, loaded: LoadedModel) -> None:
        """Free a loaded checkpoint before the next one is loaded."""
        loaded.model = None


# --------------------------------------------------------------------------- brain datasets


@dataclass(frozen=True)
class Story:
    """A spoken story: its words in order with onset and offset times in seconds."""

    name: str
    words: tuple[str, ...]
    onsets: np.ndarray
    offsets: np.ndarray


@dataclass
class SubjectData:
    """One subject's responses, story -> (scan times x voxels) float32, and what goes with them."""

    responses: dict[str, np.ndarray]
    tr_times: dict[str, np.ndarray]  # story -> time (s) of each kept scan, same rows as responses
    rois: dict[str, np.ndarray] = field(default_factory=dict)  # ROI -> voxel indices
    noise_ceiling: np.ndarray | None = None  # per voxel, as a correlation (r units)


class BrainDataset(Plugin):
    """Stimuli and recorded responses of a listening experiment.

    Implement ``stories`` (the words with timings), ``subjects``, ``load_subject`` and ``split``
    (train and test story names; the encoding model is scored on the test stories only).
    """

    kind = "brain"

    def stories(self) -> dict[str, Story]:
        raise NotImplementedError

    def subjects(self) -> list[str]:
        raise NotImplementedError

    def load_subject(self, subject: str) -> SubjectData:
        raise NotImplementedError

    def split(self) -> tuple[list[str], list[str]]:
        raise NotImplementedError

    def data_hash(self) -> str:
        """A digest of the data on disk, for provenance; '' when unknown."""
        return ""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Score:
    """One number a cell produced: ``metric`` = value (± stderr) within a ``scope``.

    ``scope`` says what the number is about inside the cell: a subject for brain scores,
    a sub-task for lm-eval, '' when the cell has a single scope.
    """

    metric: str
    value: float
    stderr: float | None = None
    scope: str = ""


@dataclass
class CellOutput:
    """What one cell returns: scores for the tables and named arrays kept on disk."""

    scores: list[Score]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


# --------------------------------------------------------------------------- tasks


class Task(Plugin):
    """A downstream evaluation run on a loaded checkpoint (no layers)."""

    kind = "task"

    def evaluate(self, model: LoadedModel, *, seed: int, workdir: Path) -> list[Score]:
        raise NotImplementedError


# --------------------------------------------------------------------------- metrics


@dataclass
class MetricContext:
    """What a metric may look at besides the layer's activations."""

    checkpoint: Checkpoint
    layer: int
    seed: int
    previous: Callable[[], np.ndarray | None]  # same layer at the previous swept checkpoint
    final: Callable[[], np.ndarray | None]  # same layer at the last swept checkpoint
    device: str = "cpu"


class Metric(Plugin):
    """A number (or several) computed from one layer's word activations (words x dims)."""

    kind = "metric"
    needs_reference: ClassVar[bool] = False  # True when it calls context.previous/final

    def compute(self, activations: np.ndarray, context: MetricContext) -> list[Score]:
        raise NotImplementedError


PLUGIN_BASES: dict[str, type[Plugin]] = {
    "model": ModelFamily,
    "brain": BrainDataset,
    "task": Task,
    "metric": Metric,
}
