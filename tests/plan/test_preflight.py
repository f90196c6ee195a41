"""Plan-level mistakes are caught by ``harness validate`` and before a sweep writes anything.

Each case is a config a researcher could write against good data (a small ds003020 folder in the
real on-disk format, read by the real ``lebel2023`` loader): more folds than training stories, a
split the encoder cannot use, responses that end well before the words, a device that is not
there, a run directory that cannot be made. Each gives exit 2 and one stderr line naming the config
file and the entry, and writes nothing: no run directory, no cache. ``--quiet`` keeps the notes
in the run's log; ``validate`` writes nothing to the cache, even where a sweep would.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.cli import main
from harness.store.database import RunStore
from tests.support.damage import refused_in_one_line
from tests.support.lebel_fixture import VOXELS, write_fixture, write_responses
from tests.support.plugin_packages import TINY_GPT_PLUGINS, activate, write_plugin_package

DERIVATIVE = "ds/derivative"

SPLIT_PLUGIN = '''
from harness import hookimpl
from harness_plugins.brain.lebel2023 import LeBel2023, LeBel2023Options


class ListedOptions(LeBel2023Options):
    train: list[str]
    test: list[str]


class Listed(LeBel2023):
    """LeBel's files with the split given as two lists, as a third-party dataset might take it."""

    name = "listed"
    version = "0.1"
    Options = ListedOptions

    def split(self):
        return list(self.options.train), list(self.options.test)


@hookimpl
def register_brain_datasets(register):
    register(Listed)
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The tiny GPT family, the ``listed`` dataset, and good LeBel data in site/ds (never modified)."""
    folder = tmp_path_factory.mktemp("plan")
    write_plugin_package(folder / "site", "tinyplug", TINY_GPT_PLUGINS)
    write_plugin_package(folder / "site", "splitplug", SPLIT_PLUGIN)
    write_fixture(folder / "ds")
    return folder


@pytest.fixture
def env(site, monkeypatch):
    activate(site / "site", monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "tinyplug,splitplug,lebel2023")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    return site


def _config(folder: Path, root: Path, *, entry: dict | None = None, options: dict | None = None, **top) -> Path:
    """A config of tinygpt x lebel2023 over ``root``; ``entry``, ``options`` and ``top`` change the brain entry, its options, the rest."""
    brain = {"dataset": "lebel2023", "options": {"root": str(root), **(options or {})}, "encoding": {"folds": 2, "alphas": [1, 10]}}
    data = {
        "run": str(folder / "run"),
        "cache": str(folder / "cache"),
        "models": [{"family": "tinygpt", "checkpoints": "all", "layers": [0]}],
        "brain": [{**brain, **(entry or {})}],
        "features": {"context_tokens": 32, "stride": 16, "batch_size": 4},
        "analyze": False,
        **top,
    }
    path = folder / "pythia.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _short_beta(folder: Path) -> None:
    """beta's responses (and respdict.json) end at 29 s while its words run to 36 s."""
    respdict = folder / DERIVATIVE / "respdict.json"
    respdict.write_text(json.dumps({**json.loads(respdict.read_text()), "beta": 30}))
    for subject in ("UTS01", "UTS02"):
        write_responses(folder / DERIVATIVE / f"preprocessed_data/{subject}/beta.hf5",
                        np.random.default_rng(1).standard_normal((10, VOXELS)).astype(np.float32))


@dataclass(frozen=True)
class Case:
    name: str
    needles: tuple[str, ...]  # what the one line says besides the config file
    entry: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    top: dict = field(default_factory=dict)
    damage: Callable[[Path], None] | None = None


def _file_as_parent(folder: Path, key: str) -> dict:
    (folder / "somefile.txt").write_text("notes")
    return {key: str(folder / "somefile.txt" / "x")}


CASES = [
    Case("folds-above-training-stories", ("brain[0] (lebel2023): encoding.folds: 3 folds", "the split gives 2"),
         entry={"encoding": {"folds": 3}}),
    Case("one-training-story", ("brain[0] (lebel2023): needs at least 2 training stories, the split gives 1",),
         options={"stories": ["alpha"]}),
    Case("story-in-train-and-test", ("brain[0] (listed): stories in both train and test: beta",),
         entry={"dataset": "listed"}, options={"train": ["alpha", "beta"], "test": ["beta", "wheretheressmoke"]}),
    Case("no-test-story", ("brain[0] (listed): the split gives no test story",),
         entry={"dataset": "listed"}, options={"train": ["alpha", "beta"], "test": []}),
    Case("responses-end-before-the-words", ("brain[0] (lebel2023): subject UTS01, story 'beta'", "cover only 84%",
                                            "allow_truncated_story: true"), damage=_short_beta),
    Case("device-cuda-without-gpu", ("device: 'cuda' was asked for but no CUDA device is visible",), top={"device": "cuda"}),
    Case("run-under-a-file", ("run:", "somefile.txt is a file"), top={"run": None}),
    Case("run-name-too-long", ("run:", "cannot be used as a run directory"), top={"run": "x" * 300}),
    Case("cache-under-a-file", ("cache:", "somefile.txt is a file, so no folder can be made under it"), top={"cache": None}),
]


def _gpu_visible() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_plan_mistakes_are_one_line_naming_config_and_entry_and_nothing_is_written(case, env, tmp_path, capfd, monkeypatch):
    if case.name == "device-cuda-without-gpu" and _gpu_visible():
        pytest.skip("a GPU is visible to this process (CUDA was set up before CUDA_VISIBLE_DEVICES was emptied)")
    monkeypatch.chdir(tmp_path)  # a relative run is made here, if at all
    shutil.copytree(env / "ds", tmp_path / "ds")
    if case.damage:
        case.damage(tmp_path)
    under = {"run-under-a-file": "run", "cache-under-a-file": "cache"}
    top = _file_as_parent(tmp_path, under[case.name]) if case.name in under else case.top
    config = _config(tmp_path, tmp_path / "ds", entry=case.entry, options=case.options, **top)
    before = sorted(tmp_path.rglob("*"))
    for command, line in refused_in_one_line(config, capfd):
        assert line.startswith(f"error: {config}: "), line
        for needle in case.needles:
            assert needle in line, (needle, line)
        assert sorted(tmp_path.rglob("*")) == before, command  # no run directory, no cache, nothing


def test_default_folds_above_training_stories_are_reduced_with_a_note(env, tmp_path, capfd):
    config = _config(tmp_path, env / "ds", entry={"encoding": {"alphas": [1, 10]}})  # folds: the default 5
    assert main(["validate", str(config)]) == 0
    out = " ".join(capfd.readouterr().out.split())
    assert "brain[0] (lebel2023): encoding.folds: the default 5 folds are reduced to 2, one per training story" in out


def test_a_truncated_story_allowed_is_scored_with_its_fraction_recorded(env, tmp_path, capfd):
    shutil.copytree(env / "ds", tmp_path / "ds")
    _short_beta(tmp_path)
    config = _config(tmp_path, tmp_path / "ds", entry={"allow_truncated_story": True})
    assert main(["sweep", str(config)]) == 0
    err = " ".join(capfd.readouterr().err.split())
    assert "allow_truncated_story: 2 truncated stories scored on part of their words" in err
    assert "UTS01/beta 84%" in err and "UTS02/beta 84%" in err
    with RunStore(tmp_path / "run") as store:
        cells = store.cells_frame()
    brain = cells[cells["kind"] == "brain"]
    assert len(brain) == 3 and set(brain["status"]) == {"done"}  # 3 checkpoints x layer 0
    for provenance in brain["provenance"]:
        recorded = json.loads(provenance) if isinstance(provenance, str) else provenance
        # words 1.5-36.5 s; the last scan at 29 s covers up to 31 s: (31 - 1.5) / (36.5 - 1.5)
        assert recorded["scored_fraction"] == {"UTS01/beta": 0.8429, "UTS02/beta": 0.8429}


def test_quiet_keeps_notes_in_the_log_and_an_error_is_the_only_line(env, tmp_path, capfd):
    shutil.copytree(env / "ds", tmp_path / "ds")
    config = _config(tmp_path, tmp_path / "ds")
    assert main(["sweep", str(config), "--quiet"]) == 0
    err = capfd.readouterr().err  # (the test model's transformers warnings may be there, even a logging error's traceback)
    assert not any(line.startswith("preflight") for line in err.splitlines())
    log = (tmp_path / "run/logs/sweep.log").read_text()
    assert "preflight: brain[0] (lebel2023): 2 subjects x 3 stories" in log
    assert main(["sweep", str(config)]) == 0  # without --quiet the notes are on stderr too
    assert "preflight brain[0] (lebel2023): 2 subjects x 3 stories" in " ".join(capfd.readouterr().err.split())
    _short_beta(tmp_path)  # the loader's notes come before the plan's error
    assert main(["sweep", str(config), "--quiet", "--force"]) == 2
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "story 'beta'" in lines[0], lines
    assert main(["sweep", str(config), "--force"]) == 2  # without --quiet: the notes found before the mistake, then it
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) > 1 and lines[0].startswith("preflight ") and lines[-1].startswith("error: ") and "story 'beta'" in lines[-1]


TINYLM_DEMO = {
    "models": [{"family": "tinylm", "options": {"progress": False}, "checkpoints": [0, 16], "layers": "all"}],  # never trained here
    "brain": [{"dataset": "simulated", "options": {"subjects": 1, "stories": 4, "words_per_story": 150, "voxels": 64},
               "encoding": {"folds": 2}}],
    "tasks": [{"task": "offline", "options": {"cloze_items": 4, "minimal_pairs_items": 4, "instruction_items": 4, "perplexity_items": 2}}],
    "features": {"context_tokens": 128, "stride": 64},
}


def test_validate_writes_nothing_to_the_cache_and_cache_holds_what_a_sweep_keeps(tmp_path, capfd, monkeypatch):
    """tinylm's corpus, the simulated data and the file facts would be written by a sweep; validate leaves the cache empty."""
    monkeypatch.delenv("HARNESS_PLUGINS", raising=False)
    monkeypatch.setenv("COLUMNS", "500")  # the notes' paths unbroken
    fresh, configured = tmp_path / "fresh", tmp_path / "configured"
    fresh.mkdir()
    monkeypatch.setenv("HARNESS_CACHE", str(fresh))
    config = tmp_path / "demo.yaml"
    failing = {**TINYLM_DEMO, "tasks": [{"task": "offline", "options": {"corpus": [str(tmp_path / "missing.txt")]}}]}
    config.write_text(yaml.safe_dump({"run": str(tmp_path / "run"), **failing}))
    assert main(["validate", str(config)]) == 2  # fails after tinylm's and the simulated data's checks
    assert "tasks[0] (offline)" in capfd.readouterr().err
    assert list(fresh.iterdir()) == [] and not (tmp_path / "run").exists()
    config.write_text(yaml.safe_dump({"run": str(tmp_path / "run"), "cache": str(configured), **TINYLM_DEMO}))
    assert main(["validate", str(config)]) == 0
    out = " ".join(capfd.readouterr().out.split())
    assert f"cached under {configured / 'tinylm'}" in out
    assert f"simulated data checked in a temporary folder (validate writes nothing); a sweep writes it to {configured / 'simulated'}" in out
    assert list(fresh.iterdir()) == [] and not configured.exists()


def test_a_cluster_the_sweep_joins_has_its_devices_checked_there(env, tmp_path, capfd):
    """validate cannot see a Ray cluster's GPUs: device: cuda there is a note, not the local check's error."""
    config = _config(tmp_path, env / "ds", device="cuda", executor="ray", ray={"address": "10.0.0.1:6379"})
    assert main(["validate", str(config)]) == 0
    assert "device: 'cuda' is checked on the Ray cluster when the sweep connects to it" in " ".join(capfd.readouterr().out.split())
