"""The generic hf family on local checkpoint directories: loading, safety options, errors, freeing."""

from __future__ import annotations

import gc
import shutil
import weakref

import pytest
import torch

from harness.errors import DataError
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
