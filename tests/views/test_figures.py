"""Figure files are named after the full labels, dots included, so two models never share one."""

from __future__ import annotations

from harness.plan.config import parse_config
from harness.sweep.driver import run_sweep
from tests.support.plugin_packages import TOY_PLUGINS, activate, write_plugin_package


def test_models_whose_labels_differ_after_a_dot_keep_their_own_figures(tmp_path, monkeypatch):
    activate(write_plugin_package(tmp_path / "site", "toyplug", TOY_PLUGINS), monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "toyplug")
    config = parse_config({
        "run": str(tmp_path / "run"),
        "models": [{"family": "toyfamily", "label": label, "checkpoints": "all", "options": {"steps": [0, 8]}}
                   for label in ("toy-1.0", "toy-1.5")],
        "tasks": [{"task": "toytask"}],
    })
    summary = run_sweep(config, show_progress=False)
    assert summary.failed == 0 and summary.report is not None
    names = sorted(p.name for p in (tmp_path / "run" / "figures").iterdir())
    assert names == ["phases__toy-1.0.png", "phases__toy-1.0.svg", "phases__toy-1.5.png", "phases__toy-1.5.svg"]
    assert summary.report.read_text(encoding="utf-8").count('src="data:image/png;base64,') == 2
    assert summary.findings == [f"{label} (toyfamily): no brain alignment measured, so no phase verdicts"
                                for label in ("toy-1.0", "toy-1.5")]
