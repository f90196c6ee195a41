"""Chance levels of lm-eval tasks: what guessing scores on their accuracy-like metrics.

In a ``multiple_choice`` task, ``acc``, ``acc_norm``, ``acc_bytes`` and ``acc_mutual_info`` each
pick one of a document's choices, so a guess is right with probability (right choices) /
(choices): the chance level is the mean of that over the evaluated documents. Other metrics
(``exact_match`` asks whether the right choice is also the greedy continuation, which the choices
do not bound) and other output types (generation, loglikelihood) have no chance level defined by
choices: unknown. A group's level is the mean of its tasks' levels, weighted as lm-eval weights
their scores (by size, or not).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CHOICE_METRICS = ("acc", "acc_norm", "acc_bytes", "acc_mutual_info")  # argmax over a document's choices


def task_chance(task: Any) -> tuple[float, int] | None:
    """(chance level, documents) of a ``multiple_choice`` task that lm-eval has built requests for; else None."""
    if getattr(task, "OUTPUT_TYPE", None) != "multiple_choice":
        return None
    docs = {instance.doc_id: instance.doc for instance in task.instances or []}
    if not docs:
        return None
    try:
        odds = [_right_share(task, doc) for doc in docs.values()]
    except Exception:  # noqa: BLE001 - a task whose choices cannot be listed has no known chance level
        return None
    if any(p is None for p in odds):
        return None
    return sum(p for p in odds if p is not None) / len(odds), len(odds)


def _right_share(task: Any, doc: Any) -> float | None:
    """The share of a document's choices that count as right (several where the target is a list)."""
    choices = task.doc_to_choice(doc)
    if not choices:
        return None
    target = None if getattr(task, "multiple_input", False) else task.doc_to_target(doc)
    right = len(set(target)) if isinstance(target, list) and target else 1
    return min(1.0, right / len(choices))


def chance_levels(loaded: Mapping[str, Any], results: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """lm-eval task or group name -> metric key (``acc,none``) -> chance level, for the keys that have one.

    ``loaded`` is what lm-eval's ``TaskManager.load`` built for the evaluation (tasks and groups);
    ``results`` its results dict (which metric keys each task and group reports).
    """
    reported: Mapping[str, Mapping[str, Any]] = results.get("results", {})
    levels: dict[str, dict[str, float]] = {}
    sizes: dict[str, int] = {}
    for name, task in loaded.get("tasks", {}).items():
        found = task_chance(task)
        if found is None:
            continue
        sizes[name] = found[1]
        keys = [key for key in reported.get(name, {}) if _is_choice_metric(key)]
        if keys:
            levels[name] = {key: found[0] for key in keys}
    for name, group in loaded.get("groups", {}).items():
        weighted = {agg.metric: bool(getattr(agg, "weight_by_size", True)) for agg in group.aggregate_metric_list or []}
        for key in [k for k in reported.get(name, {}) if _is_choice_metric(k)]:
            leaves = [t.task_name for t in group.get_all_tasks() if key in reported.get(t.task_name, {})]
            if not leaves or any(key not in levels.get(leaf, {}) for leaf in leaves):
                continue
            weights = [sizes[leaf] if weighted.get(key.split(",")[0], True) else 1 for leaf in leaves]
            level = sum(w * levels[leaf][key] for w, leaf in zip(weights, leaves, strict=True)) / sum(weights)
            levels.setdefault(name, {})[key] = level
    return levels


def _is_choice_metric(key: str) -> bool:
    return "_stderr" not in key and key.split(",")[0] in CHOICE_METRICS
