"""Change points on synthetic curves with known structure (transitions and verdicts: test_analysis_verdicts)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.changepoints import (
    best_segmentations,
    choose_changes,
    isolated_outliers,
    local_noise,
    max_changes,
    segment,
    segment_costs,
)
from harness.analysis.transitions import replicate_stderr


def test_cost_matches_least_squares():
    rng = np.random.default_rng(0)
    x, y = np.sort(rng.uniform(6, 11, 30)), rng.normal(size=30)
    costs = segment_costs(x, y)
    for a, b in [(0, 30), (3, 9), (10, 13)]:
        coef = np.polyfit(x[a:b], y[a:b], 1)
        rss = np.sum((y[a:b] - np.polyval(coef, x[a:b])) ** 2)
        assert costs[a, b] == pytest.approx(rss, rel=1e-8, abs=1e-10)
    assert np.isinf(costs[4, 6]) and np.isinf(costs[7, 7])  # shorter than a segment may be


@pytest.mark.parametrize("n", [9, 12, 40, 154])
def test_exact_search_finds_what_ruptures_dynp_finds(n):
    """The oracle: ruptures' exact search (Dynp, every checkpoint admissible) with its own linear cost."""
    rpt = pytest.importorskip("ruptures")
    rng = np.random.default_rng(n)
    x = np.sort(rng.uniform(6, 11, n))
    y = 0.05 * np.sin(2 * x) + rng.normal(0, 0.01, n)
    top = max_changes(n, 4)
    breaks_by_k, rss = best_segmentations(segment_costs(x, y), top)
    algo = rpt.Dynp(custom_cost=rpt.costs.CostLinear(), min_size=3, jump=1).fit(np.column_stack([y, np.ones(n), x]))
    assert breaks_by_k[1:] == [algo.predict(n_bkps=k)[:-1] for k in range(1, top + 1)]
    costs = segment_costs(x, y)
    assert rss == pytest.approx([sum(costs[a, b] for a, b in zip([0, *k], [*k, n])) for k in breaks_by_k])


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


def test_short_noisy_curves_rarely_show_change_points():
    rng = np.random.default_rng(11)
    x = np.log10(np.concatenate([[0.5], 2.0 ** np.arange(11), [1500]]))  # a tinylm-like schedule, 13 checkpoints
    false = sum(bool(choose_changes(x, 0.05 + rng.normal(0, 0.003, x.size))) for _ in range(60))
    assert false <= 6  # about 2 % expected; BIC alone gave about 10 %
    y = np.interp(x, [x[0], 1.5, 2.5, x[-1]], [0.0, 0.06, 0.02, 0.08]) + rng.normal(0, 0.002, x.size)
    trends = [seg.trend for seg in segment(x, y, choose_changes(x, y)).segments]
    merged = [t for i, t in enumerate(trends) if i == 0 or t != trends[i - 1]]
    assert merged == ["rising", "falling", "rising"]


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


def test_a_lone_checkpoint_is_an_outlier_but_a_change_carried_by_two_is_not():
    rng = np.random.default_rng(4)
    x = np.linspace(6, 11, 40)
    flat = 0.05 + rng.normal(0, 0.003, x.size)
    spiked = flat.copy()
    spiked[17] += 0.05
    assert isolated_outliers(x, spiked, 0.003) == [17]
    assert isolated_outliers(x, spiked - 0.1 * (np.arange(x.size) == 17), 0.003) == [17]  # a dip, too
    two = flat.copy()
    two[17:19] += 0.05  # two checkpoints carry it: a change, not an outlier
    assert isolated_outliers(x, two, 0.003) == []
    step = flat + 0.05 * (np.arange(x.size) >= 17)
    assert isolated_outliers(x, step, 0.003) == []
    assert isolated_outliers(x, flat, 0.003) == []
    apex = 0.05 + 0.03 * np.minimum(x - 6, 2 * (8.5 - x)) + rng.normal(0, 0.001, x.size)  # rises, then falls
    assert isolated_outliers(x, apex, 0.001) == []  # its peak stands above both neighbours, led into by both sides
    spiked_slope = 0.05 + 0.03 * (x - 6) + rng.normal(0, 0.003, x.size)
    spiked_slope[25] += 0.05
    assert isolated_outliers(x, spiked_slope, 0.003) == [25]
