"""Work units: one checkpoint's pending cells, computed in whichever process an executor chooses.

A unit loads its checkpoint once (or takes one loaded ahead of time), extracts word-level
activations once per stimulus set, measures its cells in order and hands back one ``CellResult``
per cell. It never writes to the run store: the driver commits each result it receives.

On Ray a unit is cut in two: ``UnitWorker.extract`` (load, task cells, extraction) and
``UnitWorker.measure_extracted`` (brain and metric cells from the extracted activations), so
that a metric reading the previous and the final checkpoint waits for their extraction instead
of loading them again.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.features import ActivationSet
from harness.plan.planner import Cell, ModelPlan, Plan
from harness.plugin.contract import CellOutput, Checkpoint, Kind, LoadedModel
from harness.sweep.activations import ActivationProvider
from harness.sweep.measure import CellMeasurer
from harness.util.errors import one_line

Loaded = LoadedModel | BaseException  # a checkpoint in memory, or why it could not be loaded
Doing = Callable[[str], None]  # told what a unit is doing now ("loading", "brain layer 3")


@dataclass(frozen=True)
class WorkUnit:
    """The pending cells of one checkpoint of one model, in the order they are measured."""

    model: str  # the model's label
    checkpoint: Checkpoint
    cells: tuple[Cell, ...]

    @property
    def name(self) -> str:
        return f"{self.model} step {self.checkpoint.step}"

    def split(self) -> tuple[WorkUnit, WorkUnit]:
        """(the cells that need the loaded model: tasks; the cells that read activations: brain, metrics)."""
        tasks = tuple(c for c in self.cells if c.kind == Kind.TASK)
        return WorkUnit(self.model, self.checkpoint, tasks), WorkUnit(
            self.model, self.checkpoint, tuple(c for c in self.cells if c not in tasks)
        )


def units_of(plan: Plan, cells: list[Cell]) -> list[WorkUnit]:
    """``cells`` as work units, in sweep order (``Plan.checkpoint_groups``)."""
    return [
        WorkUnit(model.label, checkpoint, tuple(group)) for model, checkpoint, group in plan.checkpoint_groups(cells)
    ]


class RemoteError(Exception):
    """An error raised in another process, carried as its one-line form and traceback (it unpickles anywhere)."""

    def __init__(self, line: str, trace: str) -> None:
        super().__init__(line)
        self.line, self.trace = line, trace

    @classmethod
    def of(cls, error: BaseException) -> RemoteError:
        if isinstance(error, RemoteError):
            return error
        return cls(one_line(error), "".join(traceback.format_exception(error)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteError, (self.line, self.trace))


@dataclass
class CellResult:
    """What computing one cell gave: its output and provenance, or its error (one line and the full traceback)."""

    cell: Cell
    output: CellOutput | None
    extra: dict[str, Any]
    commit: str | None
    elapsed: float
    error: str | None = None
    trace: str = ""

    @classmethod
    def failure(cls, cell: Cell, error: BaseException, elapsed: float, commit: str | None) -> CellResult:
        remote = RemoteError.of(error)
        return cls(cell, None, {}, commit, elapsed, remote.line, remote.trace)


@dataclass
class Extraction:
    """What the first half of a split unit leaves for the second: the checkpoint's activations per stimulus set."""

    model: str
    step: int
    commit: str | None
    identity: str
    sets: dict[str, ActivationSet] = field(default_factory=dict)
    failures: dict[str, RemoteError] = field(default_factory=dict)  # stimulus -> why its extraction failed
    load_error: RemoteError | None = None  # the checkpoint itself could not be loaded


class UnitWorker:
    """Computes work units of a plan in this process, reading activations through one provider."""

    def __init__(self, plan: Plan, device: str, workdir: Path) -> None:
        self.plan, self.device = plan, device
        self.activations = ActivationProvider(plan, device, plan.config.cache_dir())
        self.measurer = CellMeasurer(plan, self.activations, device, workdir)

    def use(self, plan: Plan) -> None:
        """Measure the cells of ``plan`` from now on (the next round of an adaptive sweep)."""
        self.plan = self.activations.plan = self.measurer.plan = plan

    def model(self, unit: WorkUnit) -> ModelPlan:
        return self.plan.model(unit.model)

    def fetch(self, unit: WorkUnit) -> None:
        """Download the unit's checkpoint ahead of its load; a failure is left to ``load`` to report."""
        with suppress(Exception):  # the load that follows tries again and says why
            self.model(unit).family.fetch(unit.checkpoint)

    def load(self, unit: WorkUnit) -> Loaded:
        """The unit's checkpoint loaded on this process's device, or the error that prevented it."""
        try:
            return self.model(unit).family.load(unit.checkpoint, self.device)
        except Exception as error:  # noqa: BLE001 - the checkpoint's cells fail, the sweep goes on
            return error

    def release(self, unit: WorkUnit, loaded: Loaded) -> None:
        """Free a loaded checkpoint (and delete its downloaded files where the family is told to)."""
        if isinstance(loaded, LoadedModel):
            self.model(unit).family.release(loaded)

    def run(self, unit: WorkUnit, loaded: Loaded | None = None, doing: Doing | None = None) -> Iterator[CellResult]:
        """Load the checkpoint (unless ``loaded`` is given), measure each cell, release; one result per cell as it is
        done."""
        started = time.perf_counter()
        if loaded is None:
            if doing:
                doing("loading")
            loaded = self.load(unit)
        if isinstance(loaded, BaseException):
            for cell in unit.cells:
                yield CellResult.failure(cell, loaded, time.perf_counter() - started, None)
            return
        try:
            yield from self._measure(unit, loaded, doing)
        finally:
            self.activations.forget_layer()
            self.release(unit, loaded)

    def _measure(self, unit: WorkUnit, loaded: LoadedModel, doing: Doing | None) -> Iterator[CellResult]:
        """Each cell's result in the unit's order; a target's brain cells (every pending layer) are scored together
        when the first of them comes, each still reported, committed and failed on its own."""
        model = self.model(unit)
        brain: dict[str, tuple[tuple[CellOutput, dict[str, Any]] | Exception, float]] = {}
        for cell in unit.cells:
            if cell.kind == Kind.BRAIN and cell.cell_id not in brain:
                together = [
                    c for c in unit.cells if c.kind == Kind.BRAIN and c.target == cell.target and c.cell_id not in brain
                ]
                if doing:
                    doing(f"{cell.target} layers {', '.join(str(c.layer) for c in together)}")
                started = time.perf_counter()
                outcomes = self.measurer.measure_brain(together, model, loaded)
                share = (time.perf_counter() - started) / len(together)
                brain.update((c.cell_id, (outcomes[c.cell_id], share)) for c in together)
            if cell.cell_id in brain:
                outcome, elapsed = brain.pop(cell.cell_id)
                if isinstance(outcome, Exception):
                    yield CellResult.failure(cell, outcome, elapsed, loaded.commit)
                else:
                    yield CellResult(cell, outcome[0], outcome[1], loaded.commit, elapsed)
                continue
            if doing:
                doing(cell.target + ("" if cell.layer is None else f" layer {cell.layer}"))
            started = time.perf_counter()
            try:
                output, extra = self.measurer.measure(cell, model, loaded)
            except Exception as error:  # noqa: BLE001 - a failing plugin (or a bad Score) fails its cell only
                yield CellResult.failure(cell, error, time.perf_counter() - started, loaded.commit)
            else:
                yield CellResult(cell, output, extra, loaded.commit, time.perf_counter() - started)

    # ------------------------------------------------------------------ a unit cut in two (Ray)

    def extract(self, unit: WorkUnit, stimuli: list[str]) -> tuple[list[CellResult], Extraction]:
        """Load, measure the unit's cells (tasks), extract ``stimuli`` for the other half; release."""
        extraction = Extraction(unit.model, unit.checkpoint.step, None, "")
        started = time.perf_counter()
        loaded = self.load(unit)
        if isinstance(loaded, BaseException):
            extraction.load_error = RemoteError.of(loaded)
            return [CellResult.failure(c, loaded, time.perf_counter() - started, None) for c in unit.cells], extraction
        extraction.commit, extraction.identity = loaded.commit, loaded.identity
        try:
            results = list(self._measure(unit, loaded, None))
            model = self.model(unit)
            for stimulus in stimuli:
                try:
                    extraction.sets[stimulus] = self.activations.activations(model, unit.checkpoint, stimulus, loaded)
                except Exception as error:  # noqa: BLE001 - the cells reading it fail with this error
                    extraction.failures[stimulus] = RemoteError.of(error)
        finally:
            self.activations.forget_layer()
            self.release(unit, loaded)
        return results, extraction

    def measure_extracted(self, unit: WorkUnit, extractions: list[Extraction | None]) -> list[CellResult]:
        """The unit's brain and metric cells from activations extracted elsewhere (its own checkpoint's first).

        A reference checkpoint (a metric's previous or final) missing from ``extractions`` is loaded
        and extracted here, as in a local sweep.
        """
        own = extractions[0]
        assert own is not None and own.step == unit.checkpoint.step
        if own.load_error is not None:
            return [CellResult.failure(c, own.load_error, 0.0, None) for c in unit.cells]
        for extraction in extractions:
            if extraction is not None:
                self.activations.provide(extraction.model, extraction.step, extraction.sets, extraction.failures)
        # never used: activations are provided
        placeholder = LoadedModel(None, None, unit.checkpoint, own.identity, own.commit, self.device)
        try:
            return list(self._measure(unit, placeholder, None))
        finally:
            self.activations.forget_layer()
