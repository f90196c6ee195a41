"""``harness compare``: several runs' curves on one token axis, as PNG, SVG and an HTML page."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.views.compare import compare_runs, run_labels
from tests.support.synthetic_runs import write_run


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


def test_compare_prints_paired_differences_that_fit_80_columns(two_runs, tmp_path, capsys):
    assert main(["compare", *map(str, two_runs), "--output", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert any(line.startswith("paired differences of r_mean (A - B)") and "resampled: subjects" in line for line in printed)
    rows = [line for line in printed if line.startswith("a/run ")]
    assert [line.split()[2] for line in rows] == ["final", "peak", "depth"]
    assert all(len(line) <= 80 for line in printed if not line.startswith(("comparison ", "figure: ", "page: ", "table: ")))  # paths aside
    assert "Holm-corrected across the 3 differences shown" in printed
    table = (tmp_path / "out" / "differences.csv").read_text(encoding="utf-8")
    assert table.startswith("a,b,target,at,")


def test_compare_wraps_the_differences_note_to_the_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    runs = [write_run(tmp_path / name, model=name, checkpoints=3, layers=2, subjects=2, voxels=40) for name in ("a", "b")]
    assert main(["compare", *map(str, runs), "--output", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 80 for line in printed if str(tmp_path) not in line), printed
    assert "95 % intervals; resampled: subjects and voxel groups" in " ".join(" ".join(printed).split())


def test_model_vs_model_finds_a_planted_gain_and_not_a_copy(tmp_path):
    """The same data twice differs by exactly 0; a run whose every voxel scores 0.01 higher is found."""
    import numpy as np

    from harness.analysis.pairwise import pairwise_table
    from harness.views.compare import entries, load_curves

    base = write_run(tmp_path / "a", model="alpha", checkpoints=4, layers=2, subjects=3, voxels=300)
    copy = write_run(tmp_path / "b", model="beta", checkpoints=4, layers=2, subjects=3, voxels=300)
    table = pairwise_table(entries(load_curves([base, copy])), n_boot=200)
    assert (table["difference"] == 0).all() and (table["lo"] == 0).all() and (table["p"] == 1).all()
    runs = load_curves([base, copy])
    arrays = runs[1].data.arrays
    for path in set(arrays["path"]):  # every voxel of beta 0.01 higher (the arrays, not the table)
        with np.load(path) as loaded:
            shifted = {k: loaded[k] + (np.float32(0.01) if k.startswith("r/") else 0) for k in loaded.files}
        np.savez(path, **shifted)
    table = pairwise_table(entries(runs), n_boot=300).set_index("at")
    final = table.loc["final"]
    assert final["difference"] == pytest.approx(-0.01, abs=1e-6) and final["hi"] < 0 and final["p_holm"] < 0.05
    assert final["resampled"] == "subjects and voxel groups"


def test_compare_writes_under_the_first_run_by_default_and_never_replaces_silently(tmp_path, capsys):
    runs = [write_run(tmp_path / "a" / "first", model="alpha", checkpoints=6, arrays=False, brain=False),
            write_run(tmp_path / "b" / "second", model="beta", checkpoints=6, arrays=False, brain=False)]
    before = {p: p.stat().st_mtime_ns for p in runs[1].rglob("*")}
    assert main(["compare", *map(str, runs)]) == 0
    out = runs[0] / "comparisons" / "first-vs-second"
    assert capsys.readouterr().out.startswith(f"comparison written in {out}\n") and (out / "comparison.html").is_file()
    page = (out / "comparison.html").read_bytes()
    assert main(["compare", *map(str, runs)]) == 2  # a second compare says so and writes nothing
    err = capsys.readouterr().err.strip()
    assert err == f"error: --output {out}: already holds a comparison; pass --force to replace it, or name another folder with --output"
    assert (out / "comparison.html").read_bytes() == page
    assert main(["compare", *map(str, runs), "--force"]) == 0
    assert capsys.readouterr().out.startswith(f"comparison replaced in {out}\n")
    assert {p: p.stat().st_mtime_ns for p in runs[1].rglob("*")} == before  # the other runs are only read

