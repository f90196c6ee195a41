"""The simulated dataset: written in the LeBel layout, read back through the lebel2023 loader."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from harness_plugins.brain.lebel2023 import LeBel2023
from harness_plugins.brain.simulated import TEST_STORY, Simulated

SMALL = {"voxels": 100, "stories": 5, "words_per_story": 300, "subjects": 2}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("sim-cache"))


@pytest.fixture(scope="module")
def dataset(cache):
    return Simulated(Simulated.Options(cache=cache, **SMALL))


def test_written_in_the_lebel_layout(dataset):
    root = dataset.ensure()
    derivative = root / "derivative"
    respdict = json.loads((derivative / "respdict.json").read_text())
    assert sorted(respdict) == ["sim01", "sim02", "sim03", "sim04", TEST_STORY]
    assert (derivative / "TextGrids" / "sim01.TextGrid").is_file()
    with h5py.File(derivative / "preprocessed_data" / "SIM01" / "sim02.hf5", "r") as handle:
        assert handle["data"].shape == (respdict["sim02"] - 20, 100)
    with h5py.File(derivative / "preprocessed_data" / "SIM02" / f"{TEST_STORY}.hf5", "r") as handle:
        assert handle["repeats"].shape[0] == 4
    # the plain loader reads it too
    plain = LeBel2023(LeBel2023.Options(root=str(root)))
    assert plain.split() == (["sim01", "sim02", "sim03", "sim04"], [TEST_STORY])
    assert plain.subjects() == ["SIM01", "SIM02"]
    assert isinstance(dataset.reader, LeBel2023)


def test_stimuli_are_heldout_text_with_plausible_timing(dataset):
    from harness_plugins.brain.simulated import _corpus

    heldout = " ".join(_corpus().heldout)
    for story in dataset.stories().values():
        assert " ".join(story.words[:12]) in heldout
        rate = len(story.words) / (story.offsets[-1] - story.onsets[0])
        assert 1.8 < rate < 3.2
        assert np.all(story.offsets > story.onsets) and np.all(np.diff(story.onsets) > 0)


def test_ground_truth_beside_the_data(dataset):
    features = dataset.ground_truth_features()
    stories = dataset.stories()
    assert set(features) == set(stories)
    for name, story in stories.items():
        assert features[name].shape == (len(story.words), 16 + 3)
    truth = dataset.ground_truth("SIM01")
    assert truth["weights"].shape == (19, 100) and truth["ceiling"].shape == (100,)
    measured = dataset.load_subject("SIM01").noise_ceiling
    assert np.corrcoef(measured, truth["ceiling"])[0, 1] > 0.7
    settings = json.loads((dataset.ground_truth_dir / "settings.json").read_text())
    assert "not evidence about brains" in settings["note"]


def test_deterministic_per_seed(dataset, cache, tmp_path):
    again = Simulated(Simulated.Options(cache=str(tmp_path), **SMALL))
    assert again.settings_hash() == dataset.settings_hash()
    a = dataset.load_subject("SIM02").responses["sim03"]
    b = again.load_subject("SIM02").responses["sim03"]
    np.testing.assert_array_equal(a, b)
    other = Simulated(Simulated.Options(cache=str(tmp_path), seed=1, **SMALL))
    assert other.settings_hash() != dataset.settings_hash()
    assert other.load_subject("SIM02").responses["sim01"].shape[1] == 100


def test_tunings_vary_smoothly_across_the_sheet(dataset):
    truth = dataset.ground_truth("SIM01")
    coords, weights = truth["coords"], truth["weights"]
    distance = np.abs(coords[:, None, :] - coords[None, :, :]).sum(-1)
    similarity = np.corrcoef(weights.T)
    assert similarity[distance == 1].mean() > similarity[distance >= 6].mean() + 0.3


def test_settings_hash_is_stable():
    """Pinned: a new value rewrites every simulated dataset on disk (bump SIM_VERSION on purpose)."""
    assert Simulated(Simulated.Options()).settings_hash() == "e90365661e9ddb89"
    assert Simulated(Simulated.Options(seed=3, snr=0.5, **SMALL)).settings_hash() == "c03de492680eb231"


def test_the_words_are_annotated_with_the_ground_truth_features(dataset):
    from harness import WordAnnotations
    from harness_plugins.metrics.probe import Probe

    assert isinstance(dataset, WordAnnotations)
    annotations = dataset.word_annotations()
    assert set(annotations) == {"embedding", "unigram_surprisal", "bigram_surprisal"}
    features, stories = dataset.ground_truth_features(), dataset.stories()
    for name, story in stories.items():
        assert annotations["embedding"].values[name].shape == (len(story.words), 16)
        np.testing.assert_array_equal(annotations["bigram_surprisal"].values[name], features[name][:, 18])
    # the probe reads them through the metric context: the features themselves as a layer recover them
    from harness import Checkpoint, MetricContext

    names = sorted(stories)
    words = tuple(w for n in names for w in stories[n].words)
    labels = tuple(n for n in names for _ in stories[n].words)
    layer = np.concatenate([features[n] for n in names])
    context = MetricContext(Checkpoint(1, 1), 0, 0, lambda: None, lambda: None, words=words, stories=labels, annotations=annotations)
    scores = {s.metric: s.value for s in Probe(Probe.Options(properties=["word_length"])).compute(layer, context)}
    assert scores["probe_r/embedding"] > 0.99 and scores["probe_r/bigram_surprisal"] > 0.99
    # a 19-column layer cannot memorise a random value per word type: the control task scores far lower
    assert scores["probe_selectivity/embedding"] > 0.5
