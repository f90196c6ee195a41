"""Windowed, batched extraction against direct forward passes; the activation cache."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from harness.features import ActivationSet, align_words, extract_activations
from harness.features.cache import remove_stale_partials
from harness.features.extract import cache_key
from harness.features.settings import ExtractionSettings
from harness.plugin.contract import Checkpoint, LoadedModel
from harness.util.errors import DataError
from harness.util.files import STALE_UNLOCKED_AFTER_S
from tests.features.test_align import byte_bpe

STORY = (
    "the cat sat on the mat . a dog ran in the park , and the bird sang ! "
    "then the dog sat on the mat and the cat ran to the park . "
) * 6


@pytest.fixture(scope="module")
def loaded():
    tokenizer = byte_bpe()
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=2, n_head=2)
    model = GPT2LMHeadModel(config).eval()
    return LoadedModel(model, tokenizer, Checkpoint(10, 1000, "step10"), identity="tiny/test-model")


def stories():
    words = STORY.split()
    return {"alpha": words, "beta": words[:40] + ["foxcatparkdog"] + words[:30]}


def direct(loaded, token_ids):
    with torch.inference_mode():
        out = loaded.model(input_ids=torch.tensor([token_ids]), output_hidden_states=True)
    return [h[0].numpy() for h in out.hidden_states]


def test_matches_a_direct_forward_pass(loaded, tmp_path):
    settings = ExtractionSettings(context_tokens=128, stride=64, batch_size=3)
    acts = extract_activations(loaded, stories(), settings, tmp_path)
    assert isinstance(acts, ActivationSet)
    assert acts.num_layers == 3 and acts.hidden_size == 32
    words = stories()["beta"]
    alignment = align_words(loaded.tokenizer, words)
    assert alignment.num_tokens <= 128  # one window holds the whole story
    reference = direct(loaded, alignment.token_ids.tolist())
    for layer in range(acts.num_layers):
        got = acts.layer(layer)
        assert set(got) == {"alpha", "beta"}
        assert got["beta"].shape == (len(words), 32) and got["beta"].dtype == np.float32
        np.testing.assert_allclose(got["beta"], reference[layer][alignment.spans[:, 1]], atol=1e-5)


def test_mean_of_word_tokens(loaded, tmp_path):
    settings = ExtractionSettings(context_tokens=128, stride=64, word_token="mean")
    acts = extract_activations(loaded, {"beta": stories()["beta"]}, settings, tmp_path)
    alignment = align_words(loaded.tokenizer, stories()["beta"])
    reference = direct(loaded, alignment.token_ids.tolist())[2]
    expected = np.stack([reference[a : b + 1].mean(0) for a, b in alignment.spans])
    np.testing.assert_allclose(acts.layer(2)["beta"], expected, atol=1e-5)
    assert (alignment.spans[:, 1] > alignment.spans[:, 0]).any()


def test_one_window_or_many(loaded, tmp_path):
    words = stories()["alpha"]
    alignment = align_words(loaded.tokenizer, words)
    assert alignment.num_tokens > 100
    one = extract_activations(loaded, {"s": words}, ExtractionSettings(context_tokens=128, stride=128), tmp_path)
    many = extract_activations(loaded, {"s": words}, ExtractionSettings(context_tokens=24, stride=8, batch_size=4), tmp_path)
    assert one.key != many.key
    assert many.meta["stats"]["windows"] > 5
    fits = alignment.spans[:, 1] < 24  # words whose whole context fits in the first small window
    for layer in range(3):
        a, b = one.layer(layer)["s"], many.layer(layer)["s"]
        np.testing.assert_allclose(a[fits], b[fits], atol=1e-5)
        assert not np.allclose(a[~fits], b[~fits], atol=1e-3)  # later words see less context
    # a later word equals a direct pass over the window it was read from (>= 16 tokens of context)
    w = len(words) - 1
    last = int(alignment.spans[w, 1])
    start = last - 23
    window = direct(loaded, alignment.token_ids[max(0, start) : last + 1].tolist())
    rows = [many.layer(layer)["s"][w] for layer in range(3)]
    assert any(np.allclose(rows[2], direct(loaded, alignment.token_ids[s : last + 1].tolist())[2][-1], atol=1e-5)
               for s in range(last - 23, last - 14))
    assert window[0].shape[0] == 24


def test_cache_hit_and_invalidation(loaded, tmp_path, monkeypatch):
    settings = ExtractionSettings(context_tokens=64, stride=32)
    first = extract_activations(loaded, stories(), settings, tmp_path)
    calls = []
    original = loaded.model.transformer.forward
    monkeypatch.setattr(loaded.model.transformer, "forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    again = extract_activations(loaded, stories(), settings.model_copy(update={"batch_size": 2}), tmp_path)
    assert again.key == first.key and not calls  # served from the cache; batch size is not in the key
    keys = {first.key}
    for change in (
        lambda: extract_activations(loaded, stories(), settings.model_copy(update={"stride": 16}), tmp_path),
        lambda: extract_activations(loaded, stories(), settings.model_copy(update={"word_token": "mean"}), tmp_path),
        lambda: extract_activations(loaded, {**stories(), "gamma": ["one", "more"]}, settings, tmp_path),
        lambda: extract_activations(
            LoadedModel(loaded.model, loaded.tokenizer, Checkpoint(20, 2000, "step20"), identity="tiny/test-model"),
            stories(), settings, tmp_path),
        lambda: extract_activations(
            LoadedModel(loaded.model, loaded.tokenizer, loaded.checkpoint, identity="tiny/test-model", commit="abc"),
            stories(), settings, tmp_path),
    ):
        before = len(calls)
        keys.add(change().key)
        assert len(calls) > before
    assert len(keys) == 6
    assert sorted(p.name for p in (tmp_path / "activations").iterdir()) == sorted(keys)


def test_killed_extraction_leaves_no_entry(loaded, tmp_path):
    settings = ExtractionSettings(context_tokens=32, stride=16, batch_size=1)

    def crash(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_activations(loaded, stories(), settings, tmp_path, progress=crash)
    assert list((tmp_path / "activations").iterdir()) == []
    acts = extract_activations(loaded, stories(), settings, tmp_path)
    assert [p.name for p in (tmp_path / "activations").iterdir()] == [acts.key]


@pytest.mark.parametrize("dtype,tol", [("float16", 1e-2), ("bfloat16", 5e-2)])
def test_stored_dtypes(loaded, tmp_path, dtype, tol):
    full = extract_activations(loaded, stories(), ExtractionSettings(context_tokens=64, stride=32), tmp_path)
    half = extract_activations(loaded, stories(), ExtractionSettings(context_tokens=64, stride=32, dtype=dtype), tmp_path)
    a, b = full.layer(1)["alpha"], half.layer(1)["alpha"]
    assert b.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    assert (half.path / "layer_001.npy").stat().st_size < (full.path / "layer_001.npy").stat().st_size


def test_context_longer_than_model_positions_is_clamped(loaded, tmp_path):
    acts = extract_activations(loaded, stories(), ExtractionSettings(context_tokens=512, stride=256), tmp_path)
    assert acts.meta["settings"]["context_tokens"] == 128 and acts.meta["settings"]["stride"] == 64


def test_bad_stimuli(loaded, tmp_path):
    settings = ExtractionSettings()
    with pytest.raises(DataError, match="story 'empty' has no words"):
        extract_activations(loaded, {"ok": ["a"], "empty": []}, settings, tmp_path)
    with pytest.raises(DataError, match="no stories"):
        extract_activations(loaded, {}, settings, tmp_path)
    with pytest.raises(DataError, match=r"story 'x': word #1"):
        extract_activations(loaded, {"x": ["a", "", "b"]}, settings, tmp_path)


def test_bos_prefix_goes_in_front_of_every_window(tmp_path):
    from tests.features.test_align import metaspace_with_bos

    tokenizer = metaspace_with_bos()
    torch.manual_seed(1)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=16, n_layer=1, n_head=2)).eval()
    loaded = LoadedModel(model, tokenizer, Checkpoint(0, 0, None), identity="tiny/bos")
    words = STORY.split()[:40]
    acts = extract_activations(loaded, {"s": words}, ExtractionSettings(context_tokens=16, stride=8), tmp_path)
    assert acts.meta["special_prefix"] == [tokenizer.bos_token_id]
    alignment = align_words(tokenizer, words)
    first_word_last_token = int(alignment.spans[0, 1])
    reference = direct(loaded, [tokenizer.bos_token_id] + alignment.token_ids[: first_word_last_token + 1].tolist())
    np.testing.assert_allclose(acts.layer(1)["s"][0], reference[1][-1], atol=1e-5)


def test_cache_key_is_stable():
    """Pinned: a new value orphans every cached activation set (bump FEATURES_VERSION on purpose)."""
    loaded = LoadedModel(None, None, Checkpoint(4, 100, "step4"), identity="/nonexistent/x", commit="abc")
    assert cache_key(loaded, "0123456789abcdef", ExtractionSettings()) == "4a5a96a6082b72ba982309b7"
    assert cache_key(loaded, "ff", ExtractionSettings(context_tokens=64, stride=32)) == "e604eec8b9d6a90547b1e02b"


WRITER = """
import sys, time
from pathlib import Path
from harness.features.cache import building, layer_file

with building(Path({cache!r}), {key!r}) as folder:  # what extract_activations writes an entry through
    (folder / layer_file(0)).write_bytes(bytes(4096))
    print("writing", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def writers(tmp_path):
    """``writers(*keys)``: processes writing entries into ``tmp_path``'s activation cache, each stopped
    mid-entry; any still running are killed at the end."""
    started = []

    def start(*keys):
        for key in keys:
            script = WRITER.format(key=key, cache=str(tmp_path / "activations"))
            started.append(subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                            stderr=subprocess.DEVNULL, text=True))
        for process in started:
            if not any(line.strip() == "writing" for line in process.stdout):  # stops reading at "writing"
                raise AssertionError("a writer process ended before it wrote anything")
        return started

    yield start
    for process in started:
        process.kill()
        process.wait()


def _partials(tmp_path):
    return sorted(p.name for p in (tmp_path / "activations").glob(".*.partial"))


def test_a_killed_extraction_is_cleaned_up_by_the_next_but_a_live_one_is_kept(loaded, tmp_path, writers):
    killed, live = writers("killedkey", "livekey")
    assert len(_partials(tmp_path)) == 2
    before = set(_partials(tmp_path))
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    legacy_old, legacy_new = (tmp_path / "activations" / f".{k}.0.partial" for k in ("old", "new"))
    legacy_old.mkdir()
    legacy_new.mkdir()  # no lock file (an older version's): removed only once a day old
    os.utime(legacy_old, (time.time() - 2 * STALE_UNLOCKED_AFTER_S,) * 2)
    acts = extract_activations(loaded, stories(), ExtractionSettings(context_tokens=32, stride=16), tmp_path)
    remaining = set(_partials(tmp_path))
    assert legacy_old.name not in remaining and legacy_new.name in remaining
    (kept,) = remaining & before  # the live writer's entry is kept, the killed one's is gone
    assert kept.startswith(".livekey.")
    assert (tmp_path / "activations" / kept / ".writer.lock").read_text().split()[1] == str(live.pid)
    assert sorted(p.name for p in (tmp_path / "activations").iterdir() if not p.name.startswith(".")) == [acts.key]
    live.kill()
    live.wait()
    assert remove_stale_partials(tmp_path / "activations") == 1  # the live writer is gone now
    assert _partials(tmp_path) == [legacy_new.name]


def test_entries_get_the_usual_permissions(loaded, tmp_path):
    mask = os.umask(0o022)
    try:
        acts = extract_activations(loaded, stories(), ExtractionSettings(context_tokens=32, stride=16), tmp_path)
    finally:
        os.umask(mask)
    assert stat.S_IMODE(acts.path.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in acts.path.iterdir()} == {0o644}
    assert not (acts.path / ".writer.lock").exists()
