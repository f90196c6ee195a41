"""Computing one cell: a task on the loaded checkpoint, or a brain dataset or metric on one layer's activations."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.encoding import BrainScorer
from harness.features import ActivationSet
from harness.plan.planner import BrainTarget, Cell, MetricTarget, ModelPlan, Plan, TaskTarget
from harness.plugin.contract import CellOutput, Kind, LoadedModel, MetricContext
from harness.sweep.activations import ActivationProvider

Extra = dict[str, Any]  # provenance a cell adds to its record


class CellMeasurer:
    """Turns a cell of the plan into its output, reading activations through one provider."""

    def __init__(self, plan: Plan, activations: ActivationProvider, device: str, workdir: Path) -> None:
        self.plan, self.activations, self.device, self.workdir = plan, activations, device, workdir
        self._scorers: dict[str, BrainScorer] = {}

    def measure(self, cell: Cell, model: ModelPlan, loaded: LoadedModel) -> tuple[CellOutput, Extra]:
        """Run one cell; return its output and the provenance it adds."""
        target = self.plan.target(cell.target)
        if isinstance(target, TaskTarget):
            return self._task(cell, target, loaded)
        if isinstance(target, BrainTarget):
            return self._brain(cell, model, target, loaded)
        if isinstance(target, MetricTarget):
            return self._metric(cell, model, target, loaded)
        raise TypeError(f"{cell.target}: a target of an unknown kind")

    def _task(self, cell: Cell, target: TaskTarget, loaded: LoadedModel) -> tuple[CellOutput, Extra]:
        workdir = self.workdir / cell.target
        workdir.mkdir(parents=True, exist_ok=True)
        return CellOutput(list(target.plugin.evaluate(loaded, seed=self.plan.config.seed, workdir=workdir))), {}

    def _layer_input(
        self, cell: Cell, model: ModelPlan, target: BrainTarget | MetricTarget, loaded: LoadedModel
    ) -> tuple[ActivationSet, int, Extra]:
        assert cell.layer is not None, "brain and metric cells have a layer"
        acts = self.activations.activations(model, cell.checkpoint, target.stimulus, loaded)
        return acts, cell.layer, {"activation_key": acts.key, "stimulus": target.stimulus}

    def _brain(
        self, cell: Cell, model: ModelPlan, target: BrainTarget, loaded: LoadedModel
    ) -> tuple[CellOutput, Extra]:
        acts, layer, extra = self._layer_input(cell, model, target, loaded)
        return self._scorer(target, cell, model).score(self.activations.layer(acts, layer)), extra

    def measure_brain(
        self, cells: list[Cell], model: ModelPlan, loaded: LoadedModel
    ) -> dict[str, tuple[CellOutput, Extra] | Exception]:
        """Brain cells of one checkpoint and one target (one per layer), scored in one pass over the responses;
        each cell's output and provenance, or the error that fails it alone."""
        target = self.plan.brain(cells[0].target)
        assert all(c.target == target.label and c.kind == Kind.BRAIN for c in cells)
        try:
            acts, _, extra = self._layer_input(cells[0], model, target, loaded)
        except Exception as error:  # noqa: BLE001 - no activations: every cell fails with why
            return {c.cell_id: error for c in cells}
        by_layer = {c.layer: c for c in cells if c.layer is not None}
        scorer = self._scorer(target, cells[0], model)
        outputs = scorer.score_layers(LayerFeatures(self.activations, acts, list(by_layer)))
        return {
            c.cell_id: o if isinstance(o, Exception) else (o, extra)
            for layer, c in by_layer.items()
            for o in [outputs[layer]]
        }

    def _metric(
        self, cell: Cell, model: ModelPlan, target: MetricTarget, loaded: LoadedModel
    ) -> tuple[CellOutput, Extra]:
        acts, layer, extra = self._layer_input(cell, model, target, loaded)
        checkpoints = model.checkpoints
        position = checkpoints.index(cell.checkpoint)
        words, stories = self.activations.row_words(target.stimulus)
        context = MetricContext(
            checkpoint=cell.checkpoint,
            layer=layer,
            seed=self.plan.config.seed,
            previous=self.activations.reference(
                model, checkpoints[position - 1] if position else None, target.stimulus, layer
            ),
            final=self.activations.reference(model, checkpoints[-1], target.stimulus, layer),
            device=self.device,
            words=words,
            stories=stories,
            annotations=self.activations.annotations(target.stimulus),
        )
        return CellOutput(list(target.plugin.compute(self.activations.stacked(acts, layer), context))), extra

    def _scorer(self, target: BrainTarget, cell: Cell, model: ModelPlan) -> BrainScorer:
        """The target's scorer (one per target and sweep), set to permute only where ``encoding.permutations_at``
        says: at every checkpoint, or at the model's last."""
        settings = target.entry.encoding
        if settings.permutations_at == "last" and cell.checkpoint != model.checkpoints[-1]:
            settings = settings.model_copy(update={"permutations": 0})
        if target.label not in self._scorers:
            self._scorers[target.label] = BrainScorer(target.plugin, settings, device=self.device,
                                                      seed=self.plan.config.seed)
        self._scorers[target.label].settings = settings  # the settings differ in permutations alone
        return self._scorers[target.label]


class LayerFeatures(Mapping[int, Mapping[str, np.ndarray]]):
    """A checkpoint's layers, each read from its activations only when the scorer asks for it."""

    def __init__(self, activations: ActivationProvider, acts: ActivationSet, layers: list[int]) -> None:
        self.activations, self.acts, self.layers = activations, acts, layers

    def __getitem__(self, layer: int) -> Mapping[str, np.ndarray]:
        if layer not in self.layers:
            raise KeyError(layer)
        return self.activations.layer(self.acts, layer)

    def __iter__(self) -> Iterator[int]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)
