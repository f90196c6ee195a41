"""EleutherAI Pythia: every size, standard or deduplicated, at its 154 published checkpoints.

Schedule (Biderman et al. 2023, "Pythia", and the model cards on the hub): revisions ``step0``,
``step1``, ``step2``, ``step4`` ... ``step512`` (log-spaced), then ``step1000`` to ``step143000``
every 1000 steps; batch 1024 sequences x 2048 tokens = 2,097,152 tokens per step.
Depths (transformer blocks) are those of the paper's model table.

PolyPythias (van der Wal et al. 2025, "PolyPythias: Stability and Outliers across Fifty Language
Model Pre-Training Runs", arXiv 2503.09543, ICLR 2025; the naming convention on their model cards):
``EleutherAI/pythia-<size>-seed<1-9>`` for sizes 14m, 31m, 70m, 160m and 410m, nine more runs of
the standard (not deduplicated) Pythia with other random seeds, plus ``pythia-160m-data-seed<1-3>``
(only the data order varied) and ``pythia-160m-weight-seed<1-3>`` (only the initialisation varied).
The original ``pythia-<size>`` is their seed 0. Every run has the same 154 checkpoint branches.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from harness import Checkpoint, hookimpl
from harness_plugins.models.hf import HubFamily, LoaderOptions

TOKENS_PER_STEP = 2_097_152
CONTEXT = 2048  # every size (the paper's table; max_position_embeddings in each config.json)
LOG_STEPS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
LINEAR_STEPS = tuple(range(1000, 143_001, 1000))
BLOCKS = {"14m": 6, "31m": 6, "70m": 6, "160m": 12, "410m": 24, "1b": 16, "1.4b": 24, "2.8b": 32, "6.9b": 32, "12b": 36}

Size = Literal["14m", "31m", "70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b"]
POLY_SIZES = ("14m", "31m", "70m", "160m", "410m")  # PolyPythias: seeds 1-9 of each
DECOUPLED_SEEDS = 3  # pythia-160m-data-seed1..3 and -weight-seed1..3


def pythia_schedule() -> list[Checkpoint]:
    """The 154 Pythia checkpoints with tokens seen."""
    return [Checkpoint(step=s, tokens=s * TOKENS_PER_STEP, revision=f"step{s}") for s in LOG_STEPS + LINEAR_STEPS]


class PythiaOptions(LoaderOptions):
    """Options of ``PythiaFamily``."""

    size: Size = "160m"  # parameters of the Pythia model (EleutherAI/pythia-<size>)
    deduped: bool = False  # the model trained on the deduplicated Pile (pythia-<size>-deduped)
    # a PolyPythias run, pythia-<size>-seed<N> (sizes 14m-410m); none: the original
    seed: int | None = Field(None, ge=1, le=9)
    seed_kind: Literal["seed", "data-seed", "weight-seed"] = "seed"  # data-seed / weight-seed: 160m, seeds 1-3

    @field_validator("seed")
    @classmethod
    def _polypythia(cls, seed: int | None, info: ValidationInfo) -> int | None:
        if seed is not None:
            if info.data.get("deduped"):
                raise ValueError("PolyPythias runs are of the standard Pile only; drop 'deduped' or the seed")
            if info.data.get("size") not in POLY_SIZES:
                raise ValueError(
                    f"PolyPythias has no {info.data.get('size')} runs; sizes with seeds: {', '.join(POLY_SIZES)}"
                )
        return seed

    @field_validator("seed_kind")
    @classmethod
    def _decoupled(cls, kind: str, info: ValidationInfo) -> str:
        if kind != "seed":
            seed = info.data.get("seed")
            if info.data.get("size") != "160m" or seed is None or seed > DECOUPLED_SEEDS:
                raise ValueError(f"{kind} runs exist for size 160m, seeds 1-{DECOUPLED_SEEDS} only")
        return kind


class PythiaFamily(HubFamily[PythiaOptions]):
    """EleutherAI/pythia-<size>[-deduped], or a PolyPythias run EleutherAI/pythia-<size>-<seed_kind><seed>."""

    name = "pythia"
    version = "1.0"

    def repo(self) -> str:
        options = self.options
        if options.seed is not None:
            return f"EleutherAI/pythia-{options.size}-{options.seed_kind}{options.seed}"
        return f"EleutherAI/pythia-{options.size}{'-deduped' if options.deduped else ''}"

    def schedule(self) -> list[Checkpoint]:
        return pythia_schedule()

    def known_num_layers(self) -> int:
        return BLOCKS[self.options.size] + 1

    def known_context_length(self) -> int:
        return CONTEXT

    def parse_ref(self, name: str) -> Checkpoint | None:
        if name.startswith("step") and name[4:].isdigit():
            step = int(name[4:])
            return Checkpoint(step=step, tokens=step * TOKENS_PER_STEP, revision=name)
        return None


@hookimpl
def register_model_families(register):  # type: ignore[no-untyped-def]
    register(PythiaFamily)
