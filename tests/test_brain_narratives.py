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
from harness.config import EncodingSettings, parse_config
from harness.encoding import BrainScorer
from harness.runner import run_sweep
from harness_plugins.brain.narrativefiles import read_alignment
from harness_plugins.brain.narratives import Narratives, NarrativesOptions, fetch_patterns

nib = pytest.importorskip("nibabel")

TR = 1.5
VERTICES = 12  # per hemisphere (fsaverage6 has 40,962; the format is the same)
VOCABULARY = ("the", "man", "saw", "a", "dog", "and", "it", "ran", "to", "house", "she", "said", "that", "was", "good")
# story -> (task, audio onset, story onset, story seconds, words); the pieman audio opens with 15 s of music
STORIES = {"pieman": ("pieman", 0.0, 15.0, 150.0, 260), "tunnel": ("tunnel", 3.0, 3.0, 140.0, 240),
           "lucy": ("lucy", 2.0, 2.0, 130.0, 220)}
SUBJECTS = {"sub-001": "pieman,tunnel,lucy", "sub-002": "pieman,tunnel,lucy", "sub-003": "pieman,tunnel,lucy", "sub-004": "pieman"}
EXCLUDE = {"pieman": {"sub-001": ["sub-001_task-pieman_run-1"]}, "tunnel": {"sub-003": ["sub-003_task-tunnel"]}, "lucy": {}}


def _gifti(path: Path, data: np.ndarray) -> None:
    image = nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(row.astype(np.float32), intent="NIFTI_INTENT_NONE") for row in data])
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, str(path))


def _alignment(path: Path, audio_offset: float, seconds: float, n_words: int, rng: np.random.Generator) -> None:
    """A Gentle align.json: words timed from ``audio_offset`` on; every 50th word not found in the audio."""
    starts = audio_offset + np.sort(rng.uniform(0.5, seconds - 1.0, n_words))
    words = []
    for i, start in enumerate(starts):
        word = str(rng.choice(VOCABULARY))
        if i % 50 == 7:
            words.append({"case": "not-found-in-audio", "endOffset": 0, "startOffset": 0, "word": word})
        else:
            words.append({"alignedWord": word, "case": "success", "end": float(start + 0.2), "endOffset": 0,
                          "phones": [{"duration": 0.2, "phone": "ah_B"}], "start": float(start), "startOffset": 0, "word": word})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"transcript": " ".join(w["word"] for w in words), "words": words}))


def write_narratives(root: Path, seed: int = 0, volume: bool = False) -> Path:
    """A small ds002345 tree: 4 subjects, 3 stories, exclusions, two runs of pieman for sub-001.

    Responses: vertex 0 holds each volume's index (to check timing); the others a smoothed
    word-rate signal plus noise, so that an encoding model has something to find.
    """
    rng = np.random.default_rng(seed)
    (root / "code").mkdir(parents=True)
    (root / "code" / "scan_exclude.json").write_text(json.dumps(EXCLUDE, indent=2))
    rows = ["participant_id\tage\tsex\ttask\tcondition\tcomprehension"]
    for subject, tasks in SUBJECTS.items():
        n = len(tasks.split(","))
        rows.append(f"{subject}\t{','.join(['22'] * n)}\t{','.join(['F'] * n)}\t{tasks}\t{','.join(['n/a'] * n)}\t{','.join(['n/a'] * n)}")
    (root / "participants.tsv").write_text("\n".join(rows) + "\n")
    for story, (task, audio, onset, seconds, n_words) in STORIES.items():
        (root / f"task-{task}_bold.json").write_text(json.dumps({"RepetitionTime": TR, "TaskName": task}))
        _alignment(root / "stimuli" / "gentle" / story / "align.json", onset - audio, seconds, n_words, rng)
    for subject, tasks in SUBJECTS.items():
        for task in tasks.split(","):
            audio, onset, seconds = STORIES[task][1], STORIES[task][2], STORIES[task][3]
            runs = ["_run-1", "_run-2"] if (subject, task) == ("sub-001", "pieman") else [""]
            for run in runs:
                name = f"{subject}_task-{task}{run}"
                func = root / subject / "func"
                func.mkdir(parents=True, exist_ok=True)
                events = ["onset\tduration\ttrial_type\tstim_file"]
                if onset > audio:
                    events.append(f"{audio}\t{onset - audio - 2}\tmusic\t{task}_audio.wav")
                events.append(f"{onset}\t{seconds}\tstory\t{task}_audio.wav")
                (func / f"{name}_events.tsv").write_text("\n".join(events) + "\n")
                volumes = math.ceil((onset + seconds + 12) / TR)
                data = _responses(root, task, audio, volumes, rng)
                derivative = root / "derivatives" / "afni-smooth" / subject / "func"
                if volume:
                    grid = data.T.reshape(2, 3, 2 * VERTICES // 6, volumes)
                    derivative.mkdir(parents=True, exist_ok=True)
                    nib.save(nib.Nifti1Image(grid, np.eye(4)), str(derivative / f"{name}_space-MNI152NLin2009cAsym_res-native_desc-clean_bold.nii.gz"))
                else:
                    _gifti(derivative / f"{name}_space-fsaverage6_hemi-L_desc-clean.func.gii", data[:, :VERTICES])
                    _gifti(derivative / f"{name}_space-fsaverage6_hemi-R_desc-clean.func.gii", data[:, VERTICES:])
    if volume:
        template = root / "derivatives" / "afni-smooth" / "tpl-MNI152NLin2009cAsym"
        template.mkdir(parents=True)
        for task in STORIES:
            mask = np.ones((2, 3, 2 * VERTICES // 6), dtype=np.uint8)
            mask[0, 0, 1] = 0 if task == "tunnel" else 1  # the intersection drops one voxel
            nib.save(nib.Nifti1Image(mask, np.eye(4)), str(template / f"tpl-MNI152NLin2009cAsym_res-{task}_desc-brain_mask.nii.gz"))
    return root


def _responses(root: Path, story: str, audio: float, volumes: int, rng: np.random.Generator) -> np.ndarray:
    words = read_alignment(root / "stimuli" / "gentle" / story / "align.json")
    onsets = np.asarray(words["onsets"]) + audio  # on the scan clock
    centres = (np.arange(volumes) + 0.5) * TR
    rate = np.array([np.sum((onsets > c - 7.5) & (onsets <= c - 4.5)) for c in centres], dtype=np.float32)
    data = rate[:, None] * rng.uniform(0.5, 1.5, 2 * VERTICES) + rng.normal(0, 1.0, (volumes, 2 * VERTICES))
    data[:, 0] = np.arange(volumes)
    return data.astype(np.float32)


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
        with pytest.raises(DataError, match="has RepetitionTime 2 s, options.tr is 1.5 s"):
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
