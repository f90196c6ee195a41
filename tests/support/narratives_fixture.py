"""A small Narratives (ds002345) tree in the real formats: GIfTI or NIfTI by nibabel, Gentle align.json,
participants.tsv, scan_exclude.json, events.tsv and bold.json sidecars."""

from __future__ import annotations

import json
import math
from pathlib import Path

import nibabel as nib
import numpy as np

from harness_plugins.brain.narrativefiles import read_alignment

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


def gentle_phones(word: str, seconds: float) -> list[dict]:
    """A word's phones as Gentle writes them: one per letter here (at most four), ``<phone>_<B|I|E|S>`` by position
    in the word, their durations filling ``seconds``."""
    letters = [c for c in word.lower() if c.isalpha()][:4] or ["ah"]
    tags = ["S"] if len(letters) == 1 else ["B"] + ["I"] * (len(letters) - 2) + ["E"]
    return [{"duration": seconds / len(letters), "phone": f"{letter}_{tag}"} for letter, tag in zip(letters, tags)]


def _alignment(path: Path, audio_offset: float, seconds: float, n_words: int, rng: np.random.Generator) -> None:
    """A Gentle align.json: words timed from ``audio_offset`` on, each with its phones; every 50th word not found in
    the audio, and every 50th another aligned as unknown (one ``oov_S`` phone)."""
    starts = audio_offset + np.sort(rng.uniform(0.5, seconds - 1.0, n_words))
    words = []
    for i, start in enumerate(starts):
        word = str(rng.choice(VOCABULARY))
        if i % 50 == 7:
            words.append({"case": "not-found-in-audio", "endOffset": 0, "startOffset": 0, "word": word})
        else:
            unknown = i % 50 == 23
            phones = [{"duration": 0.2, "phone": "oov_S"}] if unknown else gentle_phones(word, 0.2)
            words.append({"alignedWord": "<unk>" if unknown else word, "case": "success", "end": float(start + 0.2),
                          "endOffset": 0, "phones": phones, "start": float(start), "startOffset": 0, "word": word})
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
