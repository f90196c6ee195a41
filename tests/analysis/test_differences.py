"""Paired differences of brain scores (harness.analysis.differences): both sides on the same draws."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.differences import Draws, estimate, holm, p_value


def _side(rng: np.random.Generator, subjects: int = 4, voxels: int = 600, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {f"S{s}": 0.1 + shift + rng.normal(0, 0.05, voxels) for s in range(subjects)}


def test_identical_sides_differ_by_exactly_zero_with_a_zero_width_interval():
    side = _side(np.random.default_rng(0))
    result = estimate(side, {k: v.copy() for k, v in side.items()}, Draws(0, 300, "t"))
    assert result.value == 0 and result.lo == 0 and result.hi == 0
    assert result.p == 1.0 and result.subjects == 4


def test_a_planted_difference_is_found_and_its_interval_holds_it():
    rng = np.random.default_rng(1)
    a = _side(rng)
    b = {s: r + 0.01 + rng.normal(0, 0.02, r.size) for s, r in a.items()}
    result = estimate(b, a, Draws(0, 500, "t"))
    assert result.p < 0.01 and result.lo <= 0.01 <= result.hi and result.lo > 0
    assert result.text() .startswith("+0.01")


def test_noise_alone_is_not_declared_a_difference():
    rng = np.random.default_rng(2)
    a = _side(rng)
    b = {s: r + rng.normal(0, 0.02, r.size) for s, r in a.items()}
    result = estimate(b, a, Draws(0, 500, "t"))
    assert result.p > 0.05 and result.lo < 0 < result.hi


def test_pairing_narrows_the_interval_against_independent_draws():
    """The voxels both models score well are shared: the paired interval is far narrower than the
    two scores' own intervals would suggest."""
    rng = np.random.default_rng(3)
    a = _side(rng)
    b = {s: r + 0.005 + rng.normal(0, 0.01, r.size) for s, r in a.items()}
    draws = Draws(0, 500, "t")
    paired = estimate(b, a, draws)
    alone = estimate(a, None, draws)
    assert paired.hi - paired.lo < (alone.hi - alone.lo) / 3
    assert paired.lo > 0


def test_only_subjects_both_sides_scored_are_compared():
    rng = np.random.default_rng(4)
    a = _side(rng, subjects=3)
    b = {k: v for k, v in a.items() if k != "S2"}
    assert estimate(a, b, Draws(0, 100, "t")).subjects == 2


def test_the_same_names_give_the_same_draws():
    rng = np.random.default_rng(5)
    a, b = _side(rng), _side(rng)
    one, two = estimate(a, b, Draws(7, 200, "x")), estimate(a, b, Draws(7, 200, "x"))
    assert np.array_equal(one.replicates, two.replicates)
    assert not np.array_equal(one.replicates, estimate(a, b, Draws(7, 200, "y")).replicates)


def test_holm_matches_a_hand_computation():
    # sorted 0.01, 0.02, 0.04, 0.30 times 4, 3, 2, 1 -> 0.04, 0.06, 0.08, 0.30, kept monotone
    assert np.allclose(holm([0.04, 0.01, 0.30, 0.02]), [0.08, 0.04, 0.30, 0.06])
    assert np.allclose(holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1, never below an earlier one
    adjusted = holm([0.01, np.nan, 0.02])
    assert np.isnan(adjusted[1]) and np.allclose(adjusted[[0, 2]], [0.02, 0.02])


def test_p_value_is_two_sided():
    assert p_value(np.full(99, 1.0)) == pytest.approx(2 / 100)
    assert p_value(np.full(99, -1.0)) == pytest.approx(2 / 100)
    assert p_value(np.linspace(-1, 1, 101)) == 1.0


def _control_run(tmp_path, *, same: bool):
    """A run of one model on an original target and on its word-shuffled control (``same``: the control
    scores exactly what the original does)."""
    from tests.support.synthetic_runs import write_run

    run = tmp_path / "run"
    write_run(run, model="tiny", seed=1, target="simulated", checkpoints=6, layers=2, subjects=3, voxels=200)
    write_run(run, model="tiny", seed=1 if same else 2, target="simulated+shuffled", shape="triple" if same else "flat",
              checkpoints=6, layers=2, subjects=3, voxels=200)
    (run / "config.yaml").write_text("models:\n  - {family: tinylm, label: tiny}\n"
                                     "brain:\n  - dataset: simulated\n  - dataset: simulated\n    control: shuffled\n",
                                     encoding="utf-8")
    return run


def test_the_control_difference_is_in_comparisons_csv_the_headline_and_the_report(tmp_path):
    from harness.analysis.phases import PhaseSettings
    from harness.views import analyze_run

    result = analyze_run(_control_run(tmp_path, same=False), PhaseSettings(n_boot=100))
    table = result.comparisons
    assert set(table["comparison"]) == {"above control", "vs step 0"}
    above = table[table["comparison"] == "above control"]
    assert (above["versus"] == "simulated+shuffled").all() and (above["target"] == "simulated").all()
    final = above.sort_values("step").iloc[-1]
    assert final["lo"] <= final["difference"] <= final["hi"] and final["resampled"] == "subjects and voxel groups"
    assert (table["p_holm"] >= table["p"]).all()
    on_disk = (result.run_dir / "tables" / "comparisons.csv").read_text(encoding="utf-8")
    assert on_disk.startswith("comparison,model,target,versus") and "above control" in on_disk
    row = result.headline.set_index("target").loc["simulated"]
    assert row["above_control"] == final["difference"] and row["above_control_lo"] == final["lo"]
    html = result.report.read_text(encoding="utf-8")
    assert "alignment above lexical content (words shuffled within sentences): <strong>" in html
    assert "<h4>Paired differences</h4>" in html and "Holm-corrected across the" in html


def test_a_control_that_scores_what_the_original_does_is_exactly_zero_above(tmp_path):
    from harness.analysis.phases import PhaseSettings
    from harness.views import analyze_run

    table = analyze_run(_control_run(tmp_path, same=True), PhaseSettings(n_boot=50)).comparisons
    above = table[table["comparison"] == "above control"]
    assert len(above) and (above["difference"] == 0).all() and (above["lo"] == 0).all() and (above["hi"] == 0).all()
    assert (above["p"] == 1).all()


def test_accuracy_below_chance_is_explained_where_shown():
    import pandas as pd

    from harness.views.leaderboard import GLOSSARY
    from harness.views.report import _glance_rows

    row = pd.Series({"target": "", "final_instruction_following": np.nan, "final_correctness": np.nan,
                     "final_task_accuracy": -0.12})
    assert _glance_rows(row, pd.DataFrame())[-1] == (
        "final task accuracy (chance-corrected)", "-0.120 (below chance: answers in the wrong format count as wrong)")
    assert "below 0 = below chance (answers in the wrong format count as wrong)" in GLOSSARY["final_task_accuracy"]
