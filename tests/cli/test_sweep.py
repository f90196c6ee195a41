"""``harness sweep``: the sweep log in RUN/logs/sweep.log and ``--debug`` tracebacks, through the CLI."""

from __future__ import annotations

import re

import pytest

from harness.cli import main
from tests.cli.test_runs import toy_config
from tests.support.plugin_packages import TOY_PLUGINS, activate, write_plugin_package


@pytest.fixture
def site(tmp_path, monkeypatch):
    activate(write_plugin_package(tmp_path / "site", "toyplug", TOY_PLUGINS), monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "toyplug")


def test_debug_prints_the_traceback_of_a_failing_cell_as_it_fails(site, tmp_path, capsys):
    config = toy_config(tmp_path, "run", fail_at="2")
    assert main(["sweep", "--quiet", "--no-analyze", str(config)]) == 1
    captured = capsys.readouterr()
    assert "cell failed toy|2|task|toytask|-" in captured.err and "Traceback" not in captured.err
    assert "harness show" in captured.out and "--errors --debug" in captured.out
    assert main(["sweep", "--quiet", "--no-analyze", "--debug", str(config)]) == 1  # the failed cell is retried
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: toytask cannot score step 2" in err
    assert err.index("cell failed toy|2|task|toytask|-") < err.index("Traceback")


def test_each_sweep_appends_to_the_sweep_log(site, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["sweep", "--quiet", str(toy_config(tmp_path, "run", fail_at="2"))]) == 1
    assert f"log: {run / 'logs' / 'sweep.log'}" in capsys.readouterr().out
    assert main(["sweep", "--quiet", "--no-analyze", str(toy_config(tmp_path, "run", fail_at="2"))]) == 1
    lines = (run / "logs" / "sweep.log").read_text(encoding="utf-8").splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
    assert all(re.match(stamp, line) for line in lines)
    text = "\n".join(line[20:] for line in lines)
    assert text.count("sweep started") == 2 and text.count("sweep finished") == 2
    assert "5 cells planned, 0 already done, 5 to run" in text and "5 cells planned, 4 already done, 1 to run" in text
    assert "done   toy|0|task|toytask|-" in text
    failed = [line for line in lines if "FAILED" in line]
    assert len(failed) == 2 and all("toy|2|task|toytask|-: RuntimeError: toytask cannot score step 2" in f for f in failed)
    assert "(traceback: logs/cells/toy_2_task_toytask_-.log)" in failed[0]
    assert "4 computed, 1 failed" in text and "0 computed, 1 failed" in text
    assert "analysis written" in text  # the first sweep analysed the run


def test_a_stale_result_is_logged_as_kept(site, tmp_path):
    assert main(["sweep", "--quiet", "--no-analyze", str(toy_config(tmp_path, "run"))]) == 0
    assert main(["sweep", "--quiet", "--no-analyze", str(toy_config(tmp_path, "run", fail_at="4"))]) == 1
    text = (tmp_path / "run" / "logs" / "sweep.log").read_text(encoding="utf-8")
    assert "FAILED toy|4|task|toytask|-" in text and "earlier result kept, marked stale" in text
