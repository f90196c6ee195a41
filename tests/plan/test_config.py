"""Config validation and selectors: every mistake is one line naming the file and key, exit 2."""

from __future__ import annotations

import pytest
import yaml

from harness.cli import main
from harness.plan.selectors import log_spaced, select_checkpoints, select_layers
from harness.plugin.contract import Checkpoint
from harness.util.errors import ConfigError
from tests.support.plugin_packages import TOY_PLUGINS, activate, write_plugin_package

GOOD = """
run: {run}
models:
  - family: toyfamily
    checkpoints: {checkpoints}
tasks:
  - task: toytask
"""

ALL = GOOD.format(run="r", checkpoints="all")
CHECKPOINTS = [Checkpoint(s, s * 10, f"step{s}") for s in (0, 1, 2, 4, 8, 16, 32, 64, 128, 1000, 2000, 3000)]


def test_checkpoint_selectors():
    steps = lambda value: [c.step for c in select_checkpoints(CHECKPOINTS, value, "x")]  # noqa: E731
    assert steps("last") == [3000]
    assert steps("all") == [c.step for c in CHECKPOINTS]
    assert steps("every:1000") == [0, 1000, 2000, 3000]
    assert steps([0, 4, "last"]) == [0, 4, 3000]
    assert steps("log:4")[0] == 0 and steps("log:4")[-1] == 3000 and len(steps("log:4")) == 4
    with pytest.raises(ConfigError, match="no checkpoint at step 5 .nearest: 4"):
        steps(5)


def test_log_spaced_spreads_over_a_log_axis():
    chosen = log_spaced(range(0, 100001), 6)
    assert chosen[0] == 0 and chosen[-1] == 100000 and len(chosen) == 6
    ratios = [b / a for a, b in zip(chosen[1:], chosen[2:])]
    assert max(ratios) / min(ratios) < 1.5


def test_layer_selectors():
    assert select_layers(13, "all", "x") == list(range(13))
    assert select_layers(13, ["depth:0", 0.5, "depth:1", "DEPTH: 0.25"], "x") == [0, 3, 6, 12]
    assert select_layers(13, [-1, 2], "x") == [2, 12]
    assert select_layers(13, "every:4", "x") == [0, 4, 8, 12]
    with pytest.raises(ConfigError, match="out of range"):
        select_layers(13, 13, "x")


@pytest.fixture
def toy(tmp_path, monkeypatch):
    activate(write_plugin_package(tmp_path / "site", "toyplug", TOY_PLUGINS), monkeypatch)
    return tmp_path


BRAIN = "brain:\n  - dataset: toybrain\n    encoding: {encoding}\n"


@pytest.mark.parametrize("selector, message", [
    (1.0, "bad layer selector 1.0: write 1 for layer 1 (an index), or depth:1 for that relative depth"),
    ([2, 0.0], "bad layer selector 0.0: write 0 for layer 0 (an index), or depth:0"),
    ("depth:1.5", "bad layer depth '1.5': depths lie in [0, 1]"),
    ("depth:half", "bad layer depth 'half'"),
    (1.5, "bad layer depth 1.5"),
])
def test_a_layer_index_and_a_depth_cannot_be_confused(toy, selector, message, tmp_path, capsys):
    config = tmp_path / "layers.yaml"
    config.write_text(yaml.safe_dump({"models": [{"family": "toyfamily", "layers": selector}], "tasks": [{"task": "toytask"}]}))
    assert main(["validate", str(config)]) == 2
    line = _one_error_line(capsys)
    assert line.startswith(f"error: {config}: models[0].layers") and message in line, line


def test_layer_lists_may_mix_indices_and_keywords(toy):
    from harness.plan.config import parse_config

    config = parse_config({"models": [{"family": "toyfamily", "layers": [0, "last", "every:2"]}], "tasks": [{"task": "toytask"}]})
    assert config.models[0].layers == [0, "last", "every:2"]


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models: [family: toyfamily\n", "invalid YAML (line"),
        ("- 1\n- 2\n", "top level must be a mapping"),
        (GOOD.format(run="r", checkpoints="lgo:3"), "models[0].checkpoints: bad selector 'lgo:3'; allowed: all, last, log:N"),
        (GOOD.format(run="r", checkpoints="log:0"), "models[0].checkpoints: bad selector 'log:0'"),
        (ALL.replace("toyfamily", "toyfamly"), "models[0]: unknown model family 'toyfamly' (did you mean 'toyfamily'?)"),
        (ALL.replace("task: toytask", "task: toytsk"), "tasks[0]: unknown task 'toytsk' (did you mean 'toytask'?)"),
        (ALL + "colour: blue\n", "colour: unknown key"),
        (ALL.replace("  - task: toytask", "  - task: toytask\n    options: {sleep: fast}"), "tasks[0].options.sleep: Input should be a valid number"),
        (ALL.replace("  - task: toytask", "  - task: toytask\n    options: {speed: 1}"), "tasks[0].options.speed: unknown key"),
        (GOOD.format(run="r", checkpoints="[0, 3]"), "models[0].checkpoints: no checkpoint at step 3"),
        ("run: r\nmodels:\n  - family: toyfamily\n", "nothing to measure"),
        ("run: r\ntasks:\n  - task: toytask\n", "models: required key is missing"),
        (ALL + "features: {stride: 9000}\n", "features: stride (9000) must not exceed context_tokens"),
        (ALL + "features: {strides: 3}\n", "features.strides: unknown key"),
        (ALL + "features: {integers: 3}\n", "features.integers: unknown key"),
        (ALL.replace("    checkpoints: all", "    checkpoints: all\n    layers: true"), "models[0].layers: True is not a selector"),
        (ALL + BRAIN.format(encoding="{alphas: []}"), "brain[0].encoding.alphas: no penalties given"),
        (ALL + BRAIN.format(encoding="{alphas: {min: 1000, max: 1}}"), "brain[0].encoding.alphas: min (1000) is larger than max (1)"),
        (ALL + BRAIN.format(encoding="{delays: []}"), "brain[0].encoding.delays: List should have at least 1 item"),
        (ALL + BRAIN.format(encoding="{delays: [-1, 2]}"), "brain[0].encoding.delays[0]: Input should be greater than or equal to 0"),
        (ALL + BRAIN.format(encoding="{delays_s: []}"), "brain[0].encoding.delays_s: List should have at least 1 item"),
        (ALL + BRAIN.format(encoding="{delays_s: [-1, 2]}"), "brain[0].encoding.delays_s[0]: Input should be greater than or equal to 0"),
        (ALL + BRAIN.format(encoding="{delays: [1, 2], delays_s: [2, 4]}"), "give delays (in scans) or delays_s (in seconds), not both"),
        (ALL + BRAIN.format(encoding="{lags_s: [0.8, 0.1]}"), "brain[0].encoding.lags_s: the first lag (0.8 s) is after the last (0.1 s)"),
        (ALL + BRAIN.format(encoding="{permutations: 10}"), "permutations: 10 can never give a p-value at or below fdr_q 0.05; use 0 (off) or at least 19"),
        (ALL + BRAIN.format(encoding="{permutations: 50, fdr_q: 0.01}"), "at least 99"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(toy, capsys, text, expected):
    path = toy / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    line = _one_error_line(capsys)
    assert str(path) in line
    assert expected in line


def test_missing_config_file_is_one_line(toy, capsys):
    assert main(["sweep", str(toy / "absent.yaml")]) == 2
    assert "absent.yaml: no such config file" in _one_error_line(capsys)


def test_missing_run_directory_is_one_line(toy, capsys):
    assert main(["show", str(toy / "norun")]) == 2
    assert "not a run directory" in _one_error_line(capsys)


def test_validate_prints_the_plan_and_done_count(toy, capsys):
    path = toy / "good.yaml"
    path.write_text(GOOD.format(run=toy / "run", checkpoints="log:3"), encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3 cells planned, 0 already done, 3 to run" in out
    assert main(["sweep", str(path), "--quiet", "--no-analyze"]) == 0
    capsys.readouterr()
    assert main(["validate", str(path)]) == 0
    assert "3 cells planned, 3 already done, 0 to run" in capsys.readouterr().out
