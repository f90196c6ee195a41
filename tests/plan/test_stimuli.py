"""The word-order-shuffled stimulus control: the shuffle itself, its config, and a sweep with it as a second target."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from harness.analysis.data import BrainControl, brain_controls
from harness.plan.config import entry_label, parse_config
from harness.plan.planner import make_plan
from harness.plan.preflight import preflight
from harness.plan.stimuli import (
    SENTENCE_FALLBACK_WINDOW,
    describe_control,
    shuffle_story,
    shuffle_units,
    stimulus_words,
)
from harness.plugin.registry import get_registry
from harness.store.database import RunStore
from harness.sweep.activations import ActivationProvider
from harness.sweep.driver import run_sweep
from harness.util.errors import ConfigError
from tests.support.plugin_packages import TINY_GPT_PLUGINS, activate, write_plugin_package

STORY = ("Once upon a time there was a cat. It sat on the mat, and it slept! "
         "Did the dog see it? The dog \"ran home.\" Then nothing").split()


def _sentences(words):
    return [words[a:b] for a, b in shuffle_units(words, "sentence").spans]


def test_sentences_end_at_punctuation_and_the_rest_is_one_more_unit():
    assert [" ".join(s) for s in _sentences(STORY)] == [
        "Once upon a time there was a cat.", "It sat on the mat, and it slept!", "Did the dog see it?",
        'The dog "ran home."', "Then nothing"]


def test_shuffle_is_deterministic_and_keeps_each_sentences_words():
    first, source = shuffle_story(STORY, "sentence", seed=0, story="s")
    assert first == shuffle_story(STORY, "sentence", seed=0, story="s")[0]
    assert first != list(STORY)
    assert shuffle_story(STORY, "sentence", seed=1, story="s")[0] != first
    assert shuffle_story(STORY, "sentence", seed=0, story="t")[0] != first  # each story its own permutation
    assert len(first) == len(STORY) and [STORY[i] for i in source] == first
    for original, shuffled in zip(_sentences(STORY), [first[a:b] for a, b in shuffle_units(STORY, "sentence").spans]):
        assert Counter(original) == Counter(shuffled)


def test_every_word_keeps_its_onset_slot():
    stimulus = stimulus_words({"s": STORY}, "shuffled", "sentence", seed=0)
    read, rows = stimulus.read["s"], stimulus.rows["s"]
    assert read != list(STORY) and stimulus.words["s"] == list(STORY)
    assert [read[r] for r in rows] == list(STORY)  # the row of word i holds word i, read in shuffled context
    features = {"s": np.arange(len(read))[:, None] * np.ones((1, 3))}  # row = reading position
    back = stimulus.in_story_order(features)["s"][:, 0].astype(int)
    assert [read[r] for r in back] == list(STORY)


def test_an_order_that_moves_no_word_is_the_identity():
    words = ["a", "a", "a."]
    _, source = shuffle_story(words, "sentence", seed=0, story="x")
    assert sorted(source) == [0, 1, 2]
    assert list(stimulus_words({"x": ["b", "b", "b"]}, "shuffled", "sentence", seed=5).rows["x"]) == [0, 1, 2]


def test_words_without_punctuation_are_shuffled_in_fixed_windows():
    words = [f"w{i}" for i in range(30)]
    units = shuffle_units(words, "sentence")
    assert not units.by_sentence
    assert units.spans == [(0, 12), (12, 24), (24, 30)] and SENTENCE_FALLBACK_WINDOW == 12
    assert shuffle_units(words, "window:5").spans == [(i, min(i + 5, 30)) for i in range(0, 30, 5)]
    shuffled, _ = shuffle_story(words, "window:5", seed=3, story="x")
    for start in range(0, 30, 5):
        assert sorted(shuffled[start:start + 5]) == sorted(words[start:start + 5])
    assert "no sentence punctuation" in describe_control({"x": words}, "sentence")
    assert describe_control({"a": STORY, "x": words}, "sentence").startswith("word order shuffled within 5 sentences of 1 stories; 1 without")


def test_the_shuffle_depends_on_the_story_not_on_the_order_stories_come_in():
    stories = {"a": STORY, "b": list(reversed(STORY))}
    forward = stimulus_words(stories, "shuffled", "sentence", seed=0).read
    backward = stimulus_words(dict(reversed(list(stories.items()))), "shuffled", "sentence", seed=0).read
    assert forward == backward
    plain = stimulus_words(stories, None, None, seed=0)
    assert plain.read == plain.words == {name: list(words) for name, words in stories.items()} and plain.rows is None


def _brain(**extra):
    return {"models": [{"family": "tinylm"}], "brain": [{"dataset": "simulated"}, {"dataset": "simulated", **extra}]}


def test_a_control_entry_gets_its_own_label_and_a_default_unit():
    config = parse_config(_brain(control="shuffled"))
    assert [entry_label(b) for b in config.brain] == ["simulated", "simulated+shuffled"]
    assert config.brain[1].shuffle == "sentence"
    assert "control" not in config.model_dump(mode="json")["brain"][0]  # unset: dumps (and hashes) as before


@pytest.mark.parametrize(("extra", "expected"), [
    ({}, "brain[1]: duplicate label 'simulated'"),
    ({"shuffle": "sentence"}, "brain[1].shuffle: applies only with 'control: shuffled'"),
    ({"control": "shuffled", "shuffle": "words"}, "brain[1].shuffle: 'words' is not a shuffle unit; allowed: sentence, window:N"),
    ({"control": "shuffled", "shuffle": "window:1"}, "brain[1].shuffle: 'window:1' is not a shuffle unit"),
    ({"control": "reversed"}, "brain[1].control: Input should be 'shuffled'"),
])
def test_control_mistakes_are_one_line(extra, expected):
    with pytest.raises(ConfigError) as error:
        parse_config(_brain(**extra), "c.yaml")
    assert str(error.value).startswith("c.yaml: ") and expected in str(error.value)


@pytest.fixture
def config(tmp_path, monkeypatch):
    activate(write_plugin_package(tmp_path / "site", "tinyplug", TINY_GPT_PLUGINS), monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "tinyplug")
    encoding = {"folds": 3, "alphas": [1, 10, 100]}
    return parse_config({
        "run": str(tmp_path / "run"),
        "cache": str(tmp_path / "cache"),
        "seed": 4,
        "models": [{"family": "tinygpt", "checkpoints": "all", "layers": [1]}],
        "brain": [{"dataset": "toybrain", "encoding": encoding},
                  {"dataset": "toybrain", "control": "shuffled", "shuffle": "window:6", "encoding": encoding}],
        "features": {"context_tokens": 32, "stride": 16, "batch_size": 4},
        "analyze": False,
    })


def test_the_provider_reads_shuffled_words_and_hands_rows_back_in_story_order(config):
    plan = make_plan(config, get_registry())
    provider = ActivationProvider(plan, "cpu", config.cache_dir())
    original, control = provider.stimulus("toybrain"), provider.stimulus("toybrain+shuffled")
    assert provider.words("toybrain+shuffled") == original.words  # one word per onset, in story order
    assert provider.row_words("toybrain+shuffled") == provider.row_words("toybrain")
    assert control.read == stimulus_words(original.words, "shuffled", "window:6", seed=4).read
    for name, words in original.words.items():
        read = control.read[name]
        assert read != words and [read[r] for r in control.rows[name]] == words
        for start in range(0, len(words), 6):
            assert Counter(read[start:start + 6]) == Counter(words[start:start + 6])
    notes = preflight(plan)
    assert any(n.startswith("brain[1] (toybrain): word order shuffled within windows of 6 words") for n in notes)


def test_a_sweep_with_the_control_has_a_second_brain_target_from_its_own_activations(config, tmp_path):
    summary = run_sweep(config, show_progress=False)
    assert summary.failed == 0, summary.errors
    results = RunStore(tmp_path / "run").results_frame()
    brain = results[(results.kind == "brain") & (results.metric == "r_mean") & (results.scope == "mean")]
    assert sorted(brain.target.unique()) == ["toybrain", "toybrain+shuffled"]
    assert len(brain[brain.target == "toybrain+shuffled"]) == 3  # one per checkpoint
    cells = RunStore(tmp_path / "run").cells_frame()
    assert set(cells.target) == {"toybrain", "toybrain+shuffled"}
    entries = sorted(p for p in (tmp_path / "cache" / "activations").iterdir() if not p.name.startswith("."))
    assert len(entries) == 6  # 3 checkpoints x (original, shuffled): the shuffle is part of the key
    from harness.features.cache import ActivationSet

    by_step: dict[int, list[ActivationSet]] = {}
    for path in entries:
        acts = ActivationSet(path)
        by_step.setdefault(acts.meta["step"], []).append(acts)
    for pair in by_step.values():
        a, b = (s.layer(1) for s in pair)
        assert a.keys() == b.keys() and all(a[n].shape == b[n].shape for n in a)
        assert not all(np.allclose(a[n], b[n]) for n in a)
    plan = make_plan(config, get_registry())
    provider = ActivationProvider(plan, "cpu", config.cache_dir())
    model, last = plan.models[0], plan.models[0].checkpoints[-1]
    control = provider.activations(model, last, "toybrain+shuffled", None)  # from the cache, rows back in story order
    raw = ActivationSet(control.path).layer(1)
    rows = provider.stimulus("toybrain+shuffled").rows
    assert all(np.array_equal(control.layer(1)[n], raw[n][rows[n]]) for n in raw)
    assert brain_controls(tmp_path / "run") == {
        "toybrain+shuffled": BrainControl("toybrain+shuffled", "shuffled", "window:6", "toybrain")}
