"""analyze_run writes phases.csv, the figures and a self-contained report.html."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from harness.analysis import PhaseSettings, analyze_run
from harness.analysis.phases import PHASE_COLUMNS
from tests.analysis_synthetic import write_run

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
    assert analysed.summary_lines() == [f"tiny (tinylm) on sim: {analysed.analyses[0].result.summary}"]
    assert analysed.summary_lines()[0].startswith("tiny (tinylm) on sim: triple-phase pattern found: surge 0-")
    names = sorted(p.name for p in (run / "figures").iterdir())
    assert names == ["layers__tiny__sim.png", "layers__tiny__sim.svg", "phases__tiny__sim.png", "phases__tiny__sim.svg"]
    assert (run / "figures" / "phases__tiny__sim.png").read_bytes().startswith(b"\x89PNG")
    assert "<svg" in (run / "figures" / "phases__tiny__sim.svg").read_text()


def test_report_is_self_contained(analysed):
    page = analysed.report.read_text(encoding="utf-8")
    assert analysed.report.name == "report.html"
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert "<script" not in page and "@import" not in page and "url(" not in page
    assert page.count('src="data:image/png;base64,') == 2  # triple-phase figure and layer map
    assert "triple-phase" in page and "detachment" in page and "realignment" in page
    assert "stagnating" in page  # the phase table's evidence column
    assert "cfg123" in page and "data456" in page  # provenance
    assert "dataset: simulated" in page  # the config copy


def test_report_without_brain_scores(tmp_path):
    run = write_run(tmp_path / "run", checkpoints=6, arrays=False, brain=False)
    result = analyze_run(run, FAST)
    assert result.phases.empty
    page = result.report.read_text()
    assert "no brain alignment measured" in page
    assert page.count('src="data:image/png;base64,') == 1


def test_reanalysis_overwrites(analysed):
    again = analyze_run(analysed.run_dir, FAST)
    assert again.phases["phase"].tolist() == analysed.phases["phase"].tolist()
    assert not list(analysed.run_dir.glob("**/.*.tmp"))


def test_two_models_in_one_run_get_an_overview(tmp_path):
    run = write_run(tmp_path / "run", model="small", checkpoints=8, arrays=False)
    write_run(run, model="large", shape="rising", checkpoints=8, arrays=False, seed=1)
    result = analyze_run(run, FAST)
    assert sorted(result.phases["model"].unique()) == ["large", "small"]
    assert (run / "figures" / "overview__sim.png").is_file() and (run / "figures" / "overview__sim.svg").is_file()
    page = result.report.read_text()
    assert page.count('src="data:image/png;base64,') == 5  # overview + 2 x (triple-phase, layer map)
    assert "all models on sim" in page
