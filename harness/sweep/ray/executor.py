"""The Ray executor: each work unit as two Ray tasks, the driver committing results as they arrive.

A unit's first task loads the checkpoint (reserving a GPU when the sweep runs on CUDA), measures
its task cells and extracts its activations; the second measures its brain and metric cells from
those activations, once they and the activations of the checkpoints its metrics compare with (the
previous and the final one) are extracted. Both reserve ``ray.threads`` CPUs and, when set,
``ray.memory_gb``. A task whose worker process dies is run again (``ray.retries`` times); a
plugin error is not a crash: it fails its cell, as in a local sweep.

Ray is imported here only: the local executor needs nothing of it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.plan.config import RaySettings
from harness.plan.planner import Plan
from harness.sweep.executor import Executor, Sink
from harness.sweep.ray.guard import guarded_start, stop_guard
from harness.sweep.ray.worker import DriverEnvironment, PlanSpec, extract_unit, measure_unit
from harness.sweep.units import CellResult, WorkUnit
from harness.util.errors import ConfigError, one_line

INSTALL = "pip install 'harness[ray]'"
# the guard of the Ray instance this process started (harness.sweep.ray.guard)
_guard: subprocess.Popen[bytes] | None = None


def import_ray() -> Any:
    """The ``ray`` module; a ``ConfigError`` naming the extra to install when it is missing."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"executor: ray needs the Ray package, which is not installed; {INSTALL}") from None
    return ray


def connect(ray: Any, settings: RaySettings) -> bool:
    """Join the cluster at ``settings.address``, or start a Ray instance here; True when this call started one.

    A Ray instance started here runs its workers at the sweep's own priority (Ray's default puts
    them at niceness 15, below every other process on the machine: a sweep on Ray would then
    yield to whatever else runs, where the local executor does not), and ends with this process,
    even when it is killed (``harness.sweep.ray.guard``; ``disconnect`` shuts it down and stops the guard).
    """
    global _guard
    if ray.is_initialized():
        return False
    if settings.address is None:
        cpus = (settings.workers or os.cpu_count() or 1) * settings.threads
        with guarded_start() as guard:
            try:
                ray.init(
                    address="local",
                    num_cpus=cpus,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                    _system_config={"worker_niceness": os.nice(0)},
                )
            except BaseException:
                stop_guard(guard)
                raise
        stop_guard(_guard)
        _guard = guard
    else:
        try:
            ray.init(address=settings.address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ConfigError(
                f"ray.address: cannot connect to the Ray cluster at {settings.address!r}: {one_line(error)}; "
                "start one with `ray start --head` or leave --ray-address out to run Ray on this machine"
            ) from None
    return True


def disconnect(ray: Any) -> None:
    """Shut down the Ray instance ``connect`` started (its guard stopped first: nothing is left to clean)."""
    global _guard
    stop_guard(_guard)
    _guard = None
    if ray.is_initialized():
        ray.shutdown()


def cluster_device(ray: Any, device: str) -> str:
    """The config's ``device`` on the cluster: 'auto' is 'cuda' when it has GPUs; 'cuda' without any is a
    ``ConfigError``."""
    gpus = float(ray.cluster_resources().get("GPU", 0))
    if device == "auto":
        return "cuda" if gpus > 0 else "cpu"
    if device.startswith("cuda") and gpus <= 0:
        raise ConfigError(f"device: {device!r} was asked for but the Ray cluster has no GPU; use 'cpu' or 'auto'")
    return device


@dataclass
class _Pending:
    """A unit in flight: its result references still out, the extraction reference of its first half."""

    unit: WorkUnit
    extraction: Any = None
    outstanding: set[Any] = field(default_factory=set)


class RayExecutor(Executor):
    """Work units as Ray tasks on a local instance or a cluster."""

    def __init__(self, plan: Plan, settings: RaySettings, device: str, workdir: Path) -> None:
        self.ray = import_ray()
        self.settings, self.plan, self.workdir = settings, plan, Path(workdir).resolve()
        self.started = connect(self.ray, settings)
        try:
            self.device = cluster_device(self.ray, device)
        except ConfigError:
            self.close()
            raise
        self.environment = DriverEnvironment.here()

    def use(self, plan: Plan) -> None:
        self.plan = plan

    def notes(self) -> list[str]:
        resources = self.ray.cluster_resources()
        where = (
            "a Ray instance started here"
            if self.started
            else f"the Ray cluster at {self.settings.address or 'this process'}"
        )
        notes = [f"executor ray: {where} ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs); "
                 f"{self.settings.threads} thread(s) per task, device {self.device}"]
        if self.plan.config.prefetch:
            notes.append(
                "prefetch applies to the local executor; on Ray, workers load checkpoints while others measure"
            )
        return notes

    def _spec(self) -> PlanSpec:
        plan = self.plan
        return PlanSpec(
            plan.config.model_dump(mode="json"),
            plan.source,
            {m.label: [c.step for c in m.checkpoints] for m in plan.models},
            self.device,
            str(self.workdir),
            self.settings.threads,
        )

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "num_cpus": self.settings.threads,
            "max_retries": self.settings.retries,
            "retry_exceptions": False,
        }
        if self.device.startswith("cuda"):
            options["num_gpus"] = 1
        if self.settings.memory_gb:
            options["memory"] = int(self.settings.memory_gb * 2**30)
        return options

    def run(self, units: list[WorkUnit], sink: Sink) -> None:
        ray, spec_ref, env_ref = self.ray, self.ray.put(self._spec()), self.ray.put(self.environment)
        extract = ray.remote(extract_unit).options(num_returns=2, **self._options())
        measure = ray.remote(measure_unit).options(**self._options())
        references = any(t.needs_reference for t in self.plan.targets)
        extractions: dict[tuple[str, int], Any] = {}
        by_ref: dict[Any, tuple[_Pending, WorkUnit]] = {}
        pendings = []
        # the final checkpoints first: every unit compares with them
        for unit in sorted(units, key=lambda u: not self._is_final(u)):
            pending = _Pending(unit)
            tasks, rest = unit.split()
            stimuli = sorted({s for c in rest.cells if (s := self.plan.target(c.target).stimulus) is not None})
            results, pending.extraction = extract.remote(spec_ref, env_ref, tasks, stimuli)
            extractions[(unit.model, unit.checkpoint.step)] = pending.extraction
            pending.outstanding = {results}
            by_ref[results] = (pending, tasks)
            pendings.append((pending, rest))
        for pending, rest in pendings:  # every extraction is submitted: each unit's references are known
            if rest.cells:
                previous, final = self._references(pending.unit, extractions) if references else (None, None)
                ref = measure.remote(spec_ref, env_ref, rest, pending.extraction, previous, final)
                pending.outstanding.add(ref)
                by_ref[ref] = (pending, rest)
            sink.doing(pending.unit, "queued on Ray")
        self._collect(by_ref, sink)

    def _is_final(self, unit: WorkUnit) -> bool:
        model = self.plan.model(unit.model)
        return bool(model.checkpoints) and unit.checkpoint.step == model.checkpoints[-1].step

    def _references(self, unit: WorkUnit, extractions: dict[tuple[str, int], Any]) -> tuple[Any, Any]:
        """The extraction references of the previous and the final checkpoint, where this round extracts them."""
        model = self.plan.model(unit.model)
        steps = [c.step for c in model.checkpoints]
        position = steps.index(unit.checkpoint.step)
        previous = extractions.get((unit.model, steps[position - 1])) if position else None
        final = extractions.get((unit.model, steps[-1])) if steps[-1] != unit.checkpoint.step else None
        return previous, final

    def _collect(self, by_ref: dict[Any, tuple[_Pending, WorkUnit]], sink: Sink) -> None:
        ray = self.ray
        waiting = list(by_ref)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            for ref in ready:
                pending, part = by_ref.pop(ref)
                for result in self._results(ref, part):
                    sink.result(result)
                pending.outstanding.discard(ref)
                if not pending.outstanding:
                    sink.unit_done(pending.unit)

    def _results(self, ref: Any, part: WorkUnit) -> list[CellResult]:
        """A task's cell results; when the task itself failed (its worker died more often than retried), each cell fails
        with why."""
        try:
            results: list[CellResult] = self.ray.get(ref)
        except Exception as error:  # noqa: BLE001 - a lost task fails its cells, the sweep goes on
            return [CellResult.failure(cell, error, 0.0, None) for cell in part.cells]
        return results

    def close(self) -> None:
        if self.started:
            disconnect(self.ray)
        self.started = False

