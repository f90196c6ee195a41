"""Groups of models (seeds of one model) analysed as one: mean curves, intervals across members."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis.curves import model_curves
from harness.analysis.data import brain_controls, model_groups, read_run
from harness.analysis.findings import all_transitions, analyze_frame
from harness.analysis.groups import group_curves, group_frame, group_members, group_signals, with_groups
from harness.analysis.phases import PhaseSettings
from harness.analysis.signals import BRAIN_BEST, INSTRUCTION
from harness.views.figures import triple_phase_figure
from harness.views.publish import analyze_run
from tests.support.synthetic_runs import write_run

MEMBERS = ["tiny-seed0", "tiny-seed1", "tiny-seed2"]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    run = tmp_path_factory.mktemp("groups") / "run"
    for seed, model in enumerate(MEMBERS):
        write_run(run, model=model, seed=seed, checkpoints=14, layers=3, subjects=2, voxels=60)
    return read_run(run).results


def test_group_rows_are_member_means_where_every_member_has_the_row(seeds):
    partial = seeds[~((seeds["model"] == "tiny-seed2") & (seeds["step"] == 3))]  # one member lacks step 3
    frame = group_frame(partial, "tiny-seeds", MEMBERS)
    assert set(frame["model"]) == {"tiny-seeds"} and set(frame["family"]) == {"tinylm"}
    assert 3 not in set(frame["step"]) and 4 in set(frame["step"])
    row = frame[(frame["kind"] == "brain") & (frame["step"] == 4) & (frame["layer"] == 1) & (frame["scope"] == "mean")
                & (frame["metric"] == "r_mean")]
    members = seeds[(seeds["kind"] == "brain") & (seeds["step"] == 4) & (seeds["layer"] == 1) & (seeds["scope"] == "mean")
                    & (seeds["metric"] == "r_mean")]
    assert row["value"].item() == pytest.approx(members["value"].mean())
    assert row["stderr"].item() == pytest.approx(members["value"].std() / np.sqrt(3))
    assert list(frame.columns) == list(seeds.columns)


def test_group_is_judged_with_intervals_across_members(seeds):
    analyses = analyze_frame(seeds, None, PhaseSettings(n_boot=60), {"tiny-seeds": MEMBERS, "lonely": ["tiny-seed0", "gone"]})
    groups = [a for a in analyses if a.members]
    assert [(a.curves.model, a.members) for a in groups] == [("tiny-seeds", tuple(MEMBERS))]  # a group of one is no group
    group = groups[0]
    assert group.subject == "tiny-seeds (group of 3: tiny-seed0, tiny-seed1, tiny-seed2) on sim"
    assert group.result is not None and group.result.model == "tiny-seeds"
    best = next(t for t in group.found if t.signal.name == BRAIN_BEST)
    assert best.signal.method.startswith("members (3)") and best.signal.replicates.shape == (60, 15)
    # its curve is the best layer of the member mean, and so is each replicate's drawn from all members
    frame = group_frame(seeds, "tiny-seeds", MEMBERS)
    mean = frame[(frame["kind"] == "brain") & (frame["scope"] == "mean") & (frame["metric"] == "r_mean")]
    assert np.allclose(best.signal.values, mean.groupby("step")["value"].max().to_numpy())
    assert group.replicates is not None and group.replicates.method == "members (3)"
    instruction = next(t for t in group.found if t.signal.name == INSTRUCTION)
    assert instruction.signal.method.startswith("members (3)")
    assert instruction.transitions  # the planted instruction rise is found on the group too
    table = all_transitions(analyses)
    assert "tiny-seeds" in set(table["model"]) and set(MEMBERS) <= set(table["model"])


def test_members_differing_by_seed_give_wider_group_intervals_than_identical_members(seeds):
    same = seeds[seeds["model"] == "tiny-seed0"]
    clones = [same.assign(model=name) for name in MEMBERS]
    identical = pd.concat(clones, ignore_index=True)
    settings = PhaseSettings(n_boot=60)
    spread = {}
    for label, frame in (("seeds", seeds), ("clones", identical)):
        curves, members = group_curves(frame, "g", MEMBERS)
        reps = next(s for s in group_signals(curves, members, "sim", settings.n_boot, settings.seed)
                    if s.name == BRAIN_BEST).replicates
        spread[label] = float(np.nanstd(reps, axis=0).mean())
    assert spread["clones"] == pytest.approx(0.0, abs=1e-12) and spread["seeds"] > 1e-4


def test_with_groups_appends_group_rows_and_skips_groups_named_like_a_model(seeds):
    assert group_members(seeds, {"tiny-seed0": MEMBERS}) == {}  # a name already taken by a model
    combined = with_groups(seeds, {"tiny-seeds": MEMBERS})
    assert set(combined["model"]) == {*MEMBERS, "tiny-seeds"}
    assert len(combined) == len(seeds) + len(group_frame(seeds, "tiny-seeds", MEMBERS))


def test_a_run_with_a_group_and_a_control_is_analysed_and_reported(tmp_path):
    run = tmp_path / "run"
    for seed, model in enumerate(MEMBERS):
        write_run(run, model=model, seed=seed, target="simulated", checkpoints=8, layers=2, subjects=2, voxels=40)
    write_run(run, model="tiny-seed0", seed=9, target="simulated+shuffled", shape="flat", checkpoints=8, layers=2,
              subjects=2, voxels=40)
    (run / "config.yaml").write_text(
        "models:\n" + "".join(f"  - {{family: tinylm, label: {m}, group: tiny, options: {{seed: {i}}}}}\n"
                              for i, m in enumerate(MEMBERS))
        + "brain:\n  - dataset: simulated\n  - dataset: simulated\n    control: shuffled\n", encoding="utf-8")
    result = analyze_run(run, PhaseSettings(n_boot=30))
    assert "tiny" in set(result.phases["model"]) and "tiny" in set(result.transitions["model"])
    assert "tiny (group of 3: tiny-seed0, tiny-seed1, tiny-seed2) on simulated" in [a.subject for a in result.analyses]
    assert "tiny" in set(result.headline["model"])
    html = result.report.read_text(encoding="utf-8")
    assert "the control for simulated" in html and "words shuffled within sentences" in html
    captions = [f.caption for f in result.figures]
    assert "triple-phase figure: tiny on simulated" in captions
    assert not any("brain map" in c and "tiny on" in c for c in captions)  # a group has no voxels of its own


def test_the_control_curve_is_drawn_beside_the_original(seeds):
    curves = model_curves(seeds, "tiny-seed0")
    shifted = curves.brain["sim"]
    figure = triple_phase_figure(curves, "sim", None, control=("words shuffled within sentences", shifted))
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert "control: words shuffled within sentences (best layer)" in labels


def test_a_config_copy_this_version_no_longer_reads_leaves_groups_and_controls_unknown(tmp_path):
    """An older run stays readable: its results are analysed, only its groups and controls are not known."""
    (tmp_path / "config.yaml").write_text("models:\n  - {family: tinylm, group: g}\nbrain:\n  - dataset: simulated\n"
                                          "    encoding: {no_such_key: 1}\n", encoding="utf-8")
    assert model_groups(tmp_path) == {} and brain_controls(tmp_path) == {}
