"""The sweep config: YAML read safely, validated into typed objects, errors as one line."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.digest import settings_digest
from harness.errors import ConfigError
from harness.interfaces import KINDS, TARGET_KINDS, Kind
from harness.paths import cache_root
from harness.selectors import parse_checkpoint_selector, parse_layer_selector


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExtractionSettings(_Strict):
    """How word-level hidden states are taken from a model."""

    context_tokens: int = Field(512, ge=8)  # window length in tokens
    stride: int = Field(256, ge=1)  # tokens the window advances by
    word_token: Literal["last", "mean"] = "last"  # which of a word's tokens represent it
    batch_size: int = Field(8, ge=1)  # windows per forward pass
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"  # stored activation dtype

    @model_validator(mode="after")
    def _stride_fits(self) -> ExtractionSettings:
        if self.stride > self.context_tokens:
            raise ValueError(f"stride ({self.stride}) must not exceed context_tokens ({self.context_tokens})")
        return self


class AlphaGrid(_Strict):
    """A log-spaced grid of ridge penalties."""

    min: float = Field(1.0, gt=0)
    max: float = Field(1e4, gt=0)
    num: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> AlphaGrid:
        if self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is larger than max ({self.max:g})")
        return self

    def values(self) -> list[float]:
        import numpy as np

        return [float(a) for a in np.logspace(np.log10(self.min), np.log10(self.max), self.num)]


def minimum_permutations(q: float) -> int:
    """The fewest permutations whose smallest p-value, 1 / (permutations + 1), can reach ``q``."""
    return max(math.ceil(1 / q - 1 - 1e-9), 1)


class EncodingSettings(_Strict):
    """The voxelwise encoding model: delays, penalties, cross-validation, summaries."""

    delays: list[Annotated[int, Field(ge=0)]] = Field(default_factory=lambda: [1, 2, 3, 4], min_length=1)  # FIR delays in TRs
    alphas: AlphaGrid | Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)] = Field(default_factory=AlphaGrid)
    folds: int = Field(5, ge=2)  # CV folds, grouped by story
    lanczos_window: int = Field(3, ge=1)
    top_fraction: float = Field(0.1, gt=0, le=1)  # best voxels, chosen on training data
    permutations: int = Field(0, ge=0)  # block permutations for significance (0 = off)
    fdr_q: float = Field(0.05, gt=0, lt=1)
    voxel_batch: int | None = Field(None, ge=1)  # voxels per batch (None = automatic)
    # GiB of responses the encoder holds: every subject kept across layers when all fit, else
    # each subject read in voxel blocks of this size. Results do not depend on it (not hashed).
    memory_gb: float = Field(2.0, gt=0, exclude=True)

    @field_validator("alphas", mode="before")
    @classmethod
    def _some_alphas(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("no penalties given; list at least one, or a grid {min, max, num}")
        return value

    @model_validator(mode="after")
    def _permutations_can_reach_fdr(self) -> EncodingSettings:
        least = minimum_permutations(self.fdr_q)
        if 0 < self.permutations < least:
            raise ValueError(f"permutations: {self.permutations} can never give a p-value at or below fdr_q "
                             f"{self.fdr_q:g}; use 0 (off) or at least {least}")
        return self

    def alpha_values(self) -> list[float]:
        return self.alphas.values() if isinstance(self.alphas, AlphaGrid) else list(self.alphas)


class _Entry(_Strict):
    """What every entry has: an optional label and the plugin's options."""

    kind: ClassVar[Kind]
    label: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def plugin_name(self) -> str:
        """The plugin the entry names (its ``family``, ``dataset``, ``task`` or ``metric`` key)."""
        return str(getattr(self, KINDS[self.kind].name_key))


class ModelEntry(_Entry):
    """One entry of the config's ``models`` list; ``family`` names the plugin."""

    kind = Kind.MODEL
    family: str
    checkpoints: str | int | list[str | int] = "all"
    layers: str | int | float | list[int | float | str] = "all"

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
    encoding: EncodingSettings = Field(default_factory=EncodingSettings)


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


class SweepConfig(_Strict):
    """A whole sweep: which checkpoints to measure against which targets, and how."""

    run: str | None = None  # run directory; default runs/<config file stem>
    seed: int = 0
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    cache: str | None = None  # model/activation cache; default $HARNESS_CACHE or ~/.cache/harness
    models: list[ModelEntry] = Field(min_length=1)
    brain: list[BrainEntry] = Field(default_factory=list)
    tasks: list[TaskEntry] = Field(default_factory=list)
    metrics: list[MetricEntry] = Field(default_factory=list)
    features: ExtractionSettings = Field(default_factory=ExtractionSettings)
    metric_stimulus: str | None = None  # label of the brain dataset whose stories metrics read
    analyze: bool = True  # run the phase analysis and report at the end of the sweep

    @model_validator(mode="after")
    def _labels(self) -> SweepConfig:
        for kind, spec in KINDS.items():
            group = spec.section
            seen: set[str] = set()
            for index, entry in enumerate(self.entries(kind)):
                label = entry_label(entry)
                if label in seen:
                    raise ValueError(f"{group}[{index}]: duplicate label {label!r}; give each entry a distinct 'label'")
                if "__" in label or "/" in label:
                    raise ValueError(f"{group}[{index}].label: {label!r} may not contain '__' or '/'")
                seen.add(label)
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
            raise ValueError(f"metric_stimulus: {self.metric_stimulus!r} is not a brain label; allowed: {', '.join(brain_labels)}")
        return self

    def entries(self, kind: Kind) -> list[AnyEntry]:
        """The config's entries of one kind (its ``models``, ``brain``, ``tasks`` or ``metrics`` list)."""
        return list(getattr(self, KINDS[kind].section))

    def stimulus_label(self) -> str | None:
        """The brain entry whose stories the metrics read."""
        if self.metric_stimulus:
            return self.metric_stimulus
        return entry_label(self.brain[0]) if self.brain else None

    def digest(self) -> str:
        """A short hash of everything that changes results (not the run directory)."""
        return settings_digest(self.model_dump(mode="json", exclude={"run", "cache", "analyze"}))

    def cache_dir(self) -> Path:
        return Path(self.cache).expanduser() if self.cache else cache_root()


def entry_label(entry: AnyEntry) -> str:
    """The label an entry is known by in tables: its ``label`` or its plugin name."""
    return entry.label or entry.plugin_name


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
