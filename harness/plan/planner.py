"""From a config to a plan: the cells (model x checkpoint x target x layer) a sweep must compute.

The plan is built once and carries everything later steps would otherwise recompute: each
plugin's version, each target's stimulus set and data hash, the config digest and the settings
hash every cell is stored under. Building it only builds the plugins and resolves selectors;
data hashes (which read the data) and the cells are computed on first use, so preflight can
check the data first. A model with ``checkpoints: adaptive:N`` starts with its first round's
checkpoints; ``Plan.with_steps`` gives the plan of a later round (``harness.sweep.adaptive``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, ClassVar, TypeVar, cast

from pydantic import ValidationError

from harness.plan.config import (
    BrainEntry,
    MetricEntry,
    ModelEntry,
    SweepConfig,
    TargetEntry,
    TaskEntry,
    entry_label,
    format_validation_error,
)
from harness.plan.selectors import AdaptiveSelector, adaptive_selector, select_checkpoints, select_layers
from harness.plugin.contract import KINDS, BrainDataset, Checkpoint, Kind, Metric, ModelFamily, Plugin, Task
from harness.plugin.registry import Registry
from harness.util.digest import settings_digest
from harness.util.errors import ConfigError, HarnessError
from harness.util.paths import use_cache

P = TypeVar("P", bound=Plugin[Any])


@dataclass(frozen=True)
class Cell:
    """One unit of work and of storage: a target measured at one checkpoint (and layer)."""

    model: str
    checkpoint: Checkpoint
    kind: Kind
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
    family: ModelFamily[Any]
    version: str
    checkpoints: list[Checkpoint]
    layers: list[int]
    where: str  # its key path in the config, e.g. "models[0]"
    adaptive: AdaptiveSelector | None = None  # adaptive:N/K: ``checkpoints`` are those of the rounds so far
    published: list[Checkpoint] = field(default_factory=list)  # an adaptive model's candidates: all the family lists
    notes: list[str] = field(default_factory=list)  # what the planner decided on the user's behalf (said at preflight)

    @property
    def candidates(self) -> list[Checkpoint]:
        """Every checkpoint the sweep may load: the published ones for an adaptive model, else ``checkpoints``."""
        return self.published if self.adaptive is not None else self.checkpoints


@dataclass
class TargetPlan:
    """A brain, task or metric entry with its plugin built and what its cells depend on."""

    kind: ClassVar[Kind]
    label: str
    entry: TargetEntry
    plugin: Plugin[Any]
    version: str
    where: str  # its key path in the config, e.g. "brain[0]"

    @property
    def stimulus(self) -> str | None:
        """The brain entry whose stories it reads (None for tasks)."""
        return None

    @property
    def needs_reference(self) -> bool:
        """True for a metric that reads the same layer at other checkpoints."""
        return False


@dataclass
class BrainTarget(TargetPlan):
    """A brain entry: its dataset plugin, scored on its own stories."""

    kind = Kind.BRAIN
    entry: BrainEntry
    plugin: BrainDataset[Any]

    @property
    def stimulus(self) -> str:
        return self.label


@dataclass
class TaskTarget(TargetPlan):
    """A task entry: evaluated on the loaded model, no stimulus."""

    kind = Kind.TASK
    entry: TaskEntry
    plugin: Task[Any]


@dataclass
class MetricTarget(TargetPlan):
    """A metric entry: computed on the activations of the brain entry ``reads`` names."""

    kind = Kind.METRIC
    entry: MetricEntry
    plugin: Metric[Any]
    reads: str  # the label of the brain entry whose stories it reads

    @property
    def stimulus(self) -> str:
        return self.reads

    @property
    def needs_reference(self) -> bool:
        return self.plugin.needs_reference


@dataclass
class Plan:
    """Everything a sweep will compute, and the settings hash each cell is stored under."""

    config: SweepConfig
    models: list[ModelPlan]
    targets: list[TargetPlan]
    config_digest: str
    source: str  # the config file, for messages
    # brain label -> "subject/story" -> scored fraction
    truncated: dict[str, dict[str, float]] = field(default_factory=dict)
    _data_hashes: dict[str, str] = field(default_factory=dict, repr=False)

    def target(self, label: str) -> TargetPlan:
        return next(t for t in self.targets if t.label == label)

    def brain(self, label: str) -> BrainTarget:
        """The brain target ``label`` (a metric's or brain target's ``stimulus``)."""
        target = self.target(label)
        if not isinstance(target, BrainTarget):
            raise KeyError(f"{label!r} is a {KINDS[target.kind].title}, not a brain dataset")
        return target

    def model(self, label: str) -> ModelPlan:
        return next(m for m in self.models if m.label == label)

    def data_hash(self, target: TargetPlan) -> str | None:
        """Digest of the data a target reads ('' when its dataset cannot tell; None for tasks), read once."""
        if target.stimulus is None:
            return None
        if target.stimulus not in self._data_hashes:
            self._data_hashes[target.stimulus] = self.brain(target.stimulus).plugin.data_hash()
        return self._data_hashes[target.stimulus]

    @cached_property
    def _cells(self) -> tuple[list[Cell], dict[str, str]]:
        cells: list[Cell] = []
        settings: dict[str, str] = {}
        label = self.config.stimulus_label()
        stimulus = self.brain(label).entry if label is not None else None
        stimulus_entry = stimulus.model_dump(mode="json", exclude={"label", "encoding"}) if stimulus else None
        for model in self.models:
            for position, checkpoint in enumerate(model.checkpoints):
                for target in self.targets:
                    digest = settings_digest(_cell_settings(self, model, target, position, stimulus_entry))
                    layers: list[int | None] = [None] if target.kind == Kind.TASK else list(model.layers)
                    for layer in layers:
                        cell = Cell(model.label, checkpoint, target.kind, target.label, layer)
                        cells.append(cell)
                        settings[cell.cell_id] = digest
        return cells, settings

    @property
    def cells(self) -> list[Cell]:
        """Every cell of the plan, in config order (computed on first use)."""
        return self._cells[0]

    @property
    def settings(self) -> dict[str, str]:
        """cell_id -> the settings hash the cell is stored under."""
        return self._cells[1]

    def pending(
        self, done: Mapping[str, str], force: bool = False, tried: Mapping[str, str] | None = None
    ) -> list[Cell]:
        """Cells not finished with their current settings (all of them with ``force``), less those ``tried`` with them
        already."""
        finished = {} if force else done
        tried = tried or {}
        return [
            c for c in self.cells if self.settings[c.cell_id] not in (finished.get(c.cell_id), tried.get(c.cell_id))
        ]

    def with_steps(self, steps: Mapping[str, Sequence[int]]) -> Plan:
        """This plan with the models named in ``steps`` measuring those of their candidate checkpoints."""
        models = []
        for model in self.models:
            if model.label in steps:
                by_step = {c.step: c for c in model.candidates}
                model = replace(model, checkpoints=[by_step[s] for s in sorted(set(steps[model.label]))])
            models.append(model)
        return replace(self, models=models)

    def checkpoint_groups(self, cells: list[Cell]) -> list[tuple[ModelPlan, Checkpoint, list[Cell]]]:
        """``cells`` by checkpoint, in sweep order; a family's last checkpoint first when a metric needs it.

        Within a checkpoint, cells run layer by layer (tasks first), brain before metric.
        """
        order = list(KINDS)
        needs_final = any(t.needs_reference for t in self.targets)
        groups = []
        for model in self.models:
            checkpoints = model.checkpoints[-1:] + model.checkpoints[:-1] if needs_final else model.checkpoints
            for checkpoint in checkpoints:
                mine = [c for c in cells if c.model == model.label and c.checkpoint == checkpoint]
                if mine:
                    mine.sort(key=lambda c: (-1 if c.layer is None else c.layer, order.index(c.kind), c.target))
                    groups.append((model, checkpoint, mine))
        return groups


def build_plugin(registry: Registry, base: type[P], name: str, options: dict[str, Any], where: str, source: str) -> P:
    """Look up the plugin ``name`` of the kind whose base is ``base`` and build it from validated options; errors
    name the config key. (The registry admits only subclasses of a kind's base, so the result is a ``base``.)"""
    kind = next(spec.kind for spec in KINDS.values() if spec.base is base)
    try:
        cls = registry.get(kind, name)
    except HarnessError as error:
        raise ConfigError(f"{source}: {where}: {error}") from None
    try:
        validated = cls.Options.model_validate(options)
    except ValidationError as error:
        raise ConfigError(
            format_validation_error(source, error).replace(f"{source}: ", f"{source}: {where}.options.", 1)
        ) from None
    try:
        return cast(P, cls(validated))
    except HarnessError as error:
        raise ConfigError(f"{source}: {where}: {error}") from None


def _plan_model(config_source: str, registry: Registry, index: int, entry: ModelEntry) -> ModelPlan:
    where = f"models[{index}]"
    family = build_plugin(registry, ModelFamily, entry.family, entry.options, where, config_source)
    try:
        published = sorted(family.checkpoints(), key=lambda c: c.step)
        checkpoints = select_checkpoints(published, entry.checkpoints, f"{config_source}: {where}.checkpoints")
        layers = select_layers(family.num_layers(), entry.layers, f"{config_source}: {where}.layers")
    except ConfigError:
        raise
    except HarnessError as error:
        raise ConfigError(f"{config_source}: {where}: {error}") from None
    version = registry.version(Kind.MODEL, family.name)
    plan = ModelPlan(entry_label(entry), entry, family, version, checkpoints, layers, where)
    adaptive = adaptive_selector(entry.checkpoints)
    if adaptive is None:
        return plan
    if adaptive.budget >= len(published):  # nothing to choose: every checkpoint is measured
        note = (f"checkpoints: adaptive:{adaptive.budget} asks for at least as many checkpoints as {family.name} "
                f"publishes ({len(published)}); all {len(published)} are measured")
        return replace(plan, checkpoints=published, notes=[note])
    tokens = [c.tokens for c in published]
    if any(b <= a for a, b in zip(tokens, tokens[1:])):
        raise ConfigError(f"{config_source}: {where}.checkpoints: adaptive:N places checkpoints on the token axis, "
                          f"but {family.name}'s token counts do not grow with the step; give the family its tokens "
                          "(e.g. the hf family's tokens_per_step option) or use log:N")
    return replace(plan, adaptive=adaptive, published=published)


def _plan_targets(config: SweepConfig, registry: Registry, source: str) -> list[TargetPlan]:
    def built(base: type[P], entry: BrainEntry | TaskEntry | MetricEntry, where: str) -> tuple[P, str]:
        plugin = build_plugin(registry, base, entry.plugin_name, entry.options, where, source)
        return plugin, registry.version(entry.kind, plugin.name)

    targets: list[TargetPlan] = []
    for index, brain in enumerate(config.brain):
        where = f"brain[{index}]"
        targets.append(BrainTarget(entry_label(brain), brain, *built(BrainDataset, brain, where), where))
    for index, task in enumerate(config.tasks):
        where = f"tasks[{index}]"
        targets.append(TaskTarget(entry_label(task), task, *built(Task, task, where), where))
    reads = config.stimulus_label()
    for index, metric in enumerate(config.metrics):
        assert reads is not None  # the config admits metrics only beside a brain entry
        where = f"metrics[{index}]"
        targets.append(MetricTarget(entry_label(metric), metric, *built(Metric, metric, where), where, reads))
    return targets


def _cell_settings(
    plan: Plan, model: ModelPlan, target: TargetPlan, position: int, stimulus_entry: dict[str, Any] | None
) -> dict[str, Any]:
    """Everything a cell's result depends on; its digest decides whether a stored cell is still valid."""
    config = plan.config
    model_settings = model.entry.model_dump(mode="json", exclude={"checkpoints", "layers", "label", "group"})
    model_settings["fingerprint"] = model.family.fingerprint()
    checkpoint = model.checkpoints[position]
    settings: dict[str, Any] = {
        "versions": [f"{model.family.name} {model.version}", f"{target.plugin.name} {target.version}"],
        "model": model_settings,
        "revision": checkpoint.revision,
        "target": target.entry.model_dump(mode="json", exclude={"label"}),
        "seed": config.seed,
        "features": config.features.model_dump(mode="json") if target.kind != Kind.TASK else None,
        "stimulus": stimulus_entry if target.kind == Kind.METRIC else None,
        "data": plan.data_hash(target),  # new data on disk, new cells
    }
    if target.needs_reference:  # drift depends on the neighbours
        steps = [c.step for c in model.checkpoints]
        settings["references"] = [steps[position - 1] if position else None, steps[-1]]
    return settings


def make_plan(config: SweepConfig, registry: Registry, source: str = "<config>") -> Plan:
    """Build every plugin and resolve selectors; raise ``ConfigError`` on mistakes. Reads no data yet.

    The config's ``cache:`` becomes the process's cache root (``harness.util.paths``) before any plugin is built.
    """
    use_cache(config.cache)
    models = [_plan_model(source, registry, index, entry) for index, entry in enumerate(config.models)]
    return Plan(config, models, _plan_targets(config, registry, source), config.digest(), source)
