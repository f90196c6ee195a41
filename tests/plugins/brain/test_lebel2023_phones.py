"""LeBel 2023's phone tiers (PhoneTimings) and what encoding.nuisance needs of a dataset: one line and exit 2."""

from __future__ import annotations

import numpy as np
import pytest

from harness_plugins.brain.lebel2023 import LeBel2023
from harness_plugins.brain.textgrid import write_textgrid
from tests.support.damage import refused_in_one_line
from tests.support.lebel_fixture import WORDS, grid_tiers, write_fixture
from tests.support.plugin_packages import tinygpt_beside, tinygpt_config


def test_phones_come_from_the_phone_tier(tmp_path):
    write_fixture(tmp_path / "ds")
    phones = LeBel2023(LeBel2023.Options(root=str(tmp_path / "ds"))).phones()
    assert set(phones) == {"alpha", "beta", "wheretheressmoke"}
    alpha = phones["alpha"]
    assert alpha.labels[:2] == tuple(w.upper()[:2] for w in WORDS[:2])  # the fixture's phone per word
    assert len(alpha.labels) == len(alpha.onsets) == len(alpha.offsets)
    assert np.all(alpha.offsets > alpha.onsets)


@pytest.mark.parametrize(("nuisance", "damage", "match"), [
    (["word_rate", "phoneme_rate"], "no-phone-tier", "beta.TextGrid: no phone tier"),
    (["word_rat"], None, "unknown nuisance feature 'word_rat'"),
])
def test_nuisance_mistakes_are_one_line_before_anything_is_written(tmp_path, capfd, nuisance, damage, match):
    write_fixture(tmp_path / "ds")
    if damage:
        write_textgrid(tmp_path / "ds/derivative/TextGrids/beta.TextGrid", {"word": grid_tiers(WORDS)["word"]})
    with tinygpt_beside(tmp_path, "lebel2023"):
        config = tinygpt_config(tmp_path, {"dataset": "lebel2023", "options": {"root": str(tmp_path / "ds")},
                                           "encoding": {"folds": 2, "alphas": [1, 10], "nuisance": nuisance}})
        for _, line in refused_in_one_line(config, capfd):
            assert match in line, line
    assert not (tmp_path / "run").exists()
