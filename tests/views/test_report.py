"""analyze_run writes phases.csv, the figures and a self-contained report.html that lists what failed."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from harness.analysis import PhaseSettings
from harness.analysis.data import read_failures
from harness.analysis.phases import PHASE_COLUMNS
from harness.plan.config import parse_config
from harness.plugin.contract import VoxelMap
from harness.store.database import CellRecord, RunStore
from harness.sweep.driver import run_sweep
from harness.views import analyze_run
from harness.views.brainmap import voxel_image
from harness.views.datasets import dataset_info
from harness.views.panels import MAX_CHECKPOINTS, map_checkpoints
from harness.views.report import brain_tables
from harness_plugins.brain.simulated import NOTICE
from tests.support.plugin_packages import TOY_PLUGINS, activate, write_plugin_package
from tests.support.synthetic_runs import write_run

FAST = PhaseSettings(n_boot=30)
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*(?!["']?(?:data:|#))""", re.IGNORECASE)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    run = write_run(tmp_path_factory.mktemp("report") / "run", checkpoints=16)
    return analyze_run(run, FAST)


def test_outputs_written(analysed):
    run = analysed.run_dir
    table = pd.read_csv(run / "tables" / "phases.csv")
    assert list(table.columns) == PHASE_COLUMNS
    assert table["phase"].tolist() == ["surge", "detachment", "realignment"]
    assert analysed.phases["phase"].tolist() == table["phase"].tolist()  # the DataFrame is returned too
    assert analysed.analyses[0].summary_line() == f"tiny (tinylm) on sim: {analysed.analyses[0].result.summary}"
    assert analysed.analyses[0].summary_line().startswith("tiny (tinylm) on sim: pattern triple-phase; surge confirmed")
    lines = analysed.summary_lines()  # the pattern, then one phase a line
    assert lines[0] == "tiny (tinylm) on sim: pattern triple-phase"
    assert [line.split()[0] for line in lines[1:]] == ["surge", "detachment", "realignment"]
    assert all(line.startswith("  surge confirmed" if i == 0 else "  ") for i, line in enumerate(lines[1:]))
    names = sorted(p.name for p in (run / "figures").iterdir())
    assert names == ["layers__tiny__sim.png", "layers__tiny__sim.svg", "metrics__tiny__sim.png", "metrics__tiny__sim.svg",
                     "phases__tiny__sim.png", "phases__tiny__sim.svg"]
    assert (run / "figures" / "phases__tiny__sim.png").read_bytes().startswith(b"\x89PNG")
    assert "<svg" in (run / "figures" / "phases__tiny__sim.svg").read_text()


def test_report_is_self_contained(analysed):
    page = analysed.report.read_text(encoding="utf-8")
    assert analysed.report.name == "report.html"
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert "<script" not in page and "@import" not in page and "url(" not in page
    assert page.count('src="data:image/png;base64,') == 3  # triple-phase figure, internal metrics, layer map
    assert "triple-phase" in page and "detachment" in page and "realignment" in page
    assert "flat within" in page and 'id="transitions"' in page  # verdict reasons, transitions table
    order = [page.index(anchor) for anchor in ('id="summary"', 'id="glance"', 'id="phases"', 'id="figures"',
                                               'id="transitions"', 'id="brain"')]
    assert order == sorted(order)  # the finding, the card, the phase figure and verdicts, then figures and tables
    assert page.index("triple-phase figure") < page.index('id="figures"')  # the phase figure leads
    assert "cfg123" in page and "data456" in page  # provenance
    assert "dataset: simulated" in page  # the config copy


def test_report_without_brain_scores(tmp_path):
    run = write_run(tmp_path / "run", checkpoints=6, arrays=False, brain=False)
    result = analyze_run(run, FAST)
    assert result.phases.empty
    page = result.report.read_text()
    assert "no brain alignment measured" in page
    assert page.count('src="data:image/png;base64,') == 2  # triple-phase figure, internal metrics


def test_reanalysis_overwrites(analysed):
    figures = analysed.run_dir / "figures"
    (figures / "phases__gone__sim.png").write_bytes(b"a model no longer in the run")
    (figures / "my notes.png").write_bytes(b"a user's own file")
    again = analyze_run(analysed.run_dir, FAST)
    assert again.phases["phase"].tolist() == analysed.phases["phase"].tolist()
    assert not list(analysed.run_dir.glob("**/.*.tmp"))
    assert not (figures / "phases__gone__sim.png").exists() and (figures / "my notes.png").exists()
    assert sorted(p.name for p in figures.glob("*__*")) == sorted(name for f in again.figures for name in (f.png.name, f.svg.name))
    (figures / "my notes.png").unlink()  # the module's run as the other tests read it


def test_two_models_in_one_run_get_an_overview(tmp_path):
    run = write_run(tmp_path / "run", model="small", checkpoints=8, arrays=False)
    write_run(run, model="large", shape="rising", checkpoints=8, arrays=False, seed=1)
    result = analyze_run(run, FAST)
    assert sorted(result.phases["model"].unique()) == ["large", "small"]
    assert (run / "figures" / "overview__sim.png").is_file() and (run / "figures" / "overview__sim.svg").is_file()
    page = result.report.read_text()
    assert page.count('src="data:image/png;base64,') == 7  # overview + 2 x (triple-phase, metrics, layer map)
    assert "all models on sim" in page


# --------------------------------------------------------------------------- readability


def test_report_reads_as_a_page(analysed):
    page = analysed.report.read_text(encoding="utf-8")
    assert '<dl><dt>pattern</dt><dd>triple-phase</dd>' in page  # "at a glance": label: value rows
    assert "<dt>peak r_mean (best layer)</dt>" in page
    assert page.count("<table>") == page.count('<div class="scroll"><table>')  # every table scrolls in its own box
    assert '<td class="num">' in page  # numbers right-aligned, never wrapped
    for anchor in ("summary", "glance", "phases", "figures", "brain", "curves", "tasks", "provenance", "config"):
        assert f'<h2 id="{anchor}">' in page and f'href="#{anchor}"' in page
    assert 'id="failures"' not in page and "Nothing succeeded" not in page  # nothing failed


def test_brain_scores_per_checkpoint_and_subject(analysed):
    analysis = analysed.analyses[0]
    scores, by_subject = brain_tables(analysed.results, analysis.curves, "sim")
    curve = analysis.curves.brain["sim"]
    assert scores["best layer"].tolist() == curve.best_layer.tolist()
    assert np.allclose(scores["r_mean"], curve.values)
    assert list(by_subject.columns) == ["step", "tokens", "best layer", "S01", "S02", "S03"]
    assert np.allclose(by_subject[["S01", "S02", "S03"]].mean(axis=1), curve.values, atol=1e-6)
    page = analysed.report.read_text(encoding="utf-8")
    assert "<h4>r_mean per subject</h4>" in page


def test_simulated_notice_and_a_map_that_does_not_fit(analysed):
    page = analysed.report.read_text(encoding="utf-8")
    assert '<div class="notice" role="note"><strong>sim</strong> (simulated dataset): ' + html.escape(NOTICE) in page
    # the run's arrays have 400 voxels, the simulated dataset's default sheet 1024: said, not drawn
    assert "tiny on sim: S01 not drawn: its voxel map places 1024 voxels, its r has 400" in page
    assert not (analysed.run_dir / "figures" / "brainmap__tiny__sim.png").exists()


def test_meg_channels_are_called_sensors(analysed, tmp_path):
    page = analysed.report.read_text(encoding="utf-8")
    assert "over all kept voxels on the test stories" in page and "sensors" not in page
    run = write_run(tmp_path / "run", checkpoints=6, dataset="simulated_meg")
    page = analyze_run(run, FAST).report.read_text(encoding="utf-8")
    assert "over all kept sensors on the test stories" in page and "top sensors chosen on training data" in page
    assert "voxels" not in page.split('<h2 id="brain"', 1)[-1].split("<h2", 1)[0]


def test_brain_map_at_chosen_checkpoints(tmp_path):
    run = write_run(tmp_path / "run", checkpoints=10, voxels=1024, subjects=2)
    result = analyze_run(run, FAST)
    for subject in ("S01", "S02"):  # the simulated sheet lies on fsaverage5: one surface figure per subject
        assert (run / "figures" / f"brainmap__tiny__sim__{subject}.png").read_bytes().startswith(b"\x89PNG")
        svg = (run / "figures" / f"brainmap__tiny__sim__{subject}.svg").read_text(encoding="utf-8")
        assert "<image" in svg and svg.count("<path") < 1000  # fsaverage5's triangles drawn as images, not paths
    page = result.report.read_text(encoding="utf-8")
    assert 'alt="brain map: tiny on sim, S01 (per-vertex r on the cortical surface, flat and inflated' in page
    assert "unthresholded: no block permutations were run" in page
    analysis = result.analyses[0]
    chosen = map_checkpoints(analysis.curves.brain["sim"], analysis.result)
    assert chosen[0] == 0 and chosen[-1] == 10 and len(chosen) <= MAX_CHECKPOINTS
    peak = int(np.nanargmax(analysis.curves.brain["sim"].values))
    assert peak in chosen


def test_voxel_image_places_each_voxel():
    voxel_map = VoxelMap(rows=np.array([0, 0, 2]), cols=np.array([0, 1, 1]))
    image = voxel_image(voxel_map, np.array([0.1, 0.2, 0.3]))
    assert image.shape == (3, 2) and image[2, 1] == pytest.approx(0.3) and np.isnan(image[1, 0])


def test_dataset_problems_are_listed_not_fatal(tmp_path):
    run = write_run(tmp_path / "run", checkpoints=6, arrays=False)
    (run / "config.yaml").write_text("models:\n  - family: tinylm\n    label: tiny\nbrain:\n  - dataset: nosuchdata\n    label: sim\n",
                                     encoding="utf-8")
    page = analyze_run(run, FAST).report.read_text(encoding="utf-8")
    assert "sim: dataset &#x27;nosuchdata&#x27; could not be built here, so its notice and maps are missing" in page
    info = dataset_info(run, {"sim": ["S01"]})["sim"]
    assert info.notice == "" and info.maps == {} and len(info.problems) == 1


# --------------------------------------------------------------------------- failures


TOY = """
run: {run}
models:
  - family: toyfamily
    label: toy
    options: {{steps: {steps}}}
tasks:
  - task: toytask
    options: {{fail_at: {fail_at}}}
"""


@pytest.fixture
def toy(tmp_path, monkeypatch):
    activate(write_plugin_package(tmp_path / "site", "toyplug", TOY_PLUGINS), monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "toyplug")

    def sweep(steps: list[int], fail_at: int) -> Path:
        config = yaml.safe_load(TOY.format(run=tmp_path / "run", steps=steps, fail_at=fail_at))
        summary = run_sweep(parse_config(config), show_progress=False)
        assert summary.report is not None
        return tmp_path / "run"

    return sweep


def test_failed_cells_are_listed_with_their_logs(toy):
    run = toy([0, 1, 2, 4, 8], 2)
    failures = read_failures(run)
    assert (failures.recorded, failures.failed, failures.stale, failures.nothing_succeeded) == (5, 1, 0, False)
    row = failures.cells.iloc[0]
    assert (row["cell"], row["status"], row["step"], row["kind"]) == ("toy|2|task|toytask|-", "failed", 2, "task")
    assert row["error"] == "RuntimeError: toytask cannot score step 2"
    assert row["log"] == "logs/cells/toy_2_task_toytask_-.log" and "Traceback" in (run / row["log"]).read_text()
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "1 of 5 cells failed; their results are missing from every table and figure" in page
    assert '<h2 id="failures">Failures</h2>' in page and 'href="#failures"' in page
    assert "toy|2|task|toytask|-" in page and "RuntimeError: toytask cannot score step 2" in page
    assert '<td class="path">logs/cells/toy_2_task_toytask_-.log</td>' in page



def test_a_run_where_nothing_succeeded_says_so(toy):
    run = toy([2], 2)
    assert read_failures(run).nothing_succeeded
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "<strong>Nothing succeeded.</strong> All 1 cell of this run failed" in page
    assert "Every cell failed with: <code>RuntimeError: toytask cannot score step 2</code>" in page
    assert 'id="summary"' not in page and 'id="failures"' in page and 'id="config"' in page


def test_a_stale_result_is_listed(tmp_path):
    run = write_run(tmp_path / "run", checkpoints=6, arrays=False)
    with RunStore(run) as store:
        cells = store.cells_frame()
        row = cells[cells["kind"] == "task"].iloc[0]
        record = CellRecord(row["cell_id"], "s2", row["model"], row["family"], int(row["step"]), int(row["tokens"]), None, None,
                            row["kind"], row["target"], row["plugin"], None, 0, "cfg", "data", "1.0", {})
        assert store.commit_cell(record, None, elapsed=0.0, error="ValueError: changed data") == "stale"
    failures = read_failures(run)
    assert (failures.failed, failures.stale) == (0, 1)
    assert failures.cells.iloc[0]["error"] == "ValueError: changed data" and failures.cells.iloc[0]["log"] == ""
    page = analyze_run(run, FAST).report.read_text(encoding="utf-8")
    assert "1 result stale (a recompute failed; the earlier result is shown)" in page
    assert "<td>stale</td>" in page and "(none)" in page


def test_an_empty_run_says_it_has_no_results(tmp_path):
    RunStore(tmp_path / "run", create=True).close()
    page = analyze_run(tmp_path / "run", FAST).report.read_text(encoding="utf-8")
    assert "<strong>No results.</strong> No cell of this run has finished yet." in page


def test_transitions_come_largest_first_and_small_ones_are_folded_away():
    from harness.views.report import _transitions

    frame = pd.DataFrame({
        "model": "m", "family": "f", "target": ["sim", "sim", "sim", ""], "group": "brain",
        "signal": ["brain r (best layer)"] * 3 + ["instruction following"], "index": [1, 2, 3, 1],
        "kind": ["step", "fall", "rise", "rise"], "direction": ["up", "down", "up", "up"],
        "tokens": [1e4, 1e5, 1e6, 2e5], "lo": [5e3, 5e4, 5e5, 1e5], "hi": [2e4, 2e5, 2e6, 3e5],
        "start_tokens": 0, "end_tokens": 0, "size": [0.05, -0.2, 0.008, 0.9], "size_lo": 0.0, "size_hi": 1.0,
        "support": 1.0, "ci_method": "bootstrap", "n_boot": 200})
    page = "".join(_transitions(frame))
    shown, folded = page.split("<details>")
    assert shown.index("-0.200") < shown.index("+0.050") and "+0.900" in shown  # largest of its own signal first
    assert "1 small transition " in folded and "+0.008" in folded and "+0.008" not in shown
