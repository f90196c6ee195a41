"""95 % intervals of task scores (over items) and internal metrics (their own standard error), in every
view; the median over layers of internal metrics; the bands of ``harness compare``'s figure."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from harness.analysis.scoreintervals import ITEMS, METRIC_UNITS, score_interval, wilson, with_intervals
from harness.plugin.contract import Score
from tests.support.synthetic_runs import _Cell, _commit, write_run


def test_wilson_covers_a_proportion_of_few_items_and_is_not_empty_at_zero():
    rng = np.random.default_rng(0)
    n, p = 40, 0.1
    hits = rng.binomial(n, p, size=4000) / n
    bounds = np.array([wilson(k, n) for k in hits])
    coverage = np.mean((bounds[:, 0] <= p) & (p <= bounds[:, 1]))
    assert 0.93 <= coverage <= 0.98
    lo, hi = wilson(0.0, 40)
    assert lo == 0.0 and 0.05 < hi < 0.12  # every item wrong: still an interval, not [0, 0]


def test_a_proportion_gets_wilson_and_anything_else_the_normal_interval_or_none():
    p, n = 0.3, 50
    binomial = np.sqrt(p * (1 - p) / (n - 1))  # lm-eval's standard error of a mean of 0/1 items
    assert score_interval(p, binomial, n) == pytest.approx(wilson(p, n))
    assert score_interval(0.0, 0.0, n) == pytest.approx(wilson(0.0, n))
    assert score_interval(2.5, 0.1, n) == pytest.approx((2.5 - 1.96 * 0.1, 2.5 + 1.96 * 0.1), abs=1e-3)  # bits per byte
    assert score_interval(0.3, 0.01) == pytest.approx((0.3 - 0.0196, 0.3 + 0.0196), abs=1e-4)  # items unknown
    assert all(np.isnan(score_interval(0.0, 0.0)))  # nothing to tell an interval from
    assert all(np.isnan(score_interval(7.0, float("nan"))))


def test_each_row_says_what_its_interval_resamples():
    rows = pd.DataFrame({"kind": ["task", "metric", "metric", "brain"], "plugin": ["offline", "gride", "dimension", "simulated"],
                         "metric": ["acc", "gride", "intrinsic_dim", "r_mean"], "value": [0.5, 12.0, 30.0, 0.2],
                         "stderr": [np.sqrt(0.25 / 99), 0.4, np.nan, np.nan], "items": pd.array([100, None, None, None], dtype="Int64")})
    out = with_intervals(rows)
    assert list(out["interval"]) == [ITEMS, METRIC_UNITS["gride"], "", ""]
    assert out["lo"].iloc[0] < 0.5 < out["hi"].iloc[0] and out["lo"].iloc[1] == pytest.approx(12 - 1.96 * 0.4, abs=1e-3)
    assert np.isnan(out["lo"].iloc[2]) and np.isnan(out["lo"].iloc[3])


def test_lm_eval_results_give_each_score_its_items():
    from harness_plugins.tasks.lm_eval_bridge import scores_from_results

    results = {"results": {"t": {"alias": "t", "sample_len": 40, "acc,none": 0.25, "acc_stderr,none": 0.069},
                           "g": {"alias": "g", "acc,none": 0.5, "acc_stderr,none": "N/A"}}}
    scores = {s.scope: s for s in scores_from_results(results)}
    assert scores["t"].items == 40 and scores["g"].items is None


def test_the_store_keeps_items_and_an_older_store_gains_the_column(tmp_path):
    import sqlite3

    from harness.store.database import RunStore

    run = tmp_path / "run"
    _commit(run, "m", "tinylm", [_Cell(0, 0, "task", "offline", "offline", None, [Score("acc", 0.5, 0.05, items=100)])])
    with RunStore(run) as store:
        assert store.results_frame()["items"].tolist() == [100]
    db = sqlite3.connect(run / "store.sqlite")
    db.execute("ALTER TABLE scores DROP COLUMN items")
    db.commit()
    db.close()
    with RunStore(run) as store:
        assert store.results_frame()["items"].isna().all()


def test_an_internal_metric_is_summarised_by_its_median_over_layers_named_as_such(tmp_path):
    from harness.analysis.curves import LAYER_SUMMARY, model_curves
    from harness.store.database import RunStore

    run = tmp_path / "run"
    values = [95.0, 10.0, 11.0, 12.0]  # the embedding layer an order of magnitude above the rest
    _commit(run, "m", "tinylm", [_Cell(0, 0, "metric", "intrinsic_dim", "dimension", layer, [Score("intrinsic_dim", v)])
                                 for layer, v in enumerate(values)])
    with RunStore(run) as store:
        series = model_curves(store.results_frame(), "m").metrics["intrinsic_dim"]
    assert series.values.tolist() == [11.5] and np.mean(values) == 32.0  # a mean no layer has
    assert LAYER_SUMMARY == "median over layers" and series.lo is None


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The synthetic run (tasks with their items) with a metric that reports a standard error (gride)."""
    run = write_run(tmp_path_factory.mktemp("intervals") / "run", model="alpha", checkpoints=6, layers=2, subjects=3, voxels=200)
    _commit(run, "alpha", "tinylm", [_Cell(step, tokens, "metric", "gride", "gride", layer, [Score("gride", 8.0 + layer, 0.5)])
                                     for step, tokens in ((0, 0), (6, 10**11)) for layer in range(2)])
    return run


def test_show_prints_the_interval_of_task_and_metric_rows_and_says_what_has_none(run, capsys):
    from harness.cli import main

    assert main(["show", str(run), "--all", "--limit", "400"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the notes wrap to the terminal
    assert "95 % CI of task scores: resampling items (Wilson's" in out
    assert f"95 % CI of metric gride: resampling {METRIC_UNITS['gride']}" in out
    assert "no 95 % CI (one value per layer, no standard error reported): anisotropy, intrinsic_dim" in out
    assert "95 % CI of brain r_mean over subjects (scope mean): resampling subjects and voxel groups" in out
    assert main(["show", str(run), "--format", "json"]) == 0
    scores = pd.DataFrame(json.loads(capsys.readouterr().out)["scores"])
    tasks = scores[(scores["kind"] == "task") & (scores["metric"] != "bits_per_byte")]
    assert (tasks["interval"] == ITEMS).all() and ((tasks["lo"] <= tasks["value"]) & (tasks["value"] <= tasks["hi"])).all()
    assert (scores.loc[scores["metric"] == "gride", "interval"] == METRIC_UNITS["gride"]).all()


def test_load_run_gives_every_score_its_interval(run):
    from harness import load_run

    frame = load_run(run).intervals()
    brain = frame[(frame["kind"] == "brain") & (frame["scope"] == "mean") & (frame["metric"] == "r_mean")]
    assert (brain["interval"] == "subjects and voxel groups").all() and (brain["lo"] < brain["value"]).all()
    follows = frame[frame["metric"] == "follows_format"]
    assert (follows["interval"] == ITEMS).all() and (follows["hi"] - follows["lo"] > 0.02).all()
    assert (frame.loc[frame["metric"] == "intrinsic_dim", "interval"] == "").all()


def test_the_leaderboard_and_headline_carry_task_intervals_in_every_format(run):
    from harness.views.leaderboard import build_leaderboard, print_leaderboard, render_leaderboard

    board = build_leaderboard([run])
    row = board.iloc[0]
    for column in ("final_task_accuracy", "final_instruction_following", "final_correctness", "task:offline:cloze:acc"):
        assert row[f"{column}_lo"] < row[column] < row[f"{column}_hi"], column
    text = f"[{row.final_task_accuracy_lo:.3f}, {row.final_task_accuracy_hi:.3f}]"
    assert row["task_acc_95"] == text and text in render_leaderboard(board, "markdown")
    assert "of task scores resampling items" in render_leaderboard(board, "markdown")
    assert json.loads(render_leaderboard(board, "json"))[0]["final_correctness_hi"] == pytest.approx(row.final_correctness_hi)
    assert "final_task_accuracy_lo" in render_leaderboard(board, "csv").splitlines()[0]
    console = Console(record=True, width=160)
    print_leaderboard(board, console)
    printed = console.export_text()
    assert text in printed and "of task scores resampling items" in printed


def test_the_report_shows_task_intervals_and_names_the_layer_summary(run):
    from harness.analysis.phases import PhaseSettings
    from harness.views import analyze_run

    html = analyze_run(run, PhaseSettings(n_boot=50)).report.read_text(encoding="utf-8")
    assert "<h4>Internal metrics (median over layers)</h4>" in html and "mean over layers)</h4>" not in html
    assert "instruction following 95 %" in html and "95 % intervals resample items" in html
    assert "final task accuracy (chance-corrected)</dt><dd>" in html and "<th>95 % CI</th>" in html
    assert "vs step 0" in html  # each checkpoint against the untrained one, in the paired differences


def test_compare_draws_each_curve_with_its_band(run, tmp_path):
    from matplotlib.collections import PolyCollection

    from harness.views.compare import brain_band, comparison_figure, load_curves

    other = write_run(tmp_path / "b", model="beta", shape="rising", checkpoints=6, layers=2, subjects=3, voxels=200, seed=3)
    runs = load_curves([run, other])
    brain_ax, task_ax = comparison_figure(runs, n_boot=100).axes
    bands = [c for c in brain_ax.collections if isinstance(c, PolyCollection) and (c.get_gid() or "").startswith("band: ")]
    assert len(bands) == 2 and len([c for c in task_ax.collections if (c.get_gid() or "").startswith("band: ")]) == 6
    curve = runs[0].models[0].brain["sim"]
    band = brain_band(runs[0], curve, 200, 0)
    assert band is not None
    lo, hi = band
    assert (lo <= curve.values + 1e-9).all() and (curve.values <= hi + 1e-9).all() and (hi - lo > 0).all()


def test_the_leaderboard_prints_the_alignment_above_the_control(tmp_path):
    from harness.views.leaderboard import build_leaderboard, print_leaderboard, render_leaderboard

    run = tmp_path / "run"
    write_run(run, model="tiny", seed=1, target="simulated", checkpoints=5, layers=2, subjects=3, voxels=200)
    write_run(run, model="tiny", seed=2, target="simulated+shuffled", shape="flat", checkpoints=5, layers=2, subjects=3, voxels=200)
    (run / "config.yaml").write_text("models:\n  - {family: tinylm, label: tiny}\n"
                                     "brain:\n  - dataset: simulated\n  - dataset: simulated\n    control: shuffled\n",
                                     encoding="utf-8")
    board = build_leaderboard([run])
    row = board.set_index("target").loc["simulated"]
    line = (f"alignment above lexical content: tiny on simulated: {row.above_control:+.3f} "
            f"[{row.above_control_lo:+.3f}, {row.above_control_hi:+.3f}]")
    assert row.above_control_lo < row.above_control < row.above_control_hi
    console = Console(record=True, width=200)
    print_leaderboard(board, console)
    printed = " ".join(console.export_text().split())
    assert line in printed and line in render_leaderboard(board, "markdown")
