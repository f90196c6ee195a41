"""Narratives' phones (PhoneTimings) from its Gentle alignments, in the real align.json format, and the nuisance
feature phoneme_rate on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness import DataError
from harness.encoding import BrainScorer
from harness.encoding.settings import EncodingSettings
from harness_plugins.brain.narratives import Narratives, NarrativesOptions
from tests.support.narratives_fixture import STORIES, gentle_phones, write_narratives

pytest.importorskip("nibabel")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return write_narratives(tmp_path_factory.mktemp("narratives") / "ds002345")


def _aligned(tree: Path, story: str) -> list[dict]:
    return json.loads((tree / "stimuli" / "gentle" / story / "align.json").read_text())["words"]


def test_phones_follow_each_aligned_word_from_its_start(tree):
    dataset = Narratives(NarrativesOptions(root=str(tree)))
    phones = dataset.phones()
    assert set(phones) == set(STORIES)
    pieman, words = phones["pieman"], _aligned(tree, "pieman")
    first = words[0]
    n = len(first["phones"])
    assert pieman.labels[:n] == tuple(p["phone"] for p in gentle_phones(first["word"], 0.2))
    np.testing.assert_allclose(pieman.onsets[:n], first["start"] + 0.2 / n * np.arange(n))
    np.testing.assert_allclose(pieman.offsets[n - 1], first["end"])  # the durations fill the word
    assert words[7]["case"] == "not-found-in-audio" and words[23]["alignedWord"] == "<unk>"
    known = [w for w in words if w["case"] == "success" and w["alignedWord"] != "<unk>"]
    assert len(pieman.labels) == sum(len(w["phones"]) for w in known)  # the unknown word's oov_S is left out
    assert not any(label.startswith("oov") for label in pieman.labels)
    assert np.all(pieman.offsets > pieman.onsets)
    story = dataset.stories()["pieman"]  # on the words' clock: within the story's words
    assert story.onsets[0] <= pieman.onsets[0] and pieman.offsets[-1] <= story.offsets[-1] + 1e-9


def test_phoneme_rate_is_a_nuisance_band_on_narratives(tree):
    dataset = Narratives(NarrativesOptions(root=str(tree)))
    rate = {s: np.ones((len(st.words), 1), dtype=np.float32) for s, st in dataset.stories().items()}
    settings = EncodingSettings(alphas=[1.0, 10.0, 100.0], folds=2, nuisance=["word_rate", "phoneme_rate"],
                                nuisance_ratios=[1.0])
    values = {(s.metric, s.scope): s.value for s in BrainScorer(dataset, settings).score(rate).scores}
    assert values[("r_nuisance", "mean")] > 0.2  # the planted word-rate signal, found by the nuisance band
    assert ("r2_unique", "mean") in values


@pytest.mark.parametrize(("phones", "match"), [
    ([{"phone": "dh_B"}], r"align.json: word 0 \('the'\) is aligned but its start or phones .* are not readable"),
    ([{"phone": "dh_B", "duration": -0.1}], r"align.json: word 0 \('the'\) has a phone of negative duration"),
    (None, r"align.json: no aligned word has phones; the nuisance feature phoneme_rate needs them"),
])
def test_unreadable_phones_are_one_line_naming_the_file(tmp_path, phones, match):
    root = write_narratives(tmp_path / "ds002345")
    path = root / "stimuli" / "gentle" / "lucy" / "align.json"
    data = json.loads(path.read_text())
    for i, word in enumerate(data["words"]):
        if phones is None:
            word.pop("phones", None)
            word["phones"] = []
        elif i == 0:
            word.update(word="the", case="success", start=1.0, end=1.2, phones=phones)
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=match):
        Narratives(NarrativesOptions(root=str(root))).phones()
