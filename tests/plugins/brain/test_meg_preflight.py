"""Bad MEG-MASC data is caught by ``harness validate`` and ``harness sweep``: exit 2, one line naming the file, no run written.

Every case damages a copy of a small BIDS MEG tree written once with mne-bids (real FIF files,
sidecars, channels.tsv, events.tsv, participants.tsv) in one way a real download or an edit can
break it, then runs the CLI. Data left out on purpose (subjects listed but not downloaded) is a
note that ``validate`` shows and each cell's provenance keeps.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cli import main
from harness_plugins.brain.simmeg import SimulatedMEGOptions, kit_sensors, write_dataset
from tests.support.damage import DamageCase as Case
from tests.support.damage import cut, edit_first, garbage, left_out_is_kept, lines, refused_in_one_line, remove, write
from tests.support.plugin_packages import tinygpt_beside, tinygpt_config

pytest.importorskip("mne_bids")

MEG = "bids/sub-01/ses-0/meg"
REC = f"{MEG}/sub-01_ses-0_task-1"  # story sim02 of subject 01
CHANNELS = kit_sensors(4)[0]  # the recording's channels, from MNE's KIT layout
FIRST = f"{MEG}/sub-01_ses-0_task-0"  # story sim01
OTHER = "bids/sub-02/ses-0/meg/sub-02_ses-0_task-1"


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A folder holding bids/ (2 subjects, 1 session, stories sim01, sim02, simtest) and the tinygpt plugin, active."""
    folder = tmp_path_factory.mktemp("meg")
    write_dataset(folder / "written", SimulatedMEGOptions(subjects=2, sessions=1, stories=3, words_per_story=100, sensors=4, sfreq=100.0))
    shutil.move(folder / "written" / "bids", folder / "bids")
    with tinygpt_beside(folder, "megmasc"):
        yield folder


def _config(folder: Path, **options) -> Path:
    options = {"root": str(folder / "bids"), "test_stories": ["simtest"], "sfreq": 50.0, **options}
    return tinygpt_config(folder, {"dataset": "megmasc", "options": options,
                                   "encoding": {"folds": 2, "alphas": [1, 100], "lags_s": [0.0, 0.2]}})


# --------------------------------------------------------------------------- damage


def _sidecar(relative: str, **change) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / relative
        path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    return damage


def _shift_events(relative: str, seconds: float) -> Callable[[Path], None]:
    def shift(lines: list[str]) -> list[str]:
        out = [lines[0]]
        for line in lines[1:]:
            onset, rest = line.split("\t", 1)
            out.append(f"{float(onset) + seconds}\t{rest}")
        return out
    return lines(relative, shift)


CASES = [
    # the recording
    Case("fif-cut-half", cut(f"{REC}_meg.fif", 0.5), f"{REC}_meg.fif", "cut short"),
    Case("fif-cut-end", cut(f"{REC}_meg.fif", 0.99), f"{REC}_meg.fif", "cut short"),
    Case("fif-cut-header", cut(f"{REC}_meg.fif", 0.01), f"{REC}_meg.fif"),
    Case("fif-garbage", lambda f: write(f"{REC}_meg.fif", garbage((f / f"{REC}_meg.fif").stat().st_size))(f), f"{REC}_meg.fif",
         "not a readable MEG recording"),
    Case("fif-empty", write(f"{REC}_meg.fif", b""), f"{REC}_meg.fif", "not a readable MEG recording"),
    Case("fif-text", write(f"{REC}_meg.fif", "MEG data\n"), f"{REC}_meg.fif", "not a readable MEG recording"),
    Case("fif-missing", remove(f"{REC}_meg.fif"), f"{REC}_meg.*", "not found"),
    # its sidecar
    Case("sidecar-bad-json", write(f"{REC}_meg.json", '{"SamplingFrequency": 100,'), f"{REC}_meg.json", "invalid JSON"),
    Case("sidecar-a-list", write(f"{REC}_meg.json", "[100]"), f"{REC}_meg.json", "JSON object"),
    Case("sidecar-missing", remove(f"{REC}_meg.json"), f"{REC}_meg.json", "not found"),
    Case("sidecar-rate-1000", _sidecar(f"{REC}_meg.json", SamplingFrequency=1000), f"{REC}_meg.json", "SamplingFrequency 1000 Hz"),
    Case("sidecar-rate-text", _sidecar(f"{REC}_meg.json", SamplingFrequency="100 Hz"), f"{REC}_meg.json", "SamplingFrequency"),
    Case("sidecar-rate-absent", _sidecar(f"{REC}_meg.json", SamplingFrequency=None), f"{REC}_meg.json", "SamplingFrequency"),
    Case("sidecar-duration-longer", _sidecar(f"{REC}_meg.json", RecordingDuration=500.0), f"{REC}_meg.fif", "RecordingDuration 500"),
    # channels.tsv
    Case("channels-missing", remove(f"{REC}_channels.tsv"), f"{REC}_channels.tsv", "not found"),
    Case("channels-fewer", lines(f"{REC}_channels.tsv", lambda lines: lines[:-1]), f"{REC}_channels.tsv", f"not listed: {CHANNELS[-1]}"),
    Case("channels-renamed", edit_first(f"{REC}_channels.tsv", f"{CHANNELS[2]}\t", "MEG 902\t"), f"{REC}_channels.tsv", "not recorded: MEG 902"),
    Case("channels-no-name-column", edit_first(f"{REC}_channels.tsv", "name\t", "label\t"), f"{REC}_channels.tsv", "no 'name' column"),
    Case("channels-short-row", lines(f"{REC}_channels.tsv", lambda lines: [*lines[:2], "MEG001", *lines[3:]]), f"{REC}_channels.tsv", "line 3"),
    # events.tsv
    Case("events-missing", remove(f"{REC}_events.tsv"), f"{REC}_events.tsv", "not found"),
    Case("events-not-a-dict", edit_first(f"{REC}_events.tsv", "{'story'", "{story"), f"{REC}_events.tsv", "trial_type is not a dict literal"),
    Case("events-onset-text", lines(f"{REC}_events.tsv", lambda lines: [lines[0], "soon" + lines[1][lines[1].index("\t"):], *lines[2:]]),
         f"{REC}_events.tsv", "line 2"),
    Case("events-no-onset-column", edit_first(f"{REC}_events.tsv", "onset\t", "start\t"), f"{REC}_events.tsv", "no 'onset' column"),
    Case("events-no-words", lambda f: write(f"{REC}_events.tsv", (f / f"{REC}_events.tsv").read_text().replace("'kind': 'word'", "'kind': 'sound'"))(f),
         f"{REC}_events.tsv", "no events of kind 'word'"),
    Case("events-words-past-the-end", _shift_events(f"{REC}_events.tsv", 100.0), f"{REC}_meg.fif", "run to"),
    Case("two-recordings-one-story", lambda f: shutil.copyfile(f / f"{FIRST}_events.tsv", f / f"{REC}_events.tsv"), f"{REC}_events.tsv",
         "sub-01_ses-0_task-0_events.tsv"),
    Case("words-differ-between-subjects", edit_first(f"{OTHER}_events.tsv", "'word': '", "'word': 'x"), f"{OTHER}_events.tsv", "words differ"),
    # participants.tsv
    Case("participants-no-id", edit_first("bids/participants.tsv", "participant_id", "id"), "bids/participants.tsv", "no 'participant_id' column"),
    Case("participants-short-row", lines("bids/participants.tsv", lambda lines: [lines[0], "sub-01\tn/a", *lines[2:]]),
         "bids/participants.tsv", "line 2"),
    Case("participants-garbage", write("bids/participants.tsv", garbage(300)), "bids/participants.tsv"),
    # a subject's recording of a story gone (a partial download), stories the options name
    Case("subject-lacks-a-story", remove(*(f"{OTHER}_{s}" for s in ("meg.fif", "meg.json", "events.tsv", "events.json", "channels.tsv"))),
         "bids", "subject 02 has no recording of story 'sim02'"),
    Case("story-misspelt", lambda f: None, "bids", "did you mean 'simtest'", options={"test_stories": ["simtst"]}),
]


def _case_folder(good: Path, tmp_path: Path, case: Case) -> Path:
    shutil.copytree(good / "bids", tmp_path / "bids")
    case.damage(tmp_path)
    return tmp_path


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_meg_data_is_one_line_and_nothing_is_written(case, good, tmp_path, capfd):
    folder = _case_folder(good, tmp_path, case)
    config = _config(folder, **(case.options or {}))
    named = case.names if not case.names.startswith("bids") else str(folder / case.names)
    for command, line in refused_in_one_line(config, capfd):
        assert named in line and case.match in line, line
        assert not (folder / "run").exists() and not (folder / "activations").exists(), command


def test_the_good_tree_validates(good, tmp_path, capfd):
    shutil.copytree(good / "bids", tmp_path / "bids")
    assert main(["validate", str(_config(tmp_path))]) == 0
    out = " ".join(capfd.readouterr().out.split())
    assert "2 subjects, 2 training and 1 test stories" in out and "6 recordings" in out
    assert "left out" not in out


def test_subjects_listed_but_not_downloaded_are_a_note_kept_in_provenance(good, tmp_path, capfd):
    """participants.tsv lists sub-03, whose files are not there: left out with a note, shown and recorded."""
    shutil.copytree(good / "bids", tmp_path / "bids")
    listed = tmp_path / "bids" / "participants.tsv"
    listed.write_text(listed.read_text() + "sub-03" + "\tn/a" * (len(listed.read_text().splitlines()[0].split("\t")) - 1) + "\n")
    config = _config(tmp_path)
    assert main(["validate", str(config)]) == 0
    note = "left out: 1 subject(s) listed in participants.tsv without recordings under"
    out = " ".join(capfd.readouterr().out.split())
    assert note in out and "(not downloaded): 03" in out
    left_out_is_kept(config, tmp_path / "run", note.removeprefix("left out: "), ": 03")


def test_recorded_subjects_not_in_participants_are_a_note(good, tmp_path, capfd):
    shutil.copytree(good / "bids", tmp_path / "bids")
    lines("bids/participants.tsv", lambda lines: lines[:2])(tmp_path)
    assert main(["validate", str(_config(tmp_path))]) == 0
    out = " ".join(capfd.readouterr().out.split())
    assert "left out: 1 subject(s) with recordings but not listed in participants.tsv: 02" in out


def test_a_second_check_reads_no_recording_again(good, tmp_path, monkeypatch):
    import os
    import time

    from harness_plugins.brain import megmasc

    shutil.copytree(good / "bids", tmp_path / "bids")
    for path in (tmp_path / "bids").rglob("*.*"):
        os.utime(path, (time.time() - 100, time.time() - 100))
    options = megmasc.MEGMASCOptions(root=str(tmp_path / "bids"), test_stories=["simtest"])
    assert "6 recordings (0 unchanged" in megmasc.MEGMASC(options).check()[0]

    def unreadable(path):
        raise AssertionError(f"read again: {path}")

    monkeypatch.setattr(megmasc, "read_header", unreadable)
    assert "6 recordings (6 unchanged since an earlier check)" in megmasc.MEGMASC(options).check()[0]


def count_cases() -> int:
    return len(CASES)
