"""AI2 OLMo-7B-0724 (``olmo``) and OLMo-2-1124-7B (``olmo2``) with their published checkpoints.

Where the numbers come from:

- OLMo-7B-0724-hf: the hub repository's branches (819 intermediate checkpoints plus ``main``),
  named ``step{N}-tokens{T}B``, every 500 steps early on and every 1000 later, with the gaps and
  odd steps of the real run. The branch list was read from a published copy of the repository's
  refs; it is stored below as runs of steps. ``T`` is floor(N x 4,194,304 / 1e9) on every one of
  the 819 names (batch 1024 x 4096 tokens, model card: context length 4096).
- OLMo-2-1124-7B: the stage-1 checkpoint list of the official OLMo repository
  (``configs/official-1124/OLMo-2-1124-7B.csv``: steps 0, 150, 600, 700, 850, 900, 1000, 2000,
  2150, then every 1000 to 928000) plus the final ``stage1-step928646-tokens3896B``. Hub names
  are ``stage1-step{N}-tokens{T}B`` with T = ceil(N x 4,194,304 / 1e9), which matches every
  published name checked (``stage1-step150-tokens1B`` ... ``stage1-step928646-tokens3896B``).
  Stage-2 (annealing) ingredients are separate runs and are not part of this schedule.

Both models have 32 transformer blocks (model cards), so 33 hidden states. Set ``refresh: true``
to list the hub's branches instead (needs network).
"""

from __future__ import annotations

import re

from harness import Checkpoint, hookimpl
from harness_plugins.models.hf import HubFamily, LoaderOptions

TOKENS_PER_STEP = 4_194_304

# OLMo-7B-0724-hf branches as (first, last, every) runs of steps; single steps as (s, s, 0).
OLMO_0724_RUNS: tuple[tuple[int, int, int], ...] = (
    (0, 14000, 500), (14200, 14200, 0), (14500, 19000, 500), (20000, 39000, 500), (39350, 39350, 0),
    (39500, 41000, 500), (41400, 41400, 0), (41500, 41500, 0), (42000, 42000, 0), (42200, 42200, 0),
    (42500, 51000, 500), (51450, 51450, 0), (51500, 51500, 0), (52000, 52000, 0), (52300, 52300, 0),
    (52500, 63500, 500), (64500, 64500, 0), (65000, 65000, 0), (66000, 73000, 500), (73100, 73100, 0),
    (73500, 114500, 500), (115500, 160500, 500), (160550, 160550, 0), (160600, 160600, 0),
    (161000, 190000, 1000), (199000, 408000, 1000), (408923, 408923, 0), (409000, 504000, 1000),
    (504500, 504500, 0), (505000, 505000, 0), (505550, 505550, 0), (506000, 506000, 0),
    (507000, 507000, 0), (508000, 508000, 0), (508500, 508500, 0), (509000, 509000, 0),
    (509200, 509200, 0), (510000, 510000, 0), (511000, 511000, 0), (511350, 511350, 0),
    (512000, 543000, 1000), (543350, 543350, 0), (544000, 548000, 1000), (548450, 548450, 0),
    (549000, 621000, 1000), (621100, 621100, 0), (622000, 639000, 1000), (639650, 650650, 1000),
)

OLMO2_STEPS: tuple[int, ...] = (0, 150, 600, 700, 850, 900, 1000, 2000, 2150, *range(3000, 928_001, 1000), 928_646)


def expand_runs(runs: tuple[tuple[int, int, int], ...]) -> list[int]:
    steps: list[int] = []
    for first, last, every in runs:
        steps.extend(range(first, last + 1, every) if every else [first])
    return steps


def olmo_0724_revision(step: int) -> str:
    return f"step{step}-tokens{step * TOKENS_PER_STEP // 10**9}B"


def olmo2_revision(step: int) -> str:
    return f"stage1-step{step}-tokens{-(-step * TOKENS_PER_STEP // 10**9)}B"


_REF = re.compile(r"^(stage1-)?step(\d+)-tokens\d+B$")


class _OlmoBase(HubFamily[LoaderOptions]):
    def known_num_layers(self) -> int:
        return 33

    def known_context_length(self) -> int:
        return 4096  # both model cards: context length 4096

    def parse_ref(self, name: str) -> Checkpoint | None:
        match = _REF.match(name)
        if not match:
            return None
        step = int(match.group(2))
        return Checkpoint(step=step, tokens=step * TOKENS_PER_STEP, revision=name)


class Olmo0724Family(_OlmoBase):
    """allenai/OLMo-7B-0724-hf (OLMo 1.7 7B, July 2024; 2.75T tokens)."""

    name = "olmo"
    version = "1.0"

    def repo(self) -> str:
        return "allenai/OLMo-7B-0724-hf"

    def schedule(self) -> list[Checkpoint]:
        return [Checkpoint(s, s * TOKENS_PER_STEP, olmo_0724_revision(s)) for s in expand_runs(OLMO_0724_RUNS)]


class Olmo2Family(_OlmoBase):
    """allenai/OLMo-2-1124-7B, stage 1 (about 3.9T tokens)."""

    name = "olmo2"
    version = "1.0"

    def repo(self) -> str:
        return "allenai/OLMo-2-1124-7B"

    def schedule(self) -> list[Checkpoint]:
        return [Checkpoint(s, s * TOKENS_PER_STEP, olmo2_revision(s)) for s in OLMO2_STEPS]


@hookimpl
def register_model_families(register):  # type: ignore[no-untyped-def]
    register(Olmo0724Family)
    register(Olmo2Family)
