"""Write plugin packages with real entry-point metadata into a directory that goes on sys.path."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.plugin import registry


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
    """Put ``site`` on sys.path for this test only; the process-wide registry is restored afterwards."""
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.setattr(registry, "_REGISTRY", None)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)


@contextmanager
def tinygpt_beside(folder: Path, dataset_plugin: str) -> Iterator[None]:
    """The tinygpt plugin package (``TINY_GPT_PLUGINS``, under folder/site) active beside the built-in
    ``dataset_plugin``, with the harness cache in folder, until the block ends."""
    with pytest.MonkeyPatch.context() as patch:
        activate(write_plugin_package(folder / "site", "tinyplug", TINY_GPT_PLUGINS), patch)
        patch.setenv("HARNESS_PLUGINS", f"tinyplug,{dataset_plugin}")
        patch.setenv("HARNESS_CACHE", str(folder / "harness-cache"))
        yield


def tinygpt_config(folder: Path, brain: dict[str, Any], *, layers: str = "last", name: str = "config.yaml") -> Path:
    """folder/name: a sweep of tinygpt (every checkpoint, ``layers``) against one ``brain`` entry, run in
    folder/run, activations in folder/activations, no analysis."""
    data = {
        "run": str(folder / "run"),
        "cache": str(folder / "activations"),
        "models": [{"family": "tinygpt", "checkpoints": "all", "layers": layers}],
        "brain": [brain],
        "features": {"context_tokens": 32, "stride": 16, "batch_size": 4},
        "analyze": False,
    }
    path = folder / name
    path.write_text(yaml.safe_dump(data))
    return path


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


TINY_GPT_PLUGINS = '''
import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from harness import hookimpl, BrainDataset, Checkpoint, LoadedModel, Metric, ModelFamily, PluginOptions, Score, Story, SubjectData

TEXT = "the cat sat on the mat and the dog ran to the park while birds sang in the tall trees " * 20


def _tokenizer():
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([TEXT], trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<eos>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>", pad_token="<eos>")


class TinyGpt(ModelFamily):
    """Random 2-block GPT-2s, one per 'step', different weights per step (seeded)."""

    name = "tinygpt"

    class Options(PluginOptions):
        steps: list[int] = [0, 10, 100]

    def checkpoints(self):
        return [Checkpoint(s, s * 4096, f"step{s}") for s in self.options.steps]

    def num_layers(self):
        return 3

    def load(self, checkpoint, device="cpu"):
        torch.manual_seed(checkpoint.step)
        config = GPT2Config(vocab_size=300, n_positions=128, n_embd=16, n_layer=2, n_head=2)
        model = GPT2LMHeadModel(config).eval()
        return LoadedModel(model, _tokenizer(), checkpoint, identity="tinygpt", commit=f"seed{checkpoint.step}")


class Distance(Metric):
    """Mean absolute difference to the previous and to the final checkpoint's activations."""

    name = "distance"
    needs_reference = True

    def compute(self, activations, context):
        scores = [Score("n_words", float(len(activations)))]
        for which, fetch in (("previous", context.previous), ("final", context.final)):
            other = fetch()
            if other is not None:
                scores.append(Score(f"distance_{which}", float(np.abs(activations - other).mean())))
        return scores


class ToyBrain(BrainDataset):
    """Four short stories and two subjects whose 40 voxels follow word rate plus noise."""

    name = "toybrain"

    def stories(self):
        words = TEXT.split()
        out = {}
        for index in range(4):
            chunk = tuple(words[index * 60:(index + 1) * 60])
            onsets = np.arange(len(chunk)) * 0.4 + 1.0
            out[f"story{index}"] = Story(f"story{index}", chunk, onsets, onsets + 0.3)
        return out

    def subjects(self):
        return ["s1", "s2"]

    def load_subject(self, subject):
        rng = np.random.default_rng(len(subject) + int(subject[1:]))
        responses, times = {}, {}
        for name, story in self.stories().items():
            n = int(story.offsets[-1] // 2.0) + 4
            times[name] = np.arange(n) * 2.0 + 1.0
            rate = np.histogram(story.onsets, bins=np.append(times[name] - 1.0, times[name][-1] + 1.0))[0]
            responses[name] = (np.outer(rate, rng.normal(size=40)) + rng.normal(size=(n, 40))).astype(np.float32)
        return SubjectData(responses=responses, tr_times=times)

    def split(self):
        return ["story0", "story1", "story2"], ["story3"]


@hookimpl
def register_model_families(register):
    register(TinyGpt)


@hookimpl
def register_brain_datasets(register):
    register(ToyBrain)


@hookimpl
def register_metrics(register):
    register(Distance)
'''

MISSPELT_HOOK = '''
from harness import BrainDataset, hookimpl


@hookimpl
def register_brain_dataset(register):
    register(BrainDataset)
'''

MISSING_METHOD = '''
from harness import BrainDataset, Story, hookimpl


class HalfDone(BrainDataset):
    """Has stories and subjects but no load_subject or split."""

    name = "halfdone"

    def stories(self):
        return {}

    def subjects(self):
        return []


@hookimpl
def register_brain_datasets(register):
    register(HalfDone)
'''

REGISTERS_NOTHING = '''
def register_tasks(register):  # no @hookimpl: pluggy never sees it
    pass
'''
