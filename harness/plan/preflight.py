"""Preflight: every plugin of a plan checks what it will read, before a sweep writes anything."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from harness.encoding.nuisance import check_nuisance
from harness.plan.checks import check_cache, check_coverage, check_device, check_folds, check_split
from harness.plan.planner import BrainTarget, Plan, TaskTarget
from harness.plan.stimuli import describe_control
from harness.plugin.contract import BrainDataset
from harness.util.errors import HarnessError, PluginError, one_line


def preflight(plan: Plan, say: Callable[[str], None] | None = None) -> list[str]:
    """Run each plugin's ``check``; return their notes, raise the first mistake as a one-line ``HarnessError``.

    The message starts with the config file and the entry's key (``sweep.yaml: brain[0]: ...``),
    then says what the plugin found. A check that crashes (a plugin bug rather than a user mistake)
    is reported as a ``PluginError`` naming the plugin. ``say`` gets each note as it is found
    (so the notes before a mistake are shown too).
    """
    notes: list[str] = []

    def add(found: list[str]) -> None:
        notes.extend(found)
        if say is not None:
            for note in found:
                say(note)

    check_cache(plan.config, plan.source)
    add(list(plan.config.notes()) + check_device(plan.config, plan.source))
    for model in plan.models:  # an adaptive model may load any checkpoint its family publishes
        add([f"{model.where}.{note}" for note in model.notes])
        add(_checked(plan.source, model.where, model.family.name, partial(model.family.check, model.candidates)))
    contexts = [m.family.context_length() for m in plan.models]
    shortest = min((c for c in contexts if c is not None), default=None)
    for target in plan.targets:
        checked = partial(_checked, plan.source, target.where, target.plugin.name)
        if isinstance(target, BrainTarget):
            add(checked(target.plugin.check))
            add(checked(partial(_plan_checks, plan, target)))
            if target.entry.shuffle is not None:
                add(checked(partial(_control_note, target.plugin, target.entry.shuffle)))
        elif isinstance(target, TaskTarget):
            add(checked(partial(target.plugin.check, shortest)))
    return notes


def _plan_checks(plan: Plan, target: BrainTarget) -> list[str]:
    """What the encoder will do with the dataset: its split, folds, nuisance features and each story's coverage (kept
    in ``plan.truncated``)."""
    dataset, entry = target.plugin, target.entry
    stories = dataset.stories()
    train, test = check_split(dataset, stories)
    notes = check_folds(entry, len(train))
    check_nuisance(entry.encoding.nuisance, dataset)  # what each nuisance feature needs of the dataset
    coverage, more = check_coverage(dataset, entry, train, test, stories)
    if coverage.truncated:
        plan.truncated[target.label] = coverage.truncated
    return notes + more


def _control_note(dataset: BrainDataset, unit: str) -> list[str]:
    """How a shuffled control cuts the dataset's stories (sentences, or windows where punctuation is missing)."""
    return [describe_control({name: story.words for name, story in dataset.stories().items()}, unit)]


def _checked(source: str, where: str, name: str, check: Callable[[], list[str]]) -> list[str]:
    try:
        found = check()
    except HarnessError as error:
        raise type(error)(f"{source}: {where} ({name}): {error}") from error
    except Exception as error:  # noqa: BLE001 - a crashing check is the plugin's bug, said in one line
        raise PluginError(f"{source}: {where} ({name}): its preflight check crashed: {one_line(error)}") from error
    return [f"{where} ({name}): {note}" for note in found]
