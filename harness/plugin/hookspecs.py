"""Hook specifications: one callback-style hook per plugin kind, the one place their names are written.

Each kind's row of ``contract.KINDS`` holds its hook from here (``KindSpec.hookspec``; its name is
``KindSpec.hook``). A plugin module implements any of these with ``@harness.hookimpl`` and calls
``register`` with each plugin class it provides::

    @hookimpl
    def register_brain_datasets(register):
        register(MyDataset)
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT = "harness"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[[type], None]


@hookspec
def register_model_families(register: Register) -> None:
    """Register ``ModelFamily`` subclasses."""


@hookspec
def register_brain_datasets(register: Register) -> None:
    """Register ``BrainDataset`` subclasses."""


@hookspec
def register_tasks(register: Register) -> None:
    """Register ``Task`` subclasses."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register ``Metric`` subclasses."""
