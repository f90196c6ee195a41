"""Write plugin packages with real entry-point metadata into a directory that goes on sys.path."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

from harness.plugins import reset_registry


def write_plugin_package(site: Path, name: str, source: str, version: str = "0.1") -> Path:
    """A distribution ``name`` whose module ``name`` (from ``source``) is a ``harness`` entry point."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[harness]\n{name} = {name}\n", encoding="utf-8")
    return site


def activate(site: Path, monkeypatch) -> None:
    """Put ``site`` on sys.path for this test and forget previously loaded plugins."""
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    reset_registry()
    monkeypatch.setattr(sys, "dont_write_bytecode", True)


TOY_PLUGINS = '''
import time
from harness import hookimpl, Checkpoint, LoadedModel, ModelFamily, PluginOptions, Score, Task


class ToyFamily(ModelFamily):
    """Checkpoints 0, 1, 2, 4, 8 of a model that needs no weights (tasks only)."""

    name = "toyfamily"
    version = "1.2"

    class Options(PluginOptions):
        steps: list[int] = [0, 1, 2, 4, 8]
        tokens_per_step: int = 1000

    def checkpoints(self):
        return [Checkpoint(s, s * self.options.tokens_per_step, f"step{s}") for s in self.options.steps]

    def num_layers(self):
        return 3

    def load(self, checkpoint, device="cpu"):
        return LoadedModel(model=None, tokenizer=None, checkpoint=checkpoint, identity="toy", commit=f"c{checkpoint.step}")


class ToyTask(Task):
    """A deterministic score per step; optionally slow, to be killed mid-sweep."""

    name = "toytask"

    class Options(PluginOptions):
        sleep: float = 0.0
        fail_at: int | None = None

    def evaluate(self, model, *, seed, workdir):
        time.sleep(self.options.sleep)
        step = model.checkpoint.step
        if step == self.options.fail_at:
            raise RuntimeError(f"toytask cannot score step {step}")
        return [Score("acc", step / 10 + seed / 100, stderr=0.01, scope="a"), Score("acc", step / 20, scope="b")]


@hookimpl
def register_model_families(register):
    register(ToyFamily)


@hookimpl
def register_tasks(register):
    register(ToyTask)
'''

BROKEN_AT_IMPORT = '''
raise ImportError("this plugin needs a package that is not installed")
'''

BROKEN_AT_REGISTER = '''
from harness import hookimpl

@hookimpl
def register_metrics(register):
    register(object)
'''
