"""The sweep runner and run store: tables, resume, --force, failing cells, and SIGKILL safety."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
import pytest

from harness.plan.config import load_config
from harness.store.database import RunStore
from harness.sweep.driver import run_sweep
from tests.support.plugin_packages import TOY_PLUGINS, activate, write_plugin_package
from tests.support.stores import done_count, sweep_in_background, wait_for_done
from tests.support.tables import read_table

CONFIG = """
run: {run}
seed: 3
models:
  - family: toyfamily
    label: toy
    checkpoints: all
tasks:
  - task: toytask
    options: {{sleep: {sleep}, fail_at: {fail_at}}}
analyze: false
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = write_plugin_package(tmp_path / "site", "toyplug", TOY_PLUGINS)
    activate(site, monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "toyplug")
    return site


def _config(tmp_path: Path, run: str, sleep: float = 0.0, fail_at: str = "null") -> Path:
    path = tmp_path / f"{run}.yaml"
    path.write_text(CONFIG.format(run=tmp_path / run, sleep=sleep, fail_at=fail_at), encoding="utf-8")
    return path


def test_sweep_writes_long_tables_with_provenance(site, tmp_path):
    summary = run_sweep(load_config(_config(tmp_path, "run")), show_progress=False)
    assert (summary.planned, summary.done, summary.failed) == (5, 5, 0)
    table = read_table(tmp_path / "run" / "tables" / "toy__toytask.csv")
    assert len(table) == 10  # 5 checkpoints x 2 scopes
    pd.testing.assert_frame_equal(table, read_table(tmp_path / "run" / "tables" / "toy__toytask.parquet"), check_dtype=False)
    row = table[(table.step == 4) & (table.scope == "a")].iloc[0]
    assert row.value == pytest.approx(0.4 + 0.03) and row.tokens == 4000 and row.commit == "c4"
    assert row.revision == "step4" and row.seed == 3 and row.plugin == "toytask" and pd.isna(row.layer)
    cells = RunStore(tmp_path / "run").cells_frame()
    assert set(cells.status) == {"done"} and (cells.elapsed >= 0).all()
    assert "torch" in cells.provenance.iloc[0] and cells.config_hash.nunique() == 1
    assert (tmp_path / "run" / "config.yaml").is_file()


def test_rerun_skips_done_cells_and_force_recomputes(site, tmp_path):
    config = load_config(_config(tmp_path, "run"))
    run_sweep(config, show_progress=False)
    again = run_sweep(config, show_progress=False)
    assert (again.skipped, again.done) == (5, 0)
    forced = run_sweep(config, force=True, show_progress=False)
    assert (forced.skipped, forced.done) == (0, 5)
    assert len(RunStore(tmp_path / "run").results_frame()) == 10


def test_failing_cell_is_recorded_and_the_sweep_goes_on(site, tmp_path):
    config = load_config(_config(tmp_path, "run", fail_at="2"))
    summary = run_sweep(config, show_progress=False)
    assert (summary.done, summary.failed) == (4, 1)
    cells = RunStore(tmp_path / "run").cells_frame()
    failed = cells[cells.status == "failed"].iloc[0]
    assert failed.step == 2 and "RuntimeError: toytask cannot score step 2" in failed.error
    assert 2 not in set(RunStore(tmp_path / "run").results_frame().step)
    retried = run_sweep(config, show_progress=False)  # failed cells are retried, finished ones not
    assert (retried.skipped, retried.failed) == (4, 1)


def test_changed_settings_recompute_the_cells(site, tmp_path):
    run_sweep(load_config(_config(tmp_path, "run")), show_progress=False)
    text = _config(tmp_path, "run").read_text().replace("seed: 3", "seed: 4")
    path = tmp_path / "run.yaml"
    path.write_text(text)
    summary = run_sweep(load_config(path), show_progress=False)
    assert summary.done == 5
    assert set(RunStore(tmp_path / "run").results_frame().seed) == {4}


def test_a_second_sweep_on_a_busy_run_directory_is_refused(site, tmp_path):
    from harness.util.errors import HarnessError
    from harness.util.files import exclusive_lock

    config = load_config(_config(tmp_path, "run"))
    with exclusive_lock(tmp_path / "run" / ".lock", "this run directory"):
        with pytest.raises(HarnessError, match="in use by another process"):
            run_sweep(config, show_progress=False)
    assert run_sweep(config, show_progress=False).done == 5


def test_sigkill_mid_sweep_then_rerun_equals_an_uninterrupted_run(site, tmp_path):
    reference = run_sweep(load_config(_config(tmp_path, "clean", sleep=0.0)), show_progress=False)
    assert reference.done == 5
    killed = _config(tmp_path, "killed", sleep=0.4)
    process = sweep_in_background(killed, site)
    store = tmp_path / "killed" / "store.sqlite"
    wait_for_done(store, 2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    interrupted = done_count(store)
    assert 2 <= interrupted < 5
    resumed = run_sweep(load_config(killed), show_progress=False)
    assert resumed.skipped == interrupted and resumed.done == 5 - interrupted
    clean = read_table(tmp_path / "clean" / "tables" / "toy__toytask.csv")
    after = read_table(tmp_path / "killed" / "tables" / "toy__toytask.csv")
    columns = [c for c in clean.columns if c != "config_hash"]  # the configs differ in 'sleep' only
    pd.testing.assert_frame_equal(clean[columns], after[columns], check_dtype=False)
    assert not list((tmp_path / "killed").rglob("*.tmp"))


def test_cuda_without_a_gpu_is_one_line(site, tmp_path, capsys):
    import torch

    from harness.cli import main

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    path = _config(tmp_path, "run")
    path.write_text(path.read_text().replace("seed: 3", "seed: 3\ndevice: cuda"))
    for command in ("validate", "sweep"):  # validate finds it too, and the line names the config file
        assert main([command, str(path), "--quiet"][: 2 if command == "validate" else 3]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"error: {path}: device: 'cuda' was asked for but no CUDA device is visible; use 'cpu' or 'auto'"]
    assert not (tmp_path / "run").exists()


def test_labels_with_dots_keep_their_own_tables(site, tmp_path):
    path = _config(tmp_path, "run")
    path.write_text(path.read_text().replace("label: toy", "label: toy-1.4b"))
    run_sweep(load_config(path), show_progress=False)
    names = sorted(p.name for p in (tmp_path / "run" / "tables").iterdir())
    assert names == ["toy-1.4b__toytask.csv", "toy-1.4b__toytask.parquet"]


def test_a_failed_recompute_keeps_the_finished_result_marked_stale(site, tmp_path, capsys):
    from harness.cli import main

    run = tmp_path / "run"
    assert main(["sweep", "--quiet", str(_config(tmp_path, "run"))]) == 0
    before = read_table(run / "tables" / "toy__toytask.csv")
    assert before["stale"].isna().all()
    # new options recompute every cell; step 2's recompute fails
    assert main(["sweep", "--quiet", str(_config(tmp_path, "run", fail_at="2"))]) == 1
    err = capsys.readouterr().err
    assert "toy|2|task|toytask|-" in err and "earlier result is kept, marked stale" in err
    with RunStore(run) as store:
        results = store.results_frame()
        cells = store.cells_frame()
    kept = results[results.step == 2]
    assert len(kept) == 2 and kept["stale"].str.contains("toytask cannot score step 2").all()
    assert kept["value"].tolist() == before[before.step == 2]["value"].tolist()  # the old numbers, untouched
    assert results[results.step != 2]["stale"].isna().all()
    assert cells.set_index("cell_id").loc["toy|2|task|toytask|-", "status"] == "done"
    table = read_table(run / "tables" / "toy__toytask.csv")  # tables regenerated from the store agree
    assert table[table.step == 2]["stale"].notna().all() and len(table) == len(before)
    assert main(["show", str(run)]) == 0  # task rows have no layer: shown, not a crash
    shown = capsys.readouterr().out
    assert "toy x toytask" in shown and "stale" in shown and "toytask cannot score step 2" in shown
    log = run / "logs" / "cells" / "toy_2_task_toytask_-.log"
    assert "Traceback" in log.read_text() and "RuntimeError: toytask cannot score step 2" in log.read_text()
    # the next successful recompute clears the mark
    assert main(["sweep", "--quiet", str(_config(tmp_path, "run", fail_at="7"))]) == 0
    assert RunStore(run).results_frame()["stale"].isna().all()


@pytest.mark.parametrize("make", ["file_as_run", "garbage_store", "empty_store"])
def test_a_run_path_that_is_no_run_is_one_line(site, tmp_path, capsys, make):
    from harness.cli import main

    run = tmp_path / "run"
    if make == "file_as_run":
        run.write_text("not a directory")
    else:
        run.mkdir()
        (run / "store.sqlite").write_bytes(b"" if make == "empty_store" else b"this is no database" * 10)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for argv in (["sweep", "--quiet", str(_config(tmp_path, "run"))], ["show", str(run)], ["analyze", str(run)], ["leaderboard", str(run)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(run) in err[0], (argv, err)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".yaml"} == {
        p: b for p, b in before.items() if p.suffix != ".yaml"}


def test_tables_hold_exactly_the_stores_results(site, tmp_path):
    config = load_config(_config(tmp_path, "run"))
    run_sweep(config, show_progress=False)
    orphan = tmp_path / "run" / "tables" / "gone__toytask.csv"
    orphan.write_text("model,step\n")
    orphan.with_suffix(".parquet").write_bytes(b"")
    run_sweep(config, force=True, show_progress=False)
    assert sorted(p.name for p in (tmp_path / "run" / "tables").glob("*__*")) == ["toy__toytask.csv", "toy__toytask.parquet"]
