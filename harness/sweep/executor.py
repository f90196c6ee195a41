"""Executors: where the work units of a sweep run. The driver (``harness.sweep.driver``) stays the single writer.

An executor takes the units of a round and reports back, through a ``Sink``, each cell's result
as it arrives and each unit once all its cells are in; the sink commits every result in its own
transaction. ``local`` runs the units one after the other in this process (``prefetch: N`` loads
the next checkpoints meanwhile); ``ray`` runs them as Ray tasks (``harness.sweep.ray.executor``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import partial
from pathlib import Path
from typing import Protocol

from harness.plan.planner import Plan
from harness.sweep.prefetch import Prefetcher
from harness.sweep.units import CellResult, Loaded, UnitWorker, WorkUnit


class Sink(Protocol):
    """Where an executor reports (the driver)."""

    def doing(self, unit: WorkUnit, what: str) -> None:
        """``unit`` is now ``what`` ("loading", "brain layer 3")."""

    def result(self, result: CellResult) -> None:
        """One cell is finished (or failed): commit it."""

    def unit_done(self, unit: WorkUnit) -> None:
        """Every cell of ``unit`` has been reported."""


class Executor(ABC):
    """Runs work units of a plan and reports to a sink."""

    device: str  # the torch device cells are computed on, as recorded in provenance

    @abstractmethod
    def use(self, plan: Plan) -> None:
        """Run the units of ``plan`` from now on (the next round of an adaptive sweep)."""

    @abstractmethod
    def run(self, units: list[WorkUnit], sink: Sink) -> None:
        """Compute ``units``; return once every cell has been reported."""

    def close(self) -> None:  # noqa: B027 - most executors hold nothing
        """Give back what the executor holds (a Ray instance it started)."""

    def notes(self) -> list[str]:
        """What the user should know about how the sweep runs (printed with the preflight notes)."""
        return []


class LocalExecutor(Executor):
    """Units one after the other in this process; with ``prefetch: N`` the next N checkpoints load meanwhile."""

    def __init__(self, plan: Plan, device: str, workdir: Path) -> None:
        self.device = device
        self.worker = UnitWorker(plan, device, workdir)
        self.depth = plan.config.prefetch

    def use(self, plan: Plan) -> None:
        self.worker.use(plan)
        self.depth = plan.config.prefetch

    def run(self, units: list[WorkUnit], sink: Sink) -> None:
        with Prefetcher[WorkUnit, Loaded](
            units, self.worker.load, self.worker.release, self.depth, self.worker.fetch
        ) as ahead:
            for unit in units:
                sink.doing(unit, "loading")
                loaded = ahead.take()
                for result in self.worker.run(unit, loaded, partial(sink.doing, unit)):
                    sink.result(result)
                sink.unit_done(unit)
