"""Change points and phase labels on synthetic curves with known structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.analysis_synthetic import true_boundaries, write_run

from harness.analysis import PhaseSettings, analyze_frame
from harness.analysis.changepoints import LogLinearCost, choose_changes, segment
from harness.analysis.data import load_results, voxel_array_index

FAST = PhaseSettings(n_boot=60, seed=1)


def _analysis(tmp_path, settings=FAST, **kwargs):
    run = write_run(tmp_path / "run", **kwargs)
    analyses = analyze_frame(load_results(run), voxel_array_index(run), settings)
    (analysis,) = analyses
    return analysis


def test_cost_matches_least_squares():
    rng = np.random.default_rng(0)
    x, y = np.sort(rng.uniform(6, 11, 30)), rng.normal(size=30)
    cost = LogLinearCost().fit(np.column_stack([y, x]))
    for a, b in [(0, 30), (3, 9), (10, 13)]:
        coef = np.polyfit(x[a:b], y[a:b], 1)
        rss = np.sum((y[a:b] - np.polyval(coef, x[a:b])) ** 2)
        assert cost.error(a, b) == pytest.approx(rss, rel=1e-8, abs=1e-10)


def test_known_change_points_found_within_one_checkpoint():
    rng = np.random.default_rng(3)
    x = np.linspace(6, 11, 50)
    y = np.where(x < 7.5, 0.04 * (x - 6), np.where(x < 9, 0.06 - 0.03 * (x - 7.5), 0.015 + 0.03 * (x - 9)))
    breaks = choose_changes(x, y + rng.normal(0, 0.002, x.size))
    assert len(breaks) == 2
    expected = [int(np.searchsorted(x, 7.5)), int(np.searchsorted(x, 9.0))]
    assert all(abs(b - e) <= 1 for b, e in zip(breaks, expected))
    assert [s.trend for s in segment(x, y, breaks).segments] == ["rising", "falling", "rising"]


@pytest.mark.parametrize("seed", range(5))
def test_pure_noise_and_straight_lines_have_no_change_points(seed):
    rng = np.random.default_rng(seed)
    x = np.linspace(6, 11, 40)
    assert choose_changes(x, 0.05 + rng.normal(0, 0.003, x.size)) == []
    assert choose_changes(x, 0.01 * x + rng.normal(0, 0.003, x.size)) == []


def test_triple_phase_run_is_labelled_with_intervals(tmp_path):
    analysis = _analysis(tmp_path)
    result = analysis.result
    assert result.pattern == "triple-phase"
    assert [p.label for p in result.phases] == ["surge", "detachment", "realignment"]
    assert all(p.confirmed for p in result.phases)
    peak, trough = true_boundaries()
    found = [b.tokens for b in result.boundaries]
    tokens = result.tokens
    step = np.diff(np.log10(tokens[1:])).mean()  # one checkpoint on the log axis
    for got, want in zip(found, (peak, trough)):
        assert abs(np.log10(got) - np.log10(want)) <= 1.5 * step
    for boundary in result.boundaries:
        assert boundary.lo <= boundary.tokens <= boundary.hi
    assert result.ci_method == "voxels+subjects" and result.n_boot == 60
    assert result.support > 0.8
    rows = result.rows()
    assert rows[1]["phase"] == "detachment" and "stagnating" in rows[1]["evidence"]
    assert rows[0]["end_tokens"] == rows[1]["start_tokens"]


def test_flat_curve_reports_no_transition(tmp_path):
    result = _analysis(tmp_path, shape="flat").result
    assert result.pattern == "absent"
    assert result.boundaries == []
    assert [p.label for p in result.phases] == ["none"]
    assert "no phase transition" in result.summary


def test_monotone_rising_curve_is_not_forced_into_three_phases(tmp_path):
    result = _analysis(tmp_path, shape="rising").result
    assert "detachment" not in result.labels() and "realignment" not in result.labels()
    assert result.pattern != "triple-phase"
    assert all(p.trend != "falling" for p in result.phases)


def test_contradicting_behaviour_blocks_the_label(tmp_path):
    # brain falls in the middle but task accuracy rises there: not a detachment
    result = _analysis(tmp_path, accuracy_rises_early=True).result
    assert "detachment" not in result.labels()
    middle = result.phases[1]
    assert middle.trend == "falling" and middle.label == "none"
    assert "not a detachment" in middle.evidence
    assert result.pattern != "triple-phase"


def test_without_arrays_subjects_are_resampled(tmp_path):
    result = _analysis(tmp_path, arrays=False).result
    assert result.ci_method == "subjects"
    assert result.pattern == "triple-phase"


def test_no_bootstrap_gives_no_interval(tmp_path):
    result = _analysis(tmp_path, settings=PhaseSettings(n_boot=0)).result
    assert result.ci_method == "none" and result.support is None
    assert all(np.isnan(b.lo) for b in result.boundaries)


def test_too_short_a_curve_says_so(tmp_path):
    result = _analysis(tmp_path, checkpoints=3).result
    assert result.pattern == "absent" and result.support is None
    assert "too few checkpoints (4)" in result.phases[0].evidence


def test_a_missing_checkpoint_is_skipped(tmp_path):
    run = write_run(tmp_path / "run", checkpoints=20)
    table = run / "tables" / "tiny__sim.csv"
    frame = pd.read_csv(table)
    frame.loc[(frame.step == 5) & (frame.kind == "brain"), "value"] = np.nan  # a failed-looking cell
    frame.to_csv(table, index=False)
    (analysis,) = analyze_frame(load_results(run), voxel_array_index(run), FAST)
    result = analysis.result
    assert len(result.tokens) == 20 and result.pattern == "triple-phase"
    assert result.ci_method == "voxels+subjects"


def test_short_noisy_curves_rarely_show_change_points():
    rng = np.random.default_rng(11)
    x = np.log10(np.concatenate([[0.5], 2.0 ** np.arange(11), [1500]]))  # a tinylm-like schedule, 13 checkpoints
    false = sum(bool(choose_changes(x, 0.05 + rng.normal(0, 0.003, x.size))) for _ in range(60))
    assert false <= 6  # about 2 % expected; BIC alone gave about 10 %
    y = np.interp(x, [x[0], 1.5, 2.5, x[-1]], [0.0, 0.06, 0.02, 0.08]) + rng.normal(0, 0.002, x.size)
    trends = [seg.trend for seg in segment(x, y, choose_changes(x, y)).segments]
    merged = [t for i, t in enumerate(trends) if i == 0 or t != trends[i - 1]]
    assert merged == ["rising", "falling", "rising"]
