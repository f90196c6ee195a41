"""One word for what a brain dataset records: a MEG run says sensors in every view, an fMRI run voxels."""

from __future__ import annotations

import json

import pytest

from harness.analysis import PhaseSettings
from harness.analysis.channels import resampled, target_channels
from harness.cli import main
from harness.plugin.contract import Channels, Modality
from harness.views import analyze_run
from harness.views.frames import load_run
from tests.support.synthetic_runs import write_run

FAST = PhaseSettings(n_boot=20)


@pytest.fixture(scope="module")
def meg_run(tmp_path_factory):
    run = write_run(tmp_path_factory.mktemp("meg") / "meg", checkpoints=6, subjects=2, voxels=30, dataset="simulated_meg")
    analyze_run(run, FAST)
    return run


def test_channels_are_named_once_per_modality():
    assert [m.channels for m in Modality] == [Channels.VOXELS, Channels.SENSORS, Channels.CHANNELS]
    assert [c.count_metric for c in Channels] == ["n_voxels", "n_vertices", "n_sensors", "n_channels"]
    assert [c.one for c in Channels] == ["voxel", "vertex", "sensor", "channel"]
    assert resampled(Channels.SENSORS, Channels.VOXELS, Channels.SENSORS) == "subjects and voxel/sensor groups"
    assert resampled() == "subjects and voxel groups"


def test_a_meg_run_says_sensors_in_its_tables_and_report(meg_run):
    scores = load_run(meg_run).scores
    assert target_channels(scores) == {"sim": Channels.SENSORS}
    assert "n_sensors" in set(scores["metric"]) and "n_voxels" not in set(scores["metric"])
    tables = {path.name: path.read_text(encoding="utf-8") for path in (meg_run / "tables").glob("*.csv")}
    assert "n_sensors" in tables["tiny__sim.csv"] and "sensors+subjects" in tables["transitions.csv"]
    assert "subjects and sensor groups" in tables["comparisons.csv"] + tables["headline.csv"]
    assert not [name for name, text in tables.items() if "voxel" in text]
    page = (meg_run / "report.html").read_text(encoding="utf-8")
    assert "sensors scored per subject: S01 30, S02 30" in page and "resampling subjects and sensor groups" in page
    assert "voxel" not in page


@pytest.mark.parametrize("argv", [["show"], ["show", "--all"], ["show", "--format", "json"], ["analyze"],
                                  ["leaderboard"], ["leaderboard", "--format", "json"]])
def test_a_meg_run_says_sensors_in_every_command(meg_run, argv, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main([argv[0], str(meg_run), *argv[1:]]) == 0
    out = " ".join(capsys.readouterr().out.split())  # notes wrap to the terminal
    assert "voxel" not in out
    if argv[0] == "show" and argv[1:]:
        assert "subjects and sensor groups" in out and "n_sensors" in out
    if argv == ["show", "--format", "json"]:
        units = {row["interval"] for row in json.loads(out)["scores"] if row["metric"] == "r_mean"}
        assert "subjects and sensor groups" in units


def test_an_fmri_run_keeps_voxels(tmp_path):
    run = write_run(tmp_path / "fmri", checkpoints=4, subjects=2, voxels=30)
    analyze_run(run, FAST)
    assert "voxels scored per subject" in (run / "report.html").read_text(encoding="utf-8")
    assert "subjects and voxel groups" in (run / "tables" / "headline.csv").read_text(encoding="utf-8")
