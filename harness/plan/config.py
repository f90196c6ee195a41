"""The sweep config: YAML read safely, validated into typed objects, errors as one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from harness.encoding.settings import EncodingSettings
from harness.features.settings import ExtractionSettings
from harness.plan.selectors import parse_checkpoint_selector, parse_layer_selector
from harness.plan.stimuli import parse_shuffle_unit
from harness.plugin.contract import KINDS, TARGET_KINDS, Kind
from harness.util.digest import settings_digest
from harness.util.errors import ConfigError
from harness.util.paths import cache_root
from harness.util.strict import Strict


class RaySettings(Strict):
    """Where and how a sweep runs on Ray (``executor: ray``)."""

    address: str | None = None  # a running cluster ("auto", "host:6379", "ray://host:10001"); None: start one here
    workers: int | None = Field(None, ge=1)  # tasks at once on the instance the sweep starts (default: its CPUs)
    threads: int = Field(1, ge=1)  # CPU threads (and Ray CPUs) each task takes
    memory_gb: float | None = Field(None, gt=0)  # memory each task reserves on a node (None: no reservation)
    retries: int = Field(3, ge=0)  # a task whose worker dies is run again up to this many times


class _Entry(Strict):
    """What every entry has: an optional label and the plugin's options."""

    kind: ClassVar[Kind]
    label: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def plugin_name(self) -> str:
        """The plugin the entry names (its ``family``, ``dataset``, ``task`` or ``metric`` key)."""
        return str(getattr(self, KINDS[self.kind].name_key))

    def default_label(self) -> str:
        """The label of the entry when it gives none: its plugin name."""
        return self.plugin_name


def _omit_when_unset(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``data`` without ``keys`` whose value is None: an optional key left out dumps (and hashes) as before it
    existed."""
    for key in keys:
        if key in data and data[key] is None:
            del data[key]
    return data


def _check_name(value: str, what: str) -> str:
    """A label or group name: not empty, no '__' or '/' (they split file names and paths)."""
    if not value.strip():
        raise ValueError(f"{what} may not be empty")
    if "__" in value or "/" in value:
        raise ValueError(f"{value!r} may not contain '__' or '/'")
    return value


class ModelEntry(_Entry):
    """One entry of the config's ``models`` list; ``family`` names the plugin."""

    kind = Kind.MODEL
    family: str
    checkpoints: str | int | list[str | int] = "all"
    layers: str | int | float | list[int | float | str] = "all"
    group: str | None = None  # models compared as one (seeds, variants): phases with intervals across the group

    @field_validator("group")
    @classmethod
    def _group(cls, value: str | None) -> str | None:
        return None if value is None else _check_name(value, "a group name")

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _omit_when_unset(handler(self), "group")

    def default_label(self) -> str:
        """The family name, with ``-seed<N>`` when the options set a seed (``tinylm-seed1``)."""
        seed = self.options.get("seed")
        return self.family if seed is None else f"{self.family}-seed{seed}"

    @field_validator("checkpoints")
    @classmethod
    def _checkpoints(cls, value: Any) -> Any:
        parse_checkpoint_selector(value)
        return value

    @field_validator("checkpoints", "layers", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, list) and any(isinstance(v, bool) for v in value)):
            raise ValueError(f"{value!r} is not a selector; write all, last, a number or a list")
        return value

    @field_validator("layers")
    @classmethod
    def _layers(cls, value: Any) -> Any:
        parse_layer_selector(value)
        return value


class BrainEntry(_Entry):
    """One entry of the config's ``brain`` list; ``dataset`` names the plugin."""

    kind = Kind.BRAIN
    dataset: str
    control: Literal["shuffled"] | None = None  # a control stimulus: the stories with their word order shuffled
    shuffle: str | None = None  # with control shuffled: sentence (default) | window:N, the units words move within
    encoding: EncodingSettings = Field(default_factory=EncodingSettings)
    # score a story whose responses end well before its words do; its scored fraction is recorded
    allow_truncated_story: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shuffle_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("control") == "shuffled" and data.get("shuffle") is None:
            return {**data, "shuffle": "sentence"}
        return data

    @field_validator("shuffle")
    @classmethod
    def _shuffle_unit(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            if info.data.get("control") is None:
                raise ValueError("applies only with 'control: shuffled'")
            parse_shuffle_unit(value)
        return value

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = _omit_when_unset(handler(self), "control", "shuffle")
        if not data.get("allow_truncated_story"):  # left out when off: entries hash as before the option existed
            data.pop("allow_truncated_story", None)
        return data

    def default_label(self) -> str:
        """The dataset name, with ``+<control>`` for a control stimulus (``simulated+shuffled``)."""
        return self.dataset if self.control is None else f"{self.dataset}+{self.control}"


class TaskEntry(_Entry):
    """One entry of the config's ``tasks`` list; ``task`` names the plugin."""

    kind = Kind.TASK
    task: str


class MetricEntry(_Entry):
    """One entry of the config's ``metrics`` list; ``metric`` names the plugin."""

    kind = Kind.METRIC
    metric: str


TargetEntry = BrainEntry | TaskEntry | MetricEntry
AnyEntry = ModelEntry | TargetEntry


RUN_ONLY_KEYS = {"run", "cache", "analyze", "executor", "ray", "prefetch"}  # keys that never change a result


class SweepConfig(Strict):
    """A whole sweep: which checkpoints to measure against which targets, and how."""

    run: str | None = None  # run directory; default runs/<config file stem>
    seed: int = 0
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    # everything kept outside the run (models, task files, activations, data); default $HARNESS_CACHE or
    # ~/.cache/harness
    cache: str | None = None
    models: list[ModelEntry] = Field(min_length=1)
    brain: list[BrainEntry] = Field(default_factory=list)
    tasks: list[TaskEntry] = Field(default_factory=list)
    metrics: list[MetricEntry] = Field(default_factory=list)
    features: ExtractionSettings = Field(default_factory=ExtractionSettings)
    metric_stimulus: str | None = None  # label of the brain dataset whose stories metrics read
    analyze: bool = True  # run the phase analysis and report at the end of the sweep
    executor: Literal["local", "ray"] = "local"  # where work units run; the tables are the same either way
    ray: RaySettings = Field(default_factory=RaySettings)  # used when executor is ray
    prefetch: int = Field(0, ge=0)  # checkpoints loaded ahead in the background while one is measured (local executor)

    @model_validator(mode="after")
    def _labels(self) -> SweepConfig:
        for kind, spec in KINDS.items():
            group = spec.section
            seen: set[str] = set()
            for index, entry in enumerate(self.entries(kind)):
                label = entry_label(entry)
                if label in seen:
                    raise ValueError(f"{group}[{index}]: duplicate label {label!r}; give each entry a distinct 'label'")
                try:
                    _check_name(label, "a label")
                except ValueError as error:
                    raise ValueError(f"{group}[{index}].label: {error}") from None
                seen.add(label)
        model_labels = {entry_label(m) for m in self.models}
        for index, model in enumerate(self.models):
            if model.group in model_labels:
                raise ValueError(
                    f"models[{index}].group: {model.group!r} is also a model label; name groups apart from models"
                )
        targets = [entry_label(e) for kind in TARGET_KINDS for e in self.entries(kind)]
        repeated = sorted({t for t in targets if targets.count(t) > 1})
        if repeated:
            raise ValueError(f"label {repeated[0]!r} is used by two targets; brain, task and metric labels must differ")
        if not (self.brain or self.tasks or self.metrics):
            raise ValueError("nothing to measure: add at least one of 'brain', 'tasks', 'metrics'")
        brain_labels = [entry_label(b) for b in self.brain]
        if self.metrics and not brain_labels:
            raise ValueError("metrics: metrics read a brain dataset's stories; add a 'brain' entry")
        if self.metric_stimulus is not None and self.metric_stimulus not in brain_labels:
            raise ValueError(
                f"metric_stimulus: {self.metric_stimulus!r} is not a brain label; allowed: {', '.join(brain_labels)}"
            )
        return self

    def entries(self, kind: Kind) -> list[AnyEntry]:
        """The config's entries of one kind (its ``models``, ``brain``, ``tasks`` or ``metrics`` list)."""
        return list(getattr(self, KINDS[kind].section))

    def model_groups(self) -> dict[str, list[str]]:
        """Group name -> the labels of its models, both in config order."""
        groups: dict[str, list[str]] = {}
        for model in self.models:
            if model.group is not None:
                groups.setdefault(model.group, []).append(entry_label(model))
        return groups

    def notes(self) -> list[str]:
        """What the user should know about the config that is no mistake (a group of one model)."""
        return [f"models: group {name!r} has one model ({members[0]}); intervals across a group need two or more"
                for name, members in self.model_groups().items() if len(members) == 1]

    def stimulus_label(self) -> str | None:
        """The brain entry whose stories the metrics read."""
        if self.metric_stimulus:
            return self.metric_stimulus
        return entry_label(self.brain[0]) if self.brain else None

    def digest(self) -> str:
        """A short hash of everything that changes results (not the run directory, nor where or how fast it runs)."""
        return settings_digest(self.model_dump(mode="json", exclude=RUN_ONLY_KEYS))

    def cache_dir(self) -> Path:
        """The cache root this config asks for: its ``cache:``, else the environment's (``harness.util.paths``)."""
        return Path(self.cache).expanduser().absolute() if self.cache else cache_root()


def entry_label(entry: AnyEntry) -> str:
    """The label an entry is known by in tables: its ``label``, else its default (see ``default_label``)."""
    return entry.label or entry.default_label()


TYPE_TAGS = {"str", "int", "float", "bool", "AlphaGrid", "list", "dict"}  # pydantic's names of union members


def _location(loc: tuple[Any, ...]) -> str:
    """A config key path from a pydantic error location, without the type tags of union members."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part) not in TYPE_TAGS and "[" not in str(part) and not str(part).startswith("function-"):
            out += f".{part}" if out else str(part)
    return out


def format_validation_error(source: str, error: ValidationError) -> str:
    """One line: the file, the key path and what is wrong with it."""
    first = error.errors()[0]
    where = _location(tuple(first["loc"]))
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    return f"{source}: {where}: {message}" if where else f"{source}: {message}"


def parse_config(data: Any, source: str = "<config>") -> SweepConfig:
    """Validate a mapping into a ``SweepConfig``; raise ``ConfigError`` with one line."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with a 'models' key")
    try:
        return SweepConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(source, error)) from None


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a YAML sweep config."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    config = parse_config(data, str(path))
    if config.run is None:
        config = config.model_copy(update={"run": str(Path("runs") / path.stem)})
    return config
