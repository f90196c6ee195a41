"""Transitions per signal and the phase verdicts: planted truth, resolution, units, and whole runs."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis import PhaseSettings, analyze_frame
from harness.analysis.data import read_run
from harness.analysis.findings import all_transitions, transition_intervals
from harness.analysis.phases import CONFIRMED, NOT_SHOWN, judge
from harness.analysis.planted import SCENARIOS, pythia_grid, rates, run_one, simulate, verdicts
from harness.analysis.signals import BEHAVIOUR, BRAIN, BRAIN_BEST, INSTRUCTION, Signal, group_signal
from harness.analysis.transitions import STEP, analyse_signal, find_transitions
from tests.analysis_synthetic import write_run

FAST = PhaseSettings(n_boot=40, seed=1)
DEMO_TOKENS = np.array([0, *(1024 * 2 ** np.arange(11)), 1228800])  # the demo's schedule: 0, 1k, ... 1M, 1.2M


def _demo_signals(if_from: int, seed: int = 0) -> list[Signal]:
    """Brain flat to 4k then up from 8k (the demo's shape); instruction following 0 until ``if_from`` tokens."""
    rng = np.random.default_rng(seed)
    brain = np.where(DEMO_TOKENS >= 8192, 0.35, 0.265) + rng.normal(0, 0.002, DEMO_TOKENS.size)
    follows = np.where(DEMO_TOKENS >= if_from, 0.9, 0.0)
    stderr = np.sqrt(follows * (1 - follows) / 24) + 0.02
    return [
        Signal(BRAIN_BEST, BRAIN, "sim", DEMO_TOKENS, brain, (-1, 1), brain + rng.normal(0, 0.002, (100, brain.size)), "test"),
        Signal(INSTRUCTION, BEHAVIOUR, "", DEMO_TOKENS, follows, (0, 1),
               np.clip(follows + rng.standard_normal((100, brain.size)) * stderr, 0, 1), "test"),
    ]


def test_a_step_between_two_checkpoints_is_located_between_them():
    brain = _demo_signals(262144)[0]
    (step,), method, used = find_transitions(brain, n_boot=100)
    assert step.kind == STEP and step.up and method == "test" and used == 100
    at, lo, hi = step.tokens(step.x), step.tokens(step.x_lo), step.tokens(step.x_hi)
    assert lo <= 4096 and hi >= 8192 and 4096 < at < 8192  # never narrower than the gap it is known to lie in
    assert step.size == pytest.approx(0.085, abs=0.01) and step.size_lo <= step.size <= step.size_hi


def test_bounded_signals_change_within_their_range():
    follows = _demo_signals(131072)[1]
    found, _, _ = find_transitions(follows, n_boot=100)
    assert found and all(abs(t.size) <= 1 and t.size_hi <= 1 for t in found)


def test_brain_and_instruction_rises_decades_apart_are_not_a_surge():
    # the demo's situation: brain rises at 4-8k tokens, instruction following only at 131-262k
    found = [analyse_signal("tiny", "tinylm", s, n_boot=100) for s in _demo_signals(262144)]
    result = judge("tiny", "tinylm", "sim", found, PhaseSettings(n_boot=100))
    surge = result.verdict("surge")
    assert surge.status == NOT_SHOWN and result.pattern == "absent"
    estimate, lo, hi = surge.lag
    assert estimate == pytest.approx(-1.47, abs=0.2) and hi < 0  # brain leads, and the interval says so
    assert "brain leads by 1." in surge.reason and "decades" in surge.reason


def test_a_transition_few_replicates_reproduce_is_listed_but_no_verdict_rests_on_it():
    found = [analyse_signal("tiny", "tinylm", s, n_boot=100) for s in _demo_signals(8192)]
    assert judge("tiny", "tinylm", "sim", found, PhaseSettings(n_boot=100)).verdict("surge").status == CONFIRMED
    brain_rise = found[0].transitions[0]
    brain_rise.support = 0.5  # as if half the bootstrap curves did not show it
    result = judge("tiny", "tinylm", "sim", found, PhaseSettings(n_boot=100))
    assert result.verdict("surge").status == NOT_SHOWN and "does not rise" in result.verdict("surge").reason
    assert judge("tiny", "tinylm", "sim", found, PhaseSettings(n_boot=100, min_support=0.4)).verdict("surge").confirmed
    assert sum(len(item.transitions) for item in found) == 2  # both still in the transitions table


def test_brain_and_instruction_rising_together_is_a_surge():
    found = [analyse_signal("tiny", "tinylm", s, n_boot=100) for s in _demo_signals(8192)]
    surge = judge("tiny", "tinylm", "sim", found, PhaseSettings(n_boot=100)).verdict("surge")
    assert surge.status == CONFIRMED and surge.lag[1] <= 0 <= surge.lag[2]


@pytest.mark.parametrize("scenario, wanted", [
    ("triple", {"triple-phase"}), ("surge_only", {"partial"}), ("none", {"absent"}), ("lagged", {"absent"}),
])
def test_planted_scenarios_on_forty_checkpoints(scenario, wanted):
    outcomes = [run_one(scenario, 40, seed, FAST) for seed in range(3)]
    assert sum(o.pattern in wanted for o in outcomes) >= 2, [(o.pattern, o.confirmed) for o in outcomes]


def test_a_brain_fall_while_accuracy_rises_is_no_detachment():
    for seed in range(3):
        signals, _ = simulate("detach_while_accuracy_rises", 40, seed, FAST.n_boot)
        detachment = verdicts(signals, FAST).verdict("detachment")
        assert detachment.status == NOT_SHOWN and "accuracy" in detachment.reason


def test_benchmark_rates_and_its_last_line():
    outcomes = [run_one(s, 12, seed, PhaseSettings(n_boot=20)) for s in SCENARIOS for seed in range(2)]
    line = rates(outcomes).line()
    assert line.startswith("phases: lagged_false_surge=") and "none_false_triple=" in line
    assert "lag_error_decades=" in line
    assert len(pythia_grid(12)) == 12 and len(pythia_grid(40)) == 40 and len(pythia_grid(154)) == 154


def test_a_group_is_its_members_mean_with_intervals_across_members():
    members = [_demo_signals(8192, seed)[0] for seed in range(4)]
    group = group_signal(members, n_boot=50, seed=0)
    assert np.allclose(group.values, np.mean([m.values for m in members], axis=0))
    assert group.replicates.shape == (50, DEMO_TOKENS.size) and group.method == "members (4)"


def test_a_run_gets_a_transitions_table_and_three_verdicts(tmp_path):
    data = read_run(write_run(tmp_path / "run", checkpoints=24))
    (analysis,) = analyze_frame(data.results, data.arrays, FAST)
    table = all_transitions([analysis])
    assert {"brain r (best layer)", "brain r (mean over layers)", "instruction following",
            "intrinsic_dim"} <= set(table["signal"])
    assert (table["lo"] <= table["tokens"]).all() and (table["tokens"] <= table["hi"]).all()
    result = analysis.result
    assert [v.phase for v in result.verdicts] == ["surge", "detachment", "realignment"]
    assert result.verdict("surge").status == CONFIRMED  # the synthetic run's brain and instruction rise together
    assert transition_intervals(data.results, "tiny")  # what an adaptive sweep refines


def test_a_short_run_has_no_change_points_and_confirms_nothing(tmp_path):
    data = read_run(write_run(tmp_path / "run", checkpoints=3))
    (analysis,) = analyze_frame(data.results, data.arrays, FAST)
    assert analysis.result.pattern == "absent"
    brain = analysis.result.signal(BRAIN_BEST)
    assert all(t.start == 0 and t.end == 3 for t in brain.transitions)  # at most a trend over the whole sweep
