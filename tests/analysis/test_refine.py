"""Where an adaptive sweep measures next: ``refine_checkpoints`` on planted intervals, and the default intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness.analysis.refine import GAP, TRANSITION, gap_intervals, refine_checkpoints
from tests.support.refine import next_checkpoints

K = 1000
PUBLISHED = [s * K for s in (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)]  # a half-octave grid, 1k tokens a step


def test_one_interval_gets_the_checkpoint_nearest_its_log_midpoint():
    assert next_checkpoints([(10 * K, 100 * K)], [0, 12 * K, 128 * K], PUBLISHED, 1) == [32 * K]  # midpoint 31.6k


def test_widest_interval_first_in_log_tokens():
    intervals = [(1 * K, 4 * K), (10 * K, 100 * K)]  # 0.6 and 1.0 decades
    measured = [0, 1 * K, 128 * K]
    assert next_checkpoints(intervals, measured, PUBLISHED, 1) == [32 * K]
    assert next_checkpoints(intervals, measured, PUBLISHED, 2) == [32 * K, 2 * K]


def test_later_passes_split_the_widest_piece_not_the_same_middle():
    chosen = refine_checkpoints([(10 * K, 100 * K)], [0, 128 * K], PUBLISHED, 3)
    assert [c.tokens for c in chosen] == [32 * K, 16 * K, 64 * K]  # not 32k's neighbours 24k and 48k
    assert all(c.source == TRANSITION and c.lo < c.tokens < c.hi for c in chosen)
    assert (chosen[1].lo, chosen[1].hi) == (10 * K, 32 * K)


def test_an_interval_holding_measured_checkpoints_is_refined_in_its_widest_piece():
    # (1k, 128k) holds 32k: its pieces are 1k-32k (1.5 decades) and 32k-128k (0.6): 6k is nearest 1k-32k's middle
    assert next_checkpoints([(1 * K, 128 * K)], [0, 1 * K, 32 * K, 128 * K], PUBLISHED, 1) == [6 * K]


def test_only_checkpoints_strictly_inside_then_the_widest_gap():
    # nothing is published strictly between 12k and 16k: the widest gap of the measured grid, 4k-128k, is filled
    chosen = refine_checkpoints([(12 * K, 16 * K)], [0, 4 * K, 128 * K], PUBLISHED, 1)
    assert [(c.tokens, c.source, c.lo, c.hi) for c in chosen] == [(24 * K, GAP, 4 * K, 128 * K)]


def test_never_a_measured_checkpoint_nor_one_twice_and_the_budget_holds():
    measured = [0, 12 * K, 128 * K]
    everything = next_checkpoints([(10 * K, 100 * K), (0, 5 * K)], measured, PUBLISHED, 100)
    assert sorted(everything) == sorted(set(PUBLISHED) - set(measured))
    assert len(next_checkpoints([(10 * K, 100 * K)], measured, PUBLISHED, 4)) == 4
    assert next_checkpoints([(10 * K, 100 * K)], measured, PUBLISHED, 0) == []
    assert next_checkpoints([], PUBLISHED, PUBLISHED, 3) == []


def test_checkpoint_zero_sits_at_half_the_first_count_and_odd_intervals_are_ignored():
    # 0 is drawn at 500 tokens: the piece 0-4k is 0.9 decades wide and its middle is 1.41k, nearest 1k
    assert next_checkpoints([(0, 4 * K)], [0, 4 * K, 128 * K], PUBLISHED, 1) == [1 * K]
    assert next_checkpoints([(4 * K, 0)], [0, 4 * K, 128 * K], PUBLISHED, 1) == [1 * K]  # given the wrong way round
    ignored = [(math.nan, 4 * K), (8 * K, 8 * K)]
    assert next_checkpoints(ignored, [0, 4 * K, 128 * K], PUBLISHED, 1) == [24 * K]  # the widest gap instead


def _results(steps, brain_by_layer, follows=None) -> pd.DataFrame:
    rows = []
    for index, step in enumerate(steps):
        for layer, values in enumerate(brain_by_layer):
            rows.append({"model": "m", "step": step, "tokens": step * K, "kind": "brain", "target": "sim", "layer": layer,
                         "scope": "mean", "metric": "r_mean", "value": values[index]})
            rows.append({"model": "m", "step": step, "tokens": step * K, "kind": "brain", "target": "sim", "layer": layer,
                         "scope": "SIM01", "metric": "r_mean", "value": 5.0})  # another scope: not read
        if follows is not None:
            rows.append({"model": "m", "step": step, "tokens": step * K, "kind": "task", "target": "offline", "layer": pd.NA,
                         "scope": "instruction", "metric": "follows_format", "value": follows[index]})
    rows.append({"model": "other", "step": 1, "tokens": K, "kind": "brain", "target": "sim", "layer": 0,
                 "scope": "mean", "metric": "r_mean", "value": 9.0})
    return pd.DataFrame(rows)


def test_gap_intervals_name_each_signals_largest_change_largest_first():
    steps = [0, 4, 16, 64, 128]
    # the best layer per step: 0.1, 0.12, 0.30, 0.32, 0.31 (layer 1 wins from step 16): the jump is 4-16
    brain = [[0.10, 0.12, 0.05, 0.05, 0.05], [0.0, 0.0, 0.30, 0.32, 0.31]]
    follows = [0.0, 0.0, 0.0, 0.2, 1.0]  # 64-128 holds 80 % of its range; the brain jump 4-16 holds 82 %
    assert gap_intervals(_results(steps, brain, follows), "m") == [(4 * K, 16 * K), (64 * K, 128 * K)]
    assert gap_intervals(_results(steps, brain), "m") == [(4 * K, 16 * K)]


def test_gap_intervals_of_flat_short_or_missing_curves_are_none():
    assert gap_intervals(_results([0, 4, 16], [[0.2, 0.2, 0.2]], [0.0, 0.0, 0.0]), "m") == []
    assert gap_intervals(_results([4], [[0.2]]), "m") == []
    assert gap_intervals(pd.DataFrame(), "m") == []
    assert gap_intervals(_results([0, 4, 16], [[0.1, np.nan, 0.3]]), "m") == [(0.0, 16 * K)]  # a failed layer value skipped


@pytest.mark.parametrize("budget", [1, 2, 5])
def test_the_rule_is_deterministic(budget):
    intervals = [(2 * K, 40 * K), (1 * K, 100 * K), (3 * K, 9 * K)]
    first = next_checkpoints(intervals, [0, 8 * K, 128 * K], PUBLISHED, budget)
    assert first == next_checkpoints(list(reversed(intervals)), [128 * K, 0, 8 * K], list(reversed(PUBLISHED)), budget)
