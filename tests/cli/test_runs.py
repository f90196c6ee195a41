"""Every command on every kind of run, through ``harness.cli.main``: exit codes and what is printed.

Kinds of run: an analysed run with brain scores (as the demo), a run with a failed cell, a run
whose every cell failed, a run store without cells, an empty directory, a directory that is not a
run, a file, a path that does not exist and a store that is no database. A user's mistake is one
line on stderr and exit 2; everything else prints and exits 0, never a traceback.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from harness.analysis import PhaseSettings
from harness.cli import main
from harness.plugin import registry
from harness.store.database import RunStore
from harness.views import analyze_run
from tests.support.plugin_packages import TOY_PLUGINS, activate, write_plugin_package
from tests.support.synthetic_runs import write_run

CONFIG = """
run: {run}
seed: 3
models:
  - family: toyfamily
    label: toy
    checkpoints: all
    options: {{steps: {steps}}}
tasks:
  - task: toytask
    options: {{fail_at: {fail_at}}}
analyze: true
"""
GOOD = ("demo", "failed", "all_failed", "no_cells")
BAD = ("empty_dir", "not_a_run", "file", "missing", "garbage_store")


def toy_config(root: Path, name: str, steps: str = "[0, 1, 2, 4, 8]", fail_at: str = "null") -> Path:
    path = root / f"{name}.yaml"
    path.write_text(CONFIG.format(run=root / name, steps=steps, fail_at=fail_at), encoding="utf-8")
    return path


def _use_toy_plugins(mp: pytest.MonkeyPatch, root: Path) -> None:
    activate(write_plugin_package(root / "site", "toyplug", TOY_PLUGINS), mp)
    mp.setenv("HARNESS_PLUGINS", "toyplug")
    mp.setenv("COLUMNS", "80")


@pytest.fixture
def site(tmp_path, monkeypatch):
    _use_toy_plugins(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One run directory (or path) of each kind, shared by the module's tests (views only read them)."""
    root = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        _use_toy_plugins(mp, root)
        mp.setenv("HARNESS_CACHE", str(root / "cache"))
        demo = write_run(root / "demo", model="alpha", shape="triple", checkpoints=10, arrays=False)
        analyze_run(demo, PhaseSettings(n_boot=10))
        assert main(["sweep", "--quiet", "--no-analyze", str(toy_config(root, "failed", fail_at="2"))]) == 1
        assert main(["sweep", "--quiet", "--no-analyze", str(toy_config(root, "all_failed", steps="[2]", fail_at="2"))]) == 1
    RunStore(root / "no_cells", create=True).close()
    (root / "empty_dir").mkdir()
    (root / "not_a_run").mkdir()
    (root / "not_a_run" / "notes.txt").write_text("hello", encoding="utf-8")
    (root / "file").write_text("not a directory", encoding="utf-8")
    (root / "garbage_store").mkdir()
    (root / "garbage_store" / "store.sqlite").write_bytes(b"this is no database" * 10)
    return {kind: root / kind for kind in GOOD + BAD}


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "80")


def one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ") and "Traceback" not in captured.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


VIEWS = {
    "show": [],
    "show --errors": ["--errors"],
    "show --errors --debug": ["--errors", "--debug"],
    "show --format json": ["--format", "json"],
    "show --format csv": ["--format", "csv"],
    "analyze": [],
    "leaderboard": [],
    "leaderboard --format json": ["--format", "json"],
    "leaderboard --format markdown": ["--format", "markdown"],
}


def _argv(view: str, run: Path, tmp_path: Path) -> list[str]:
    command = view.split()[0]
    return [command, str(run), *VIEWS[view]]


@pytest.mark.parametrize("view", list(VIEWS))
def test_every_view_works_on_every_kind_of_run(runs, env, tmp_path, capsys, view):
    for kind in GOOD:
        assert main(_argv(view, runs[kind], tmp_path)) == 0, (view, kind, capsys.readouterr())
        captured = capsys.readouterr()
        assert captured.out.strip(), (view, kind)
        assert "Traceback" not in captured.err and ("Traceback" not in captured.out or "--debug" in view)
    for kind in BAD:
        assert main(_argv(view, runs[kind], tmp_path)) == 2, (view, kind)
        one_line_error(capsys, str(runs[kind]))


def test_compare_on_every_kind_of_run(runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", *(str(runs[k]) for k in GOOD), "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "all_failed: no finished cells" in text and "no_cells: no finished cells" in text
    assert {p.name for p in out.iterdir()} == {"comparison.png", "comparison.svg", "comparison.html", "differences.csv"}
    for kind in ("all_failed", "no_cells"):
        assert main(["compare", str(runs[kind]), "--output", str(tmp_path / kind)]) == 2
        one_line_error(capsys, "nothing to compare")
        assert not (tmp_path / kind).exists()
    for kind in BAD:
        assert main(["compare", str(runs["demo"]), str(runs[kind]), "--output", str(tmp_path / "x")]) == 2
        one_line_error(capsys, str(runs[kind]))
    assert main(["compare", str(runs["demo"]), "--output", str(runs["file"])]) == 2
    one_line_error(capsys, "is a file")


def test_sweep_and_validate_refuse_a_file_or_a_foreign_store_as_run(runs, site, tmp_path, capsys):
    config = toy_config(tmp_path, "unused", fail_at="2")  # the settings of the run "failed"
    for kind in ("file", "garbage_store"):
        for command in ("validate", "sweep"):
            assert main([command, str(config), "--run", str(runs[kind])]) == 2, (command, kind)
            one_line_error(capsys, str(runs[kind]))
    assert main(["validate", str(config), "--run", str(runs["failed"])]) == 0
    assert "1 to run" in capsys.readouterr().out  # the failed cell is retried, the others are done


def test_show_on_a_run_with_failures(runs, capsys):
    assert main(["show", str(runs["failed"])]) == 0
    out = capsys.readouterr().out
    assert "5 cells, 4 done, 1 failed, 0 stale" in " ".join(out.split())  # the summary wraps to the terminal
    assert "failed toy|2|task|toytask|-: RuntimeError: toytask cannot score step 2" in out
    assert f"harness show {runs['failed']} --errors" in out.splitlines()[-1]  # the command on a line of its own
    assert all(len(line) <= 80 for line in out.splitlines() if str(runs["failed"]) not in line)
    assert main(["show", str(runs["all_failed"])]) == 0
    out = capsys.readouterr().out
    assert "no finished cells yet" in out and "toy|2|task|toytask|-" in out


def test_show_starts_with_a_summary_then_pivots_that_fit_80_columns_without_a_cut_number(runs, capsys):
    import harness

    assert main(["show", str(runs["demo"])]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("run ") and "verdict, alpha on sim: pattern triple-phase" in " ".join(out.split())
    assert all(len(line) <= 80 for line in lines if str(runs["demo"]) not in line), [line for line in lines if len(line) > 80]
    assert "alpha x sim: r_mean over subjects by layer (* best layer)" in out
    titles = [line for line in lines if " x " in line and ":" in line and not line.startswith(" ")]
    assert titles[0].startswith("alpha x sim:")  # brain first, then tasks and metrics
    scores = harness.load_run(runs["demo"]).scores
    brain = scores[(scores["kind"] == "brain") & (scores["scope"] == "mean") & (scores["metric"] == "r_mean")]
    table = brain.pivot_table(index="step", columns="layer", values="value")
    start = lines.index("alpha x sim: r_mean over subjects by layer (* best layer)")
    header = lines[start + 1].split()
    assert header[:2] == ["step", "tokens"] and header[2:6] == ["L0", "L1", "L2", "L3"]
    for line, (step, row) in zip(lines[start + 2:], table.iterrows()):
        cells = line.split()
        assert int(cells[0]) == step
        shown = [float(cell.rstrip("*")) for cell in cells[2:6]]
        assert shown == [round(float(v), 3) for v in row]  # whole numbers, never cut
        assert cells[2 + int(row.to_numpy().argmax())].endswith("*")  # the best layer marked
    assert f"harness show {runs['demo']} --all" in " ".join(out.split())


def test_show_of_a_run_with_a_model_group_shows_the_group_mean_with_intervals_across_members(tmp_path, env, capsys):
    import harness
    from harness.analysis.groups import group_frame

    run, members = tmp_path / "run-with-a-group-of-seeds", ["tiny-seed0", "tiny-seed1", "tiny-seed2"]
    for seed, model in enumerate(members):
        write_run(run, model=model, seed=seed, checkpoints=5, layers=3, subjects=2, voxels=40)
    (run / "config.yaml").write_text("models:\n" + "".join(f"  - {{family: tinylm, label: {m}, group: tiny}}\n"
                                                           for m in members) + "brain:\n  - dataset: simulated\n",
                                     encoding="utf-8")
    assert main(["show", str(run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 80 for line in lines if str(run) not in line), [line for line in lines if len(line) > 80]
    assert "group tiny: the mean of tiny-seed0, tiny-seed1, tiny-seed2" in lines
    titles = [line for line in lines if " x " in line and not line.startswith(" ")]
    assert titles[0] == "tiny (mean of 3 members) x sim: r_mean over subjects by layer (* best layer)"  # first
    start = lines.index(titles[0]) - 1  # as if the title took two lines
    assert lines[start + 2].split()[:5] == ["step", "tokens", "L0", "L1", "L2"]
    scores = harness.load_run(run).scores
    group = group_frame(scores, "tiny", members)
    mean = group[(group["kind"] == "brain") & (group["scope"] == "mean") & (group["metric"] == "r_mean")]
    table = mean.pivot_table(index="step", columns="layer", values="value")
    for line, (step, row) in zip(lines[start + 3:], table.iterrows()):
        cells = line.split()
        assert int(cells[0]) == step and [float(c.rstrip("*")) for c in cells[2:5]] == [round(float(v), 3) for v in row]
        lo, hi = (float(c.strip("[],")) for c in cells[-2:])
        assert lo <= round(row.max(), 3) <= hi and cells[-3] == f"L{int(row.to_numpy().argmax())}"
    assert lines[start + 3 + len(table)] == "  95 % CI: resampling members (3)"
    assert "tiny (mean of 3 members) x offline: scores" in lines and "tiny-seed1 x sim: r_mean over subjects by layer" \
        " (* best layer)" in " ".join(lines)


def test_a_pivot_title_longer_than_the_terminal_wraps():
    from harness.views.pivots import Pivot

    pivot = Pivot("tiny (mean of 3 members) x simulated: r_mean over subjects by layer (* best layer)", ["a"], [["1"]])
    assert pivot.lines(80)[:3] == ["tiny (mean of 3 members) x simulated: r_mean over subjects by layer (* best",
                                   "  layer)", "a"]


def test_show_of_a_checkpoint_without_brain_scores_leaves_its_cells_and_best_empty(tmp_path, capsys):
    run = write_run(tmp_path / "run", model="alpha", checkpoints=4, layers=2, subjects=2, voxels=50, nan_brain_steps=(2,))
    assert main(["show", str(run), "--target", "sim"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("alpha x sim: r_mean over subjects by layer (* best layer)")
    rows = {line.split()[0]: line.split() for line in lines[start + 2:start + 7]}
    assert rows["2"][2:] == [] and len(rows["1"]) == 2 + 2 + 4  # step, tokens, L0, L1, best: value, layer, [lo, hi]


def test_show_filters_by_target_metric_layer_and_step(runs, capsys):
    assert main(["show", str(runs["demo"]), "--target", "sim", "--layer", "2", "--step", "0", "--step", "3"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    start = lines.index("alpha x sim: r_mean over subjects by layer (* best layer)")
    assert lines[start + 1].split()[:3] == ["step", "tokens", "L2"] and [row.split()[0] for row in lines[start + 2:start + 4]] == ["0", "3"]
    assert sum(" x " in line and ":" in line for line in lines if not line.startswith(" ")) == 1  # one target
    assert main(["show", str(runs["demo"]), "--target", "simm"]) == 2
    one_line_error(capsys, "--target 'simm'", "did you mean 'sim'")
    assert main(["show", str(runs["demo"]), "--all", "--metric", "r_mean", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "r_mean" in out and "more rows in" in out


def test_show_all_fits_80_columns_with_names_whole(runs, env, capsys):
    assert main(["show", str(runs["demo"]), "--all", "--target", "offline", "--step", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 80 for line in lines if str(runs["demo"]) not in line), lines
    words = {word for line in lines for word in line.split()}  # a long name wraps at its space, never inside a word
    assert {"instruction", "correct", "follows_format", "perplexity", "bits_per_byte", "minimal_pairs"} <= words
    assert lines[next(i for i, line in enumerate(lines) if "x offline" in line) + 2].split()[:3] == \
        ["step", "tokens", "scope"]


def test_show_errors_lists_cell_error_and_log_and_debug_adds_the_traceback(runs, capsys):
    log = runs["failed"] / "logs" / "cells" / "toy_2_task_toytask_-.log"
    assert main(["show", str(runs["failed"]), "--errors"]) == 0
    out = capsys.readouterr().out
    assert "failed toy|2|task|toytask|-" in out and "RuntimeError: toytask cannot score step 2" in out
    assert str(log) in out and "Traceback" not in out
    assert main(["show", str(runs["failed"]), "--errors", "--debug"]) == 0
    out = capsys.readouterr().out
    assert "Traceback (most recent call last)" in out and 'raise RuntimeError(f"toytask cannot score step {step}")' in out
    assert main(["show", str(runs["demo"]), "--errors"]) == 0
    assert "no failed cells" in capsys.readouterr().out


def test_show_errors_as_json_and_csv(runs, capsys):
    assert main(["show", str(runs["failed"]), "--errors", "--debug", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    [failure] = data["failures"]
    assert failure["cell_id"] == "toy|2|task|toytask|-" and failure["state"] == "failed" and failure["step"] == 2
    assert failure["log"].endswith("toy_2_task_toytask_-.log") and "Traceback" in failure["traceback"]
    assert main(["show", str(runs["failed"]), "--errors", "--format", "csv"]) == 0
    from io import StringIO

    table = pd.read_csv(StringIO(capsys.readouterr().out))
    assert table["cell_id"].tolist() == ["toy|2|task|toytask|-"] and "log" in table


def test_show_json_holds_every_table(runs, capsys):
    assert main(["show", str(runs["demo"]), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"run", "analysis_fresh", "scores", "cells", "failures", "phases", "transitions", "headline", "provenance"}
    assert data["analysis_fresh"] is True and data["headline"][0]["model"] == "alpha"
    assert data["headline"][0]["pattern"] == "triple-phase"
    brain = [t for t in data["transitions"] if t["signal"] == "brain r (best layer)"]
    assert [t["direction"] for t in brain] == ["up", "down", "up"] and all(t["lo"] <= t["tokens"] <= t["hi"] for t in brain)
    task_row = next(r for r in data["scores"] if r["kind"] == "task")
    assert task_row["layer"] is None  # a missing value is null, never NaN (invalid JSON)
    assert main(["show", str(runs["failed"]), "--format", "json", "--metric", "acc"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["scores"]) == 8 and data["failures"][0]["cell_id"] == "toy|2|task|toytask|-"


def test_show_csv_is_the_long_scores_table(runs, capsys):
    from io import StringIO

    assert main(["show", str(runs["failed"]), "--format", "csv"]) == 0
    table = pd.read_csv(StringIO(capsys.readouterr().out))
    assert len(table) == 8 and sorted(set(table["step"])) == [0, 1, 4, 8]
    assert {"model", "step", "tokens", "layer", "scope", "metric", "value", "stale"} <= set(table.columns)


def test_show_with_an_unknown_metric_is_one_line(runs, capsys):
    assert main(["show", str(runs["failed"]), "--metric", "accc"]) == 2
    one_line_error(capsys, "--metric 'accc'", "did you mean 'acc'")


def test_leaderboard_of_a_run_without_brain_scores_keeps_its_title_whole(runs, env, capsys):
    assert main(["leaderboard", str(runs["failed"])]) == 0
    assert "harness leaderboard" in capsys.readouterr().out


def test_leaderboard_on_runs_without_models_says_so(runs, capsys):
    assert main(["leaderboard", str(runs["no_cells"])]) == 0
    assert "no models" in capsys.readouterr().out


def test_leaderboard_output_file_and_mistakes(runs, tmp_path, capsys):
    target = tmp_path / "board.json"
    assert main(["leaderboard", str(runs["demo"]), "--format", "json", "--output", str(target)]) == 0
    assert json.loads(target.read_text())[0]["model"] == "alpha"
    assert main(["leaderboard", str(runs["demo"]), "--output", str(tmp_path / "board.txt")]) == 2
    one_line_error(capsys, "--output needs a file format")
    assert main(["leaderboard", str(runs["demo"]), "--format", "csv", "--output", str(tmp_path / "nope" / "b.csv")]) == 2
    one_line_error(capsys, "does not exist")
    assert main(["leaderboard", str(runs["demo"]), "--format", "xlsx"]) == 2
    one_line_error(capsys, "invalid choice: 'xlsx'")


def test_usage_mistakes_are_one_line(capsys):
    for argv in (["show"], ["nonesuch"], ["show", "x", "--limit", "0"], ["leaderboard"], ["data"]):
        assert main(argv) == 2, argv
        one_line_error(capsys, "harness")


def test_version_and_help(capsys):
    from harness import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"harness {__version__}"
    commands = ["plugins", "validate", "sweep", "show", "analyze", "leaderboard", "compare", "data"]
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in [*commands, ["data", "fetch"]]:
        assert main([*(command if isinstance(command, list) else [command]), "--help"]) == 0
        text += capsys.readouterr().out
    assert "``" not in text and "`" not in text  # no reStructuredText markup in help
    assert "every:K (the steps that are multiples of K" in " ".join(text.split())
    assert "every K-th layer" in text


def test_data_fetch_mistakes_are_one_line(site, tmp_path, capsys, monkeypatch):
    assert main(["data", "fetch", "toyfamly"]) == 2
    one_line_error(capsys, "toyfamly")
    monkeypatch.delenv("HARNESS_PLUGINS")
    monkeypatch.setattr(registry, "_REGISTRY", None)
    assert main(["data", "fetch", "simulated"]) == 2
    one_line_error(capsys, "no downloader")
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["data", "fetch", "lebel2023", "--root", str(afile)]) == 2
    one_line_error(capsys, "is a file")


def test_load_run_gives_tidy_frames(runs):
    import harness

    run = harness.load_run(runs["demo"])
    assert run.analysis_fresh and run.path == runs["demo"]
    from harness.store.schema import RESULT_COLUMNS

    assert list(run.scores.columns) == RESULT_COLUMNS and str(run.scores["layer"].dtype) == "Int64"
    assert set(run.cells["status"]) == {"done"} and run.failures.empty and run.cells["log"].isna().all()
    assert run.headline["pattern"].tolist() == ["triple-phase"]
    row = run.headline.iloc[0]
    assert row["peak_r_lo"] <= row["peak_r"] <= row["peak_r_hi"] and row["final_r_lo"] <= row["final_r"] <= row["final_r_hi"]
    assert row["resampled"] == "subjects"  # this run kept no per-voxel arrays
    assert run.phases["phase"].tolist() == ["surge", "detachment", "realignment"]
    assert run.phases["status"].tolist() == ["confirmed"] * 3
    brain = run.transitions[run.transitions["signal"] == "brain r (best layer)"]
    assert brain["direction"].tolist() == ["up", "down", "up"] and (brain["tokens"].diff().dropna() > 0).all()
    assert len(run.provenance) == len(run.cells) and {"config_hash", "data_hash", "plugin_version", "seed"} <= set(run.provenance)
    json.dumps(run.to_dict())  # plain values only


def test_load_run_is_listed_and_what_it_returns_opens_the_store_as_the_readme_says(runs):
    import harness
    from harness.store.database import RunStore

    assert {"load_run", "RunFrames", "noise_ceiling"} <= set(dir(harness)) and "load_run" in harness.__all__
    run = harness.load_run(runs["demo"])
    with RunStore(run) as store:
        assert len(store.results_frame()) == len(run.scores)


def test_load_run_of_a_run_with_failures(runs):
    from harness.views.frames import load_run

    run = load_run(runs["failed"])
    failure = run.failures.iloc[0]
    assert (failure["cell_id"], failure["state"], failure["step"]) == ("toy|2|task|toytask|-", "failed", 2)
    assert failure["log"].endswith("logs/cells/toy_2_task_toytask_-.log") and Path(failure["log"]).is_file()
    assert {"torch", "python", "harness", "model_plugin", "target_plugin"} <= set(run.provenance.columns)
    assert run.provenance.set_index("cell_id").loc["toy|4|task|toytask|-", "commit"] == "c4"
    empty = load_run(runs["no_cells"])
    assert empty.scores.empty and empty.cells.empty and empty.transitions.empty and empty.failures.empty


def test_load_run_analyses_only_when_asked(runs, tmp_path):
    import shutil

    from harness.util.errors import DataError
    from harness.views.frames import load_run

    copy = tmp_path / "failed"
    shutil.copytree(runs["failed"], copy)
    for path in [copy / "report.html", *(copy / "tables").glob("headline.csv"), *(copy / "tables").glob("analysis.json")]:
        path.unlink(missing_ok=True)  # as swept with --no-analyze (other tests may have analysed the shared run)
    assert not load_run(copy).analysis_fresh and load_run(copy).headline.empty
    before = sorted(p.relative_to(copy) for p in copy.rglob("*"))
    load_run(copy)
    assert sorted(p.relative_to(copy) for p in copy.rglob("*")) == before  # only read
    run = load_run(copy, analyze=True)
    assert run.analysis_fresh and run.headline["model"].tolist() == ["toy"] and (copy / "report.html").is_file()
    for kind in BAD:
        with pytest.raises(DataError, match=str(runs[kind])):
            load_run(runs[kind])


def test_show_puts_an_interval_beside_each_brain_score(tmp_path, capsys):
    run = write_run(tmp_path / "run", model="alpha", checkpoints=2, layers=2, subjects=3, voxels=100)
    assert main(["show", str(run), "--metric", "r_mean", "--all"]) == 0
    out = capsys.readouterr().out
    assert "95 % CI" in out and "resampling subjects and voxel groups" in " ".join(out.split())  # the note wraps
    rows = [line for line in out.splitlines() if " mean " in line and "r_mean" in line]
    assert rows and all(re.search(r"\[-?\d\.\d{4}, -?\d\.\d{4}\]", line) for line in rows)
