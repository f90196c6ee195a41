"""LLM-jp-3 172B, the LLM-jp model whose intermediate checkpoints are published (as separate repos).

Where the numbers come from: the LLM-jp-3 model cards ("Total seen tokens": llm-jp-3-172b-beta1
0.7T, llm-jp-3-172b-beta2 1.4T, llm-jp-3-172b 2.1T; 96 layers, hidden 12288). The training steps
of these checkpoints are not published, so ``step`` is the number of billions of tokens seen.
Each checkpoint is its own hub repository (``llm-jp/<name>``), loaded at its default revision.
"""

from __future__ import annotations

from harness import Checkpoint, hookimpl
from harness_plugins.models.hf import HubFamily, LoaderOptions

ORG = "llm-jp"
CHECKPOINTS_172B: tuple[tuple[str, int], ...] = (
    ("llm-jp-3-172b-beta1", 700),
    ("llm-jp-3-172b-beta2", 1400),
    ("llm-jp-3-172b", 2100),
)


class LLMJPFamily(HubFamily[LoaderOptions]):
    """llm-jp/llm-jp-3-172b-beta1, -beta2 and the final llm-jp-3-172b."""

    name = "llmjp"
    version = "1.0"

    def repo(self) -> str:
        return f"{ORG}/{CHECKPOINTS_172B[-1][0]}"

    def schedule(self) -> list[Checkpoint]:
        return [Checkpoint(step=b, tokens=b * 10**9, revision=name) for name, b in CHECKPOINTS_172B]

    def source(self, checkpoint: Checkpoint) -> tuple[str, str | None]:
        return f"{ORG}/{checkpoint.revision}", None

    def known_num_layers(self) -> int:
        return 97

    def known_context_length(self) -> int:
        return 4096  # the LLM-jp-3 model cards: context length 4096

    def checkpoints(self) -> list[Checkpoint]:
        return sorted(self.schedule())  # separate repositories: there are no branches to refresh


@hookimpl
def register_model_families(register):  # type: ignore[no-untyped-def]
    register(LLMJPFamily)
