"""Bad brain data is caught before a sweep writes anything: exit 2, one line naming the file, the run untouched.

Every case damages a copy of a small ds003020 folder (real HDF5 files, real Praat TextGrids) in one
way a user could meet, then runs ``harness validate`` and ``harness sweep`` through the CLI against
a run directory that already holds finished cells computed from the good copy.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from harness.cli import main
from harness.store.database import RunStore
from harness.util.errors import DataError
from harness_plugins.brain.lebel2023 import LeBel2023
from harness_plugins.brain.textgrid import write_textgrid
from tests.support.damage import both, edit_first, refused_in_one_line, remove, write
from tests.support.lebel_fixture import (
    STORIES,
    VOXELS,
    WORDS,
    chronological_textgrid,
    grid_tiers,
    short_textgrid,
    write_fixture,
    write_grid,
    write_responses,
)
from tests.support.plugin_packages import tinygpt_beside, tinygpt_config

DERIVATIVE = "ds/derivative"
GRIDS = f"{DERIVATIVE}/TextGrids"
RESPONSES = f"{DERIVATIVE}/preprocessed_data"


# --------------------------------------------------------------------------- a finished run


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """(folder, run directory): good data in folder/ds and a run of tinygpt x lebel2023 with every cell done."""
    folder = tmp_path_factory.mktemp("finished")
    with tinygpt_beside(folder, "lebel2023"):
        write_fixture(folder / "ds")
        config = _config(folder, folder / "ds")
        assert main(["sweep", str(config), "--quiet"]) == 0
        with RunStore(folder / "run") as store:
            done = store.cells_frame()
        assert len(done) == 9 and set(done.status) == {"done"}
        yield folder, folder / "run"


def _config(folder: Path, root: Path, name: str = "config.yaml", **options) -> Path:
    return tinygpt_config(folder, {"dataset": "lebel2023", "options": {"root": str(root), **options},
                                   "encoding": {"folds": 2, "alphas": [1, 10, 100]}}, layers="all", name=name)


def _snapshot(run: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(run.rglob("*")) if p.is_file()} | {
        str(p.relative_to(run)) + "/": (b"", 0) for p in run.rglob("*") if p.is_dir()
    }


# --------------------------------------------------------------------------- the malformed inputs


@dataclass(frozen=True)
class Case:
    """One malformed input: what class it belongs to, how to make it, the file the message must name."""

    name: str
    kind: str  # layout, respdict, textgrid, responses, options, rois, timing
    damage: Callable[[Path], None]  # receives the copy's folder (holding ds/)
    names: str  # path (relative to that folder) or text the one-line message must contain
    options: dict | None = None
    match: str = ""  # more text the message must contain


def _cut(relative: str, fraction: float) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / relative
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data.rstrip()) * fraction)])
    return damage


def _data(relative: str, make: Callable[[int], np.ndarray], repeats: Callable[[int], np.ndarray] | None = None) -> Callable[[Path], None]:
    """Replace a response file: ``make(rows)`` gives its ``data`` (rows = what respdict.json asks for)."""
    def damage(folder: Path) -> None:
        story = Path(relative).stem
        rows = STORIES[story] - 20
        write_responses(folder / relative, make(rows), None if repeats is None else repeats(rows))
    return damage


def _h5(relative: str, write: Callable[[h5py.File], None]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        with h5py.File(folder / relative, "w") as handle:
            write(handle)
    return damage


def _respdict(change: dict) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / DERIVATIVE / "respdict.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    return damage


def _in_place(relative: str, change: Callable[[np.ndarray], None]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        with h5py.File(folder / relative, "r+") as handle:
            values = handle["data"][...]
            change(values)
            handle["data"][...] = values
    return damage


def _formats(fmt: str) -> str:
    tiers = grid_tiers(WORDS)
    xmax = tiers["word"][-1][1]
    return short_textgrid(tiers, xmax) if fmt == "short" else chronological_textgrid(tiers, xmax)


ALPHA = f"{RESPONSES}/UTS01/alpha.hf5"
BETA2 = f"{RESPONSES}/UTS02/beta.hf5"
TEST = f"{RESPONSES}/UTS02/wheretheressmoke.hf5"
GRID = f"{GRIDS}/beta.TextGrid"
rng = np.random.default_rng(7)


def _noise(rows: int, voxels: int = VOXELS) -> np.ndarray:
    return rng.standard_normal((rows, voxels)).astype(np.float32)


def _nan_first_half(rows: int) -> np.ndarray:
    data = _noise(rows)
    data[:, : VOXELS // 2] = np.nan
    return data


def _constant_second_half(rows: int) -> np.ndarray:
    data = _noise(rows)
    data[:, VOXELS // 2 :] = 3.0
    return data


CASES = [
    # layout: where the data is
    Case("root-missing", "layout", lambda f: shutil.rmtree(f / "ds"), "ds", match="does not exist; download the data with `harness data fetch lebel2023"),
    Case("root-is-a-file", "layout", lambda f: (shutil.rmtree(f / "ds"), (f / "ds").write_text("x")), "ds", match="is a file"),
    Case("no-derivative", "layout", remove(DERIVATIVE), DERIVATIVE, match="harness data fetch lebel2023"),
    Case("no-preprocessed-data", "layout", remove(f"{DERIVATIVE}/preprocessed_data"), f"{DERIVATIVE}/preprocessed_data", match="no subject folders"),
    # respdict.json and sess_to_story.json
    Case("respdict-missing", "respdict", remove(f"{DERIVATIVE}/respdict.json"), f"{DERIVATIVE}/respdict.json", match="not found"),
    Case("respdict-garbage", "respdict", write(f"{DERIVATIVE}/respdict.json", bytes(range(256))), f"{DERIVATIVE}/respdict.json"),
    Case("respdict-not-json", "respdict", write(f"{DERIVATIVE}/respdict.json", "alpha: 40\n"), f"{DERIVATIVE}/respdict.json", match="invalid JSON"),
    Case("respdict-cut", "respdict", _cut(f"{DERIVATIVE}/respdict.json", 0.6), f"{DERIVATIVE}/respdict.json", match="invalid JSON"),
    Case("respdict-empty", "respdict", write(f"{DERIVATIVE}/respdict.json", ""), f"{DERIVATIVE}/respdict.json"),
    Case("respdict-a-list", "respdict", write(f"{DERIVATIVE}/respdict.json", "[40, 38]"), f"{DERIVATIVE}/respdict.json"),
    Case("respdict-text-count", "respdict", _respdict({"alpha": "40"}), f"{DERIVATIVE}/respdict.json", match="'alpha'"),
    Case("respdict-float-count", "respdict", _respdict({"beta": 38.5}), f"{DERIVATIVE}/respdict.json", match="'beta'"),
    Case("respdict-negative", "respdict", _respdict({"beta": -38}), f"{DERIVATIVE}/respdict.json", match="'beta'"),
    Case("respdict-too-few-scans", "respdict", _respdict({"beta": 21}), f"{DERIVATIVE}/respdict.json", match="too few"),
    Case("respdict-lacks-test-story", "respdict", lambda f: (f / DERIVATIVE / "respdict.json").write_text(json.dumps({"alpha": 40, "beta": 38})),
         f"{DERIVATIVE}/respdict.json", match="no story 'wheretheressmoke'"),
    Case("sessions-garbage", "respdict", write(f"{DERIVATIVE}/sess_to_story.json", "{{{"), f"{DERIVATIVE}/sess_to_story.json"),
    Case("sessions-wrong-shape", "respdict", write(f"{DERIVATIVE}/sess_to_story.json", '{"1": "alpha"}'), f"{DERIVATIVE}/sess_to_story.json"),
    Case("sessions-unknown-test-story", "respdict", write(f"{DERIVATIVE}/sess_to_story.json", '{"1": [["alpha"], "gamma"]}'),
         f"{DERIVATIVE}/respdict.json", match="no story 'gamma'"),
    # TextGrids
    Case("grid-missing-test-story", "textgrid", remove(f"{GRIDS}/wheretheressmoke.TextGrid"), f"{GRIDS}/wheretheressmoke.TextGrid", match="not found"),
    Case("grid-missing-named-story", "textgrid", remove(GRID), GRID, options={"stories": ["alpha", "beta"]}, match="not found"),
    Case("grid-garbage", "textgrid", write(GRID, bytes(range(256)) * 4), GRID, match="not a Praat TextGrid"),
    Case("grid-empty", "textgrid", write(GRID, b""), GRID, match="not a Praat TextGrid"),
    Case("grid-text", "textgrid", write(GRID, "once upon a time\n"), GRID, match="not a Praat TextGrid"),
    *[Case(f"grid-cut-{int(f * 100)}", "textgrid", _cut(GRID, f), GRID, match="cut short") for f in (0.1, 0.3, 0.5, 0.62, 0.75, 0.9, 0.999)],
    *[Case(f"grid-{fmt}-cut-{int(f * 100)}", "textgrid", both(write(GRID, _formats(fmt)), _cut(GRID, f)), GRID, match="cut short")
      for fmt in ("short", "chronological") for f in (0.3, 0.6, 0.9)],
    Case("grid-bad-number", "textgrid", edit_first(GRID, "xmin = 3.5 ", "xmin = 3.5.0 "), GRID, match="is not a number"),
    Case("grid-word-letters", "textgrid", edit_first(GRID, "xmax = 4 ", "xmax = four "), GRID, match="line"),
    Case("grid-nan", "textgrid", edit_first(GRID, "xmax = 4 ", "xmax = nan "), GRID, match="line"),
    Case("grid-short-bad-number", "textgrid", both(write(GRID, _formats("short")), edit_first(GRID, "\n3.5\n", "\n3.5s5\n")), GRID, match="line"),
    Case("grid-chrono-bad-number", "textgrid", both(write(GRID, _formats("chronological")), edit_first(GRID, " 3.5 ", " 3..5 ")), GRID, match="line"),
    Case("grid-two-word-tiers", "textgrid", edit_first(GRID, 'name = "phone"', 'name = "word"'), GRID, match="2 tiers named as the word tier"),
    Case("grid-word-and-words-tiers", "textgrid", edit_first(GRID, 'name = "phone"', 'name = "Words"'), GRID, match="which holds the words is ambiguous"),
    Case("grid-no-word-tier", "textgrid", lambda f: write_textgrid(f / GRID, {"phone": grid_tiers(WORDS)["phone"]}), GRID, match="no word tier"),
    Case("grid-no-words", "textgrid", lambda f: write_grid(f / GRID, ["sp", "{NS}", "sentence_start"]), GRID, match="no words"),
    Case("grid-more-tiers-declared", "textgrid", edit_first(GRID, "size = 2 ", "size = 3 "), GRID, match="declares 3 tiers"),
    Case("grid-fewer-intervals-declared", "textgrid", edit_first(GRID, "intervals: size = 73 ", "intervals: size = 70 "), GRID, match="declares 70 intervals"),
    # response files
    Case("hf5-missing-test-story", "responses", remove(TEST), TEST, match="not found"),
    Case("hf5-missing-named-story", "responses", remove(BETA2), BETA2, options={"stories": ["alpha", "beta"]}, match="not found"),
    Case("hf5-text", "responses", write(BETA2, "data = [1, 2, 3]\n"), BETA2, match="not an HDF5 file"),
    Case("hf5-garbage", "responses", write(BETA2, bytes(range(256)) * 64), BETA2, match="not an HDF5 file"),
    Case("hf5-empty", "responses", write(BETA2, b""), BETA2, match="not an HDF5 file"),
    Case("hf5-cut-half", "responses", _cut(BETA2, 0.5), BETA2),
    Case("hf5-cut-end", "responses", _cut(BETA2, 0.97), BETA2),
    Case("hf5-header-overwritten", "responses", lambda f: (f / BETA2).write_bytes((f / BETA2).read_bytes()[:8] + bytes(600) + (f / BETA2).read_bytes()[608:]), BETA2),
    Case("hf5-no-data", "responses", _h5(BETA2, lambda h: h.create_dataset("responses", data=np.zeros((18, VOXELS)))), BETA2, match="no 'data' dataset"),
    Case("hf5-data-group", "responses", _h5(BETA2, lambda h: h.create_group("data")), BETA2, match="no 'data' dataset"),
    Case("hf5-1d", "responses", _h5(BETA2, lambda h: h.create_dataset("data", data=np.zeros(18))), BETA2, match="2-D"),
    Case("hf5-3d", "responses", _h5(BETA2, lambda h: h.create_dataset("data", data=np.zeros((2, 18, VOXELS)))), BETA2, match="2-D"),
    Case("hf5-strings", "responses", _h5(BETA2, lambda h: h.create_dataset("data", data=np.array([["a"] * VOXELS] * 18, dtype="S1"))), BETA2, match="not numbers"),
    Case("hf5-one-row-more", "responses", _data(BETA2, lambda n: _noise(n + 1)), BETA2, match="TR mismatch"),
    Case("hf5-one-row-fewer", "responses", _data(BETA2, lambda n: _noise(n - 1)), BETA2, match="TR mismatch"),
    Case("hf5-all-nan", "responses", _data(BETA2, lambda n: np.full((n, VOXELS), np.nan, np.float32)), BETA2, match="subject UTS02"),
    Case("hf5-all-inf", "responses", _data(BETA2, lambda n: np.full((n, VOXELS), np.inf, np.float32)), BETA2, match="subject UTS02"),
    Case("hf5-all-nan-in-place", "responses", _in_place(BETA2, lambda v: v.fill(np.nan)), BETA2, match="subject UTS02"),
    Case("hf5-all-zero", "responses", _data(BETA2, lambda n: np.zeros((n, VOXELS), np.float32)), BETA2, match="constant"),
    Case("hf5-nan-or-constant-everywhere", "responses",
         both(_data(f"{RESPONSES}/UTS02/alpha.hf5", _nan_first_half), _data(BETA2, _constant_second_half)), f"{RESPONSES}/UTS02", match="every voxel of subject UTS02"),
    Case("hf5-voxel-count-differs", "responses", _data(BETA2, lambda n: _noise(n, VOXELS + 1)), BETA2, match="13 voxels"),
    Case("hf5-repeats-wrong-shape", "responses", _data(TEST, _noise, lambda n: np.zeros((3, n + 1, VOXELS), np.float32)), TEST, match="'repeats'"),
    # subjects and stories the options name
    Case("subject-missing", "options", lambda f: None, f"{RESPONSES}/UTS09", options={"subjects": ["UTS01", "UTS09"]}, match="subject 'UTS09'"),
    Case("subject-misspelt", "options", lambda f: None, f"{RESPONSES}/UTS1", options={"subjects": ["UTS1"]}, match="did you mean"),
    Case("subject-folder-gone", "options", remove(f"{RESPONSES}/UTS02"), f"{RESPONSES}/UTS02", options={"subjects": ["UTS01", "UTS02"]}),
    Case("story-unknown", "options", lambda f: None, f"{DERIVATIVE}/respdict.json", options={"stories": ["alpha", "gamma"]}, match="no story 'gamma'"),
    Case("story-misspelt", "options", lambda f: None, f"{DERIVATIVE}/respdict.json", options={"stories": ["alpah"]}, match="did you mean 'alpha'"),
    Case("test-story-unknown", "options", lambda f: None, f"{DERIVATIVE}/respdict.json", options={"test_stories": ["smoke"]}, match="options.test_stories"),
    Case("stories-only-test", "options", lambda f: None, "options.stories", options={"stories": ["wheretheressmoke"]}),
    Case("no-training-story-left", "options", both(remove(f"{GRIDS}/alpha.TextGrid"), remove(f"{GRIDS}/beta.TextGrid")), DERIVATIVE, match="no training stories"),
    # ROIs
    Case("rois-garbage", "rois", write(f"{DERIVATIVE}/rois/UTS01.json", "{auditory: [1, 2"), f"{DERIVATIVE}/rois/UTS01.json"),
    Case("rois-out-of-range", "rois", write(f"{DERIVATIVE}/rois/UTS01.json", '{"auditory": [0, 12]}'), f"{DERIVATIVE}/rois/UTS01.json", match="voxel 12"),
    # timing
    Case("words-after-every-scan", "timing", lambda f: write_grid(f / GRID, WORDS, start=300.0), GRID, match="do not overlap"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_data_is_one_line_and_the_finished_run_is_untouched(case, finished, tmp_path, capfd):
    finished_folder, run = finished
    config = _config(tmp_path, tmp_path / "case" / "ds", **(case.options or {}))
    shutil.copytree(finished_folder / "ds", tmp_path / "case" / "ds")
    case.damage(tmp_path / "case")
    data = yaml.safe_load(config.read_text())
    data["run"] = str(run)
    config.write_text(yaml.safe_dump(data))
    named = case.names if not case.names.startswith("ds") else str(tmp_path / "case" / case.names)
    before = _snapshot(run)
    for command, line in refused_in_one_line(config, capfd):
        assert named in line and case.match in line, line
        assert _snapshot(run) == before, command


def test_a_failed_sweep_does_not_create_its_run_directory(finished, tmp_path, capfd):
    finished_folder, _ = finished
    shutil.copytree(finished_folder / "ds", tmp_path / "ds")
    (tmp_path / "ds/derivative/TextGrids/alpha.TextGrid").write_text("garbage")
    assert main(["sweep", str(_config(tmp_path, tmp_path / "ds")), "--quiet"]) == 2
    assert "alpha.TextGrid: not a Praat TextGrid" in capfd.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_good_copy_validates_with_notes(finished, tmp_path, capfd):
    finished_folder, run = finished
    shutil.copytree(finished_folder / "ds", tmp_path / "ds")
    config = _config(tmp_path, tmp_path / "ds")
    assert main(["validate", str(config)]) == 0
    out = capfd.readouterr().out
    assert "2 subjects x 3 stories (2 train, 1 test), 12 voxels" in " ".join(out.split())
    assert "UTS01: 12 voxels, 0 with NaN or infinite values and 0 constant" in " ".join(out.split())


def test_nan_and_constant_voxels_are_counted_per_subject(finished, tmp_path, capfd):
    finished_folder, _ = finished
    shutil.copytree(finished_folder / "ds", tmp_path / "ds")

    def some_bad(values):
        values[3, 0] = np.nan
        values[:, 5] = 2.5
        values[:, 6] = 0.0

    _in_place("ds/derivative/preprocessed_data/UTS02/alpha.hf5", some_bad)(tmp_path)
    assert main(["validate", str(_config(tmp_path, tmp_path / "ds"))]) == 0
    out = " ".join(capfd.readouterr().out.split())
    assert "UTS01: 12 voxels, 0 with NaN or infinite values and 0 constant" in out
    assert "UTS02: 12 voxels, 1 with NaN or infinite values and 2 constant in some story" in out


def test_responses_shortened_with_respdict_while_words_run_on_is_an_error_unless_allowed(finished, tmp_path, capfd):
    """respdict.json and the response file agree on a shorter story, but the TextGrid's words run past it.

    Words after the last kept scan are a note from the loader (the public loader's trimming always
    drops the last scans, and those words reach the model through earlier scans); responses that
    end well before the words (here 16 % of the words' span uncovered) are an error of the plan
    checks unless the entry sets ``allow_truncated_story: true`` (tests/plan/test_preflight.py).
    """
    finished_folder, _ = finished
    shutil.copytree(finished_folder / "ds", tmp_path / "ds")
    both(_respdict({"beta": 30}), _data("ds/derivative/preprocessed_data/UTS01/beta.hf5", lambda n: _noise(10)),
          _data("ds/derivative/preprocessed_data/UTS02/beta.hf5", lambda n: _noise(10)))(tmp_path)
    config = _config(tmp_path, tmp_path / "ds")
    assert main(["validate", str(config)]) == 2
    assert "story 'beta': its responses (11–29 s) cover only 84% of its words" in capfd.readouterr().err
    data = yaml.safe_load(config.read_text())
    data["brain"][0]["allow_truncated_story"] = True
    config.write_text(yaml.safe_dump(data))
    assert main(["validate", str(config)]) == 0
    out = " ".join(capfd.readouterr().out.split())
    assert "words run past the last kept scan" in out and "beta (" in out and "words after 29 s" in out
    assert "UTS01/beta 84%" in out


def test_a_story_without_files_is_left_out_with_a_note(finished, tmp_path, capfd):
    finished_folder, _ = finished
    shutil.copytree(finished_folder / "ds", tmp_path / "ds")
    _respdict({"gamma": 40, "delta": 38})(tmp_path)
    derivative = tmp_path / "ds/derivative"
    shutil.copy(derivative / "TextGrids/beta.TextGrid", derivative / "TextGrids/delta.TextGrid")
    for subject in ("UTS01", "UTS02"):  # a third story, so that two training stories are left
        shutil.copy(derivative / f"preprocessed_data/{subject}/beta.hf5", derivative / f"preprocessed_data/{subject}/delta.hf5")
    (derivative / "TextGrids/alpha.TextGrid").unlink()
    assert main(["validate", str(_config(tmp_path, tmp_path / "ds"))]) == 0
    out = " ".join(capfd.readouterr().out.split())
    assert "2 stories of respdict.json lack a TextGrid or a subject's responses and are left out: alpha, gamma" in out


def test_values_rewritten_in_place_recompute_the_cells(finished, tmp_path, capfd):
    """The data hash follows the content: one value changed in place (same size, same names) -> every cell pending."""
    finished_folder, _ = finished
    shutil.copytree(finished_folder / "ds", tmp_path / "ds")
    config = _config(tmp_path, tmp_path / "ds", subjects=["UTS01"])
    assert main(["sweep", str(config), "--quiet"]) == 0
    capfd.readouterr()
    assert main(["validate", str(config)]) == 0
    assert "9 cells planned, 9 already done, 0 to run" in capfd.readouterr().out
    target = tmp_path / "ds/derivative/preprocessed_data/UTS01/beta.hf5"
    size = target.stat().st_size
    _in_place("ds/derivative/preprocessed_data/UTS01/beta.hf5", lambda v: v.__setitem__((0, 0), v[0, 0] + 1))(tmp_path)
    assert target.stat().st_size == size
    assert main(["validate", str(config)]) == 0
    assert "9 cells planned, 0 already done, 9 to run" in capfd.readouterr().out


def test_the_data_hash_follows_every_file_and_is_remembered(finished, tmp_path):
    finished_folder, _ = finished
    shutil.copytree(finished_folder / "ds", tmp_path / "ds")
    for path in sorted((tmp_path / "ds").rglob("*.*")):
        os.utime(path, (time.time() - 100, time.time() - 100))  # settled: their digests are remembered

    def digest() -> str:
        return LeBel2023(LeBel2023.Options(root=str(tmp_path / "ds"))).data_hash()

    seen = {digest()}
    target = tmp_path / "ds/derivative/preprocessed_data/UTS02/wheretheressmoke.hf5"
    _in_place("ds/derivative/preprocessed_data/UTS02/wheretheressmoke.hf5", lambda v: v.__setitem__((5, 3), 0.25))(tmp_path)
    seen.add(digest())
    os.utime(target, (time.time() - 50, time.time() - 50))  # settled again: remembered with the new content
    assert digest() in seen
    grid = tmp_path / "ds/derivative/TextGrids/beta.TextGrid"
    grid.write_text(grid.read_text().replace('text = "went"', 'text = "want"', 1))
    seen.add(digest())
    respdict = tmp_path / "ds/derivative/respdict.json"
    respdict.write_text(json.dumps({**json.loads(respdict.read_text()), "alpha": 41}))
    (tmp_path / "ds/derivative/preprocessed_data/UTS01/alpha.hf5").unlink()  # alpha drops out of the split
    seen.add(digest())
    assert len(seen) == 4 and "" not in seen


def test_a_second_check_reads_only_what_changed(finished, tmp_path, monkeypatch):
    finished_folder, _ = finished
    shutil.copytree(finished_folder / "ds", tmp_path / "ds")
    for path in sorted((tmp_path / "ds").rglob("*.*")):
        os.utime(path, (time.time() - 100, time.time() - 100))
    data = LeBel2023(LeBel2023.Options(root=str(tmp_path / "ds")))
    first = data.check()
    assert "(0 unchanged since an earlier check)" in first[0]
    data.data_hash()
    import harness_plugins.brain.filecache as filecache
    import harness_plugins.brain.lebel2023 as lebel

    def unreadable(path):
        raise AssertionError(f"read again: {path}")

    monkeypatch.setattr(lebel, "_scan_response", unreadable)
    monkeypatch.setattr(lebel, "_read_words", unreadable)
    monkeypatch.setattr(filecache, "_sha256", unreadable)
    again = LeBel2023(LeBel2023.Options(root=str(tmp_path / "ds")))
    assert again.check()[0].endswith("(9 unchanged since an earlier check)")  # 3 TextGrids, 6 response files
    assert again.data_hash() == data.data_hash()
    changed = tmp_path / "ds/derivative/preprocessed_data/UTS01/alpha.hf5"
    _in_place("ds/derivative/preprocessed_data/UTS01/alpha.hf5", lambda v: v.__setitem__((0, 0), np.nan))(tmp_path)
    with pytest.raises(AssertionError, match="read again: .*alpha.hf5"):
        LeBel2023(LeBel2023.Options(root=str(tmp_path / "ds"))).check()
    assert changed.stat().st_size > 0


def test_simulated_data_is_checked_through_the_lebel_reader(tmp_path):
    from harness_plugins.brain.simulated import Simulated

    data = Simulated(Simulated.Options(cache=str(tmp_path), voxels=64, stories=4, words_per_story=200, subjects=1))
    notes = data.check()
    assert notes[0].startswith("simulated data written to")
    assert "1 subject x 4 stories (3 train, 1 test), 64 voxels" in notes[1]
    assert data.check()[0].startswith("1 subject x 4 stories")
    damaged = data.root / "derivative/preprocessed_data/SIM01/sim02.hf5"
    damaged.write_bytes(b"not hdf5")
    with pytest.raises(DataError, match=r"sim02.hf5: not an HDF5 file"):
        Simulated(Simulated.Options(cache=str(tmp_path), voxels=64, stories=4, words_per_story=200, subjects=1)).check()


def count_cases() -> dict[str, int]:
    """Malformed inputs by class (run this module as a script to print them)."""
    counts: dict[str, int] = {}
    for case in CASES:
        counts[case.kind] = counts.get(case.kind, 0) + 1
    return counts


if __name__ == "__main__":  # pragma: no cover
    print(count_cases(), sum(count_cases().values()))
