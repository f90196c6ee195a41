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


def _texts(legend) -> list[str]:
    return [text.get_text() for text in legend.get_texts()] if legend is not None else []


def test_every_panel_has_its_axis_label_and_a_key_for_its_colours_and_shading(tmp_path):
    from harness.analysis import PhaseSettings
    from harness.views import analyze_run
    from harness.views.figures import layer_map_figure, metric_layers, metrics_figure, triple_phase_figure
    from tests.support.synthetic_runs import write_run

    result = analyze_run(write_run(tmp_path / "run", checkpoints=12), PhaseSettings(n_boot=20))
    analysis = next(a for a in result.analyses if a.target)
    phases = triple_phase_figure(analysis.curves, analysis.target, analysis.result, analysis.replicates, analysis.found)
    brain_ax, task_ax = phases.axes
    assert all(ax.get_ylabel() for ax in phases.axes) and task_ax.get_xlabel().startswith("training tokens")
    shading = ["transition (its curve's colour)", "95 % interval of its location"]
    brain_key, task_key = _texts(brain_ax.get_legend()), _texts(task_ax.get_legend())
    assert brain_key[:3] == ["95% bootstrap (voxels+subjects)", "mean over layers", "best layer"]
    assert set(shading) <= set(brain_key) and "step 0 (untrained), dotted" in brain_key
    assert {"instruction following", "single task scores", *shading, "step 0 (untrained), dotted"} <= set(task_key)
    assert len([p for p in task_ax.patches if p.get_alpha() == 0.12]) >= 1  # the shading the key names is drawn

    metrics = metrics_figure(analysis.curves, analysis.found, metric_layers(result.results, analysis.curves.model))
    panels = [ax for ax in metrics.axes if ax.get_visible()]
    assert len(panels) == len(analysis.curves.metrics) and all(ax.get_ylabel() for ax in panels)
    assert {"median over layers", "shallowest layer", "deepest layer", *shading} <= set(_texts(metrics.legends[0]))

    layers = layer_map_figure(analysis.curves.brain[analysis.target], analysis.result)
    main_ax, colour_bar = layers.axes
    assert main_ax.get_ylabel() == "layer (0 = embeddings)" and colour_bar.get_ylabel() == "r_mean (mean over subjects)"
    assert _texts(main_ax.get_legend()) == ["best layer", "brain transition"]
