"""tinylm: trains a few steps, caches by settings, is deterministic and atomic, reloads like hf."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness import torch_threads
from harness.features import extract_activations
from harness.features.settings import ExtractionSettings
from harness_plugins.models.tinylm import TinyLMFamily
from harness_plugins.models.tinylm import train as train_module
from harness_plugins.models.tinylm.corpus import load_corpus
from harness_plugins.models.tinylm.train import checkpoint_steps

PARAGRAPHS = [" ".join(f"The river town number {i + 7 * j} had a market, a school and a quiet old bridge." for i in range(60))
              for j in range(12)]


def tiny(cache, **options):
    return TinyLMFamily(TinyLMFamily.Options(size="tiny", progress=False, cache=str(cache), **options))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    family = tiny(tmp_path_factory.mktemp("tinylm"))
    family.prepare()
    return family


def test_schedule_and_training_record(trained):
    checkpoints = trained.checkpoints()
    assert [c.step for c in checkpoints] == [0, 1, 2, 3, 4, 6, 8, 12, 16] == checkpoint_steps(16)  # half-octave
    assert all(c.tokens == c.step * 4 * 32 for c in checkpoints)
    run = trained.prepare()
    assert sorted(p.name for p in run.iterdir() if p.is_dir()) == sorted(c.revision for c in checkpoints)
    info = trained.training_info()
    assert info["checkpoints"] == [0, 1, 2, 3, 4, 6, 8, 12, 16] and info["train_loss"]
    assert info["settings"]["qa_fraction"] == 0.4 and info["qa_documents"] > 0 and info["qa_tokens"] > 0
    assert info["heldout_loss"]["16"] < info["heldout_loss"]["0"] - 0.3  # it learns
    step_meta = json.loads((run / "step16" / "tinylm.json").read_text())
    assert step_meta["heldout_loss"] == info["heldout_loss"]["16"]


def test_checkpoints_reload_through_hf_loader(trained):
    first, last = trained.checkpoints()[0], trained.checkpoints()[-1]
    loaded = trained.load(last)
    assert type(loaded.model).__name__ == "GPT2LMHeadModel" and not loaded.model.training
    assert loaded.tokenizer.is_fast and loaded.commit is None
    assert loaded.identity == str(trained.prepare())
    early = trained.load(first)
    a = dict(loaded.model.named_parameters())["transformer.wte.weight"]
    b = dict(early.model.named_parameters())["transformer.wte.weight"]
    assert not torch.equal(a, b)
    acts = extract_activations(loaded, {"s": "the history of the city is long .".split()},
                               ExtractionSettings(context_tokens=32, stride=16), trained.cache_dir())
    assert acts.num_layers == trained.num_layers() == 3
    trained.release(loaded)
    assert loaded.model is None


def test_cached_by_settings(trained, monkeypatch):
    run = trained.prepare()
    monkeypatch.setattr(train_module, "train", lambda *a, **k: pytest.fail("retrained a cached run"))
    assert tiny(trained.cache_dir()).prepare() == run
    assert tiny(trained.cache_dir(), steps=8).settings().digest("x") != trained.settings().digest("x")


def test_deterministic_per_seed(trained, tmp_path):
    settings = trained.settings()
    corpus = load_corpus(seed=settings.split_seed, cache_dir=trained.cache_dir())
    with torch_threads(1):  # as ensure_trained runs it
        train_module.train(settings, corpus, tmp_path, progress=False)
    run = trained.prepare()
    for name in ("model.safetensors", "tokenizer.json"):
        assert (tmp_path / "step16" / name).read_bytes() == (run / "step16" / name).read_bytes()
    reseeded = settings.model_copy(update={"seed": 1})
    with torch_threads(1):
        train_module.train(reseeded, corpus, tmp_path / "other", progress=False)
    assert (tmp_path / "other" / "step16" / "model.safetensors").read_bytes() != (run / "step16" / "model.safetensors").read_bytes()


def test_killed_training_leaves_no_run(tmp_path, monkeypatch):
    text = tmp_path / "corpus.txt"
    text.write_text("\n\n".join(PARAGRAPHS))
    family = tiny(tmp_path, corpus=[str(text)], vocab_size=300, qa_fraction=0.0)  # too few questions to mix
    original = train_module.train

    def dies(settings, corpus, out_dir, **kwargs):
        (out_dir / "step0").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "train", dies)
    with pytest.raises(KeyboardInterrupt):
        family.prepare()
    runs = tmp_path / "tinylm"
    assert [p.name for p in runs.iterdir() if not p.name.startswith(".") and p.name != "corpus"] == []
    assert not any(p.name.endswith(".partial") for p in runs.iterdir())
    monkeypatch.setattr(train_module, "train", original)
    assert (family.prepare() / "training.json").is_file()


def test_progress_is_plain_lines_inside_another_live_display(monkeypatch):
    import io
    import sys

    from rich.console import Console
    from rich.file_proxy import FileProxy

    screen = io.StringIO()
    monkeypatch.setattr(sys, "stderr", FileProxy(Console(file=screen, width=200), io.StringIO()))
    with train_module._reporter(20, True) as report:
        for step in range(1, 21):
            report(step, 3.0)
    lines = [line for line in screen.getvalue().splitlines() if line]
    assert lines[-1] == "tinylm training: step 20/20, loss 3.000" and len(lines) == 10


def test_run_digest_and_fingerprint_are_stable():
    """Pinned: a new run digest retrains every cached tinylm run, a new fingerprint recomputes its cells
    (bump TRAIN_VERSION on purpose)."""
    settings = train_module.TinyLMSettings(**train_module.PRESETS["tiny"])
    assert settings.digest("corpusdigest") == "5b023a8317a306c3"
    assert train_module.TinyLMSettings().digest("corpusdigest") == "4b0369be30902f08"
    assert train_module.TinyLMSettings(corpus=("/a/b.txt", "/\u00e9/\u00fc.txt")).digest("x") == "4e258437fee5d11b"
    assert TinyLMFamily(TinyLMFamily.Options(size="tiny")).fingerprint() == "fe4c455eb8bf0c59"


def test_trained_files_get_the_usual_permissions(trained):
    mask = os.umask(0o022)
    os.umask(mask)
    run = trained.prepare()
    modes = {p.relative_to(run.parent): stat.S_IMODE(p.stat().st_mode) for p in [run, *run.rglob("*")]}
    assert {path: mode for path, mode in modes.items() if mode != (0o777 if (run.parent / path).is_dir() else 0o666) & ~mask} == {}
    assert modes[Path(run.name) / "step16" / "model.safetensors"] == 0o666 & ~mask


TRAINER = """
import time
from harness_plugins.models.tinylm import TinyLMFamily
from harness_plugins.models.tinylm import train as train_module


def hang(settings, corpus, out_dir, **kwargs):
    (out_dir / "step0").mkdir()
    (out_dir / "step0" / "model.safetensors").write_bytes(bytes(1024))
    print("training", flush=True)
    time.sleep(600)


train_module.train = hang
TinyLMFamily(TinyLMFamily.Options(size="tiny", progress=False, cache={cache!r}, corpus=[{corpus!r}], vocab_size=300,
                                  qa_fraction=0.0, seed={seed})).prepare()
"""


@pytest.fixture
def trainers(tmp_path):
    """``trainers(*seeds)``: processes training tinylm runs into ``tmp_path``, each stopped mid-run;
    any still running are killed at the end."""
    started = []

    def start(corpus, *seeds):
        for seed in seeds:
            script = TRAINER.format(cache=str(tmp_path), corpus=str(corpus), seed=seed)
            started.append(subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                            stderr=subprocess.DEVNULL, text=True))
        for process in started:
            if not any(line.strip() == "training" for line in process.stdout):
                raise AssertionError("a trainer process ended before it trained")
        return started

    yield start
    for process in started:
        process.kill()
        process.wait()


def test_a_killed_training_is_cleaned_up_by_the_next_run_but_a_live_one_is_kept(tmp_path, trainers, monkeypatch):
    text = tmp_path / "corpus.txt"
    text.write_text("\n\n".join(PARAGRAPHS))
    killed, live = trainers(text, 1, 2)
    runs = tmp_path / "tinylm"
    partials = {p.name.split(".")[1]: p for p in runs.glob(".*.partial")}
    assert len(partials) == 2
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()

    def quick(settings, corpus, out_dir, **kwargs):  # stands in for training: only the cleaning is looked at
        (out_dir / "training.json").write_text("{}")

    monkeypatch.setattr(train_module, "train", quick)

    def digest(seed):
        settings = tiny(tmp_path, corpus=[str(text)], vocab_size=300, qa_fraction=0.0, seed=seed).settings()
        return train_module.run_dir(settings, tmp_path, load_corpus([text], seed=settings.split_seed, cache_dir=tmp_path).digest).name

    assert set(partials) == {digest(1), digest(2)}
    assert (tiny(tmp_path, corpus=[str(text)], vocab_size=300, qa_fraction=0.0, seed=3).prepare() / "training.json").is_file()
    assert [p.name for p in runs.glob(".*.partial")] == [partials[digest(2)].name]  # the killed run's is gone
    live.kill()
    live.wait()
    assert train_module.remove_stale_partials(runs) == 1
    assert list(runs.glob(".*.partial")) == []


def test_the_checkpoint_grid_is_half_octave():
    """The powers of two (Pythia's early schedule) and 3 x 2^k between them: denser than any log grid an adaptive sweep starts from."""
    assert checkpoint_steps(1200) == [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1200]
    assert checkpoint_steps(1) == [0, 1] and checkpoint_steps(3) == [0, 1, 2, 3] and checkpoint_steps(5) == [0, 1, 2, 3, 4, 5]
