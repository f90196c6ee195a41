"""The plugin contract as a newcomer meets it: the example in plugin/contract.py runs, plugins use the public API."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import numpy as np

import harness
from harness.plugin import contract
from harness.plugin.contract import Kind
from harness.plugin.registry import load_registry
from tests.support.plugin_packages import activate, write_plugin_package

ROOT = Path(__file__).resolve().parents[1]


def _docstring_example() -> str:
    text = contract.__doc__ or ""
    start = text.index("A complete brain dataset::") + len("A complete brain dataset::")
    return textwrap.dedent(text[start:text.index("and in the package's")])


def test_the_interfaces_example_is_a_working_plugin_under_60_lines(tmp_path, monkeypatch):
    source = _docstring_example()
    assert len(source.strip().splitlines()) < 60
    site = write_plugin_package(tmp_path / "site", "mydata", source)
    activate(site, monkeypatch)
    registry = load_registry(strict=True)
    cls = registry.get(Kind.BRAIN, "mydata")
    np.save(tmp_path / "S01.npy", np.ones((5, 3), np.float32))
    dataset = cls(cls.Options.model_validate({"root": str(tmp_path)}))
    subject = dataset.load_subject("S01")  # type: ignore[attr-defined]
    assert subject.responses["story1"].shape == (5, 3) and len(subject.times["story1"]) == 5
    assert dataset.split() == (["story1"], ["story1"])  # type: ignore[attr-defined]


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
