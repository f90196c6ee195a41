"""MEG through MNE: the simulated MEG dataset written as BIDS with mne-bids, read back by the megmasc loader."""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest

from harness import DataError, HarnessError, Modality
from harness.encoding import BrainScorer
from harness.encoding.settings import EncodingSettings
from harness_plugins.brain.megmasc import MEGMASC, MEGMASCOptions
from harness_plugins.brain.simmeg import NOTICE, TEST_STORY, SimulatedMEG, SimulatedMEGOptions

pytest.importorskip("mne_bids")

SMALL = dict(subjects=1, sessions=2, stories=4, words_per_story=150, sensors=6, sfreq=100.0, resample=50.0, snr=1.0)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    dataset = SimulatedMEG(SimulatedMEGOptions(cache=str(tmp_path_factory.mktemp("simmeg")), **SMALL))
    dataset.ensure()
    return dataset


def test_written_as_bids_and_read_back_through_megmasc(simulated):
    bids = simulated.root / "bids"
    assert (bids / "participants.tsv").is_file()
    assert sorted(p.name for p in (bids / "sub-01" / "ses-1" / "meg").glob("*task-0*")) == [
        "sub-01_ses-1_task-0_channels.tsv", "sub-01_ses-1_task-0_events.json", "sub-01_ses-1_task-0_events.tsv",
        "sub-01_ses-1_task-0_meg.fif", "sub-01_ses-1_task-0_meg.json"]
    reader = MEGMASC(MEGMASCOptions(root=str(bids), test_stories=[TEST_STORY], sfreq=50.0))
    assert reader.modality is Modality.MEG and simulated.modality is Modality.MEG
    assert reader.subjects() == ["01"]
    train, test = reader.split()
    assert test == [TEST_STORY] and len(train) == 3
    truth = simulated.ground_truth_features()
    for name, story in reader.stories().items():
        assert len(story.words) == len(truth[name])
        assert story.onsets[0] == 0.0 and np.all(np.diff(story.onsets) > 0)
    data = reader.load_subject("01")
    for name in train + test:
        times, onsets = data.times[name], data.word_onsets[name]
        assert data.responses[name].shape == (len(times), 6)
        np.testing.assert_allclose(np.diff(times), 1 / 50.0)
        assert onsets[0] > 1.9  # session 0 started recording 2 s or more before the story
    assert data.noise_ceiling is not None and 0.3 < float(data.noise_ceiling.mean()) <= 1.0
    assert simulated.notice() == NOTICE and "simulation" in NOTICE
    assert simulated.check() and simulated.data_hash()


def test_ground_truth_features_are_recovered(simulated):
    scorer = BrainScorer(simulated, EncodingSettings(lags_s=(0.0, 0.8), alphas=[1.0, 10.0, 100.0, 1000.0], folds=3))
    out = scorer.score(simulated.ground_truth_features())
    values = {(s.metric, s.scope): s.value for s in out.scores}
    assert values[("r_mean", "01")] > 0.2
    assert values[("r_mean_norm", "01")] > 0.5
    assert 0.05 <= values[("peak_lag_s", "01")] <= 0.5
    noise = {k: np.random.default_rng(1).normal(size=v.shape) for k, v in simulated.ground_truth_features().items()}
    chance = {(s.metric, s.scope): s.value for s in scorer.score(noise).scores}
    assert chance[("r_mean", "01")] < values[("r_mean", "01")] - 0.15


def test_sessions_on_their_own_clocks_are_aligned(simulated, tmp_path):
    """Session 1 started later than session 0: mapped by word onsets, the averaged responses stay sharp."""
    one = MEGMASC(MEGMASCOptions(root=str(simulated.root / "bids"), test_stories=[TEST_STORY], sessions=["1"], sfreq=50.0))
    both = MEGMASC(MEGMASCOptions(root=str(simulated.root / "bids"), test_stories=[TEST_STORY], sfreq=50.0))
    a, b = one.load_subject("01"), both.load_subject("01")
    assert a.word_onsets["sim01"][0] == pytest.approx(b.word_onsets["sim01"][0] + 1.5, abs=1e-6)
    assert a.noise_ceiling is None


def test_megmasc_mistakes_are_one_line(simulated, tmp_path):
    with pytest.raises(DataError, match="not found; fetch the dataset with `harness data fetch megmasc`"):
        MEGMASC(MEGMASCOptions(root=str(tmp_path / "nowhere"))).split()
    copy = tmp_path / "bids"
    shutil.copytree(simulated.root / "bids", copy)
    with pytest.raises(DataError, match=r"no recording of story 'simtst' \(did you mean 'simtest'"):
        MEGMASC(MEGMASCOptions(root=str(copy), test_stories=["simtst"])).split()
    with pytest.raises(DataError, match="no recordings of subject '02'"):
        MEGMASC(MEGMASCOptions(root=str(copy), subjects=["02"])).subjects()
    events = copy / "sub-01" / "ses-0" / "meg" / "sub-01_ses-0_task-1_events.tsv"
    lines = events.read_text().splitlines()
    lines[3] = lines[3].replace("{'story'", "{story")
    events.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"task-1_events.tsv: line 4: trial_type is not a dict literal"):
        MEGMASC(MEGMASCOptions(root=str(copy))).split()


@pytest.mark.skipif(importlib.util.find_spec("osfclient") is not None, reason="osfclient installed: fetch would download")
def test_fetch_without_a_client_says_what_to_install(tmp_path):
    with pytest.raises(HarnessError, match="megmasc fetch needs osfclient"):
        MEGMASC.fetch(tmp_path, [])


def test_a_split_fif_is_one_recording_with_one_events_file(tmp_path):
    """A FIF over 2 GB is saved in parts (``_split-01_meg.fif``, ...): its events file is the recording's, not a part's."""
    from harness_plugins.brain.megmasc import _events_of, _raw_files

    parts = [tmp_path / f"sub-01_ses-0_task-0_split-0{n}_meg.fif" for n in (1, 2)]
    for path in [*parts, tmp_path / "sub-01_ses-0_task-0_meg.json", tmp_path / "sub-01_ses-0_task-1_meg.fif"]:
        path.write_bytes(b"")
    events = tmp_path / "sub-01_ses-0_task-0_events.tsv"
    assert [_events_of(p) for p in parts] == [events, events]
    assert _raw_files(events) == parts
