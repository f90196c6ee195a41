"""The encoding model's settings (a brain entry's ``encoding``): delays or lags, penalties, folds, summaries,
significance, which voxels are scored, where responses wait and at what precision.

Voxels (``encoding.voxels``): ``all``, ``reliable:F`` (the fraction F of voxels with the highest noise
ceiling) or ``reliable:N`` (the N such voxels), ``mask:NAME`` (a mask or ROI the dataset gives).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer, model_validator

from harness.util.strict import Strict

VOXEL_FORMS = (
    "all, reliable:F (the fraction F in (0, 1] of voxels with the highest noise ceiling, e.g. reliable:0.1), "
    "reliable:N (the N such voxels, e.g. reliable:5000) or mask:NAME (a mask or ROI the dataset provides)"
)


@dataclass(frozen=True)
class VoxelSelector:
    """``encoding.voxels`` parsed: every voxel, the most reliable ones, or a dataset's mask."""

    kind: str  # "all" | "reliable" | "mask"
    fraction: float | None = None  # reliable:F
    count: int | None = None  # reliable:N
    mask: str | None = None  # mask:NAME

    def __str__(self) -> str:
        if self.kind == "reliable":
            return f"reliable:{self.count if self.count is not None else f'{self.fraction:g}'}"
        return f"mask:{self.mask}" if self.kind == "mask" else "all"


def parse_voxel_selector(value: str) -> VoxelSelector:
    """Parse ``encoding.voxels``; a ``ValueError`` naming the forms allowed."""
    head, sep, tail = value.strip().partition(":")
    head, tail = head.lower(), tail.strip()
    if not sep and head == "all":
        return VoxelSelector("all")
    if sep and head == "mask" and tail:
        return VoxelSelector("mask", mask=tail)
    if sep and head == "reliable":
        if tail.isdigit() and int(tail) >= 1:
            return VoxelSelector("reliable", count=int(tail))
        try:
            fraction = float(tail)
        except ValueError:
            fraction = math.nan
        if "." in tail and 0 < fraction <= 1:
            return VoxelSelector("reliable", fraction=fraction)
    raise ValueError(f"bad voxel selection {value!r}; allowed: {VOXEL_FORMS}")


class AlphaGrid(Strict):
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


DEFAULT_DELAYS = (1, 2, 3, 4)  # fMRI FIR delays in scans when neither delays nor delays_s is given
DEFAULT_LAGS_S = (0.0, 0.8)  # M/EEG TRF lag window (s)
PERMUTATION_BLOCK_SCANS = 10  # fMRI scans per permutation block by default (20 s at TR 2 s)
PERMUTATION_BLOCK_S = 20.0  # M/EEG seconds per permutation block by default


class EncodingSettings(Strict):
    """The encoding model: delays (fMRI) or lags (M/EEG), penalties, cross-validation, summaries.

    Settings that are unset or at a default that predates them are left out of the dump, so an
    fMRI entry hashes (and its stored cells stay valid) as before M/EEG support.
    """

    # fMRI FIR delays in scans (default 1-4)
    delays: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)] | None = None
    delays_s: Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=1)] | None = None  # or in seconds
    lags_s: tuple[float, float] = DEFAULT_LAGS_S  # M/EEG TRF lag window (s), every sample from first to last
    # M/EEG: word features reduced to this many components (fitted on training stories)
    pca: int | None = Field(None, ge=1)
    # seconds per permutation block (default 10 scans; M/EEG 20 s)
    permutation_block_s: float | None = Field(None, gt=0)
    alphas: AlphaGrid | Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)] = Field(
        default_factory=AlphaGrid
    )
    folds: int = Field(5, ge=2)  # CV folds, grouped by story
    lanczos_window: int = Field(3, ge=1)
    top_fraction: float = Field(0.1, gt=0, le=1)  # best voxels, chosen on training data
    permutations: int = Field(0, ge=0)  # block permutations for significance (0 = off)
    permutations_at: Literal["all", "last"] = "all"  # checkpoints permuted: all, or only each model's last
    fdr_q: float = Field(0.05, gt=0, lt=1)
    voxel_batch: int | None = Field(None, ge=1)  # voxels per batch (None = automatic)
    voxels: str = "all"  # voxels scored: all | reliable:F | reliable:N | mask:NAME (parse_voxel_selector below)
    # Where responses wait (harness.encoding.residency): auto (GPU, else host memory, else blocks, from the
    # memory there is), or GiB of responses held: every subject kept when all fit, else voxel blocks of
    # this size. Results do not depend on it (not hashed).
    memory_gb: float | Literal["auto"] = Field("auto", exclude=True)
    # float32 (default), or tf32: products with the responses on a GPU's tensor cores (max |Δr| measured in
    # docs/scale.md; decompositions stay float32). On the CPU tf32 is float32. Hashed when not the default.
    precision: Literal["float32", "tf32"] = "float32"
    # low-level feature spaces fitted as a band beside the model's (harness.encoding.nuisance): the cell then also
    # reports the joint and the nuisance-only score and r2_unique. Left out of the dump when empty.
    nuisance: list[str] = Field(default_factory=list)
    # the ratios (model band's penalty / nuisance band's) the banded ridge tries, each with every alpha
    nuisance_ratios: AlphaGrid | Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)] = Field(
        default_factory=lambda: AlphaGrid(min=0.01, max=100.0, num=5)
    )

    @model_validator(mode="after")
    def _one_kind_of_delay(self) -> EncodingSettings:
        if self.delays is not None and self.delays_s is not None:
            raise ValueError("give delays (in scans) or delays_s (in seconds), not both")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.delays_s is None:
            data["delays"] = list(self.delays or DEFAULT_DELAYS)
        for key in ("delays", "delays_s", "pca", "permutation_block_s"):
            if data.get(key) is None:
                data.pop(key, None)
        if data.get("precision") == "float32":
            data.pop("precision")
        if tuple(self.lags_s) == DEFAULT_LAGS_S:
            data.pop("lags_s", None)
        if self.voxels == "all":
            data.pop("voxels", None)
        if self.permutations_at == "all":
            data.pop("permutations_at", None)
        if not self.nuisance:
            data.pop("nuisance", None)
            data.pop("nuisance_ratios", None)
        return data

    def delay_seconds(self, interval: float) -> list[float]:
        """The FIR delays in seconds for scans ``interval`` s apart: ``delays_s``, or ``delays`` scans."""
        if self.delays_s is not None:
            return [float(d) for d in self.delays_s]
        return [d * interval for d in (self.delays or DEFAULT_DELAYS)]

    def permutation_block(self, interval: float, recording: bool) -> int:
        """Rows per block of the permutation test for rows ``interval`` s apart (``recording``: M/EEG)."""
        if self.permutation_block_s is None and not recording:
            return PERMUTATION_BLOCK_SCANS
        seconds = PERMUTATION_BLOCK_S if self.permutation_block_s is None else self.permutation_block_s
        return max(1, round(seconds / interval))

    @field_validator("lags_s")
    @classmethod
    def _lag_window(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] > value[1]:
            raise ValueError(f"the first lag ({value[0]:g} s) is after the last ({value[1]:g} s)")
        return value

    @field_validator("voxels")
    @classmethod
    def _voxel_selection(cls, value: str) -> str:
        return str(parse_voxel_selector(value))

    @field_validator("nuisance")
    @classmethod
    def _nuisance_names(cls, value: list[str]) -> list[str]:
        from harness.encoding.nuisance import NUISANCE
        from harness.util.errors import did_you_mean

        for name in value:
            if name not in NUISANCE:
                raise ValueError(f"unknown nuisance feature {name!r}{did_you_mean(name, NUISANCE)}; "
                                 f"allowed: {', '.join(NUISANCE)}")
        if len(set(value)) != len(value):
            raise ValueError(f"a nuisance feature is named twice: {', '.join(value)}")
        return value

    @field_validator("memory_gb", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> Any:
        if value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number of GiB greater than 0, or auto; got {value!r}")
        if not value > 0:
            raise ValueError(f"Input should be greater than 0 (GiB), or auto; got {value!r}")
        return float(value)

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
        return _grid_values(self.alphas)

    def nuisance_ratio_values(self) -> list[float]:
        return _grid_values(self.nuisance_ratios)


def _grid_values(grid: AlphaGrid | list[float]) -> list[float]:
    """The values of a setting given as a grid or as a list."""
    return grid.values() if isinstance(grid, AlphaGrid) else list(grid)
