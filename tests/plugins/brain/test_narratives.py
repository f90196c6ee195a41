"""Narratives (ds002345): a BIDS tree in the real formats (GIfTI/NIfTI by nibabel, Gentle align.json,
participants.tsv, scan_exclude.json) read back through the narratives loader, and a small sweep."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from harness import DataError, HarnessError, torch_threads
from harness.cli import main
from harness.encoding import BrainScorer
from harness.encoding.settings import EncodingSettings
from harness.plan.config import parse_config
from harness.sweep.driver import run_sweep
from harness_plugins.brain.narratives import Narratives, NarrativesOptions, fetch_patterns
from tests.support.narratives_fixture import STORIES, TR, VERTICES, VOCABULARY, write_narratives

nib = pytest.importorskip("nibabel")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return write_narratives(tmp_path_factory.mktemp("narratives") / "ds002345")


def test_subjects_stories_and_exclusions_from_the_metadata(tree):
    dataset = Narratives(NarrativesOptions(root=str(tree)))
    assert dataset.split() == (["lucy", "pieman"], ["tunnel"])  # test: the last story found, alphabetically
    assert dataset.subjects() == ["sub-001", "sub-002"]  # sub-003's tunnel scan is excluded; sub-004 heard pieman only
    assert dataset.scans["pieman"]["sub-001"].name == "sub-001_task-pieman_run-2"  # run-1 excluded
    assert sorted(dataset.excluded) == ["sub-001_task-pieman_run-1", "sub-003_task-tunnel"]
    pieman_only = Narratives(NarrativesOptions(root=str(tree), stories=["pieman"], test_stories=["lucy"]))
    assert pieman_only.split() == (["pieman"], ["lucy"]) and pieman_only.subjects() == ["sub-001", "sub-002", "sub-003"]


def test_words_and_kept_volumes_on_the_audio_clock(tree):
    dataset = Narratives(NarrativesOptions(root=str(tree)))
    stories = dataset.stories()
    pieman = stories["pieman"]
    assert len(pieman.words) == STORIES["pieman"][4] and set(pieman.words) <= set(VOCABULARY)
    assert np.all(np.diff(pieman.onsets) >= 0) and np.all(pieman.offsets >= pieman.onsets)
    aligned = json.loads((tree / "stimuli" / "gentle" / "pieman" / "align.json").read_text())["words"]
    lost = aligned[7]
    assert lost["case"] == "not-found-in-audio"
    assert aligned[6]["end"] <= pieman.onsets[7] <= aligned[8]["start"]  # timed between its neighbours
    data = dataset.load_subject("sub-002")
    for story, (_, audio, onset, seconds, _) in STORIES.items():
        times, responses = data.times[story], data.responses[story]
        index = responses[:, 0].astype(int)  # vertex 0 holds the volume index
        np.testing.assert_allclose(times, (index + 0.5) * TR - audio)
        assert index[0] == math.ceil((onset + 6 * TR) / TR - 0.5)  # first volume centred after onset + trim_start
        assert times[-1] <= onset + seconds - audio < times[-1] + TR
        assert responses.shape[1] == 2 * VERTICES
    notes = dataset.check()
    assert notes[0].startswith("2 subjects x 3 stories (2 train, 1 test), 24 vertices (afni-smooth, fsaverage6); 2 scans excluded")
    assert any("words not found in the audio by Gentle" in n for n in notes)
    assert dataset.data_hash()


def test_planted_responses_are_found(tree):
    dataset = Narratives(NarrativesOptions(root=str(tree)))
    stories = dataset.stories()
    rate = {s: np.ones((len(st.words), 1), dtype=np.float32) for s, st in stories.items()}  # word rate, once resampled
    out = BrainScorer(dataset, EncodingSettings(alphas=[1.0, 10.0, 100.0], folds=2)).score(rate)
    values = {(s.metric, s.scope): s.value for s in out.scores}
    assert values[("r_mean", "mean")] > 0.2


def test_volume_space_reads_the_voxels_inside_every_mask(tmp_path):
    root = write_narratives(tmp_path / "ds002345", volume=True)
    dataset = Narratives(NarrativesOptions(root=str(root), space="MNI152NLin2009cAsym"))
    data = dataset.load_subject("sub-001")
    assert data.responses["lucy"].shape[1] == 2 * VERTICES - 1
    assert "23 voxels (afni-smooth, MNI152NLin2009cAsym)" in dataset.check()[0]


def test_narratives_mistakes_are_one_line(tree, tmp_path):
    with pytest.raises(DataError, match="not found; download the data with `harness data fetch narratives --stories"):
        Narratives(NarrativesOptions(root=str(tmp_path / "nowhere"))).split()
    with pytest.raises(DataError, match=r"no kept scan of story 'pieamn' \(options.stories\) \(did you mean 'pieman'"):
        Narratives(NarrativesOptions(root=str(tree), stories=["pieamn"])).split()
    with pytest.raises(DataError, match=r"subject sub-003 has no kept scan of story 'tunnel' \(.*excluded by scan_exclude.json: sub-003_task-tunnel"):
        Narratives(NarrativesOptions(root=str(tree), subjects=["003"])).subjects()
    sidecar = tree / "task-lucy_bold.json"
    saved = sidecar.read_text()
    try:
        sidecar.write_text(json.dumps({"RepetitionTime": 2.0}))
        with pytest.raises(DataError, match=r"task-lucy_bold.json: RepetitionTime 2 s \(scan sub-001_task-lucy\), but options.tr is 1.5 s"):
            Narratives(NarrativesOptions(root=str(tree))).load_subject("sub-001")
    finally:
        sidecar.write_text(saved)


def test_fetch_patterns_follow_participants():
    participants = {"sub-001": {"pieman": "n/a", "tunnel": "n/a"}, "sub-002": {"milkyway": "vodka"}}
    patterns = fetch_patterns(participants, [], ["milkywayvodka"])
    assert patterns[0] == "stimuli/gentle/milkywayvodka/align.json"
    assert "sub-002/func/sub-002_task-milkyway_*events.tsv" in patterns and not any("sub-001" in p for p in patterns)
    assert fetch_patterns(participants, ["001"], ["pieman"])[-1] == \
        "derivatives/afni-smooth/sub-001/func/sub-001_task-pieman_*space-fsaverage6_hemi-*_desc-clean.func.gii"
    with pytest.raises(DataError, match="no task of participants.tsv plays story 'tunel'"):
        fetch_patterns(participants, [], ["tunel"])


@pytest.mark.skipif(importlib.util.find_spec("openneuro") is not None, reason="openneuro-py installed: fetch would download")
def test_fetch_without_a_client_says_what_to_install(tmp_path):
    with pytest.raises(HarnessError, match="narratives fetch needs openneuro-py"):
        Narratives.fetch(tmp_path, [], stories=["pieman"])


def test_fetch_by_story_on_the_command_line(capsys, tmp_path):
    assert main(["data", "fetch", "narratives", "--root", str(tmp_path)]) == 2
    assert "name the stories to download with --stories" in capsys.readouterr().err
    assert main(["data", "fetch", "lebel2023", "--stories", "x", "--root", str(tmp_path)]) == 2
    assert "--stories: lebel2023 downloads by subject only" in capsys.readouterr().err


def test_sweep_tinylm_on_narratives(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    config = {
        "run": str(tmp_path / "run"),
        "models": [{"family": "tinylm", "label": "tiny", "options": {"size": "tiny", "progress": False},
                    "checkpoints": [0, 16], "layers": "last"}],
        "brain": [{"dataset": "narratives", "options": {"root": str(tree)}, "encoding": {"folds": 2, "alphas": [1, 100]}}],
        "features": {"context_tokens": 32, "stride": 16},
        "analyze": False,
    }
    with torch_threads(1):
        result = run_sweep(parse_config(config), show_progress=False)
    assert result.failed == 0, result.errors
    assert result.done == 2
