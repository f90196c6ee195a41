"""The leaderboard across runs and its renderings."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from harness.analysis import (
    PhaseSettings,
    analyze_run,
    build_leaderboard,
    leaderboard,
    print_leaderboard,
    render_leaderboard,
    run,
)
from harness.analysis.headline import CORE_COLUMNS, max_drawdown
from harness.errors import HarnessError
from tests.analysis_synthetic import write_run


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    first = write_run(root / "run-a", model="alpha", shape="triple", checkpoints=16)
    analyze_run(first, PhaseSettings(n_boot=20))  # phases.csv present
    second = write_run(root / "run-b", model="beta", family="pythia", shape="flat", checkpoints=10, arrays=False)
    return build_leaderboard([first, second])


def test_one_row_per_model_best_first(board):
    assert list(board.columns[: len(CORE_COLUMNS)]) == CORE_COLUMNS
    assert board["model"].tolist() == ["alpha", "beta"]
    assert board["run"].tolist() == ["run-a", "run-b"]
    alpha, beta = board.iloc[0], board.iloc[1]
    assert alpha["pattern"] == "triple-phase" and beta["pattern"] == "absent"
    assert alpha["peak_r"] > beta["peak_r"]
    assert alpha["peak_tokens"] == alpha["final_tokens"] == 10**11  # realigned above the first peak
    assert alpha["detachment_depth"] > 0.02 and beta["detachment_depth"] < 0.01
    assert alpha["surge_start"] < alpha["detachment_start"] < alpha["realignment_start"]
    assert np.isnan(beta["detachment_start"])
    assert 0 < alpha["final_task_accuracy"] <= 1
    assert "task:offline:perplexity:bits_per_byte" in board.columns


def test_max_drawdown():
    assert max_drawdown(np.array([1, 3, 2, 5, 1, 4])) == 4
    assert max_drawdown(np.array([1, 2, 3])) == 0


def test_renderings(board):
    markdown = render_leaderboard(board, "markdown")
    lines = markdown.splitlines()
    assert lines[0].startswith("| run | model | family |") and set(lines[1]) <= set("|- ")
    assert len(lines) == 2 + len(board)
    back = pd.read_csv(io.StringIO(render_leaderboard(board, "csv")))
    assert back.shape == board.shape
    page = render_leaderboard(board, "html")
    assert page.startswith("<!DOCTYPE html>") and "<td>alpha</td>" in page and "http" not in page
    console = Console(record=True, width=220)
    print_leaderboard(board, console)
    text = console.export_text()
    assert "alpha" in text and "triple-phase" in text


def test_unknown_format_is_a_user_error(board):
    with pytest.raises(HarnessError, match="allowed: markdown, csv, html"):
        render_leaderboard(board, "xlsx")


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("the analysis was recomputed")


def test_a_fresh_analysis_is_read_not_recomputed(tmp_path, monkeypatch):
    path = write_run(tmp_path / "fresh", model="alpha", checkpoints=8, arrays=False)
    analysed = analyze_run(path, PhaseSettings(n_boot=10))
    monkeypatch.setattr(leaderboard, "analyze_run", _refuse)
    monkeypatch.setattr(run, "analyze_frame", _refuse)
    board = build_leaderboard([path])
    assert board["model"].tolist() == ["alpha"]
    assert board["peak_r"].tolist() == analysed.headline["peak_r"].tolist()
    assert board["pattern"].tolist() == analysed.headline["pattern"].tolist()


def test_a_stale_analysis_is_recomputed(tmp_path, monkeypatch):
    path = write_run(tmp_path / "stale", model="alpha", checkpoints=8, arrays=False, brain=False)
    analyze_run(path, PhaseSettings(n_boot=10))
    write_run(path, model="beta", checkpoints=6, arrays=False, brain=False, seed=1)  # cells added since
    calls = []

    def counted(run_dir: object) -> run.AnalysisResult:
        calls.append(run_dir)
        return run.analyze_run(run_dir, PhaseSettings(n_boot=10))

    monkeypatch.setattr(leaderboard, "analyze_run", counted)
    board = build_leaderboard([path])
    assert len(calls) == 1 and sorted(board["model"]) == ["alpha", "beta"]
    assert sorted(pd.read_csv(path / "tables" / "headline.csv")["model"]) == ["alpha", "beta"]  # the run's own outputs
    monkeypatch.setattr(leaderboard, "analyze_run", _refuse)
    assert build_leaderboard([path])["model"].tolist() == board["model"].tolist()  # and are fresh now
