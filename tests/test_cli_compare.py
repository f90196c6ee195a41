"""``harness compare``: several runs' curves on one token axis, as PNG, SVG and an HTML page."""

from __future__ import annotations

import pytest

from harness.analysis.compare import compare_runs, run_labels
from harness.cli import main
from tests.analysis_synthetic import write_run


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    return [write_run(root / "a" / "run", model="alpha", shape="triple", checkpoints=12, arrays=False),
            write_run(root / "b" / "run", model="beta", family="pythia", shape="rising", checkpoints=8, arrays=False)]


def test_compare_writes_one_figure_and_a_self_contained_page(two_runs, tmp_path, capsys):
    out = tmp_path / "out"
    before = {p: p.stat().st_mtime_ns for run in two_runs for p in run.rglob("*")}
    assert main(["compare", *map(str, two_runs), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    for suffix in ("png", "svg", "html"):
        assert str(out / f"comparison.{suffix}") in printed
    assert (out / "comparison.png").read_bytes().startswith(b"\x89PNG")
    svg = (out / "comparison.svg").read_text(encoding="utf-8")
    assert "<svg" in svg and "a/run: alpha on sim" in svg and "b/run: beta on sim" in svg  # one legend entry per run
    page = (out / "comparison.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page and "http" not in page
    assert "<td>a/run</td>" in page and "<td>beta</td>" in page and "instruction following" in page
    assert {p: p.stat().st_mtime_ns for run in two_runs for p in run.rglob("*")} == before  # the runs are only read


def test_summary_rows_hold_peak_and_final_values(two_runs, tmp_path):
    comparison = compare_runs(two_runs, tmp_path)
    summary = comparison.summary.set_index("model")
    assert summary.loc["alpha", "run"] == "a/run" and summary.loc["beta", "family"] == "pythia"
    assert summary.loc["alpha", "peak_r"] >= summary.loc["alpha", "final_r"] > 0
    assert 0 <= summary.loc["beta", "final_instruction_following"] <= 1
    assert comparison.empty_runs == []


def test_run_labels_are_folder_names_made_unique():
    from pathlib import Path

    assert run_labels([Path("/x/runs/demo"), Path("/x/runs/pythia")]) == ["demo", "pythia"]
    assert run_labels([Path("/x/a/demo"), Path("/x/b/demo")]) == ["a/demo", "b/demo"]
