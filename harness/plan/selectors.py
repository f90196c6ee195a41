"""Checkpoint and layer selectors: which of a family's checkpoints and layers a sweep measures.

Checkpoints: ``all``, ``last``, ``log:N`` (N log-spaced over steps, first and last included),
``every:K`` (the steps that are multiples of K: ``every:1000`` = steps 0, 1000, 2000, ...; not
every K-th checkpoint), explicit steps, or a list mixing these (union). ``adaptive:N`` (or
``adaptive:N/K``) stands alone: N checkpoints in all, the first round a ``log:K`` grid and the
others chosen during the sweep where the transitions found so far are least resolved
(``harness.sweep.adaptive``).
Layers: ``all``, ``last``, ``every:K`` (every K-th layer, 0, K, 2K, ..., and the last), explicit indices (negative
counts from the end; 0 is the embeddings), relative depths (``depth:0.5``, or a fraction such as 0.5; a whole number
written as a float, 1.0, is an error, since it could mean layer 1 or the last layer), or a list mixing these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.plugin.contract import Checkpoint
from harness.util.errors import ConfigError

CHECKPOINT_FORMS = ("all, last, log:N (N checkpoints log-spaced over the steps), every:K (the steps that are "
                    "multiples of K), a step number, a list of these, or adaptive:N[/K] alone (N checkpoints, "
                    "a log:K grid first, the rest chosen from the results)")
ADAPTIVE_MIN = 3  # the first, the last and one between


@dataclass(frozen=True)
class AdaptiveSelector:
    """``adaptive:N/K``: N checkpoints measured in all; the first round is a ``log:K`` grid."""

    budget: int  # N
    coarse: int  # K

    @staticmethod
    def default_coarse(budget: int) -> int:
        """K when the selector gives none: a third of N, at least 3."""
        return min(budget, max(ADAPTIVE_MIN, budget // 3))

    def __str__(self) -> str:
        return f"adaptive:{self.budget}/{self.coarse}"


def _adaptive(item: str) -> AdaptiveSelector:
    """Parse one ``adaptive:N`` or ``adaptive:N/K`` word (``ValueError`` with the rule it breaks)."""
    head, _, tail = item.strip().lower().partition(":")
    budget_text, slash, coarse_text = tail.partition("/")
    numbers = [budget_text, coarse_text] if slash else [budget_text]
    if head != "adaptive" or not all(text.strip().isdigit() for text in numbers):
        raise ValueError(f"bad selector {item!r}: write adaptive:N or adaptive:N/K with whole numbers "
                         f"(N checkpoints in all, K in the first log-spaced round)")
    budget = int(budget_text)
    if budget < ADAPTIVE_MIN:
        raise ValueError(
            f"bad selector {item!r}: adaptive:N needs N >= {ADAPTIVE_MIN} (the first, the last and one between)"
        )
    coarse = int(coarse_text) if slash else AdaptiveSelector.default_coarse(budget)
    if not 2 <= coarse <= budget:
        raise ValueError(f"bad selector {item!r}: the first round's K must lie in 2..N (2..{budget}); "
                         f"it holds the first and the last checkpoint")
    return AdaptiveSelector(budget, coarse)


def adaptive_selector(value: Any) -> AdaptiveSelector | None:
    """The adaptive selector ``value`` is, or None for any other selector (whose syntax is not checked here)."""
    items = _items(value)
    words = [item for item in items if isinstance(item, str) and item.strip().lower().startswith("adaptive")]
    if not words:
        return None
    if len(items) > 1:
        raise ValueError(f"bad selector {value!r}: {words[0]} stands alone; it cannot be combined with other selectors")
    return _adaptive(words[0])
LAYER_FORMS = ("all, last, every:K (every K-th layer: 0, K, 2K, ... and the last), a layer index, "
               "a relative depth depth:F with F in [0, 1] (or a fraction like 0.5), or a list of these")


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _keyword(item: str, forms: str) -> tuple[str, int]:
    """(form, number) of one selector word; the number of ``all`` and ``last`` is 0 and unused."""
    text = item.strip().lower()
    if text in ("all", "last"):
        return text, 0
    head, sep, tail = text.partition(":")
    if sep and head in ("log", "every"):
        try:
            number = int(tail)
        except ValueError:
            number = 0
        if number < 1:
            raise ValueError(f"bad selector {item!r}: {head}:N needs a positive whole number")
        return head, number
    if text.lstrip("-").isdigit():
        return "step", int(text)
    raise ValueError(f"bad selector {item!r}; allowed: {forms}")


def parse_checkpoint_selector(value: Any) -> list[tuple[str, int]]:
    """Check the syntax of a checkpoint selector; return its parts (``adaptive:N/K``: one part, N)."""
    adaptive = adaptive_selector(value)
    if adaptive is not None:
        return [("adaptive", adaptive.budget)]
    parts = []
    for item in _items(value):
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise ValueError(f"bad selector {item!r}; allowed: {CHECKPOINT_FORMS}")
        part: tuple[str, int] = ("step", item) if isinstance(item, int) else _keyword(item, CHECKPOINT_FORMS)
        if part[0] == "step" and part[1] < 0:
            raise ValueError(f"bad selector {item!r}: steps are not negative")
        parts.append(part)
    if not parts:
        raise ValueError(f"empty selector; allowed: {CHECKPOINT_FORMS}")
    return parts


def _depth(value: float | str) -> float:
    """A relative depth in [0, 1] (``ValueError`` otherwise)."""
    try:
        depth = float(value)
    except ValueError:
        depth = math.nan
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"bad layer depth {value!r}: depths lie in [0, 1] (0 = embeddings, 1 = the last layer)")
    return depth


def parse_layer_selector(value: Any) -> list[tuple[str, float]]:
    """Check the syntax of a layer selector; return its parts."""
    parts: list[tuple[str, float]] = []
    for item in _items(value):
        if isinstance(item, bool):
            raise ValueError(f"bad layer selector {item!r}; allowed: {LAYER_FORMS}")
        if isinstance(item, float):
            if item.is_integer():
                raise ValueError(f"bad layer selector {item!r}: write {int(item)} for layer {int(item)} (an index), or "
                                 f"depth:{item:g} for that relative depth (0 = embeddings, 1 = the last layer)")
            parts.append(("depth", _depth(item)))
        elif isinstance(item, int):
            parts.append(("index", item))
        elif isinstance(item, str) and item.strip().lower().startswith("depth:"):
            parts.append(("depth", _depth(item.strip()[len("depth:"):])))
        elif isinstance(item, str):
            kind, number = _keyword(item, LAYER_FORMS)
            if kind == "log":
                raise ValueError(f"bad layer selector {item!r}; allowed: {LAYER_FORMS}")
            parts.append(("index", number) if kind == "step" else (kind, number))
        else:
            raise ValueError(f"bad layer selector {item!r}; allowed: {LAYER_FORMS}")
    if not parts:
        raise ValueError(f"empty layer selector; allowed: {LAYER_FORMS}")
    return parts


def log_spaced(values: Sequence[int], count: int) -> list[int]:
    """The members of ``values`` nearest to ``count`` log-spaced targets (ends included)."""
    values = sorted(set(values))
    if count >= len(values):
        return values
    low, high = values[0], values[-1]
    shift = 1 - low  # so step 0 can sit on a log axis
    targets = [
        math.exp(math.log(low + shift) + i * (math.log(high + shift) - math.log(low + shift)) / max(count - 1, 1))
        - shift
        for i in range(count)
    ]
    chosen: list[int] = []
    pool = list(values)
    for target in targets:  # nearest unused value, so N targets give N checkpoints
        best = min(pool, key=lambda v: (abs(math.log(v + shift) - math.log(target + shift)), v))
        chosen.append(best)
        pool.remove(best)
    return sorted(chosen)


def select_checkpoints(available: Sequence[Checkpoint], value: Any, where: str) -> list[Checkpoint]:
    """Resolve a selector against a family's checkpoints; unknown steps are a ``ConfigError``."""
    if not available:
        raise ConfigError(f"{where}: the model family lists no checkpoints")
    by_step = {c.step: c for c in available}
    steps = sorted(by_step)
    chosen: set[int] = set()
    for kind, number in parse_checkpoint_selector(value):
        if kind == "all":
            chosen.update(steps)
        elif kind == "adaptive":  # its first round; harness.sweep.adaptive chooses the others
            adaptive = adaptive_selector(value)
            assert adaptive is not None
            chosen.update(log_spaced(steps, adaptive.coarse))
        elif kind == "last":
            chosen.add(steps[-1])
        elif kind == "log":
            chosen.update(log_spaced(steps, number))
        elif kind == "every":
            chosen.update(s for s in steps if s % number == 0)
        elif number not in by_step:
            near = min(steps, key=lambda s: abs(s - number))
            raise ConfigError(
                f"{where}: no checkpoint at step {number} "
                f"(nearest: {near}; {len(steps)} available from {steps[0]} to {steps[-1]})"
            )
        else:
            chosen.add(number)
    if not chosen:
        raise ConfigError(f"{where}: selector {value!r} matches no checkpoint")
    return [by_step[s] for s in sorted(chosen)]


def select_layers(num_layers: int, value: Any, where: str) -> list[int]:
    """Resolve a layer selector for a model with ``num_layers`` hidden states (0 = embeddings)."""
    chosen: set[int] = set()
    for kind, number in parse_layer_selector(value):
        if kind == "all":
            chosen.update(range(num_layers))
        elif kind == "last":
            chosen.add(num_layers - 1)
        elif kind == "every":
            chosen.update(range(0, num_layers, int(number)))
            chosen.add(num_layers - 1)
        elif kind == "depth":
            chosen.add(round(float(number) * (num_layers - 1)))
        else:
            index = int(number)
            if not -num_layers <= index < num_layers:
                raise ConfigError(f"{where}: layer {index} is out of range; the model has layers 0..{num_layers - 1}")
            chosen.add(index % num_layers)
    return sorted(chosen)
