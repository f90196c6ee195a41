"""Change points and phase labels on synthetic curves with known structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis import PhaseSettings, analyze_frame
from harness.analysis.bootstrap import Replicates
from harness.analysis.changepoints import (
    LogLinearCost,
    choose_changes,
    local_noise,
    segment,
)
from harness.analysis.curves import BrainCurve, ModelCurves, Series
from harness.analysis.data import read_run
from harness.analysis.phases import (
    BRAIN_ONLY_SURGE,
    detect_phases,
    phase_trends,
    replicate_stderr,
)
from harness.analysis.tokens import log_tokens
from tests.analysis_synthetic import true_boundaries, write_run

FAST = PhaseSettings(n_boot=60, seed=1)


def _analysis(tmp_path, settings=FAST, **kwargs):
    data = read_run(write_run(tmp_path / "run", **kwargs))
    analyses = analyze_frame(data.results, data.arrays, settings)
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
    data = read_run(write_run(tmp_path / "run", checkpoints=20, nan_brain_steps=(5,)))  # a failed-looking cell
    assert data.results.loc[(data.results.step == 5) & (data.results.kind == "brain"), "value"].isna().all()
    (analysis,) = analyze_frame(data.results, data.arrays, FAST)
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


# The demo run's schedule (tinylm): 0, 1k, 2k, ... 1M tokens, and the final 1.2M.
DEMO_TOKENS = np.array([0, *(1024 * 2 ** np.arange(11)), 1228800])


def _demo_like(seed: int, instruction_rises: bool = False) -> tuple[ModelCurves, BrainCurve, Replicates]:
    """A curve shaped like the demo's: flat 0.265 to 2k, 0.283 at 4k, about 0.35 from 8k on.

    Checkpoint scatter about 0.008 on the plateau (training noise), bootstrap replicates with a
    shared subject-like shift of sd 0.013 per replicate and 0.002 of their own per checkpoint.
    """
    rng = np.random.default_rng(seed)
    n = DEMO_TOKENS.size
    truth = np.array([0.265, 0.265, 0.265, 0.283, *np.full(n - 4, 0.35)])
    values = truth + np.concatenate([rng.normal(0, 0.001, 4), rng.normal(0, 0.008, n - 4)])
    replicates = values + rng.normal(0, 0.013, (200, 1)) + rng.normal(0, 0.002, (200, n))
    steps = np.arange(n)
    curve = BrainCurve("tiny", "sim", pd.DataFrame([values], index=[2], columns=steps), steps, DEMO_TOKENS,
                       values, np.full(n, 2), pd.DataFrame())
    follows = np.where(DEMO_TOKENS >= 8192, 0.8, 0.0) if instruction_rises else np.zeros(n)
    curves = ModelCurves("tiny", "tinylm", {"sim": curve},
                         instruction=Series("instruction following", steps, DEMO_TOKENS, follows),
                         accuracy=Series("task accuracy", steps, DEMO_TOKENS, np.full(n, 0.18)))
    return curves, curve, Replicates(replicates, "voxels+subjects")


def _ticks(got: float, want: float) -> float:
    """Distance in checkpoints of the demo schedule (one doubling each)."""
    return abs(np.log2(got) - np.log2(want))


def _surge(result) -> tuple[int, int] | None:
    """(start, end) tokens of a rising phase between a flat start and a later phase, else None."""
    trends = [p.trend for p in result.phases]
    if trends[:2] != ["flat", "rising"] or len(trends) < 3:
        return None
    surge = result.phases[1]
    return surge.start_boundary.tokens, surge.end_boundary.tokens


def test_demo_shaped_curve_has_a_brain_only_surge_then_a_plateau():
    curves, curve, replicates = _demo_like(0)
    result = detect_phases(curves, curve, replicates, PhaseSettings(n_boot=200))
    assert [p.trend for p in result.phases] == ["flat", "rising", "flat"]
    surge = result.phases[1]
    assert surge.label == BRAIN_ONLY_SURGE and not surge.confirmed
    assert "instruction following did not rise" in surge.evidence
    start, end = surge.start_boundary, surge.end_boundary
    assert _ticks(start.tokens, 4096) <= 1 and _ticks(end.tokens, 8192) <= 1  # the surge boundary, within a checkpoint
    assert start.lo <= start.tokens <= start.hi and end.lo <= end.tokens <= end.hi
    assert result.support > 0.8 and result.ci_method == "voxels+subjects"
    assert result.pattern == "absent"  # a brain rise alone is not the paper's surge
    assert "plateau" in result.summary and "instruction following did not rise" in result.summary


def test_demo_shaped_curves_find_the_surge_boundary_reliably():
    found = 0
    for seed in range(40):
        curves, curve, replicates = _demo_like(seed)
        surge = _surge(detect_phases(curves, curve, replicates, PhaseSettings(n_boot=0)))
        found += surge is not None and _ticks(surge[0], 4096) <= 1 and _ticks(surge[1], 8192) <= 1
    assert found >= 34  # 96 % measured over 300 noise draws


def test_demo_shaped_curve_with_instruction_following_rising_is_the_surge():
    curves, curve, replicates = _demo_like(0, instruction_rises=True)
    result = detect_phases(curves, curve, replicates, PhaseSettings(n_boot=40))
    assert result.phases[1].label == "surge" and result.phases[1].confirmed
    assert result.pattern == "partial"


def test_a_step_between_flat_stretches_is_a_phase():
    x = log_tokens(DEMO_TOKENS)
    y = np.where(np.arange(x.size) < 5, 0.26, 0.35) + 0.002 * (-1) ** np.arange(x.size)  # scatter, no trend
    assert phase_trends(x, y) == ["flat", "rising", "flat"]


def test_replicate_stderr_ignores_shifts_shared_by_all_checkpoints():
    rng = np.random.default_rng(0)
    curves = 0.3 + rng.normal(0, 0.05, (300, 1)) + rng.normal(0, 0.004, (300, 12))
    assert replicate_stderr(curves) == pytest.approx(0.004, rel=0.15)
    assert replicate_stderr(curves[:1]) is None


def test_local_noise_is_not_inflated_by_a_change_of_trend():
    rng = np.random.default_rng(2)
    x = np.linspace(6, 11, 40)
    estimates = [local_noise(x, np.where(x < 8, 0.0, 0.06 * (x - 8)) + 0.3 * (x > 9.5) + rng.normal(0, 0.01, x.size))
                 for _ in range(50)]
    assert np.median(estimates) == pytest.approx(0.01, rel=0.2)


@pytest.mark.parametrize("stderr", [None, 0.004])
def test_flat_noise_on_the_demo_schedule_rarely_has_phases(stderr):
    rng = np.random.default_rng(7)
    x = log_tokens(DEMO_TOKENS)
    false = sum(len(phase_trends(x, 0.3 + rng.normal(0, 0.004, x.size), stderr=stderr)) > 1 for _ in range(100))
    assert false <= 9  # 5 % (SE unknown) and 3 % (SE known) measured over 1000 draws
