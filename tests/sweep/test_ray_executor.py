"""The Ray executor: a sweep of the tiny tinylm on simulated fMRI, run as Ray tasks on a local Ray instance
started inside the suite, gives the local executor's tables; a worker killed mid-task is retried; a rerun
resumes (nothing left to compute)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import ray

from harness import torch_threads
from harness.plan.config import RaySettings, parse_config
from harness.store.database import RunStore
from harness.sweep.driver import run_sweep
from harness.sweep.ray.executor import connect, disconnect
from harness.util.errors import ConfigError
from tests.support.plugin_packages import activate, write_plugin_package

pytestmark = pytest.mark.xdist_group("ray")  # one Ray instance per test session (pyproject: --dist loadgroup)

CRASH_ONCE = '''
import os
from pathlib import Path

from harness import PluginOptions, Score, Task, hookimpl


class CrashOnce(Task):
    """Kills the process it runs in the first time it is called (a worker dying mid-task), then scores the step."""

    name = "crashonce"

    class Options(PluginOptions):
        marker: str

    def evaluate(self, model, *, seed, workdir):
        marker = Path(self.options.marker)
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os._exit(17)
        return [Score("step_seen", float(model.checkpoint.step))]


@hookimpl
def register_tasks(register):
    register(CrashOnce)
'''


def _config(root: Path, run: str, executor: str) -> dict:
    return {  # tinylm trains once, in root/cache, for both runs
        "run": str(root / run),
        "cache": str(root / f"activations-{run}"),  # each run extracts its own activations
        "executor": executor,
        "ray": {"threads": 1, "retries": 2},
        "models": [{"family": "tinylm", "label": "tiny", "options": {"size": "tiny", "progress": False, "cache": str(root / "cache")},
                    "checkpoints": [0, 2, 8, 16], "layers": "all"}],
        "brain": [{"dataset": "simulated", "options": {"subjects": 2, "stories": 4, "words_per_story": 150, "voxels": 256},
                   "encoding": {"folds": 3, "alphas": [1, 10, 100, 1000]}}],
        "tasks": [{"task": "crashonce", "options": {"marker": str(root / "crashed-once")}}],
        "metrics": [{"metric": "drift"}],  # reads the previous and the final checkpoint: the tasks' dependencies
        "features": {"context_tokens": 32, "stride": 16},
        "analyze": False,
    }


def _niceness() -> int:
    return os.nice(0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """The same sweep on Ray (2 CPUs, its first task's worker killed) and locally on one thread."""
    root = tmp_path_factory.mktemp("ray")
    with pytest.MonkeyPatch.context() as patch:
        activate(write_plugin_package(root / "site", "crashplug", CRASH_ONCE), patch)
        patch.setenv("HARNESS_CACHE", str(root / "cache"))
        patch.delenv("HARNESS_PLUGINS", raising=False)
        connect(ray, RaySettings(workers=2))  # as a sweep with --workers 2 starts its Ray instance
        niceness = ray.get(ray.remote(_niceness).remote())
        try:
            on_ray = run_sweep(parse_config(_config(root, "ray", "ray")), show_progress=False)
            assert on_ray.failed == 0, on_ray.errors
            again = run_sweep(parse_config(_config(root, "ray", "ray")), show_progress=False)
            assert (again.done, again.skipped) == (0, again.planned)  # a rerun (a killed driver) resumes
        finally:
            disconnect(ray)
        with torch_threads(1):  # as each Ray task runs
            local = run_sweep(parse_config(_config(root, "local", "local")), show_progress=False)
        assert local.failed == 0, local.errors
    return {"root": root, "ray": root / "ray", "local": root / "local", "niceness": niceness}


def _results(run: Path) -> pd.DataFrame:
    with RunStore(run) as store:
        frame = store.results_frame()
    return frame.sort_values(["model", "step", "kind", "target", "layer", "scope", "metric"]).reset_index(drop=True)


def test_ray_tables_are_the_local_tables(runs):
    on_ray, local = _results(runs["ray"]), _results(runs["local"])
    assert len(on_ray) > 0 and set(on_ray.kind) == {"brain", "task", "metric"}
    pd.testing.assert_frame_equal(on_ray, local, check_exact=True)
    tables = sorted(p.name for p in (runs["ray"] / "tables").iterdir())
    assert tables == sorted(p.name for p in (runs["local"] / "tables").iterdir()) and "tiny__drift.csv" in tables
    for name in tables:
        if name.endswith(".csv"):
            assert (runs["ray"] / "tables" / name).read_bytes() == (runs["local"] / "tables" / name).read_bytes(), name


def test_workers_run_at_the_sweeps_own_priority(runs):
    assert runs["niceness"] == os.nice(0)  # not Ray's default 15, below everything else on the machine


def test_a_worker_killed_mid_task_is_retried(runs):
    crashed = int((runs["root"] / "crashed-once").read_text())
    import os

    assert crashed != os.getpid()  # it was a Ray worker that died, not the driver
    with RunStore(runs["ray"]) as store:
        cells = store.cells_frame()
    assert set(cells.status) == {"done"} and len(cells) == 4 * (1 + 2 * 3)  # 4 checkpoints x (task + 3 layers x 2)
    provenance = cells.provenance.iloc[0]
    assert '"device": "cpu"' in provenance


def test_executor_and_ray_settings_are_validated_in_one_line(tmp_path):
    data = _config(tmp_path, "bad", "dask")
    with pytest.raises(ConfigError, match=r"^<config>: executor: Input should be 'local' or 'ray'$"):
        parse_config(data)
    data = _config(tmp_path, "bad", "ray") | {"ray": {"workers": 0}}
    with pytest.raises(ConfigError, match=r"^<config>: ray.workers: Input should be greater than or equal to 1$"):
        parse_config(data)


def test_ray_missing_is_one_line_naming_the_extra(monkeypatch):
    import sys

    from harness.sweep.ray.executor import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pip install 'harness\[ray\]'"):
        import_ray()
