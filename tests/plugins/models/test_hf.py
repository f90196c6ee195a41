"""The generic hf family on local checkpoint directories: loading, safety options, errors, freeing."""

from __future__ import annotations

import gc
import shutil
import weakref

import pytest
import torch

from harness.util.errors import DataError
from harness_plugins.models import hf as hf_module
from harness_plugins.models.hf import HFFamily
from harness_plugins.models.tinylm import TinyLMFamily


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    family = TinyLMFamily(TinyLMFamily.Options(size="tiny", progress=False, cache=str(tmp_path_factory.mktemp("tl"))))
    return family.prepare()


def family(repo, **options):
    return HFFamily(HFFamily.Options(repo=str(repo), **options))


def test_local_revisions_load(run_dir):
    fam = family(run_dir, revisions=["step0", "step16"], tokens_per_step=128)
    checkpoints = fam.checkpoints()
    assert [(c.step, c.tokens) for c in checkpoints] == [(0, 0), (16, 2048)]
    assert fam.num_layers() == 3  # read from the checkpoint's config
    loaded = fam.load(checkpoints[1])
    assert loaded.identity == str(run_dir.resolve()) and loaded.commit is None
    assert loaded.tokenizer.is_fast and not loaded.model.training
    assert next(loaded.model.parameters()).dtype == torch.float32
    ref = weakref.ref(loaded.model)
    fam.release(loaded)
    gc.collect()
    assert loaded.model is None and ref() is None  # nothing else holds the weights


def test_dtype_option(run_dir):
    loaded = family(run_dir / "step16", dtype="bfloat16").load(family(run_dir / "step16").checkpoints()[0])
    assert next(loaded.model.parameters()).dtype == torch.bfloat16


def test_directory_without_weights(run_dir, tmp_path):
    empty = tmp_path / "ckpt"
    shutil.copytree(run_dir / "step16", empty)
    (empty / "model.safetensors").unlink()
    fam = family(empty)
    with pytest.raises(DataError, match="has no weights"):
        fam.load(fam.checkpoints()[0])
    with pytest.raises(DataError, match="no such checkpoint directory"):
        fam2 = family(tmp_path / "nope", revisions=["step1"])
        fam2.load(fam2.checkpoints()[0])


def test_pickle_weights_need_opt_in(run_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    pickled = tmp_path / "pickled"
    shutil.copytree(run_dir / "step16", pickled)
    (pickled / "model.safetensors").unlink()
    torch.save(AutoModelForCausalLM.from_pretrained(run_dir / "step16").state_dict(), pickled / "pytorch_model.bin")
    assert (pickled / "pytorch_model.bin").is_file() and not (pickled / "model.safetensors").exists()
    with pytest.raises(DataError, match="allow_pickle"):
        family(pickled).load(family(pickled).checkpoints()[0])
    loaded = family(pickled, allow_pickle=True).load(family(pickled).checkpoints()[0])
    assert loaded.model is not None


def test_offline_hub_miss_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fam = family("no-such-org/no-such-model-xyz", revisions=["step1"])
    with pytest.raises(DataError, match=r"no-such-org/no-such-model-xyz@step1: cannot load") as info:
        fam.load(fam.checkpoints()[0])
    assert "\n" not in str(info.value)


def test_release_deletes_downloaded_revision(run_dir, monkeypatch):
    calls = []
    monkeypatch.setattr(hf_module, "delete_cached_revision", lambda repo, commit, cache=None: calls.append((repo, commit)))
    fam = family(run_dir / "step16", delete_after=True)
    loaded = fam.load(fam.checkpoints()[0])
    fam.release(loaded)
    assert calls == []  # local directories are never deleted
    loaded.commit, loaded.identity = "abc123", "org/model"
    fam.release(loaded)
    assert calls == [("org/model", "abc123")]
    keep = family(run_dir / "step16")
    keep.release(loaded)
    assert calls == [("org/model", "abc123")]


def test_a_misspelt_local_revision_is_named_not_the_root_loaded(run_dir):
    fam = family(run_dir, revisions=["step0", "stpe16"], tokens_per_step=128)
    with pytest.raises(DataError, match=r"no revision 'stpe16' .*did you mean 'step16'.*available: step0, step1, step12, step16") as info:
        fam.load(fam.checkpoints()[1])
    assert str(run_dir) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(DataError, match="stpe16"):
        fam.check(fam.checkpoints())


def test_a_corrupt_weight_file_is_named_when_loading(run_dir, tmp_path):
    broken = tmp_path / "ckpt"
    shutil.copytree(run_dir / "step16", broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[:-100])
    fam = family(broken)
    with pytest.raises(DataError, match=rf"{broken}/model.safetensors: truncated"):
        fam.load(fam.checkpoints()[0])


def test_context_length_without_loading_weights(run_dir, monkeypatch):
    from harness_plugins.models.olmo import Olmo2Family
    from harness_plugins.models.pythia import PythiaFamily

    assert family(run_dir, revisions=["step0", "step16"]).context_length() == 32  # n_positions of the tiny preset
    assert TinyLMFamily(TinyLMFamily.Options(size="tiny")).context_length() == 32  # known before training
    assert TinyLMFamily(TinyLMFamily.Options()).context_length() == 128
    assert PythiaFamily(PythiaFamily.Options(size="70m")).context_length() == 2048
    assert Olmo2Family().context_length() == 4096
    assert family("no-such-org/uncached-model").context_length() is None  # neither known nor in the cache


def test_the_context_reader_prefers_a_nested_text_config_and_skips_what_is_not_a_positive_integer():
    from harness_plugins.models.checkpoint_files import context_from_config

    config = {"n_positions": 64, "text_config": {"max_position_embeddings": True, "n_ctx": 0, "seq_length": 128}}
    assert context_from_config(config) == 128
    config["text_config"] = {"n_ctx": -1}
    assert context_from_config(config) == 64  # nothing usable nested: the config's own
    assert context_from_config({}) is None and context_from_config({"text_config": None}) is None


def _hub_cache(tmp_path, run_dir, repo="org/model", revision="step16", commit="a" * 40):
    """A Hugging Face hub cache holding one revision of ``repo`` (the layout huggingface_hub writes)."""
    base = tmp_path / "hub" / f"models--{repo.replace('/', '--')}"
    snapshot = base / "snapshots" / commit
    shutil.copytree(run_dir / "step16", snapshot)
    (base / "refs").mkdir(parents=True)
    (base / "refs" / revision).write_text(commit)
    return tmp_path / "hub", snapshot


def test_hub_checkpoints_in_the_local_cache_are_checked(run_dir, tmp_path, monkeypatch):
    cache, snapshot = _hub_cache(tmp_path, run_dir)
    fam = family("org/model", revisions=["step16", "step32"], hub_cache=str(cache))
    checkpoints = fam.checkpoints()
    assert fam.context_length() == 32  # read from the cached config.json

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    notes = fam.check(checkpoints)  # online: the uncached revision is a note, and nothing is fetched
    assert len(notes) == 1 and "org/model: 1 of 2 checkpoints are not in the local cache" in notes[0]
    assert "not checked" in notes[0]
    assert fam.check(checkpoints[:1]) == []

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"org/model@step32: not in the local Hugging Face cache .* HF_HUB_OFFLINE is set"):
        fam.check(checkpoints)

    data = (snapshot / "model.safetensors").read_bytes()
    (snapshot / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=rf"{snapshot}/model.safetensors: truncated"):
        fam.check(checkpoints[:1])
    with pytest.raises(DataError, match=rf"{snapshot}/model.safetensors: truncated"):
        fam.load(checkpoints[0])  # loading names the damaged file in the cache too


def test_fetch_brings_a_hub_revision_through_huggingface_hub(run_dir, tmp_path):
    """fetch is snapshot_download of what load reads: offline it finds the cached snapshot; a miss raises (load reports it)."""
    cache, snapshot = _hub_cache(tmp_path, run_dir)
    fam = family("org/model", revisions=["step16", "step32"], hub_cache=str(cache))
    cached, missing = fam.checkpoints()
    fam.fetch(cached)  # HF_HUB_OFFLINE (conftest): served from the cache, no network
    assert fam.load(cached).model is not None
    with pytest.raises(Exception, match="(?i)offline|cannot find|not found"):
        fam.fetch(missing)
    local = family(run_dir, revisions=["step16"])
    local.fetch(local.checkpoints()[0])  # a local directory: nothing to fetch
    assert fam._fetched_files() == ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken"]
    assert "*.bin" in family("org/model", allow_pickle=True)._fetched_files()
