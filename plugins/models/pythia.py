"""EleutherAI Pythia: every size, standard or deduplicated, at its 154 published checkpoints.

Schedule (Biderman et al. 2023, "Pythia", and the model cards on the hub): revisions ``step0``,
``step1``, ``step2``, ``step4`` ... ``step512`` (log-spaced), then ``step1000`` to ``step143000``
every 1000 steps; batch 1024 sequences x 2048 tokens = 2,097,152 tokens per step.
Depths (transformer blocks) are those of the paper's model table.
"""

from __future__ import annotations

from typing import Literal

from harness import Checkpoint, hookimpl
from harness_plugins.models.hf import HubFamily, LoaderOptions

TOKENS_PER_STEP = 2_097_152
CONTEXT = 2048  # every size (the paper's table; max_position_embeddings in each config.json)
LOG_STEPS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
LINEAR_STEPS = tuple(range(1000, 143_001, 1000))
BLOCKS = {"14m": 6, "31m": 6, "70m": 6, "160m": 12, "410m": 24, "1b": 16, "1.4b": 24, "2.8b": 32, "6.9b": 32, "12b": 36}

Size = Literal["14m", "31m", "70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b"]


def pythia_schedule() -> list[Checkpoint]:
    """The 154 Pythia checkpoints with tokens seen."""
    return [Checkpoint(step=s, tokens=s * TOKENS_PER_STEP, revision=f"step{s}") for s in LOG_STEPS + LINEAR_STEPS]


class PythiaOptions(LoaderOptions):
    """Options of ``PythiaFamily``."""

    size: Size = "160m"
    deduped: bool = False


class PythiaFamily(HubFamily[PythiaOptions]):
    """EleutherAI/pythia-<size>[-deduped]."""

    name = "pythia"
    version = "1.0"

    def repo(self) -> str:
        return f"EleutherAI/pythia-{self.options.size}{'-deduped' if self.options.deduped else ''}"

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
