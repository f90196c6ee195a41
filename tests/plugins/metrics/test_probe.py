"""Linear probes of word properties: planted, shuffled and memorised properties, and the word properties."""

from __future__ import annotations

import numpy as np
import pytest

from harness import Checkpoint, MetricContext, WordAnnotation
from harness.util.errors import DataError
from harness_plugins.metrics.probe import Probe, Target
from harness_plugins.metrics.probefit import control_labels, group_folds
from harness_plugins.metrics.wordprops import (
    bigram_surprisal,
    log_frequency,
    part_of_speech,
    sentence_position,
    word_length,
)


def context(words=None, stories=None, seed: int = 0) -> MetricContext:
    return MetricContext(Checkpoint(1, 1), layer=0, seed=seed, previous=lambda: None, final=lambda: None,
                       words=words, stories=stories)


def corpus(n_stories: int = 6, words_per_story: int = 300, vocabulary: int = 120, seed: int = 0):
    """Random word tokens over a vocabulary (Zipf-like), in stories, with sentence punctuation."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{'x' * (i % 7)}{i}" for i in range(vocabulary)]
    p = 1.0 / np.arange(1, vocabulary + 1)
    ids = rng.choice(vocabulary, size=n_stories * words_per_story, p=p / p.sum())
    words = [vocab[i] + ("." if rng.random() < 0.1 else "") for i in ids]
    stories = [f"story{j}" for j in range(n_stories) for _ in range(words_per_story)]
    return ids, words, stories


def probe(**options) -> Probe:
    return Probe(Probe.Options(**options))


def scores_of(result) -> dict[str, float]:
    return {s.metric: s.value for s in result}


def test_a_planted_linear_property_is_recovered_and_a_shuffled_one_scores_at_chance():
    rng = np.random.default_rng(1)
    ids, words, stories = corpus()
    n = len(ids)
    planted = rng.normal(size=n)  # token-level, not a function of word identity
    x = rng.normal(size=(n, 64))
    x[:, :3] += np.outer(planted, [4.0, -2.0, 1.2])  # r ceiling 0.98 against the unit noise
    shuffled = rng.permutation(planted)
    result = scores_of(probe().score(x, {"planted": Target(planted), "shuffled": Target(shuffled)}, [str(i) for i in ids], stories, context()))
    assert result["probe_r/planted"] > 0.9
    assert abs(result["probe_r/shuffled"]) < 0.1
    assert abs(result["probe_control_r/planted"]) < 0.15  # identity says nothing about a token-level property
    assert result["probe_selectivity/planted"] > 0.75


def test_selectivity_is_near_zero_when_the_probe_memorises_word_identity():
    rng = np.random.default_rng(2)
    ids, words, stories = corpus(vocabulary=60)
    embedding = rng.normal(size=(60, 96))  # one random vector per word type: identity, nothing else
    x = embedding[ids] + 0.05 * rng.normal(size=(len(ids), 96))
    per_type = rng.normal(size=60)  # a property that is an arbitrary function of word identity
    result = scores_of(probe().score(x, {"identity": Target(per_type[ids])}, [str(i) for i in ids], stories, context()))
    assert result["probe_r/identity"] > 0.8
    assert result["probe_control_r/identity"] > 0.6
    assert abs(result["probe_selectivity/identity"]) < 0.2


def test_compute_scores_every_property_from_the_words():
    rng = np.random.default_rng(3)
    ids, words, stories = corpus()
    lengths = word_length(words)
    x = rng.normal(size=(len(words), 32))
    x[:, 0] += lengths
    result = probe().compute(x, context(tuple(words), tuple(stories)))
    names = {s.metric for s in result}
    for prop in ("word_length", "log_frequency", "sentence_position", "surprisal"):
        assert {f"probe_r/{prop}", f"probe_control_r/{prop}", f"probe_selectivity/{prop}"} <= names
    values = scores_of(result)
    assert values["probe_r/word_length"] > 0.9
    assert all(s.stderr is not None and np.isfinite(s.value) for s in result)
    again = scores_of(probe().compute(x, context(tuple(words), tuple(stories))))
    assert again == values  # seeded


def test_without_words_the_probe_says_what_it_needs():
    with pytest.raises(DataError, match="words"):
        probe().compute(np.zeros((10, 4)), MetricContext(Checkpoint(1, 1), 0, 0, lambda: None, lambda: None))
    with pytest.raises(DataError, match="rows"):
        probe().compute(np.zeros((10, 4)), context(("a",) * 9, ("s",) * 9))


def test_word_properties():
    words = ["The", "cat,", "sat.", "Then", "it", "left!", "Who?"]
    stories = ["a"] * 5 + ["b"] * 2
    assert word_length(words).tolist() == [3, 3, 3, 4, 2, 4, 3]
    assert sentence_position(words, stories).tolist() == [0, 1, 2, 0, 1, 0, 0]  # a new story starts a sentence
    assert sentence_position(["no", "punctuation"], ["a", "a"]) is None
    freq = log_frequency(["the", "The,", "zzqxv"])
    assert freq[0] == freq[1] > 7 and freq[2] == 0
    surprisal = bigram_surprisal(["of", "the", "of", "the", "the", "of"], ["a", "a", "b", "b", "c", "c"])
    assert np.all(surprisal > 0)
    assert surprisal[3] < bigram_surprisal(["of", "the"], ["a", "a"])[1]  # "of the" seen in story a helps story b


def test_control_labels_are_a_function_of_the_word_type():
    rng = np.random.default_rng(0)
    types = ["a", "b", "a", "c", "b", "a"]
    labels = control_labels(np.arange(6.0), types, rng)
    assert labels[0] == labels[2] == labels[5] and labels[1] == labels[4]
    assert set(labels.tolist()) <= set(range(6))


def test_folds_hold_out_whole_stories():
    folds = group_folds(["b", "a", "a", "c", "b"], 5)
    assert [f.tolist() for f in folds] == [[1, 2], [0, 4], [3]]
    assert [len(f) for f in group_folds(["s"] * 10, 3)] == [4, 3, 3]


# ---------------------------------------------------------------------------- categorical properties


def test_a_planted_category_is_recovered_and_a_shuffled_one_scores_at_chance():
    rng = np.random.default_rng(4)
    ids, words, stories = corpus()
    n = len(ids)
    planted = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])  # token-level, imbalanced
    x = rng.normal(size=(n, 48))
    x[:, :3] += 2.5 * np.eye(3)[planted]
    shuffled = rng.permutation(planted)
    result = {s.metric: s for s in probe().score(x, {"planted": Target(planted, True), "shuffled": Target(shuffled, True)},
                                                  [str(i) for i in ids], stories, context())}
    assert result["probe_acc/planted"].value > 0.9
    assert result["probe_acc_corrected/planted"].value > 0.75
    # chance is the majority class (0.6), so a shuffled label's accuracy sits there and its corrected accuracy at 0
    assert result["probe_acc/shuffled"].chance == pytest.approx(0.6, abs=0.03)
    assert result["probe_acc/shuffled"].value == pytest.approx(result["probe_acc/shuffled"].chance, abs=0.03)
    assert abs(result["probe_acc_corrected/shuffled"].value) < 0.06
    assert result["probe_selectivity/planted"].value > 0.2  # identity says little about a token-level category


def test_categorical_selectivity_is_near_zero_when_the_probe_memorises_word_identity():
    rng = np.random.default_rng(5)
    ids, words, stories = corpus(vocabulary=60)
    embedding = rng.normal(size=(60, 96))
    x = embedding[ids] + 0.05 * rng.normal(size=(len(ids), 96))
    per_type = rng.choice(["a", "b", "c", "d"], size=60)  # an arbitrary category per word type
    result = scores_of(probe().score(x, {"identity": Target(per_type[ids], True)}, [str(i) for i in ids], stories, context()))
    assert result["probe_acc/identity"] > 0.8
    assert result["probe_control_acc/identity"] > 0.7
    assert abs(result["probe_selectivity/identity"]) < 0.15


def test_a_constant_property_is_left_out():
    rng = np.random.default_rng(6)
    ids, words, stories = corpus(n_stories=3, words_per_story=50)
    x = rng.normal(size=(len(ids), 8))
    result = probe().score(x, {"same": Target(np.ones(len(ids))), "one_class": Target(np.array(["N"] * len(ids)), True)},
                           [str(i) for i in ids], stories, context())
    assert result == []


def test_part_of_speech_tags_words_offline():
    words = "The old man sat on the bench, and quickly ate two apples. \"Who are you?\" she asked. --".split()
    tags = part_of_speech(words, ["a"] * len(words)).tolist()
    assert tags == ["DET", "ADJ", "NOUN", "VERB", "ADP", "DET", "NOUN", "CONJ", "ADV", "VERB", "NUM", "NOUN",
                    "PRON", "VERB", "PRON", "PRON", "VERB", "PUNCT"]


# ---------------------------------------------------------------------------- dataset annotations


def annotated_context(words, stories, annotations):
    return MetricContext(Checkpoint(1, 1), layer=0, seed=0, previous=lambda: None, final=lambda: None,
                         words=tuple(words), stories=tuple(stories), annotations=annotations)


def per_story(values, stories):
    return {name: values[np.asarray(stories) == name] for name in dict.fromkeys(stories)}


def test_a_datasets_annotations_are_probed_beside_the_word_properties():
    rng = np.random.default_rng(7)
    ids, words, stories = corpus()
    n = len(ids)
    vector = rng.normal(size=(n, 3))
    category = rng.choice(["x", "y"], size=n)
    x = rng.normal(size=(n, 32))
    x[:, :3] += 3 * vector
    x[:, 3] += 3 * (category == "x")
    annotations = {"planted_vector": WordAnnotation(per_story(vector, stories)),
                   "planted_class": WordAnnotation(per_story(category, stories), categorical=True)}
    result = scores_of(probe(properties=["word_length"]).compute(x, annotated_context(words, stories, annotations)))
    assert set(result) == {f"{m}/word_length" for m in ("probe_r", "probe_control_r", "probe_selectivity")} | {
        f"{m}/planted_vector" for m in ("probe_r", "probe_control_r", "probe_selectivity")} | {
        f"{m}/planted_class" for m in ("probe_acc", "probe_acc_corrected", "probe_control_acc", "probe_selectivity")}
    assert result["probe_r/planted_vector"] > 0.9  # the mean over its three columns
    assert result["probe_acc_corrected/planted_class"] > 0.8
    off = scores_of(probe(properties=["word_length"], annotations=False).compute(x, annotated_context(words, stories, annotations)))
    assert set(off) == {f"{m}/word_length" for m in ("probe_r", "probe_control_r", "probe_selectivity")}


def test_annotations_that_do_not_fit_the_words_are_one_line_errors():
    ids, words, stories = corpus(n_stories=2, words_per_story=40)
    x = np.random.default_rng(0).normal(size=(len(ids), 8))
    short = {"story0": np.zeros(40), "story1": np.zeros(39)}
    with pytest.raises(DataError, match="'bad' has 39 values for the 40 words of story 'story1'"):
        probe().compute(x, annotated_context(words, stories, {"bad": WordAnnotation(short)}))
    with pytest.raises(DataError, match="no values for story 'story1'"):
        probe().compute(x, annotated_context(words, stories, {"bad": WordAnnotation({"story0": np.zeros(40)})}))
    with pytest.raises(DataError, match="'word_length' has the name of a word property"):
        probe().compute(x, annotated_context(words, stories, {"word_length": WordAnnotation({"story0": np.zeros(40), "story1": np.zeros(40)})}))
    text = {"story0": np.array(["a"] * 40), "story1": np.array(["b"] * 40)}
    with pytest.raises(DataError, match="'text' is continuous"):
        probe().compute(x, annotated_context(words, stories, {"text": WordAnnotation(text)}))


def test_word_properties_are_computed_once_per_stimulus_and_read_back_the_same(monkeypatch):
    """propcache: the second probe (another sweep, another Ray worker) reads the first one's properties from disk."""
    from harness_plugins.metrics import probe as probe_module

    _, words, stories = corpus(n_stories=3, words_per_story=60)
    words = [w if i % 9 else "Then" for i, w in enumerate(words)]  # some real words for the tagger
    first = probe().properties(words, stories)
    computed = probe().computed_properties(words, stories)
    assert list(first) == list(computed)
    for name, target in computed.items():
        assert first[name].categorical == target.categorical
        expected = target.values.astype(str) if target.categorical else target.values
        np.testing.assert_array_equal(first[name].values, expected)

    def refuse(*_args, **_kwargs):
        raise AssertionError("computed again")

    tagger = probe_module.part_of_speech
    monkeypatch.setattr(probe_module, "part_of_speech", refuse)
    again = probe().properties(words, stories)  # a new Probe: read from disk, nothing tagged
    assert all(np.array_equal(again[n].values, first[n].values) for n in first)
    with pytest.raises(AssertionError, match="computed again"):
        probe().properties(words[:-1], stories[:-1])  # other words: computed
    with pytest.raises(AssertionError, match="computed again"):
        probe(language="de").properties(words, stories)  # other settings: computed
    assert "part_of_speech" not in probe(properties=["word_length"]).properties(words, stories)

    from harness_plugins.metrics.propcache import properties_path
    stored = properties_path(words, stories, {"properties": list(Probe.Options().properties), "language": "en"})
    assert stored.is_file()
    stored.write_bytes(b"not a zip file")  # damaged: computed again and replaced
    monkeypatch.setattr(probe_module, "part_of_speech", tagger)
    assert np.array_equal(probe().properties(words, stories)["part_of_speech"].values, first["part_of_speech"].values)
    assert stored.stat().st_size > 100


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu():
    """On a GPU the probes run in float32 (ridge in float64 on the CPU): the same scores to within rounding."""
    rng = np.random.default_rng(7)
    ids, words, stories = corpus()
    n = len(ids)
    planted = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    x = rng.normal(size=(n, 48))
    x[:, :3] += 1.5 * np.eye(3)[planted]
    x[:, 3] += word_length(words)
    targets = {"planted": Target(planted, True), "length": Target(word_length(words))}
    types = [str(i) for i in ids]
    cpu = {s.metric: s.value for s in probe().score(x, targets, types, stories, context())}
    gpu_context = MetricContext(Checkpoint(1, 1), layer=0, seed=0, previous=lambda: None, final=lambda: None, device="cuda")
    gpu = {s.metric: s.value for s in probe().score(x, targets, types, stories, gpu_context)}
    assert gpu.keys() == cpu.keys()
    for metric, value in cpu.items():
        assert gpu[metric] == pytest.approx(value, abs=2e-3 if "_r/" in metric or "length" in metric else 0.01), metric
