"""LLM360 Amber (7B, LLaMA architecture) at its 360 published checkpoints ``ckpt_000`` ... ``ckpt_359``.

Where the numbers come from: the model card (360 checkpoints, branches ``ckpt_000`` to
``ckpt_358`` plus the final ``ckpt_359`` on ``main``; 32 layers in config.json) and the
AmberDatasets card (the training sequence is 360 chunks, 1259.13B tokens in total; chunk k is the
data trained on up to checkpoint k). Tokens seen at ``ckpt_k`` are taken as (k + 1) / 360 of
1259.13B, i.e. chunks of equal size; ``step`` is the checkpoint index k.
"""

from __future__ import annotations

import re

from harness import Checkpoint, hookimpl
from harness_plugins.models.hf import HubFamily, LoaderOptions

NUM_CHECKPOINTS = 360
TOTAL_TOKENS = 1_259_130_000_000


def amber_tokens(index: int) -> int:
    return round((index + 1) * TOTAL_TOKENS / NUM_CHECKPOINTS)


class AmberFamily(HubFamily[LoaderOptions]):
    """LLM360/Amber."""

    name = "amber"
    version = "1.0"

    def repo(self) -> str:
        return "LLM360/Amber"

    def schedule(self) -> list[Checkpoint]:
        return [Checkpoint(k, amber_tokens(k), f"ckpt_{k:03d}") for k in range(NUM_CHECKPOINTS)]

    def known_num_layers(self) -> int:
        return 33

    def known_context_length(self) -> int:
        return 2048  # max_position_embeddings in config.json (LLaMA-7B architecture)

    def parse_ref(self, name: str) -> Checkpoint | None:
        match = re.fullmatch(r"ckpt_(\d+)", name)
        if not match:
            return None
        k = int(match.group(1))
        return Checkpoint(k, amber_tokens(k), name)


@hookimpl
def register_model_families(register):  # type: ignore[no-untyped-def]
    register(AmberFamily)
