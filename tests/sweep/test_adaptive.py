"""Adaptive checkpoints end to end: the selector, the rounds a sweep runs, their record, and resuming them.

A weightless family on a half-octave grid (steps 0 ... 128, 1k tokens a step) and a task whose
instruction following jumps from 0 to 1 at step 20, between the published steps 16 and 24.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.plan.config import load_config
from harness.plan.selectors import AdaptiveSelector, adaptive_selector, parse_checkpoint_selector
from harness.store.database import RunStore
from harness.sweep import adaptive
from harness.sweep.adaptive import AdaptiveRounds, round_size
from harness.sweep.driver import run_sweep
from tests.support.adaptive_plugins import STEP_PLUGINS
from tests.support.plugin_packages import activate, write_plugin_package
from tests.support.stores import done_count, sweep_in_background, wait_for_done
from tests.support.tables import read_table

CONFIG = """
run: {run}
models:
  - family: stepfamily
    label: m
    checkpoints: {checkpoints}
    options: {{tokens_per_step: {tokens_per_step}}}
tasks:
  - task: jumptask
    options: {{sleep: {sleep}}}
analyze: false
"""
STEPS = [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128]


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = write_plugin_package(tmp_path / "site", "stepplug", STEP_PLUGINS)
    activate(site, monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "stepplug")
    return site


def _config(tmp_path: Path, run: str, checkpoints: str = "adaptive:8/3", sleep: float = 0.0, tokens_per_step: int = 1000) -> Path:
    path = tmp_path / f"{run}.yaml"
    path.write_text(CONFIG.format(run=tmp_path / run, checkpoints=checkpoints, sleep=sleep, tokens_per_step=tokens_per_step),
                    encoding="utf-8")
    return path


def _rounds(run: Path) -> dict[int, int]:
    """step -> the round that added it, from the run's cells table."""
    with RunStore(run) as store:
        cells = store.cells_frame()
    return {int(step): int(r) for step, r in zip(cells["step"], cells["round"])}


def _log(run: Path) -> list[str]:
    return [line.split(" ", 2)[2] for line in (run / "logs" / "sweep.log").read_text().splitlines()]


# --------------------------------------------------------------------------- the selector


def test_the_selector_and_its_default_first_round():
    assert adaptive_selector("adaptive:12") == AdaptiveSelector(12, 4)
    assert adaptive_selector(" Adaptive:30/5 ") == AdaptiveSelector(30, 5)
    assert adaptive_selector(["adaptive:3"]) == AdaptiveSelector(3, 3)
    assert adaptive_selector("adaptive:4") == AdaptiveSelector(4, 3)  # at least 3 in the first round
    assert adaptive_selector("log:4") is None and adaptive_selector([0, "last"]) is None
    assert parse_checkpoint_selector("adaptive:9/2") == [("adaptive", 9)]
    assert [round_size(n) for n in (0, 1, 2, 3, 8, 9)] == [0, 1, 1, 2, 4, 5]


@pytest.mark.parametrize(("checkpoints", "expected"), [
    ("adaptive:2", "bad selector 'adaptive:2': adaptive:N needs N >= 3 (the first, the last and one between)"),
    ("adaptive:0", "adaptive:N needs N >= 3"),
    ("adaptive:6/7", "bad selector 'adaptive:6/7': the first round's K must lie in 2..N (2..6)"),
    ("adaptive:6/1", "the first round's K must lie in 2..N"),
    ("adaptive:many", "bad selector 'adaptive:many': write adaptive:N or adaptive:N/K with whole numbers"),
    ("adaptive", "write adaptive:N or adaptive:N/K"),
    ("adaptivity:5", "or adaptive:N[/K] alone (N checkpoints, a log:K grid first, the rest chosen from the results)"),
    ("[adaptive:5, 0]", "adaptive:5 stands alone; it cannot be combined with other selectors"),
])
def test_a_bad_adaptive_selector_is_one_line_exit_2_before_anything_is_written(site, tmp_path, capsys, checkpoints, expected):
    path = _config(tmp_path, "run", checkpoints)
    for command in ("validate", "sweep"):
        assert main([command, str(path), "--quiet"] if command == "sweep" else [command, str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {path}: models[0].checkpoints: ") and expected in err[0], err
    assert not (tmp_path / "run").exists()


def test_tokens_that_do_not_grow_are_one_line(site, tmp_path, capsys):
    path = _config(tmp_path, "run", tokens_per_step=0)
    assert main(["sweep", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {path}: models[0].checkpoints: adaptive:N places checkpoints on the token axis, but stepfamily's "
                   "token counts do not grow with the step; give the family its tokens (e.g. the hf family's "
                   "tokens_per_step option) or use log:N")
    assert not (tmp_path / "run").exists()


def test_asking_for_as_many_as_published_measures_all_with_a_note(site, tmp_path, capsys):
    path = _config(tmp_path, "run", "adaptive:40")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert ("preflight: models[0].checkpoints: adaptive:40 asks for at least as many checkpoints as stepfamily "
            "publishes (15); all 15 are measured") in " ".join(out.split())
    assert "15 cells planned" in out and "adaptive checkpoints" not in out
    summary = run_sweep(load_config(path), show_progress=False)
    assert summary.done == 15
    with RunStore(tmp_path / "run") as store:
        assert store.cells_frame()["round"].isna().all()  # not an adaptive sweep: no rounds


def test_validate_shows_the_first_round(site, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["validate", str(_config(tmp_path, "run"))]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "adaptive:8/3 of 15; round 0: 0, 12, 128" in out
    assert "3 cells planned, 0 already done, 3 to run" in out and "the counts are round 0's" in out


# --------------------------------------------------------------------------- the rounds


def test_an_adaptive_sweep_measures_n_checkpoints_where_the_transition_is(site, tmp_path):
    run = tmp_path / "run"
    summary = run_sweep(load_config(_config(tmp_path, "run")), show_progress=False)
    assert (summary.planned, summary.skipped, summary.done, summary.failed) == (8, 0, 8, 0)
    rounds = _rounds(run)
    assert len(rounds) == 8 and {0, 128} <= set(rounds)  # exactly N, first and last included
    assert sorted(s for s, r in rounds.items() if r == 0) == [0, 12, 128]  # round 0: log:3
    assert {16, 24} <= set(rounds)  # the jump at step 20 is bracketed by neighbouring published steps
    assert rounds == {0: 0, 12: 0, 128: 0, 16: 1, 32: 1, 64: 1, 24: 2, 2: 3}
    with RunStore(run) as store:
        reasons = store.checkpoint_rounds("m")
    assert reasons[32] == (1, "transition 12k-128k tokens") and reasons[24] == (2, "transition 16k-32k tokens")
    assert reasons[2] == (3, "gap 0-12k tokens")  # 16k-24k holds no published step: the widest gap of the grid
    log = _log(run)
    assert "adaptive m: round 0, a log grid of 3 of the 8 checkpoints (15 published): steps 0, 12, 128" in log
    assert ("adaptive m: round 2: transition intervals (tokens) 16k-32k; adding step 24 (transition 16k-32k tokens)") in log
    assert log[-2] == "adaptive m: finished after round 3: 8 checkpoints measured"
    table = read_table(run / "tables" / "m__jumptask.csv")
    assert sorted(set(table["step"])) == sorted(rounds) and "round" not in table.columns  # the results table as ever
    from harness.views.frames import load_run

    cells = load_run(run).cells
    assert cells.set_index("step")["round"].to_dict() == rounds and str(cells["round"].dtype) == "Int64"


def test_the_interval_finder_is_one_injectable_callable(site, tmp_path, monkeypatch):
    seen = []

    def planted(results: pd.DataFrame, model: str) -> list[tuple[float, float]]:
        seen.append((model, sorted(set(results["step"]))))
        return [(2_000.0, 6_000.0)]

    monkeypatch.setattr(adaptive, "DEFAULT_INTERVALS", planted)
    run_sweep(load_config(_config(tmp_path, "run", "adaptive:5/3")), show_progress=False)
    assert seen[0] == ("m", [0, 12, 128])  # the first decision reads round 0's results only
    assert sorted(_rounds(tmp_path / "run")) == [0, 3, 4, 12, 128]  # inside 2k-6k: 3k (mid 3.46k), then 4k


def test_rerun_force_and_a_new_first_round(site, tmp_path):
    path = _config(tmp_path, "run")
    run_sweep(load_config(path), show_progress=False)
    first = _rounds(tmp_path / "run")
    again = run_sweep(load_config(path), show_progress=False)
    assert (again.planned, again.skipped, again.done) == (8, 8, 0) and _rounds(tmp_path / "run") == first
    assert "adaptive m: resuming after round 3: 8 of 8 checkpoints chosen, steps 0, 2, 12, 16, 24, 32, 64, 128" in _log(tmp_path / "run")
    forced = run_sweep(load_config(path), force=True, show_progress=False)
    assert (forced.skipped, forced.done) == (0, 8) and _rounds(tmp_path / "run") == first
    wider = _config(tmp_path, "run", "adaptive:8/4")  # another first round: the rounds start over, finished cells reused
    summary = run_sweep(load_config(wider), show_progress=False)
    assert summary.planned == 8 and summary.skipped >= 3
    assert "adaptive m: the recorded rounds started from another grid; starting over (finished cells are kept and reused)" in _log(tmp_path / "run")
    with RunStore(tmp_path / "run") as store:
        assert len(store.checkpoint_rounds("m")) == 8 and len(set(store.results_frame()["step"])) > 8  # nothing lost


# --------------------------------------------------------------------------- resuming


def _tables(run: Path) -> pd.DataFrame:
    return read_table(run / "tables" / "m__jumptask.csv").drop(columns=["config_hash"])  # the configs differ in 'sleep'


def test_interrupted_after_round_0_resumes_to_the_same_checkpoints_and_tables(site, tmp_path, monkeypatch):
    run_sweep(load_config(_config(tmp_path, "clean")), show_progress=False)

    def interrupt(self, plan):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(AdaptiveRounds, "advance", interrupt)
        with pytest.raises(KeyboardInterrupt):
            run_sweep(load_config(_config(tmp_path, "cut")), show_progress=False)
    assert sorted(_rounds(tmp_path / "cut")) == [0, 12, 128]
    resumed = run_sweep(load_config(_config(tmp_path, "cut")), show_progress=False)
    assert (resumed.skipped, resumed.done) == (3, 5)
    assert _rounds(tmp_path / "cut") == _rounds(tmp_path / "clean")
    pd.testing.assert_frame_equal(_tables(tmp_path / "clean"), _tables(tmp_path / "cut"))
    assert "sweep interrupted; finished cells are saved" in _log(tmp_path / "cut")


def test_sigkill_inside_a_later_round_resumes_to_an_uninterrupted_run(site, tmp_path):
    run_sweep(load_config(_config(tmp_path, "clean")), show_progress=False)
    killed = _config(tmp_path, "killed", sleep=0.3)
    process = sweep_in_background(killed, site)
    store = tmp_path / "killed" / "store.sqlite"
    wait_for_done(store, 4)  # round 0 is 3 cells: round 1 is under way
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    interrupted = done_count(store)
    assert 4 <= interrupted < 8
    resumed = run_sweep(load_config(killed), show_progress=False)
    assert resumed.skipped == interrupted and resumed.done == 8 - interrupted
    assert _rounds(tmp_path / "killed") == _rounds(tmp_path / "clean")
    pd.testing.assert_frame_equal(_tables(tmp_path / "clean"), _tables(tmp_path / "killed"))


def test_sigterm_stops_a_sweep_as_ctrl_c_does_and_the_resumed_sweep_says_so_first(site, tmp_path):
    run_sweep(load_config(_config(tmp_path, "clean")), show_progress=False)
    stopped = _config(tmp_path, "stopped", sleep=0.3)
    process = sweep_in_background(stopped, site, stderr=subprocess.PIPE)
    store = tmp_path / "stopped" / "store.sqlite"
    wait_for_done(store, 2)
    os.kill(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines()[-1] == "interrupted: finished cells are saved; run the same command again to resume"
    assert "sweep interrupted; finished cells are saved" in _log(tmp_path / "stopped")  # Ctrl-C's line
    saved = done_count(store)
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    resumed = subprocess.run([sys.executable, "-m", "harness.cli", "sweep", str(stopped), "--no-analyze"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    first = [line for line in resumed.stderr.splitlines() if not line.startswith("preflight")][0]
    counts = re.match(r"resuming: (\d+) of (\d+) cells done, (\d+) to run, in", first)
    assert counts is not None, resumed.stderr  # of the first round's cells: an adaptive sweep plans round by round
    done, planned, to_run = map(int, counts.groups())
    assert 0 < done <= saved and done + to_run == planned
    pd.testing.assert_frame_equal(_tables(tmp_path / "clean"), _tables(tmp_path / "stopped"))


def test_tables_equal_a_sweep_of_the_chosen_checkpoints_listed_by_hand(tmp_path, monkeypatch):
    """A metric reading the previous checkpoint is recomputed where a round inserts one before it."""
    from harness.plan.config import parse_config
    from tests.support.plugin_packages import TINY_GPT_PLUGINS

    activate(write_plugin_package(tmp_path / "site", "tinyplug", TINY_GPT_PLUGINS), monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "tinyplug")

    def config(run: str, checkpoints: object) -> dict:
        return {"run": str(tmp_path / run), "cache": str(tmp_path / "cache"), "analyze": False,
                "models": [{"family": "tinygpt", "checkpoints": checkpoints, "layers": [0, -1],
                            "options": {"steps": [0, 1, 2, 3, 4, 6, 8]}}],
                "brain": [{"dataset": "toybrain", "encoding": {"folds": 3, "alphas": [1, 10, 100]}}],
                "metrics": [{"metric": "distance"}], "features": {"context_tokens": 32, "stride": 16, "batch_size": 4}}

    adaptive_run = run_sweep(parse_config(config("adaptive", "adaptive:5/3")), show_progress=False)
    assert adaptive_run.failed == 0, adaptive_run.errors
    chosen = sorted(_rounds(tmp_path / "adaptive"))
    assert len(chosen) == 5 and adaptive_run.done > 5 * 2 * 2  # some distance cells were computed twice
    run_sweep(parse_config(config("by_hand", chosen)), show_progress=False)
    for name in ("tinygpt__toybrain.csv", "tinygpt__distance.csv"):
        tables = [read_table(tmp_path / run / "tables" / name).drop(columns=["config_hash"]) for run in ("adaptive", "by_hand")]
        pd.testing.assert_frame_equal(*tables)
