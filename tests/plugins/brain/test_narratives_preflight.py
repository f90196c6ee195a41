"""Bad Narratives data is caught by ``harness validate`` and ``harness sweep``: exit 2, one line naming the file, no run written.

Every case damages a copy of a small ds002345 tree written once in the real formats (GIfTI by
nibabel, Gentle align.json, BIDS events.tsv, bold.json sidecars, participants.tsv,
scan_exclude.json) in one way a real download or an edit can break it, then runs the CLI. Data
left out on purpose (subjects listed but not downloaded, stories without an alignment) is a note
that ``validate`` shows and each cell's provenance keeps.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from tests.support.damage import DamageCase as Case
from tests.support.damage import both, cut, edit, garbage, left_out_is_kept, lines, refused_in_one_line, remove, write
from tests.support.narratives_fixture import write_narratives
from tests.support.plugin_packages import tinygpt_beside, tinygpt_config

nib = pytest.importorskip("nibabel")

SCAN = "ds/derivatives/afni-smooth/sub-002/func/sub-002_task-lucy"
LEFT = f"{SCAN}_space-fsaverage6_hemi-L_desc-clean.func.gii"
RIGHT = f"{SCAN}_space-fsaverage6_hemi-R_desc-clean.func.gii"
EVENTS = "ds/sub-002/func/sub-002_task-lucy_events.tsv"
ALIGN = "ds/stimuli/gentle/lucy/align.json"
PARTICIPANTS = "ds/participants.tsv"


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A folder holding ds/ (subjects sub-001 and sub-002 heard pieman, lucy and tunnel) and the tinygpt plugin, active."""
    folder = tmp_path_factory.mktemp("narratives")
    write_narratives(folder / "ds")
    with tinygpt_beside(folder, "narratives"):
        yield folder


def _config(folder: Path, **options) -> Path:
    return tinygpt_config(folder, {"dataset": "narratives", "options": {"root": str(folder / "ds"), **options},
                                   "encoding": {"folds": 2, "alphas": [1, 100]}})


# --------------------------------------------------------------------------- damage


def _gifti(relative: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    """Rewrite a .func.gii (one data array per volume) with ``change(volumes × vertices)``."""
    def damage(folder: Path) -> None:
        path = folder / relative
        data = np.stack([d.data for d in nib.load(str(path)).darrays])
        arrays = [nib.gifti.GiftiDataArray(row.astype(np.float32), intent="NIFTI_INTENT_NONE") for row in change(data)]
        nib.save(nib.gifti.GiftiImage(darrays=arrays), str(path))
    return damage


def _json(relative: str, data: object) -> Callable[[Path], None]:
    return write(relative, json.dumps(data))


def _subject_gifti(subject: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        for path in sorted((folder / "ds/derivatives/afni-smooth" / subject / "func").glob("*.func.gii")):
            _gifti(str(path.relative_to(folder)), change)(folder)
    return damage


HALF = both(_gifti(LEFT, lambda d: d[: len(d) // 2]), _gifti(RIGHT, lambda d: d[: len(d) // 2]))
WIDER = both(_gifti(LEFT, lambda d: np.hstack([d, d[:, :1]])), _gifti(RIGHT, lambda d: np.hstack([d, d[:, :1]])))

CASES = [
    # response files
    Case("gifti-half-the-volumes", HALF, LEFT, "cut short"),
    Case("gifti-cut", cut(LEFT, 0.5), LEFT, "not a readable GIfTI file"),
    Case("gifti-cut-end", cut(RIGHT, 0.98), RIGHT, "not a readable GIfTI file"),
    Case("gifti-garbage", lambda f: write(LEFT, garbage((f / LEFT).stat().st_size))(f), LEFT, "not a readable GIfTI file"),
    Case("gifti-empty", write(LEFT, b""), LEFT, "not a readable GIfTI file"),
    Case("gifti-right-missing", remove(RIGHT), RIGHT, "partial download"),
    Case("gifti-right-one-volume-fewer", _gifti(RIGHT, lambda d: d[:-1]), RIGHT, "volumes, but the left hemisphere"),
    Case("gifti-hemispheres-differ", _gifti(RIGHT, lambda d: np.hstack([d, d[:, :1]])), RIGHT, "vertices, but the left hemisphere"),
    Case("gifti-one-scan-wider", WIDER, LEFT, "sub-002's other scans have 24"),
    Case("gifti-subject-wider", _subject_gifti("sub-002", lambda d: np.hstack([d, d[:, :2]])), "ds/derivatives/afni-smooth/sub-002/func/",
         "28 vertices, but the other subjects have 24"),
    # events.tsv
    Case("events-missing", remove(EVENTS), EVENTS, "partial download"),
    Case("events-no-story", edit(EVENTS, "\tstory\t", "\tspeech\t"), EVENTS, "no event with trial_type 'story'"),
    Case("events-onset-text", edit(EVENTS, "2.0\t130.0", "two\t130.0"), EVENTS, "line 2"),
    Case("events-no-stim-file", edit(EVENTS, "stim_file", "stimulus"), EVENTS, "no stim_file column"),
    Case("events-stim-not-audio", edit(EVENTS, "lucy_audio.wav", "lucy.txt"), EVENTS, "stim_file"),
    Case("two-tasks-one-story", write("ds/sub-002/func/sub-002_task-tunnel_events.tsv", "onset\tduration\ttrial_type\tstim_file\n"
                                       "2.0\t130.0\tstory\tlucy_audio.wav\n"),
         "ds/sub-002/func/sub-002_task-tunnel_events.tsv", "sub-002_task-lucy_events.tsv"),
    Case("events-short-row", lines(EVENTS, lambda lines: [*lines, "200.0\t1.0"]), EVENTS, "line 3"),
    # alignments
    Case("align-missing-named-story", remove(ALIGN), ALIGN, "not found", options={"stories": ["lucy", "pieman"]}),
    Case("align-bad-json", write(ALIGN, '{"words": [{"word": "the",'), ALIGN, "invalid JSON"),
    Case("align-cut", cut(ALIGN, 0.5), ALIGN, "invalid JSON"),
    Case("align-no-words", _json(ALIGN, {"transcript": "", "words": []}), ALIGN, "expected a Gentle alignment"),
    Case("align-nothing-aligned", lambda f: _json(ALIGN, {"words": [{**w, "case": "not-found-in-audio"} for w in
                                                                    json.loads((f / ALIGN).read_text())["words"]]})(f), ALIGN, "no word was aligned"),
    # sidecars
    Case("tr-wrong-in-task-sidecar", _json("ds/task-lucy_bold.json", {"RepetitionTime": 2.0}), "ds/task-lucy_bold.json", "RepetitionTime 2 s"),
    Case("tr-wrong-in-scan-sidecar", _json("ds/sub-002/func/sub-002_task-lucy_bold.json", {"RepetitionTime": 1.0}),
         "ds/sub-002/func/sub-002_task-lucy_bold.json", "RepetitionTime 1 s"),
    Case("tr-text", _json("ds/task-lucy_bold.json", {"RepetitionTime": "1.5 s"}), "ds/task-lucy_bold.json", "not a positive number"),
    Case("sidecar-bad-json", write("ds/task-lucy_bold.json", '{"RepetitionTime": 1.5'), "ds/task-lucy_bold.json", "invalid JSON"),
    # participants.tsv and scan_exclude.json
    Case("participants-missing", remove(PARTICIPANTS), PARTICIPANTS, "not found"),
    Case("participants-no-id", edit(PARTICIPANTS, "participant_id", "subject"), PARTICIPANTS, "no participant_id column"),
    Case("participants-short-row", lines(PARTICIPANTS, lambda lines: [*lines[:2], "sub-002\t22", *lines[3:]]), PARTICIPANTS, "line 3"),
    Case("participants-id-without-sub", edit(PARTICIPANTS, "sub-002\t", "002\t"), PARTICIPANTS, "line 3"),
    Case("participants-tasks-vs-conditions", edit(PARTICIPANTS, "n/a,n/a,n/a\tn/a", "n/a,n/a\tn/a"), PARTICIPANTS, "3 tasks but 2 conditions"),
    Case("exclusions-garbage", write("ds/code/scan_exclude.json", garbage(200)), "ds/code/scan_exclude.json"),
    # options
    Case("story-misspelt", lambda f: None, "ds", "did you mean 'pieman'", options={"stories": ["pieamn"]}),
    Case("subject-without-a-scan", lambda f: None, "ds", "subject sub-004 has no kept scan", options={"subjects": ["001", "004"]}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_narratives_data_is_one_line_and_nothing_is_written(case, good, tmp_path, capfd):
    shutil.copytree(good / "ds", tmp_path / "ds")
    case.damage(tmp_path)
    config = _config(tmp_path, **(case.options or {}))
    named = case.names if not case.names.startswith("ds") else str(tmp_path / case.names)
    for command, line in refused_in_one_line(config, capfd):
        assert named in line and case.match in line, line
        assert not (tmp_path / "run").exists() and not (tmp_path / "activations").exists(), command


VOLUME_SCAN = "ds/derivatives/afni-smooth/sub-002/func/sub-002_task-lucy_space-MNI152NLin2009cAsym_res-native_desc-clean_bold.nii.gz"
MASK = "ds/derivatives/afni-smooth/tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-lucy_desc-brain_mask.nii.gz"


def _nifti(relative: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / relative
        image = nib.load(str(path))
        nib.save(nib.Nifti1Image(change(np.asarray(image.dataobj)), image.affine), str(path))
    return damage


VOLUME_CASES = [
    Case("nifti-half-the-volumes", _nifti(VOLUME_SCAN, lambda d: d[..., : d.shape[3] // 2]), VOLUME_SCAN, "cut short"),
    Case("nifti-cut", cut(VOLUME_SCAN, 0.5), VOLUME_SCAN, "not a readable NIfTI file"),
    Case("nifti-3d", _nifti(VOLUME_SCAN, lambda d: d[..., 0]), VOLUME_SCAN, "expected a 4-D image"),
    Case("nifti-grid-differs-from-mask", _nifti(VOLUME_SCAN, lambda d: d[:, :, :-1]), VOLUME_SCAN, "the brain mask's has"),
    Case("mask-missing", remove(MASK), MASK, "not found"),
    Case("mask-garbage", write(MASK, garbage(100)), MASK, "not a readable NIfTI file"),
]


@pytest.fixture(scope="module")
def volume(good):
    """A folder holding ds/ in MNI space (NIfTI responses and brain masks)."""
    write_narratives(good / "volume" / "ds", volume=True)
    return good / "volume"


@pytest.mark.parametrize("case", VOLUME_CASES, ids=[c.name for c in VOLUME_CASES])
def test_bad_volume_data_is_one_line_and_nothing_is_written(case, volume, tmp_path, capfd):
    shutil.copytree(volume / "ds", tmp_path / "ds")
    case.damage(tmp_path)
    config = _config(tmp_path, space="MNI152NLin2009cAsym")
    capfd.readouterr()
    assert main(["validate", str(config)]) == 2
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 1 and str(tmp_path / case.names) in lines[0] and case.match in lines[0], lines
    assert not (tmp_path / "run").exists()


def _validated(folder: Path, capfd, **options) -> str:
    """validate's stdout without whitespace (the console wraps long lines, paths included)."""
    capfd.readouterr()
    assert main(["validate", str(_config(folder, **options))]) == 0
    return "".join(capfd.readouterr().out.split())


def _bare(text: str) -> str:
    return "".join(text.split())


def test_the_good_tree_validates_without_notes_of_data_left_out(good, tmp_path, capfd):
    shutil.copytree(good / "ds", tmp_path / "ds")
    out = _validated(tmp_path, capfd)
    assert _bare("2 subjects x 3 stories (2 train, 1 test), 24 vertices") in out and "leftout" not in out


def test_trial_type_in_another_case_or_with_spaces_is_a_story(good, tmp_path, capfd):
    shutil.copytree(good / "ds", tmp_path / "ds")
    edit(EVENTS, "\tstory\t", "\tStory \t")(tmp_path)
    assert _bare("2 subjects x 3 stories") in _validated(tmp_path, capfd)


def test_subjects_listed_but_not_downloaded_are_a_note_kept_in_provenance(good, tmp_path, capfd):
    """sub-005 is listed for every story but has no files; sub-002's lucy responses were never downloaded."""
    shutil.copytree(good / "ds", tmp_path / "ds")
    lines(PARTICIPANTS, lambda lines: [*lines, "sub-005\t22,22,22\tF,F,F\tpieman,tunnel,lucy\tn/a,n/a,n/a\tn/a,n/a,n/a"])(tmp_path)
    remove(LEFT, RIGHT)(tmp_path)
    note = "2 subject(s) listed in participants.tsv for every story (lucy, pieman, tunnel) without their files under"
    out = _validated(tmp_path, capfd)
    assert _bare("1 subject x 3 stories") in out and _bare(f"left out: {note}") in out and _bare("(not downloaded): sub-002, sub-005") in out
    left_out_is_kept(_config(tmp_path), tmp_path / "run", note, "sub-002, sub-005")


def test_a_story_without_its_alignment_is_a_note_naming_the_file(good, tmp_path, capfd):
    shutil.copytree(good / "ds", tmp_path / "ds")
    remove(ALIGN)(tmp_path)
    capfd.readouterr()
    assert main(["validate", str(_config(tmp_path))]) == 2  # one training story is left: the split's rules fail up front
    captured = capfd.readouterr()
    assert _bare(f"left out: story lucy (3 scans): {tmp_path / ALIGN} not found") in _bare(captured.out + captured.err)
    assert captured.err.strip().splitlines()[-1].endswith("needs at least 2 training stories, the split gives 1")


def test_no_training_story_left_names_the_missing_alignments(good, tmp_path, capfd):
    shutil.copytree(good / "ds", tmp_path / "ds")
    remove(ALIGN, "ds/stimuli/gentle/pieman/align.json")(tmp_path)
    assert main(["validate", str(_config(tmp_path))]) == 2
    err = capfd.readouterr().err
    assert "no training story" in err and f"{tmp_path / ALIGN} not found" in err


def test_a_second_check_reads_no_response_file_again(good, tmp_path, monkeypatch):
    import os
    import time

    from harness_plugins.brain import narratives

    shutil.copytree(good / "ds", tmp_path / "ds")
    for path in (tmp_path / "ds").rglob("*.*"):
        os.utime(path, (time.time() - 100, time.time() - 100))
    options = narratives.NarrativesOptions(root=str(tmp_path / "ds"))
    assert "; 0 files unchanged" in narratives.Narratives(options).check()[0]

    def unreadable(path):
        raise AssertionError(f"read again: {path}")

    monkeypatch.setattr(narratives, "_shape", unreadable)
    monkeypatch.setattr(narratives, "read_alignment", unreadable)
    assert "; 15 files unchanged" in narratives.Narratives(options).check()[0]  # 3 alignments, 2 x 3 x 2 GIfTIs


def count_cases() -> int:
    return len(CASES) + len(VOLUME_CASES)
