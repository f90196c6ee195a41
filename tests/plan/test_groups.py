"""Model groups (seeds and variants of one model): the config's ``group``, seeded labels, reading groups back."""

from __future__ import annotations

import pytest

from harness.analysis.data import model_groups
from harness.plan.config import entry_label, parse_config
from harness.plan.planner import make_plan
from harness.plan.preflight import preflight
from harness.plugin.registry import get_registry
from harness.sweep.driver import run_sweep
from harness.util.errors import ConfigError
from harness_plugins.models.tinylm import TinyLMFamily
from harness_plugins.models.tinylm import train as train_module
from harness_plugins.models.tinylm.corpus import load_corpus
from tests.support.plugin_packages import TOY_PLUGINS, activate, write_plugin_package


def _models(*models):
    return {"models": list(models), "tasks": [{"task": "offline"}]}


def test_seeded_entries_are_labelled_by_their_seed_and_grouped():
    config = parse_config(_models(
        {"family": "tinylm", "options": {"seed": 1}, "group": "tinylm-seeds"},
        {"family": "tinylm", "options": {"seed": 2}, "group": "tinylm-seeds"},
        {"family": "tinylm", "label": "mine", "options": {"seed": 3}},
        {"family": "tinylm"},
    ))
    assert [entry_label(m) for m in config.models] == ["tinylm-seed1", "tinylm-seed2", "mine", "tinylm"]
    assert config.model_groups() == {"tinylm-seeds": ["tinylm-seed1", "tinylm-seed2"]}
    assert config.notes() == []
    dumped = config.model_dump(mode="json")["models"]
    assert dumped[0]["group"] == "tinylm-seeds" and "group" not in dumped[3]  # unset: dumps (and hashes) as before


def test_seeded_tinylm_entries_plan_apart_and_train_apart_on_one_held_out_split(tmp_path):
    config = parse_config(_models({"family": "tinylm", "options": {"seed": 1}}, {"family": "tinylm", "options": {"seed": 2}}))
    plan = make_plan(config, get_registry())
    one, two = plan.models
    assert (one.label, two.label) == ("tinylm-seed1", "tinylm-seed2")
    assert one.family.fingerprint() != two.family.fingerprint()
    assert {c.model for c in plan.cells} == {"tinylm-seed1", "tinylm-seed2"}
    assert len(set(plan.settings.values())) == len(plan.settings)  # no cell of one stands for a cell of the other
    text = tmp_path / "news.cor"  # one document per line
    text.write_text("\n".join(f"Story number {i} tells how the town council met on a rainy day and agreed to repair the old bridge."
                                for i in range(30)))
    settings = [TinyLMFamily(TinyLMFamily.Options(seed=s, corpus=[str(text)])).settings() for s in (1, 2)]
    assert {s.split_seed for s in settings} == {0}  # every seed holds out the same documents
    corpus = load_corpus([text], seed=0, cache_dir=tmp_path)
    assert len({train_module.run_dir(s, tmp_path, corpus.digest) for s in settings}) == 2  # separate weights
    assert load_corpus([text], seed=1, cache_dir=tmp_path).heldout != corpus.heldout  # what split_seed protects against


def test_a_group_of_one_is_a_note_not_an_error():
    config = parse_config(_models({"family": "tinylm", "group": "lonely"}))
    assert config.notes() == ["models: group 'lonely' has one model (tinylm); intervals across a group need two or more"]
    assert config.notes()[0] in preflight(make_plan(config, get_registry()))


@pytest.mark.parametrize(("group", "expected"), [
    (3, "models[0].group: Input should be a valid string"),
    (["a"], "models[0].group: Input should be a valid string"),
    ("", "models[0].group: a group name may not be empty"),
    ("a/b", "models[0].group: 'a/b' may not contain '__' or '/'"),
    ("tinylm", "models[0].group: 'tinylm' is also a model label; name groups apart from models"),
])
def test_group_mistakes_are_one_line(group, expected):
    with pytest.raises(ConfigError) as error:
        parse_config(_models({"family": "tinylm", "group": group}), "c.yaml")
    assert str(error.value) == f"c.yaml: {expected}"


def test_model_groups_are_read_back_from_the_run(tmp_path, monkeypatch):
    activate(write_plugin_package(tmp_path / "site", "toyplug", TOY_PLUGINS), monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "toyplug")
    config = parse_config({
        "run": str(tmp_path / "run"),
        "models": [{"family": "toyfamily", "label": "b", "group": "g", "checkpoints": "last"},
                   {"family": "toyfamily", "label": "solo", "checkpoints": "last"},
                   {"family": "toyfamily", "label": "a", "group": "g", "checkpoints": "last"}],
        "tasks": [{"task": "toytask"}],
        "analyze": False,
    })
    run_sweep(config, show_progress=False)
    assert model_groups(tmp_path / "run") == {"g": ["b", "a"]}  # config order, not sorted
    assert model_groups(tmp_path / "absent") == {}
