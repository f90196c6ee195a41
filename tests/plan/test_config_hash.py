"""Cell hashes of fMRI brain entries are pinned: adding M/EEG settings must not recompute stored cells."""

from __future__ import annotations

import pytest

from harness.encoding.settings import EncodingSettings
from harness.plan.config import BrainEntry
from harness.util.digest import settings_digest


def _entry_digest(entry: dict) -> str:
    """The brain entry's part of a cell's settings, hashed as the planner hashes it."""
    return settings_digest(BrainEntry.model_validate(entry).model_dump(mode="json", exclude={"label"}))


@pytest.mark.parametrize(
    ("entry", "pinned"),
    [  # digests computed by the harness before M/EEG support (main at df67542)
        ({"dataset": "simulated"}, "02e5bd4a1a1c2232"),
        ({"dataset": "simulated", "encoding": {"delays": [1, 2, 3, 4]}}, "02e5bd4a1a1c2232"),
        ({"dataset": "lebel2023", "options": {"subjects": ["UTS01"]},
          "encoding": {"delays": [1, 2, 3], "alphas": [1.0, 10.0], "permutations": 19}}, "aa4e50d5e88864de"),
    ],
)
def test_fmri_entries_hash_as_before(entry, pinned):
    assert _entry_digest(entry) == pinned


def test_new_settings_change_the_hash_only_when_set():
    base = _entry_digest({"dataset": "simulated"})
    for encoding in ({"delays_s": [2, 4, 6, 8]}, {"lags_s": [0.0, 0.5]}, {"pca": 20}, {"permutation_block_s": 30}):
        assert _entry_digest({"dataset": "simulated", "encoding": encoding}) != base, encoding
    assert _entry_digest({"dataset": "simulated", "encoding": {"lags_s": [0.0, 0.8], "pca": None}}) == base


def test_dump_round_trips():
    for settings in (EncodingSettings(), EncodingSettings(delays=[0, 2]), EncodingSettings(delays_s=[1.5, 3.0], pca=5),
                     EncodingSettings(lags_s=(-0.1, 0.6), permutation_block_s=10.0)):
        dumped = settings.model_dump(mode="json")
        assert EncodingSettings.model_validate(dumped).model_dump(mode="json") == dumped
        assert not ("delays" in dumped and "delays_s" in dumped)


def test_delays_in_scans_or_seconds():
    assert EncodingSettings().delay_seconds(2.0045) == [d * 2.0045 for d in (1, 2, 3, 4)]
    assert EncodingSettings(delays=[0, 2]).delay_seconds(1.5) == [0.0, 3.0]
    assert EncodingSettings(delays_s=[2, 5]).delay_seconds(1.5) == [2.0, 5.0]


def test_permutation_blocks():
    assert EncodingSettings().permutation_block(1.5, recording=False) == 10  # scans, as before
    assert EncodingSettings().permutation_block(0.01, recording=True) == 2000  # 20 s at 100 Hz
    assert EncodingSettings(permutation_block_s=15).permutation_block(1.5, recording=False) == 10
