"""Published checkpoint schedules, revision names and tokens seen, known offline."""

from __future__ import annotations

import pytest

from harness.util.errors import PluginError
from harness_plugins.models.amber import AmberFamily
from harness_plugins.models.hf import HFFamily, parse_revision_name
from harness_plugins.models.llmjp import LLMJPFamily
from harness_plugins.models.olmo import Olmo0724Family, Olmo2Family
from harness_plugins.models.pythia import PythiaFamily


def by_revision(family):
    return {c.revision: c for c in family.checkpoints()}


def test_pythia():
    family = PythiaFamily(PythiaFamily.Options(size="410m", deduped=True))
    checkpoints = family.checkpoints()
    assert len(checkpoints) == 154
    assert [c.step for c in checkpoints[:12]] == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]
    assert checkpoints[-1].step == 143000 and checkpoints[-1].revision == "step143000"
    assert checkpoints[-1].tokens == 143000 * 2_097_152 == 299_892_736_000
    assert all(c.tokens == c.step * 2_097_152 for c in checkpoints)
    assert family.repo() == "EleutherAI/pythia-410m-deduped"
    assert family.num_layers() == 25
    sizes = {"70m": 7, "160m": 13, "1b": 17, "1.4b": 25, "2.8b": 33, "6.9b": 33, "12b": 37}
    for size, layers in sizes.items():
        assert PythiaFamily(PythiaFamily.Options(size=size)).num_layers() == layers


def test_olmo_0724_names_are_the_published_ones():
    family = Olmo0724Family()
    revisions = by_revision(family)
    assert len(revisions) == 819
    # names published on the hub and in the model card
    for name in ("step0-tokens0B", "step1000-tokens4B", "step2500-tokens10B", "step24000-tokens100B",
                 "step239000-tokens1002B", "step477000-tokens2000B", "step408923-tokens1715B",
                 "step650650-tokens2729B"):
        assert name in revisions
    assert "step19500-tokens81B" not in revisions and "step195000-tokens817B" not in revisions  # lost on the hub
    last = family.checkpoints()[-1]
    assert last.step == 650650 and last.tokens == 650650 * 4_194_304
    assert family.repo() == "allenai/OLMo-7B-0724-hf" and family.num_layers() == 33


def test_olmo2_names_are_the_published_ones():
    family = Olmo2Family()
    revisions = by_revision(family)
    assert len(revisions) == 936
    for name in ("stage1-step0-tokens0B", "stage1-step150-tokens1B", "stage1-step900-tokens4B",
                 "stage1-step1000-tokens5B", "stage1-step2150-tokens10B", "stage1-step8000-tokens34B",
                 "stage1-step36000-tokens151B", "stage1-step207000-tokens869B", "stage1-step239000-tokens1003B",
                 "stage1-step477000-tokens2001B", "stage1-step716000-tokens3004B",
                 "stage1-step928000-tokens3893B", "stage1-step928646-tokens3896B"):
        assert name in revisions
    assert family.checkpoints()[-1].tokens == 928646 * 4_194_304
    assert family.repo() == "allenai/OLMo-2-1124-7B" and family.num_layers() == 33


def test_amber_and_llmjp():
    amber = AmberFamily().checkpoints()
    assert [c.revision for c in amber[:2]] == ["ckpt_000", "ckpt_001"] and amber[-1].revision == "ckpt_359"
    assert amber[-1].tokens == 1_259_130_000_000
    assert amber[0].tokens == round(1_259_130_000_000 / 360)
    llmjp = LLMJPFamily()
    assert [c.tokens for c in llmjp.checkpoints()] == [700 * 10**9, 1400 * 10**9, 2100 * 10**9]
    assert llmjp.source(llmjp.checkpoints()[0]) == ("llm-jp/llm-jp-3-172b-beta1", None)
    assert llmjp.num_layers() == 97


def test_families_share_one_token_axis():
    """Tokens grow with steps in every family, so curves can be laid on one x axis."""
    for family in (PythiaFamily(), Olmo0724Family(), Olmo2Family(), AmberFamily(), LLMJPFamily()):
        checkpoints = family.checkpoints()
        assert checkpoints == sorted(checkpoints)
        tokens = [c.tokens for c in checkpoints]
        assert tokens == sorted(tokens) and len(set(c.step for c in checkpoints)) == len(checkpoints)


def test_hf_revisions_from_config():
    family = HFFamily(HFFamily.Options(
        repo="org/model",
        revisions=["step2000", {"step": 10, "tokens": 123, "revision": "early"}, "stage1-step150-tokens1B"],
        tokens_per_step=1000,
    ))
    checkpoints = family.checkpoints()
    assert [(c.step, c.tokens, c.revision) for c in checkpoints] == [
        (10, 123, "early"), (150, 150_000, "stage1-step150-tokens1B"), (2000, 2_000_000, "step2000")]
    assert parse_revision_name("step100-tokens2.5B").tokens == 2_500_000_000
    assert parse_revision_name("main") is None
    only_main = HFFamily(HFFamily.Options(repo="org/model")).checkpoints()
    assert only_main[0].revision is None
    with pytest.raises(PluginError, match="share a step"):
        HFFamily(HFFamily.Options(repo="x", revisions=["step1", "other-step1"])).checkpoints()


def test_refresh_lists_hub_branches(monkeypatch):
    class Ref:
        def __init__(self, name):
            self.name = name

    class Refs:
        branches = [Ref("main"), Ref("step0"), Ref("step512"), Ref("step143000")]

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "list_repo_refs", lambda repo: Refs())
    family = PythiaFamily(PythiaFamily.Options(size="70m", refresh=True))
    assert [c.revision for c in family.checkpoints()] == ["step0", "step512", "step143000"]


def test_polypythia_runs_are_the_published_repositories():
    def repo(**options):
        return PythiaFamily(PythiaFamily.Options(**options)).repo()

    assert repo(size="160m", seed=1) == "EleutherAI/pythia-160m-seed1"
    assert repo(size="14m", seed=9) == "EleutherAI/pythia-14m-seed9"
    assert repo(size="410m", seed=5) == "EleutherAI/pythia-410m-seed5"
    assert repo(size="160m", seed=3, seed_kind="data-seed") == "EleutherAI/pythia-160m-data-seed3"
    assert repo(size="160m", seed=2, seed_kind="weight-seed") == "EleutherAI/pythia-160m-weight-seed2"
    assert repo(size="160m") == "EleutherAI/pythia-160m"  # seed 0 of the PolyPythias is the original
    family = PythiaFamily(PythiaFamily.Options(size="70m", seed=4))
    assert len(family.checkpoints()) == 154 and family.num_layers() == 7
    for options, expected in [({"size": "1b", "seed": 1}, "no 1b runs"), ({"size": "160m", "seed": 1, "deduped": True}, "standard Pile only"),
                              ({"size": "70m", "seed": 1, "seed_kind": "data-seed"}, "160m, seeds 1-3 only"),
                              ({"size": "160m", "seed": 4, "seed_kind": "weight-seed"}, "160m, seeds 1-3 only"),
                              ({"size": "160m", "seed": 10}, "less than or equal to 9")]:
        with pytest.raises(ValueError, match=expected):
            PythiaFamily.Options(**options)
