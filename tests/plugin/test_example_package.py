"""The README's worked third-party plugin (examples/harness-tsvbrain) is discovered and runs in a sweep."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.plan.config import parse_config
from harness.plugin.registry import load_registry
from harness.store.database import RunStore
from harness.sweep.driver import run_sweep
from tests.support.plugin_packages import TINY_GPT_PLUGINS, activate, write_plugin_package
from tests.support.repo import ROOT

EXAMPLE = ROOT / "examples" / "harness-tsvbrain"


def _write_tsv_dataset(root: Path) -> None:
    rng = np.random.default_rng(0)
    words = "a quiet river runs past the old mill where children play and the baker sells bread".split()
    (root / "stories").mkdir(parents=True)
    for index in range(4):
        story = [words[(index * 7 + i) % len(words)] for i in range(80)]
        onsets = np.arange(80) * 0.35 + 2.0
        rows = [f"{w}\t{on:.3f}\t{on + 0.3:.3f}" for w, on in zip(story, onsets)]
        (root / "stories" / f"story{index}.tsv").write_text("\n".join(rows) + "\n")
        for subject in ("sub01", "sub02"):
            (root / subject).mkdir(exist_ok=True)
            np.save(root / subject / f"story{index}.npy", rng.normal(size=(int(onsets[-1] / 2) + 3, 30)).astype(np.float32))
    (root / "split.json").write_text(json.dumps({"tr": 2.0, "test": ["story3"]}))


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The example package on sys.path with the entry-point metadata pip would write."""
    site = tmp_path / "site"
    write_plugin_package(site, "tinyplug", TINY_GPT_PLUGINS)
    info = site / "harness_tsvbrain-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: harness-tsvbrain\nVersion: 0.1.0\n")
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    points = "".join(f"{name} = {value}\n" for name, value in project["entry-points"]["harness"].items())
    (info / "entry_points.txt").write_text(f"[harness]\n{points}")
    monkeypatch.syspath_prepend(str(EXAMPLE))
    activate(site, monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "tinyplug,harness-tsvbrain")
    return tmp_path


def test_example_plugin_is_listed(installed, capsys):
    info = load_registry(strict=True).plugins["brain"]["tsvbrain"]
    assert (info.origin, info.version) == ("harness-tsvbrain", "0.1.0")
    assert main(["plugins"]) == 0
    assert "harness-tsvbrain" in capsys.readouterr().out


def test_example_plugin_runs_in_a_sweep(installed):
    _write_tsv_dataset(installed / "data")
    config = parse_config({
        "run": str(installed / "run"),
        "models": [{"family": "tinygpt", "checkpoints": "last", "layers": [0, -1]}],
        "brain": [{"dataset": "tsvbrain", "options": {"root": str(installed / "data")}, "encoding": {"folds": 3}}],
        "features": {"context_tokens": 32, "stride": 16},
        "analyze": False,
    })
    summary = run_sweep(config, show_progress=False)
    assert (summary.done, summary.failed) == (2, 0), summary.errors
    results = RunStore(installed / "run").results_frame()
    assert set(results[results.metric == "r_mean"].scope) >= {"sub01", "sub02", "mean"}
    assert (results.plugin == "tsvbrain").all()
