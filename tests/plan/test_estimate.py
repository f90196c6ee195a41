"""``harness validate --estimate``: the figures on the demo config, linear in checkpoints, nothing written, mistakes in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.cli import DEMO_CONFIG, main
from harness.plan.config import load_config
from harness.plan.estimate import figures, project
from harness.plan.planner import make_plan
from harness.plan.unitcosts import UnitCosts
from harness.plugin.registry import get_registry
from tests.support.lebel_fixture import VOXELS, write_fixture
from tests.support.plugin_packages import TINY_GPT_PLUGINS, activate, write_plugin_package

UNITS = UnitCosts("cpu", 2, product_flops=2e10, eigh_flops=5e9, read_bytes=5e8, read_from="fixed")


def test_the_demo_estimate_prints_every_figure_in_80_columns_and_writes_nothing(tmp_path, capfd, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("HARNESS_CACHE", str(cache))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("HARNESS_PLUGINS", raising=False)
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    assert main(["validate", str(DEMO_CONFIG), "--estimate"]) == 0
    out = capfd.readouterr().out
    flat = " ".join(out.split())
    for figure in ("wall time", "forward passes", "encoding", "reading responses", "CPU-hours", "disk", "peak memory"):
        assert figure in flat, figure
    assert "measured here (cpu" in flat and "XᵀY" in flat and "eigh" in flat and "responses read" in flat
    assert "assumed: 1.3 tokens per word" in flat
    assert max(len(line) for line in out.splitlines()) <= 80
    assert sorted(tmp_path.rglob("*")) == before  # no run directory, nothing in the cache


@pytest.fixture
def lebel(tmp_path, monkeypatch):
    """The tiny GPT family and a small LeBel folder, as plugins of this test."""
    write_plugin_package(tmp_path / "site", "tinyplug", TINY_GPT_PLUGINS)
    write_fixture(tmp_path / "ds")
    activate(tmp_path / "site", monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "tinyplug,lebel2023")
    return tmp_path


def _config(folder: Path, checkpoints, **encoding) -> Path:
    data = {"run": str(folder / "run"), "cache": str(folder / "cache"),
            "models": [{"family": "tinygpt", "checkpoints": checkpoints, "layers": "all"}],
            "brain": [{"dataset": "lebel2023", "options": {"root": str(folder / "ds")},
                       "encoding": {"folds": 2, "alphas": [1, 10], **encoding}}],
            "features": {"context_tokens": 32, "stride": 16, "batch_size": 4}, "analyze": False}
    path = folder / f"sweep{len(json.dumps(checkpoints))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _projection(path: Path):
    return project(make_plan(load_config(path), get_registry(), str(path)), {}, UNITS)


def test_double_the_checkpoints_doubles_the_time(lebel):
    steps = [c.step for c in make_plan(load_config(_config(lebel, "all")), get_registry(), "x").models[0].checkpoints]
    assert len(steps) >= 2
    one, two = _projection(_config(lebel, steps[:1])), _projection(_config(lebel, steps[:2]))
    assert one.encode_s > 0 and one.forward_s > 0 and one.read_s > 0
    for part in ("load_s", "forward_s", "encode_s", "activation_bytes", "weight_bytes", "array_bytes"):
        assert getattr(two, part) == pytest.approx(2 * getattr(one, part)), part
    assert two.read_s == pytest.approx(one.read_s)  # resident responses are read once per sweep
    assert two.wall_s == pytest.approx(2 * one.wall_s - one.read_s)
    assert two.peak_bytes == one.peak_bytes
    hours = {row[0]: row[1] for row in figures(two)}["CPU-hours"]
    assert float(hours) == pytest.approx(round(two.wall_s / 3600 * 2, 2))


def test_fewer_voxels_cost_less_encoding(lebel):
    (lebel / "ds/derivative/rois").mkdir()
    for subject in ("UTS01", "UTS02"):
        (lebel / f"ds/derivative/rois/{subject}.json").write_text(json.dumps({"half": list(range(VOXELS // 2))}))
    every, half = _projection(_config(lebel, "last")), _projection(_config(lebel, "last", voxels="mask:half"))
    assert half.encode_s < every.encode_s
    assert half.load_s == every.load_s


def test_a_malformed_config_is_still_one_line_with_exit_2(lebel, capfd):
    config = _config(lebel, "all", voxels="reliable:lots")
    capfd.readouterr()
    assert main(["validate", str(config), "--estimate"]) == 2
    err = capfd.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {config}: brain[0].encoding.voxels: bad voxel selection"), err


def test_nuisance_bands_count_one_more_decomposition_per_ratio(lebel):
    plain = _projection(_config(lebel, [0]))
    banded = _projection(_config(lebel, [0], nuisance=["word_rate", "word_length"], nuisance_ratios=[0.1, 1.0, 10.0]))
    assert banded.encode_s > 3.5 * plain.encode_s  # each layer fitted again at three ratios, each wider than the layer
    assert banded.peak_bytes > plain.peak_bytes
    assert (banded.load_s, banded.forward_s, banded.read_s) == (plain.load_s, plain.forward_s, plain.read_s)
