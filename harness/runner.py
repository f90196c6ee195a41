"""The sweep: for each checkpoint, load once, extract once per stimulus set, compute and commit cells.

A cell that raises is recorded as failed with its error; the sweep goes on. Every finished cell
is committed at once, so a killed sweep resumes where it stopped.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

import harness
from harness.config import SweepConfig
from harness.devices import resolve_device
from harness.interfaces import CellOutput, Checkpoint, LoadedModel, MetricContext
from harness.planner import Cell, ModelPlan, Plan, make_plan
from harness.registry import Registry, get_registry
from harness.files import atomic_write_bytes, exclusive_lock, remove_stale_temporaries
from harness.store import CellRecord, RunStore
from harness.tables import export_tables

KIND_ORDER = {"task": 0, "brain": 1, "metric": 2}


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


def error_line(error: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _software() -> dict[str, str]:
    import torch
    import transformers

    return {"harness": harness.__version__, "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__}


class Sweep:
    """Runs the pending cells of a plan against one run store."""

    def __init__(self, plan: Plan, store: RunStore, registry: Registry, console: Console) -> None:
        self.plan, self.store, self.registry, self.console = plan, store, registry, console
        self.config: SweepConfig = plan.config
        self.device = resolve_device(self.config.device)
        self.cache_dir = self.config.cache_dir()
        self.activations: dict[tuple[str, int, str], Any] = {}
        self.failed_extractions: dict[tuple[str, int, str], BaseException] = {}
        self.scorers: dict[str, Any] = {}
        self._stories: dict[str, dict[str, list[str]]] = {}
        self._layer_cache: tuple[tuple[str, int], dict[str, np.ndarray]] | None = None
        self._software = _software()
        self._data_hashes: dict[str, str | None] = {}
        self.summary: SweepSummary | None = None

    # ------------------------------------------------------------------ helpers

    def _version(self, kind: str, name: str) -> str:
        return self.registry.plugins[kind][name].version

    def stories(self, label: str) -> dict[str, list[str]]:
        """The words of each story of a brain entry, read once."""
        if label not in self._stories:
            stories = self.plan.target(label).plugin.stories()
            self._stories[label] = {name: list(story.words) for name, story in sorted(stories.items())}
        return self._stories[label]

    def activation_set(self, model: ModelPlan, checkpoint: Checkpoint, stimulus: str, loaded: LoadedModel | None) -> Any:
        """Word-level activations of one checkpoint on one stimulus set (extracted once, cached)."""
        from harness.features import extract_activations

        key = (model.label, checkpoint.step, stimulus)
        if key in self.failed_extractions:
            raise self.failed_extractions[key]
        if key not in self.activations:
            try:
                if loaded is None:  # a reference checkpoint not loaded in this sweep
                    loaded = model.family.load(checkpoint, self.device)
                    try:
                        acts = extract_activations(loaded, self.stories(stimulus), self.config.features, self.cache_dir)
                    finally:
                        model.family.release(loaded)
                else:
                    acts = extract_activations(loaded, self.stories(stimulus), self.config.features, self.cache_dir)
            except Exception as error:
                self.failed_extractions[key] = error
                raise
            self.activations[key] = acts
        return self.activations[key]

    def layer(self, acts: Any, layer: int) -> dict[str, np.ndarray]:
        """One layer's activations per story; the last layer read is kept in memory."""
        key = (acts.key, layer)
        if self._layer_cache is None or self._layer_cache[0] != key:
            self._layer_cache = (key, acts.layer(layer))
        return self._layer_cache[1]

    def _stacked(self, acts: Any, layer: int) -> np.ndarray:
        per_story = self.layer(acts, layer)
        return np.concatenate([per_story[name] for name in sorted(per_story)], axis=0).astype(np.float32, copy=False)

    def _reference(self, model: ModelPlan, checkpoint: Checkpoint | None, layer: int) -> Callable[[], np.ndarray | None]:
        stimulus = self.config.stimulus_label()

        def fetch() -> np.ndarray | None:
            if checkpoint is None:
                return None
            return self._stacked(self.activation_set(model, checkpoint, stimulus, None), layer)

        return fetch

    def scorer(self, label: str) -> Any:
        from harness.encoding import BrainScorer

        if label not in self.scorers:
            target = self.plan.target(label)
            self.scorers[label] = BrainScorer(target.plugin, target.entry.encoding, device=self.device, seed=self.config.seed)
        return self.scorers[label]

    # ------------------------------------------------------------------ cells

    def compute(self, cell: Cell, model: ModelPlan, loaded: LoadedModel) -> tuple[CellOutput, dict[str, Any]]:
        """Run one cell; return its output and the provenance it adds."""
        target = self.plan.target(cell.target)
        if cell.kind == "task":
            workdir = self.store.run_dir / "work" / cell.target
            workdir.mkdir(parents=True, exist_ok=True)
            return CellOutput(list(target.plugin.evaluate(loaded, seed=self.config.seed, workdir=workdir))), {}
        stimulus = cell.target if cell.kind == "brain" else self.config.stimulus_label()
        acts = self.activation_set(model, cell.checkpoint, stimulus, loaded)
        extra = {"activation_key": acts.key, "stimulus": stimulus}
        assert cell.layer is not None
        if cell.kind == "brain":
            return self.scorer(cell.target).score(self.layer(acts, cell.layer)), extra
        steps = model.checkpoints
        position = steps.index(cell.checkpoint)
        context = MetricContext(
            checkpoint=cell.checkpoint,
            layer=cell.layer,
            seed=self.config.seed,
            previous=self._reference(model, steps[position - 1] if position else None, cell.layer),
            final=self._reference(model, steps[-1], cell.layer),
            device=self.device,
        )
        return CellOutput(list(target.plugin.compute(self._stacked(acts, cell.layer), context))), extra

    def record(self, cell: Cell, model: ModelPlan, commit: str | None, extra: dict[str, Any]) -> CellRecord:
        target = self.plan.target(cell.target)
        data_source = target if cell.kind != "metric" else self.plan.target(self.config.stimulus_label() or cell.target)
        if data_source.label not in self._data_hashes:  # read once per target, not per cell
            self._data_hashes[data_source.label] = getattr(data_source.plugin, "data_hash", lambda: "")() or None
        data_hash = self._data_hashes[data_source.label]
        plugin_name = target.plugin.name
        return CellRecord(
            cell_id=cell.cell_id,
            settings_hash=self.plan.settings[cell.cell_id],
            model=cell.model,
            family=model.family.name,
            step=cell.checkpoint.step,
            tokens=cell.checkpoint.tokens,
            revision=cell.checkpoint.revision,
            commit=commit,
            kind=cell.kind,
            target=cell.target,
            plugin=plugin_name,
            layer=cell.layer,
            seed=self.config.seed,
            config_hash=self.config.digest(),
            data_hash=data_hash,
            plugin_version=self._version(cell.kind, plugin_name),
            provenance={
                **self._software,
                "model_plugin": f"{model.family.name} {self._version('model', model.family.name)}",
                "target_plugin": f"{plugin_name} {self._version(cell.kind, plugin_name)}",
                "device": self.device,
                **extra,
            },
        )

    def fail(self, cell: Cell, model: ModelPlan, error: BaseException, elapsed: float, commit: str | None = None) -> None:
        message = error_line(error)
        self.store.commit_cell(self.record(cell, model, commit, {}), None, elapsed=elapsed, error=message)
        assert self.summary is not None
        self.summary.failed += 1
        self.summary.errors.append(f"{cell.cell_id}: {message}")
        self.console.print(f"[yellow]cell failed[/] {cell.cell_id}: {message}", highlight=False)

    # ------------------------------------------------------------------ checkpoints

    def run_checkpoint(self, model: ModelPlan, checkpoint: Checkpoint, cells: list[Cell], progress: Progress, bar: Any) -> None:
        started = time.perf_counter()
        progress.update(bar, description=f"{model.label} step {checkpoint.step}: loading")
        try:
            loaded = model.family.load(checkpoint, self.device)
        except Exception as error:  # noqa: BLE001 - the checkpoint's cells fail, the sweep goes on
            for cell in cells:
                self.fail(cell, model, error, time.perf_counter() - started)
                progress.advance(bar)
            return
        try:
            for cell in sorted(cells, key=lambda c: (-1 if c.layer is None else c.layer, KIND_ORDER[c.kind], c.target)):
                layer = "" if cell.layer is None else f" layer {cell.layer}"
                progress.update(bar, description=f"{model.label} step {checkpoint.step}: {cell.target}{layer}")
                started = time.perf_counter()
                try:
                    output, extra = self.compute(cell, model, loaded)
                    self.store.commit_cell(self.record(cell, model, loaded.commit, extra), output, elapsed=time.perf_counter() - started)
                except Exception as error:  # noqa: BLE001 - a failing plugin (or a bad Score) fails its cell only
                    self.fail(cell, model, error, time.perf_counter() - started, loaded.commit)
                else:
                    assert self.summary is not None
                    self.summary.done += 1
                progress.advance(bar)
        finally:
            self._layer_cache = None
            model.family.release(loaded)

    def groups(self, pending: list[Cell]) -> list[tuple[ModelPlan, Checkpoint, list[Cell]]]:
        """Pending cells by checkpoint; a family's last checkpoint first when drift needs it."""
        needs_final = any(getattr(t.plugin, "needs_reference", False) for t in self.plan.targets)
        groups = []
        for model in self.plan.models:
            order = list(model.checkpoints)
            if needs_final:
                order = order[-1:] + order[:-1]
            for checkpoint in order:
                cells = [c for c in pending if c.model == model.label and c.checkpoint == checkpoint]
                if cells:
                    groups.append((model, checkpoint, cells))
        return groups

    def run(self, pending: list[Cell], skipped: int, show_progress: bool = True) -> SweepSummary:
        self.summary = SweepSummary(self.store.run_dir, planned=len(self.plan.cells), skipped=skipped)
        groups = self.groups(pending)
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
        with Progress(*columns, console=self.console, disable=not show_progress, transient=False) as progress:
            checkpoints_bar = progress.add_task("checkpoints", total=len(groups))
            cells_bar = progress.add_task("cells", total=len(pending))
            for model, checkpoint, cells in groups:
                progress.update(checkpoints_bar, description=f"checkpoints ({model.label})")
                self.run_checkpoint(model, checkpoint, cells, progress, cells_bar)
                self.summary.tables = export_tables(self.store)
                progress.advance(checkpoints_bar)
            progress.update(cells_bar, description="cells")
        self.summary.tables = export_tables(self.store)
        return self.summary


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
) -> SweepSummary:
    """Plan, run the pending cells, export tables and (unless turned off) analyse the run."""
    console = console or Console(stderr=True)
    registry = registry or get_registry()
    plan = make_plan(config, registry, source)
    resolve_device(config.device)  # a device that is not there fails before anything is written
    run_dir = Path(config.run or "runs/sweep")
    with exclusive_lock(run_dir / ".lock", "this run directory"), RunStore(run_dir, create=True) as store:
        remove_stale_temporaries(run_dir)  # left by a killed sweep; never read as results
        write_config_copy(config, run_dir)
        pending = plan.pending(store.done_cells(), force)
        summary = Sweep(plan, store, registry, console).run(pending, len(plan.cells) - len(pending), show_progress)
    if config.analyze if analyze is None else analyze:
        result = analyze_if_available(run_dir, console)
        if result is not None:
            summary.report, summary.findings = result.report, result.summary_lines()
    return summary


def analyze_if_available(run_dir: Path, console: Console) -> Any:
    """Run the phase analysis and write the report; a failure is reported, never fatal to the sweep."""
    try:
        from harness.analysis import analyze_run
    except ImportError as error:
        console.print(f"[yellow]analysis skipped[/]: {error_line(error)}")
        return None
    try:
        return analyze_run(run_dir)
    except Exception as error:  # noqa: BLE001 - the sweep's results are already safe on disk
        console.print(f"[yellow]analysis failed[/]: {error_line(error)}")
        return None
