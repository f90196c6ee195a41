"""The plugin contract as a newcomer meets it: the example in plugin/contract.py scores in a sweep, plugins use the public API."""

from __future__ import annotations

import ast
import textwrap
import typing
from pathlib import Path

import numpy as np
import pluggy

import harness
from harness import torch_threads
from harness.encoding.scorer import split_problem
from harness.plan.config import parse_config
from harness.plugin import contract, hookspecs
from harness.plugin.contract import KINDS, BrainDataset, Kind, Story
from harness.plugin.registry import load_registry
from harness.store.database import RunStore
from harness.sweep.driver import run_sweep
from tests.support.plugin_packages import activate, write_plugin_package
from tests.support.repo import ROOT


def _docstring_example() -> str:
    text = contract.__doc__ or ""
    start = text.index("::", text.index("A complete brain dataset")) + len("::")
    return textwrap.dedent(text[start:text.index("and in the package's")])


def test_the_contract_example_is_a_plugin_under_60_lines_whose_brain_cells_score_in_a_sweep(tmp_path, monkeypatch):
    source = _docstring_example()
    assert len(source.strip().splitlines()) < 60
    activate(write_plugin_package(tmp_path / "site", "mydata", source), monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "tinylm,mydata")
    dataset = typing.cast(BrainDataset, load_registry(strict=True).get(Kind.BRAIN, "mydata")())
    assert split_problem(*dataset.split(), dataset.stories()) is None
    config = parse_config({
        "run": str(tmp_path / "run"),
        "models": [{"family": "tinylm", "label": "tiny", "options": {"size": "tiny", "progress": False},
                    "checkpoints": [0, 16], "layers": "last"}],
        "brain": [{"dataset": "mydata"}],
        "features": {"context_tokens": 32, "stride": 16},
        "analyze": False,
    })
    with torch_threads(1):
        summary = run_sweep(config, show_progress=False)
    assert (summary.done, summary.failed) == (2, 0), summary.errors
    with RunStore(tmp_path / "run") as store:
        cells, results = store.cells_frame(), store.results_frame()
    assert set(cells.status) == {"done"}
    r = results[(results.plugin == "mydata") & results.metric.isin(["r_mean", "r_top"])]
    assert set(r.scope) == {"S01", "S02", "mean"} and set(r.step) == {0, 16}
    assert np.isfinite(r.value.astype(float)).all()


def test_each_split_rule_the_contract_states_is_one_the_scorer_enforces():
    rules = " ".join((BrainDataset.split.__doc__ or "").split())
    stories = {name: Story(name, ("a",), np.zeros(1), np.ones(1)) for name in ("story0", "story1", "story2")}
    assert split_problem(["story0", "story1"], ["story2"], stories) is None
    breaking = {
        "at least 2 training stories": (["story0"], ["story2"]),
        "at least 1 test story": (["story0", "story1"], []),
        "no story in both lists": (["story0", "story1"], ["story1"]),
        "only stories that ``stories()`` returns": (["story0", "story1"], ["story9"]),
    }
    for rule, (train, test) in breaking.items():
        assert rule in rules and split_problem(train, test, stories), rule


def test_every_hook_is_one_kinds_hook():
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    specified = {name for name, caller in vars(manager.hook).items() if isinstance(caller, pluggy.HookCaller) and caller.has_spec()}
    assert sorted(specified) == sorted(spec.hook for spec in KINDS.values())
    assert all(getattr(hookspecs, spec.hook) is spec.hookspec for spec in KINDS.values())


def _harness_imports(path: Path) -> list[str]:
    """Modules under ``harness`` that ``path`` imports (anywhere in the file)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [m for m in found if m == "harness" or m.startswith("harness.")]


def test_plugins_import_only_the_plugin_facing_api():
    offenders = {}
    for path in sorted([*(ROOT / "plugins").rglob("*.py"), *(ROOT / "examples").rglob("*.py")]):
        internal = [m for m in _harness_imports(path) if m != "harness"]
        if internal:
            offenders[str(path.relative_to(ROOT))] = internal
    assert offenders == {}


def test_every_public_name_is_importable_from_harness():
    for name in harness.__all__:
        assert getattr(harness, name) is not None
