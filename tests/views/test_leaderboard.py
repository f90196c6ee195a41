"""The leaderboard across runs and its renderings."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from harness.analysis import PhaseSettings
from harness.analysis.headline import CORE_COLUMNS, max_drawdown
from harness.util.errors import HarnessError
from harness.views import (
    analyze_run,
    build_leaderboard,
    leaderboard,
    print_leaderboard,
    publish,
    render,
    render_leaderboard,
)
from tests.support.synthetic_runs import write_run


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    first = write_run(root / "run-a", model="alpha", shape="triple", checkpoints=16)
    analyze_run(first, PhaseSettings(n_boot=20))  # phases.csv present
    second = write_run(root / "run-b", model="beta", family="pythia", shape="flat", checkpoints=10, arrays=False)
    return [first, second]


@pytest.fixture(scope="module")
def board(two_runs):
    return build_leaderboard(two_runs)


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
    table = lines[: lines.index("")] if "" in lines else lines
    assert len(table) == 2 + len(board)
    assert any(line.startswith("[95 % interval] of peak r resampling subjects") for line in lines[len(table):])
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
    monkeypatch.setattr(publish, "analyze_frame", _refuse)
    board = build_leaderboard([path])
    assert board["model"].tolist() == ["alpha"]
    assert board["peak_r"].tolist() == analysed.headline["peak_r"].tolist()
    assert board["pattern"].tolist() == analysed.headline["pattern"].tolist()


def test_a_stale_analysis_is_recomputed(tmp_path, monkeypatch):
    path = write_run(tmp_path / "stale", model="alpha", checkpoints=8, arrays=False, brain=False)
    analyze_run(path, PhaseSettings(n_boot=10))
    write_run(path, model="beta", checkpoints=6, arrays=False, brain=False, seed=1)  # cells added since
    calls = []

    def counted(run_dir: object) -> publish.AnalysisResult:
        calls.append(run_dir)
        return publish.analyze_run(run_dir, PhaseSettings(n_boot=10))

    monkeypatch.setattr(leaderboard, "analyze_run", counted)
    board = build_leaderboard([path])
    assert len(calls) == 1 and sorted(board["model"]) == ["alpha", "beta"]
    assert sorted(pd.read_csv(path / "tables" / "headline.csv")["model"]) == ["alpha", "beta"]  # the run's own outputs
    monkeypatch.setattr(leaderboard, "analyze_run", _refuse)
    assert build_leaderboard([path])["model"].tolist() == board["model"].tolist()  # and are fresh now


def _printed(board: pd.DataFrame, width: int, columns: str | None = None) -> tuple[str, list[str]]:
    console = Console(record=True, width=width)
    left_out = print_leaderboard(board, console, columns)
    return console.export_text(), left_out


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 160, 200])
def test_at_any_width_numbers_stay_whole_and_no_column_is_dropped_silently(board, width):
    text, left_out = _printed(board, width)
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width
    shown = [c for c in leaderboard.COMPACT_COLUMNS if c in board and c not in left_out and leaderboard._informative(board, c)]
    assert "peak_r" in shown and "model" in shown  # never left out
    table_lines = lines[: next(i for i, line in enumerate(lines) if line.startswith("peak r ="))]
    for column in shown:
        if column in leaderboard.TEXT_COLUMNS:
            continue
        for value in board[column]:
            cell = render.format_cell(value, tokens=column in leaderboard.TOKEN_COLUMNS, digits=3)
            assert not cell or any(cell in line.split() for line in table_lines), (width, column, cell)
    if left_out:
        note = " ".join(text.split())
        assert f"left out for width ({width} columns): {', '.join(left_out)}" in note
    else:
        assert "left out" not in text


def test_at_80_columns_the_compact_set_of_a_two_run_board_fits_but_says_what_it_left_out(board):
    text, left_out = _printed(board, 80)
    assert "run" not in left_out and "model" not in left_out
    assert "run-a" in text and "alpha" in text and "triple-phase" in text
    assert "r_mean" in text  # the glossary names only what is shown


def test_columns_all_shows_every_column_in_tables_that_fit_and_the_default_always_shows_the_pattern(board):
    console = Console(width=80, record=True, force_terminal=False)
    assert print_leaderboard(board, console, "all") == []
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    headers = " ".join(text.split())
    for column in board.columns:  # every column, under its name or short header (which may take two lines)
        header = leaderboard.SHORT_HEADERS.get(column, column)
        assert all(word in headers for word in header.split()), column
    assert "table 1 of" in text and text.count("alpha") >= 2  # each table names its rows
    narrow, left_out = _printed(board, 60)
    assert "pattern" not in left_out and "triple-phase" in narrow


def test_at_80_columns_rows_on_different_targets_keep_their_target(board):
    """A model and its word-shuffled control are two rows of one model: only the target tells them apart."""
    two = board.assign(target=["simulated", "simulated (control: shuffled)"][: len(board)], model="alpha")
    text, left_out = _printed(two, 80)
    assert "target" not in left_out and "control" in text
    _, alone = _printed(board.assign(target="simulated"), 40)
    assert "target" in alone  # one target: it may leave for width as before


def test_at_80_columns_one_model_in_two_runs_keeps_its_run_and_task_sets_wrap_at_their_names(board):
    """Rows alike but for their run keep the run column; a task set's names are listed with spaces, so the note
    wraps between them, never at a comma."""
    twice = board.assign(model="alpha", task_set_id=["S1", "S2"][: len(board)],
                         task_set=["offline:instruction:complete,offline:instruction:copy,offline:minimal_pairs",
                                   "offline:cloze,offline:instruction"][: len(board)])
    text, left_out = _printed(twice, 80)
    assert "run" not in left_out and "run-a" in text and "run-b" in text
    assert all(len(line.rstrip()) <= 80 for line in text.splitlines())
    assert not any(line.startswith(",") for line in text.splitlines())
    assert "S1 = offline:instruction:complete, offline:instruction:copy, offline:minimal_pairs" in " ".join(text.split())
    assert "run" not in _printed(twice, 40)[1] and "run" in _printed(board, 40)[1]  # apart by model: it may leave


def test_columns_can_be_chosen_by_name_or_header(board):
    text, left_out = _printed(board, 200, "model,peak r,surge_start,task:offline:perplexity:bits_per_byte")
    for name in ("model", "peak", "surge", "task:offline:perplexity:bits_per_byte"):
        assert name in text
    assert left_out == [] and "pattern" not in text and "alpha" in text
    text, left_out = _printed(board, 40, "model,peak_r,surge_start,task:offline:perplexity:bits_per_byte")
    assert left_out == ["task:offline:perplexity:bits_per_byte"]  # chosen columns leave from the right


def test_an_unknown_column_is_one_line_with_a_suggestion(board):
    with pytest.raises(HarnessError, match=r"--columns: unknown column 'peak_rr' \(did you mean 'peak_r'\?\); available: run, model"):
        leaderboard.select_columns(board, "model,peak_rr", compact=True)


def test_json_rendering_has_nulls_not_nans(board):
    import json

    rows = json.loads(render_leaderboard(board, "json"))
    assert [r["model"] for r in rows] == ["alpha", "beta"]
    assert rows[1]["detachment_start"] is None and rows[0]["peak_r"] == pytest.approx(board["peak_r"][0])


def test_cli_leaderboard_at_80_columns(two_runs, monkeypatch, capsys):
    from harness.cli import main

    runs = [str(path) for path in two_runs]
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["leaderboard", *runs]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80 and "alpha" in out and "beta" in out
    assert main(["leaderboard", *runs, "--columns", "modle"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean 'model'" in err[0]


def test_rank_ranges_where_intervals_overlap():
    from harness.views.leaderboard import rank_ranges

    frame = pd.DataFrame({"target": ["t"] * 4 + ["u"], "peak_r": [0.40, 0.39, 0.30, 0.20, 0.1],
                          "peak_r_lo": [0.38, 0.37, 0.29, np.nan, 0.05], "peak_r_hi": [0.42, 0.41, 0.31, np.nan, 0.15]})
    assert rank_ranges(frame) == ["1\u20132", "1\u20132", "3", "4", "1"]


def test_every_format_carries_the_peak_interval_and_its_unit(board):
    assert (board["peak_r_lo"] <= board["peak_r"]).all() and (board["peak_r"] <= board["peak_r_hi"]).all()
    assert (board["final_r_lo"] <= board["final_r"]).all() and (board["final_r"] <= board["final_r_hi"]).all()
    assert set(board["resampled"]) <= {"subjects and voxel groups", "subjects"} and set(board["rank"]) == {"1", "2"}
    row = board.iloc[0]
    assert f"[{row.peak_r_lo:.3f}, {row.peak_r_hi:.3f}]" in render_leaderboard(board, "markdown")
    assert json.loads(render_leaderboard(board, "json"))[0]["peak_r_hi"] == pytest.approx(row.peak_r_hi)
    assert "peak_r_lo" in render_leaderboard(board, "csv").splitlines()[0]
    assert "of peak r resampling subjects" in render_leaderboard(board, "html")
    console = Console(record=True, width=120)
    print_leaderboard(board, console)
    text = console.export_text()
    assert f"[{row.peak_r_lo:.3f}, {row.peak_r_hi:.3f}]" in text and "rank: a range where intervals overlap" in text
