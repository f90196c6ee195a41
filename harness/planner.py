"""From a config to a plan: the cells (model x checkpoint x target x layer) a sweep must compute."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from harness.config import BrainEntry, MetricEntry, ModelEntry, SweepConfig, TaskEntry, entry_label, format_validation_error
from harness.errors import ConfigError, HarnessError
from harness.interfaces import Checkpoint, Plugin
from harness.registry import Registry
from harness.selectors import select_checkpoints, select_layers

TargetEntry = BrainEntry | TaskEntry | MetricEntry
TARGET_GROUPS = (("brain", "brain", "dataset"), ("tasks", "task", "task"), ("metrics", "metric", "metric"))


@dataclass(frozen=True)
class Cell:
    """One unit of work and of storage: a target measured at one checkpoint (and layer)."""

    model: str
    checkpoint: Checkpoint
    kind: str  # brain | task | metric
    target: str
    layer: int | None  # None for tasks

    @property
    def cell_id(self) -> str:
        layer = "-" if self.layer is None else str(self.layer)
        return f"{self.model}|{self.checkpoint.step}|{self.kind}|{self.target}|{layer}"


@dataclass
class ModelPlan:
    """A model entry with its plugin built, its checkpoints and layers resolved."""

    label: str
    entry: ModelEntry
    family: Any  # ModelFamily instance
    checkpoints: list[Checkpoint]
    layers: list[int]


@dataclass
class TargetPlan:
    """A brain, task or metric entry with its plugin built."""

    label: str
    kind: str
    entry: TargetEntry
    plugin: Any  # BrainDataset | Task | Metric instance


@dataclass
class Plan:
    """Everything a sweep will compute, and the settings hash each cell is stored under."""

    config: SweepConfig
    models: list[ModelPlan]
    targets: list[TargetPlan]
    cells: list[Cell] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)  # cell_id -> settings hash

    def target(self, label: str) -> TargetPlan:
        return next(t for t in self.targets if t.label == label)

    def model(self, label: str) -> ModelPlan:
        return next(m for m in self.models if m.label == label)

    def pending(self, done: dict[str, str], force: bool = False) -> list[Cell]:
        """Cells not yet finished with the current settings (all of them with ``force``)."""
        if force:
            return list(self.cells)
        return [c for c in self.cells if done.get(c.cell_id) != self.settings[c.cell_id]]


def build_plugin(registry: Registry, kind: str, name: str, options: dict[str, Any], where: str, source: str) -> Plugin:
    """Look up a plugin class and build it from validated options; errors name the config key."""
    try:
        cls = registry.get(kind, name)
    except HarnessError as error:
        raise ConfigError(f"{source}: {where}: {error}") from None
    try:
        validated = cls.Options.model_validate(options)
    except ValidationError as error:
        raise ConfigError(format_validation_error(source, error).replace(f"{source}: ", f"{source}: {where}.options.", 1)) from None
    try:
        return cls(validated)
    except HarnessError as error:
        raise ConfigError(f"{source}: {where}: {error}") from None


def _version(registry: Registry, kind: str, plugin: Plugin) -> str:
    """A plugin's version: a new version of a plugin invalidates the cells it computed."""
    return f"{plugin.name} {registry.plugins[kind][plugin.name].version}"


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def make_plan(config: SweepConfig, registry: Registry, source: str = "<config>") -> Plan:
    """Build every plugin, resolve selectors and list the cells; raise ``ConfigError`` on mistakes."""
    models = []
    for index, entry in enumerate(config.models):
        where = f"models[{index}]"
        family = build_plugin(registry, "model", entry.family, entry.options, where, source)
        try:
            checkpoints = select_checkpoints(family.checkpoints(), entry.checkpoints, f"{source}: {where}.checkpoints")
            layers = select_layers(family.num_layers(), entry.layers, f"{source}: {where}.layers")
        except ConfigError:
            raise
        except HarnessError as error:
            raise ConfigError(f"{source}: {where}: {error}") from None
        models.append(ModelPlan(entry_label(entry), entry, family, checkpoints, layers))

    targets = []
    for group, kind, key in TARGET_GROUPS:
        for index, entry in enumerate(getattr(config, group)):
            plugin = build_plugin(registry, kind, getattr(entry, key), entry.options, f"{group}[{index}]", source)
            targets.append(TargetPlan(entry_label(entry), kind, entry, plugin))

    plan = Plan(config, models, targets)
    data_hashes = {t.label: t.plugin.data_hash() for t in targets if t.kind == "brain"}  # new data on disk, new cells
    stimulus_entry = next((t.entry for t in targets if t.label == config.stimulus_label()), None)
    stimulus = stimulus_entry.model_dump(mode="json", exclude={"label", "encoding"}) if stimulus_entry else None
    features = config.features.model_dump(mode="json")
    for model in models:
        model_settings = model.entry.model_dump(mode="json", exclude={"checkpoints", "layers", "label"})
        model_settings["fingerprint"] = model.family.fingerprint()
        steps = [c.step for c in model.checkpoints]
        for position, checkpoint in enumerate(model.checkpoints):
            for target in targets:
                layers: list[int | None] = [None] if target.kind == "task" else list(model.layers)
                settings = {
                    "versions": [_version(registry, "model", model.family), _version(registry, target.kind, target.plugin)],
                    "model": model_settings,
                    "revision": checkpoint.revision,
                    "target": target.entry.model_dump(mode="json", exclude={"label"}),
                    "seed": config.seed,
                    "features": features if target.kind != "task" else None,
                    "stimulus": stimulus if target.kind == "metric" else None,
                    "data": data_hashes[target.label] if target.kind == "brain" else (data_hashes.get(config.stimulus_label() or "") if target.kind == "metric" else None),
                }
                if getattr(target.plugin, "needs_reference", False):  # drift depends on the neighbours
                    settings["references"] = [steps[position - 1] if position else None, steps[-1]]
                digest = _digest(settings)
                for layer in layers:
                    cell = Cell(model.label, checkpoint, target.kind, target.label, layer)
                    plan.cells.append(cell)
                    plan.settings[cell.cell_id] = digest
    return plan
