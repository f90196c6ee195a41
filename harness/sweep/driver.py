"""The sweep: for each checkpoint, load once, measure its pending cells and commit each at once.

A cell that raises is recorded as failed with its error; the sweep goes on. Every finished cell
is committed at once, so a killed sweep resumes where it stopped. A sweep runs in rounds: one
for fixed checkpoints, several when a model's checkpoints are ``adaptive:N`` (``harness.sweep.adaptive``
decides each next round from the results of the last).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from harness.plan.checks import check_run
from harness.plan.config import SweepConfig
from harness.plan.planner import Cell, ModelPlan, Plan, make_plan
from harness.plan.preflight import preflight
from harness.plugin.contract import Checkpoint
from harness.plugin.registry import Registry, get_registry
from harness.store.database import RunStore
from harness.store.logs import SweepLog, write_cell_log
from harness.store.provenance import Provenance
from harness.store.tables import export_tables
from harness.sweep.adaptive import AdaptiveRounds
from harness.sweep.executor import Executor, LocalExecutor
from harness.sweep.units import CellResult, WorkUnit, units_of
from harness.util.devices import resolve_device
from harness.util.errors import one_line
from harness.util.files import atomic_write_bytes, exclusive_lock, remove_stale_temporaries
from harness.util.paths import writes_deferred
from harness.views import AnalysisResult, analyze_run


@dataclass
class SweepSummary:
    """What a sweep did."""

    run_dir: Path
    planned: int
    skipped: int
    done: int = 0
    failed: int = 0
    tables: list[Path] = field(default_factory=list)
    report: Path | None = None
    errors: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # one line per model and brain dataset


class CheckpointProgress:
    """Two progress bars: checkpoints done, and cells done with the one being computed."""

    COLUMNS = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())

    def __init__(self, progress: Progress, checkpoints: int, cells: int) -> None:
        self.progress = progress
        self.checkpoints: TaskID = progress.add_task("checkpoints", total=checkpoints)
        self.cells: TaskID = progress.add_task("cells", total=cells)

    def doing(self, model: ModelPlan, checkpoint: Checkpoint, what: str) -> None:
        self.progress.update(self.checkpoints, description=f"checkpoints ({model.label})")
        self.progress.update(self.cells, description=f"{model.label} step {checkpoint.step}: {what}")

    def cell_done(self) -> None:
        self.progress.advance(self.cells)

    def checkpoint_done(self) -> None:
        self.progress.advance(self.checkpoints)


@contextmanager
def checkpoint_progress(console: Console, show: bool, checkpoints: int, cells: int) -> Iterator[CheckpointProgress]:
    """Progress bars on ``console`` for the block (nothing shown when ``show`` is false)."""
    with Progress(*CheckpointProgress.COLUMNS, console=console, disable=not show, transient=False) as progress:
        yield CheckpointProgress(progress, checkpoints, cells)


class Sweep:
    """Runs the pending cells of a plan against one run store: the executor computes, the sweep commits."""

    def __init__(self, plan: Plan, store: RunStore, console: Console, log: SweepLog | None = None,
                 debug: bool = False, executor: Executor | None = None) -> None:
        self.plan, self.store, self.console, self.log, self.debug = plan, store, console, log, debug
        self.executor = executor or LocalExecutor(plan, resolve_device(plan.config.device), store.run_dir / "work")
        self.provenance = Provenance(plan, self.executor.device)
        self._summary = SweepSummary(store.run_dir, planned=0, skipped=0)
        self._progress: CheckpointProgress | None = None

    def use(self, plan: Plan) -> None:
        """Measure the cells of ``plan`` from now on (the next round of an adaptive sweep: same plugins, more
        checkpoints)."""
        self.plan = self.provenance.plan = plan
        self.executor.use(plan)

    def rounds(self, rounds: AdaptiveRounds, force: bool = False, show_progress: bool = True) -> SweepSummary:
        """Run round after round until ``rounds`` adds no checkpoint; within one sweep a cell is tried once.

        Cells are pending when not finished with their current settings (every cell, with
        ``force``); a cell whose settings change in a later round (a metric whose previous
        checkpoint is a newly added one) is pending again.
        """
        plan = rounds.start(self.plan)
        before = {} if force else self.store.done_cells()
        tried: dict[str, str] = {}
        summary = SweepSummary(self.store.run_dir, planned=0, skipped=0)
        while True:
            self.use(plan)
            pending = plan.pending(self.store.done_cells(), force, tried)
            part = self.run(pending, show_progress)
            summary.done, summary.failed = summary.done + part.done, summary.failed + part.failed
            summary.errors += part.errors
            summary.tables = part.tables
            tried.update((c.cell_id, plan.settings[c.cell_id]) for c in pending)
            following = rounds.advance(plan)
            if following is None:
                break
            plan = following
        summary.planned = len(plan.cells)
        summary.skipped = sum(1 for c in plan.cells if before.get(c.cell_id) == plan.settings[c.cell_id])
        return summary

    def run(self, pending: list[Cell], show_progress: bool = True) -> SweepSummary:
        """Compute ``pending`` checkpoint by checkpoint; tables are re-exported after each checkpoint."""
        self._summary = summary = SweepSummary(
            self.store.run_dir, planned=len(self.plan.cells), skipped=len(self.plan.cells) - len(pending)
        )
        units = units_of(self.plan, pending)
        with checkpoint_progress(self.console, show_progress, len(units), len(pending)) as progress:
            self._progress = progress
            try:
                self.executor.run(units, self)
            finally:
                self._progress = None
        summary.tables = export_tables(self.store)
        return summary

    # ------------------------------------------------------------------ the executor reports here (Sink)

    def doing(self, unit: WorkUnit, what: str) -> None:
        if self._progress is not None:
            self._progress.doing(self.plan.model(unit.model), unit.checkpoint, what)

    def result(self, result: CellResult) -> None:
        """Commit one cell's result (or its failure) in one transaction."""
        cell, model = result.cell, self.plan.model(result.cell.model)
        if result.error is None:
            assert result.output is not None
            record = self.provenance.record(cell, model, result.commit, result.extra)
            try:
                self.store.commit_cell(record, result.output, elapsed=result.elapsed)
            except Exception as error:  # noqa: BLE001 - a bad Score fails its cell only
                self._fail(CellResult.failure(cell, error, result.elapsed, result.commit))
            else:
                self._summary.done += 1
                if self.log is not None:
                    self.log.cell_done(cell.cell_id, result.elapsed)
        else:
            self._fail(result)
        if self._progress is not None:
            self._progress.cell_done()

    def unit_done(self, unit: WorkUnit) -> None:
        self._summary.tables = export_tables(self.store)
        if self._progress is not None:
            self._progress.checkpoint_done()

    def _fail(self, result: CellResult) -> None:
        cell, message = result.cell, result.error or "unknown error"
        log = write_cell_log(self.store.run_dir, cell.cell_id, result.trace or message)
        record = self.provenance.record(cell, self.plan.model(cell.model), result.commit, {})
        recorded = self.store.commit_cell(record, None, elapsed=result.elapsed, error=message)
        kept = "; its earlier result is kept, marked stale" if recorded == "stale" else ""
        self._summary.failed += 1
        self._summary.errors.append(f"{cell.cell_id}: {message}")
        self.console.print(
            f"[yellow]cell failed[/] {cell.cell_id}: {message}{kept} (traceback: {log})", highlight=False
        )
        if self.debug:
            self.console.print(log.read_text(encoding="utf-8"), markup=False, highlight=False)
        if self.log is not None:
            self.log.cell_failed(cell.cell_id, message, log, recorded == "stale")


def make_executor(config: SweepConfig, plan: Plan, workdir: Path, *, ray_address: str | None = None,
                  workers: int | None = None) -> Executor:
    """The executor the config (or the command line's ``--executor``, ``--ray-address``, ``--workers``) asks for.

    Connecting to Ray (or starting it) happens here, before anything is written; a missing Ray or
    an unreachable cluster is a ``ConfigError``.
    """
    if config.executor == "ray":
        from harness.sweep.ray.executor import RayExecutor

        settings = config.ray.model_copy(
            update={k: v for k, v in (("address", ray_address), ("workers", workers)) if v is not None}
        )
        return RayExecutor(plan, settings, config.device, workdir)
    return LocalExecutor(plan, resolve_device(config.device), workdir)


def write_config_copy(config: SweepConfig, run_dir: Path) -> None:
    """The validated config, as the run used it, in RUN/config.yaml."""
    text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    atomic_write_bytes(run_dir / "config.yaml", text.encode())


def run_sweep(
    config: SweepConfig,
    *,
    source: str = "<config>",
    force: bool = False,
    console: Console | None = None,
    registry: Registry | None = None,
    show_progress: bool = True,
    analyze: bool | None = None,
    debug: bool = False,
    ray_address: str | None = None,
    workers: int | None = None,
    quiet: bool = False,
) -> SweepSummary:
    """Plan, run the pending cells, export tables and (unless turned off) analyse the run.

    ``ray_address`` and ``workers`` override the config's ``ray`` settings (``executor: ray``).

    Each sweep appends to ``RUN/logs/sweep.log``, preflight's notes first (printed on ``console`` too
    unless ``quiet``: a mistake is then the only line a failing sweep prints); ``debug`` prints a failing cell's
    traceback on
    ``console`` as it happens (it is in ``RUN/logs/cells/`` either way).
    """
    console = console or Console(stderr=True)
    overrides = {key: value for key, value in (("address", ray_address), ("workers", workers)) if value is not None}
    if overrides:  # the command line's cluster, for preflight's device check and the config copy
        config = config.model_copy(update={"ray": config.ray.model_copy(update=overrides)})
    plan = make_plan(config, registry or get_registry(), source)
    run_dir = check_run(config, source)
    # bad data, checkpoints or tasks fail here, before anything is written (the notes found before shown too)
    with writes_deferred():  # what the checks learnt is kept only once they have all passed
        notes = preflight(plan, None if quiet else partial(_say, console))
    # a Ray cluster that cannot be reached fails before anything is written
    executor = make_executor(config, plan, run_dir / "work", ray_address=ray_address, workers=workers)
    running = executor.notes()
    for note in running if not quiet else []:
        _say(console, note)
    notes += running
    with (
        closing(executor),
        exclusive_lock(run_dir / ".lock", "this run directory"),
        RunStore(run_dir, create=True) as store,
        SweepLog(run_dir) as log,
    ):
        for note in notes:
            log.write(f"preflight: {note}")
        remove_stale_temporaries(run_dir)  # left by a killed sweep; never read as results
        write_config_copy(config, run_dir)
        pending = plan.pending(store.done_cells(), force)
        if len(pending) < len(plan.cells) and not quiet:
            done = len(plan.cells) - len(pending)
            console.print(f"resuming: {done} of {len(plan.cells)} cells done, {len(pending)} to run, in {run_dir}",
                          highlight=False, markup=False)
        log.started(source, len(plan.cells), len(pending), f"{executor.device}, executor {config.executor}", force)
        sweep = Sweep(plan, store, console, log, debug, executor)
        summary = sweep.rounds(AdaptiveRounds(store, log, restart=force), force, show_progress)
        log.finished(summary.done, summary.failed)
        if config.analyze if analyze is None else analyze:  # under the lock: no second sweep writes meanwhile
            result = analyze_or_warn(run_dir, console, log)
            if result is not None:
                summary.report, summary.findings = result.report, result.summary_lines()
    return summary


def _say(console: Console, note: str) -> None:
    console.print(f"[dim]preflight[/] {note}", highlight=False)


def analyze_or_warn(run_dir: Path, console: Console, log: SweepLog | None = None) -> AnalysisResult | None:
    """Run the phase analysis and write the report; a failure is reported, never fatal to the sweep."""
    try:
        result = analyze_run(run_dir)
    except Exception as error:  # noqa: BLE001 - the sweep's results are already safe on disk
        console.print(f"[yellow]analysis failed[/]: {one_line(error)}")
        if log is not None:
            log.write(f"analysis FAILED: {one_line(error)}")
        return None
    if log is not None:
        log.write(f"analysis written: {result.report}")
    return result
