"""prefetch: N loads the next checkpoints while one is measured: same order, same tables, loads overlapping
measurement, never more than N + 1 checkpoints loaded, each released once measured (and those loaded ahead
of an interrupted sweep released too)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.plan.config import parse_config
from harness.store.database import RunStore
from harness.sweep.driver import run_sweep
from harness.sweep.prefetch import Prefetcher
from harness.util.errors import ConfigError
from tests.support.plugin_packages import activate, write_plugin_package

SLOW_PLUGINS = '''
import threading
import time

from harness import Checkpoint, LoadedModel, ModelFamily, PluginOptions, Score, Task, hookimpl

_LOCK = threading.Lock()


def event(log, what, step):
    with _LOCK, open(log, "a") as handle:
        handle.write(f"{what} {step} {time.perf_counter():.6f} {threading.current_thread().name}\\n")


class SlowFamily(ModelFamily):
    """Checkpoints whose load sleeps (a download); every load and release is logged."""

    name = "slowfamily"

    class Options(PluginOptions):
        steps: list[int] = [0, 1, 2, 3, 4, 5]
        load_sleep: float = 0.2
        log: str

    def checkpoints(self):
        return [Checkpoint(s, s * 100, f"step{s}") for s in self.options.steps]

    def num_layers(self):
        return 1

    def load(self, checkpoint, device="cpu"):
        event(self.options.log, "load-start", checkpoint.step)
        time.sleep(self.options.load_sleep)
        event(self.options.log, "load-end", checkpoint.step)
        return LoadedModel(model=object(), tokenizer=None, checkpoint=checkpoint, identity="slow", commit=f"c{checkpoint.step}")

    def release(self, loaded):
        event(self.options.log, "release", loaded.checkpoint.step)
        loaded.model = None


class SlowTask(Task):
    """Scores the step after sleeping (the measurement)."""

    name = "slowtask"

    class Options(PluginOptions):
        sleep: float = 0.3
        log: str

    def evaluate(self, model, *, seed, workdir):
        assert model.model is not None, "measured a released checkpoint"
        event(self.options.log, "measure-start", model.checkpoint.step)
        time.sleep(self.options.sleep)
        event(self.options.log, "measure-end", model.checkpoint.step)
        return [Score("acc", model.checkpoint.step / 10 + seed)]


@hookimpl
def register_model_families(register):
    register(SlowFamily)


@hookimpl
def register_tasks(register):
    register(SlowTask)
'''


@pytest.fixture
def site(tmp_path, monkeypatch):
    activate(write_plugin_package(tmp_path / "site", "slowplug", SLOW_PLUGINS), monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "slowplug")


def _sweep(tmp_path: Path, run: str, prefetch: int) -> tuple[pd.DataFrame, list[tuple[str, int, float]]]:
    log = tmp_path / "events.log"  # one path for every run: options (and so the config hash) stay the same
    config = parse_config({
        "run": str(tmp_path / run), "prefetch": prefetch, "analyze": False,
        "models": [{"family": "slowfamily", "options": {"log": str(log)}}],
        "tasks": [{"task": "slowtask", "options": {"log": str(log)}}],
    })
    summary = run_sweep(config, show_progress=False)
    assert summary.failed == 0, summary.errors
    with RunStore(tmp_path / run) as store:
        results = store.results_frame()
    events = [(what, int(step), float(t)) for what, step, t, _ in (line.split() for line in log.read_text().splitlines())]
    log.unlink()
    return results, events


def _times(events: list[tuple[str, int, float]], what: str) -> dict[int, float]:
    return {step: t for kind, step, t in events if kind == what}


def test_prefetch_overlaps_loading_with_measuring_and_changes_no_result(site, tmp_path):
    plain, plain_events = _sweep(tmp_path, "plain", 0)
    ahead, events = _sweep(tmp_path, "ahead", 2)
    pd.testing.assert_frame_equal(plain, ahead, check_exact=True)
    order = [step for kind, step, _ in events if kind == "measure-start"]
    assert order == [step for kind, step, _ in plain_events if kind == "measure-start"] == [0, 1, 2, 3, 4, 5]
    assert [step for kind, step, _ in events if kind == "release"] == order  # each released once measured, in order
    starts, ends, loaded = _times(events, "load-start"), _times(events, "measure-end"), _times(events, "load-end")
    assert all(starts[step + 1] < ends[step] for step in range(5))  # the next load ran while this one was measured
    plain_starts, plain_ends = _times(plain_events, "load-start"), _times(plain_events, "measure-end")
    assert all(plain_starts[step + 1] > plain_ends[step] for step in range(5))  # without prefetch, one after the other
    held = 0
    for kind, _, _ in sorted(events, key=lambda e: e[2]):
        held += {"load-end": 1, "release": -1}.get(kind, 0)
        assert held <= 3  # the checkpoint measured and two ahead
    assert max(loaded.values()) < max(ends.values())


def test_prefetcher_releases_what_it_loaded_ahead_when_stopped():
    loaded, released = [], []
    gate = threading.Event()

    def load(unit: int) -> str:
        if unit == 2:
            gate.wait(5)
        loaded.append(unit)
        return f"model{unit}"

    with Prefetcher(list(range(6)), load, lambda unit, item: released.append((unit, item)), depth=2) as ahead:
        assert ahead.take() == "model0"
        time.sleep(0.05)  # unit 1 loads, unit 2 waits on the gate
        gate.set()
    assert loaded == [0, 1, 2]  # units 3.. were never started
    assert released == [(1, "model1"), (2, "model2")]


def test_prefetch_must_be_a_count(tmp_path):
    with pytest.raises(ConfigError, match=r"^<config>: prefetch: Input should be greater than or equal to 0$"):
        parse_config({"prefetch": -1, "models": [{"family": "x"}], "tasks": [{"task": "y"}]})


def test_fetches_run_side_by_side_and_loads_one_after_the_other_in_order():
    """prefetch: 2 keeps two downloads in flight; models are built in sweep order, each after its own download."""
    log: list[tuple[str, int, float]] = []
    lock = threading.Lock()

    def note(what: str, unit: int) -> None:
        with lock:
            log.append((what, unit, time.perf_counter()))

    def fetch(unit: int) -> None:
        note("fetch-start", unit)
        time.sleep(0.2)
        if unit == 3:
            raise OSError("connection reset")  # the load tries again and reports it
        note("fetch-end", unit)

    def load(unit: int) -> str:
        note("load-start", unit)
        time.sleep(0.02)
        note("load-end", unit)
        return f"model{unit}"

    with Prefetcher(list(range(5)), load, lambda unit, item: None, depth=2, fetch=fetch) as ahead:
        assert [ahead.take() for _ in range(5)] == [f"model{u}" for u in range(5)]
    first = {(what, unit): t for what, unit, t in reversed(log)}
    assert first[("fetch-start", 1)] < first[("fetch-end", 0)]  # two downloads at once
    assert [unit for what, unit, _ in log if what == "load-start"] == [0, 1, 2, 3, 4]
    assert all(first[("load-start", u)] >= first[("fetch-end", u)] for u in (0, 1, 2, 4))
    assert first[("load-start", 3)] > first[("fetch-start", 3)] + 0.15  # after its failed fetch
    building = sorted((t, +1 if what == "load-start" else -1) for what, _, t in log if what.startswith("load"))
    assert max(sum(step for _, step in building[: i + 1]) for i in range(len(building))) == 1  # one model built at a time


def test_a_stopped_sweep_releases_checkpoints_fetched_ahead():
    """A checkpoint downloaded ahead but not yet loaded is loaded and released (``delete_after`` deletes its files)."""
    fetched, released = [], []
    gate = threading.Event()

    def load(unit: int) -> str:
        if unit == 1:
            gate.wait(5)  # unit 1's load is slow: unit 2 is fetched but its load waits in line
        return f"model{unit}"

    with Prefetcher(list(range(6)), load, lambda unit, item: released.append((unit, item)), depth=2,
                    fetch=fetched.append) as ahead:
        assert ahead.take() == "model0"
        time.sleep(0.05)
        gate.set()
    assert sorted(fetched) == [0, 1, 2]  # units 3.. were never started
    assert released == [(1, "model1"), (2, "model2")]
