"""What a Ray worker runs: the two halves of a work unit, against a plan rebuilt from the config.

A worker receives the validated config (as JSON), the steps of each model in the current round,
and the driver's environment (harness, Hugging Face and tokenizer variables, ``sys.path`` and the
working directory, so that relative paths and plugin packages resolve as on the driver). It
builds the plan once and keeps it, with its plugins and their loaded data, for the next units it
runs. Nothing here writes to the run store: results go back to the driver.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.plan.config import parse_config
from harness.plan.planner import Plan, make_plan
from harness.plugin.registry import get_registry, reset_registry
from harness.sweep.units import CellResult, Extraction, UnitWorker, WorkUnit
from harness.util.threads import torch_threads

ENV_PREFIXES = ("HARNESS_", "HF_", "TRANSFORMERS_", "TOKENIZERS_")


@dataclass(frozen=True)
class PlanSpec:
    """Everything a worker needs to rebuild the driver's plan of the current round."""

    config: dict[str, Any]  # SweepConfig.model_dump(mode="json")
    source: str
    steps: dict[str, list[int]]  # model label -> the checkpoints of this round
    device: str  # resolved on the cluster: "cpu" or "cuda"
    workdir: str  # the run's scratch folder (tasks), absolute
    threads: int


@dataclass(frozen=True)
class DriverEnvironment:
    """The parts of the driver's environment a worker adopts."""

    variables: dict[str, str]
    sys_path: tuple[str, ...]
    cwd: str

    @classmethod
    def here(cls) -> DriverEnvironment:
        variables = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
        return cls(variables, tuple(p for p in sys.path if p), os.getcwd())

    def adopt(self) -> None:
        """Make this process's environment match (variables with our prefixes, import path, working directory)."""
        for key in [k for k in os.environ if k.startswith(ENV_PREFIXES) and k not in self.variables]:
            del os.environ[key]
        os.environ.update(self.variables)
        missing = [p for p in self.sys_path if p not in sys.path]
        sys.path[:0] = missing
        if Path(self.cwd).is_dir():
            os.chdir(self.cwd)


_WORKER: tuple[str, UnitWorker] | None = None  # the last plan this worker built, by its key


def _worker(spec: PlanSpec, environment: DriverEnvironment) -> UnitWorker:
    global _WORKER
    key = json.dumps([spec.config, spec.source, spec.steps, spec.device, spec.workdir, environment.variables,
                      environment.sys_path], sort_keys=True, default=str)
    if _WORKER is None or _WORKER[0] != key:
        environment.adopt()
        reset_registry()  # the plugins the driver's environment names
        plan: Plan = make_plan(parse_config(spec.config, spec.source), get_registry(), spec.source).with_steps(
            spec.steps
        )
        _WORKER = (key, UnitWorker(plan, spec.device, Path(spec.workdir)))
    return _WORKER[1]


def extract_unit(
    spec: PlanSpec, environment: DriverEnvironment, unit: WorkUnit, stimuli: list[str]
) -> tuple[list[CellResult], Extraction]:
    """First half: load the checkpoint, measure its task cells, extract ``stimuli``."""
    with torch_threads(spec.threads):
        return _worker(spec, environment).extract(unit, stimuli)


def measure_unit(spec: PlanSpec, environment: DriverEnvironment, unit: WorkUnit, own: Extraction,
                 previous: Extraction | None, final: Extraction | None) -> list[CellResult]:
    """Second half: the brain and metric cells from the extracted activations."""
    with torch_threads(spec.threads):
        return _worker(spec, environment).measure_extracted(unit, [own, previous, final])
