"""The LeBel 2023 loader on small fixtures written in the real ds003020 derivative layout."""

from __future__ import annotations

import builtins
import json

import h5py
import numpy as np
import pytest

from harness.util.errors import DataError, HarnessError
from harness_plugins.brain.lebel2023 import LeBel2023, kept_scan_times
from harness_plugins.brain.textgrid import read_textgrid, write_textgrid
from tests.support.lebel_fixture import STORIES, VOXELS, write_fixture


@pytest.fixture
def root(tmp_path):
    return write_fixture(tmp_path / "ds003020")


def test_reads_the_layout(root):
    data = LeBel2023(LeBel2023.Options(root=str(root)))
    assert data.subjects() == ["UTS01", "UTS02"]
    assert data.split() == (["alpha", "beta"], ["wheretheressmoke"])
    story = data.stories()["alpha"]
    assert story.words[:6] == ("i", "went", "to", "the", "store", "today")
    assert len(story.words) == 36 and len(story.onsets) == 36
    np.testing.assert_allclose(story.onsets[:2], [1.5, 2.0])  # after sentence_start
    np.testing.assert_allclose(story.offsets[:2], [2.0, 2.5])
    subject = data.load_subject("UTS01")
    assert subject.responses["alpha"].shape == (20, VOXELS)
    assert subject.noise_ceiling is None and subject.rois == {}
    # the public loader's timing: scan i of the (n − 5)-scan series at 2i − 9 s; scans 10 … −5 kept
    np.testing.assert_allclose(subject.times["alpha"], 2 * np.arange(10, 30) - 9)
    assert data.data_hash() and data.data_hash() == LeBel2023(LeBel2023.Options(root=str(root))).data_hash()


def test_kept_scan_times_counts():
    assert len(kept_scan_times(301)) == 281
    assert kept_scan_times(301)[0] == 11.0


def test_tr_mismatch_is_one_line(root):
    path = root / "derivative" / "preprocessed_data" / "UTS02" / "beta.hf5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("data", data=np.zeros((STORIES["beta"] - 19, VOXELS), dtype=np.float32))
    data = LeBel2023(LeBel2023.Options(root=str(root), subjects=["UTS02"]))
    with pytest.raises(DataError, match=r"beta.hf5: 19 scans, but respdict.json gives 38 and trimming keeps 18 \(TR mismatch: 38 − pad 5"):
        data.load_subject("UTS02")


def test_missing_story_and_missing_word_tier(root):
    data = LeBel2023(LeBel2023.Options(root=str(root), stories=["alpha", "gamma"]))
    with pytest.raises(DataError, match=r"respdict.json: no story 'gamma' \(named in options.stories\)"):
        data.stories()
    write_textgrid(root / "derivative" / "TextGrids" / "beta.TextGrid", {"phone": [(0.0, 1.0, "AH")]})
    data = LeBel2023(LeBel2023.Options(root=str(root)))
    with pytest.raises(DataError, match=r"beta.TextGrid: no word tier \(tiers: phone"):
        data.stories()
    write_textgrid(root / "derivative" / "TextGrids" / "beta.TextGrid", {"phones": [(0.0, 1.0, "AH")], "speaker A": [(0.0, 1.0, "hi")]})
    assert LeBel2023(LeBel2023.Options(root=str(root))).stories()["beta"].words == ("hi",)  # positional word tier
    (root / "derivative" / "preprocessed_data" / "UTS01" / "alpha.hf5").unlink()
    data = LeBel2023(LeBel2023.Options(root=str(root), stories=["alpha"], subjects=["UTS01"]))
    with pytest.raises(DataError, match=r"UTS01/alpha.hf5: not found: subject UTS01's responses to story 'alpha'"):
        data.load_subject("UTS01")


def test_missing_root_names_the_fetch_command(tmp_path):
    with pytest.raises(DataError, match="harness data fetch lebel2023"):
        LeBel2023(LeBel2023.Options(root=str(tmp_path))).split()


def test_repeats_give_a_noise_ceiling_and_rois_are_read(root):
    rng = np.random.default_rng(1)
    n = STORIES["wheretheressmoke"] - 20
    signal = rng.standard_normal((n, VOXELS)) * np.linspace(0, 3, VOXELS)
    repeats = signal[None] + rng.standard_normal((5, n, VOXELS))
    with h5py.File(root / "derivative" / "preprocessed_data" / "UTS01" / "wheretheressmoke.hf5", "w") as handle:
        handle.create_dataset("data", data=repeats.mean(0).astype(np.float32))
        handle.create_dataset("repeats", data=repeats.astype(np.float32))
    (root / "derivative" / "rois").mkdir()
    (root / "derivative" / "rois" / "UTS01.json").write_text(json.dumps({"AC": [0, 1, 2]}))
    subject = LeBel2023(LeBel2023.Options(root=str(root))).load_subject("UTS01")
    assert subject.noise_ceiling is not None and subject.noise_ceiling.shape == (VOXELS,)
    assert subject.noise_ceiling[-1] > 0.9 and subject.noise_ceiling[0] < 0.5
    assert subject.rois["AC"].tolist() == [0, 1, 2]


def test_textgrid_short_format_and_escapes(tmp_path):
    short = tmp_path / "short.TextGrid"
    short.write_text(
        'File type = "ooTextFile"\nObject class = "TextGrid"\n\n0\n2.5\n<exists>\n2\n'
        '"IntervalTier"\n"phone"\n0\n2.5\n1\n0\n2.5\n"AH"\n'
        '"IntervalTier"\n"word"\n0\n2.5\n3\n0\n1\n"say"\n1\n2\n"""hi"""\n2\n2.5\n"sp"\n'
    )
    tiers = read_textgrid(short)
    assert list(tiers) == ["phone", "word"]
    assert tiers["word"] == [(0.0, 1.0, "say"), (1.0, 2.0, '"hi"'), (2.0, 2.5, "sp")]
    long = tmp_path / "long.TextGrid"
    write_textgrid(long, tiers)
    assert read_textgrid(long) == tiers
    (tmp_path / "bad.TextGrid").write_text("hello")
    with pytest.raises(DataError, match="not a Praat TextGrid"):
        read_textgrid(tmp_path / "bad.TextGrid")


def test_fetch_without_a_client_names_the_package(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def blocked(name, *args, **kwargs):
        if name.split(".")[0] in ("openneuro", "datalad"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)
    monkeypatch.setattr("importlib.import_module", lambda name, *a: blocked(name))
    with pytest.raises(HarnessError, match="pip install openneuro-py"):
        LeBel2023.fetch(tmp_path, ["UTS01"])


def test_fetch_uses_openneuro_when_installed(tmp_path, monkeypatch):
    calls = {}

    class FakeOpenNeuro:
        @staticmethod
        def download(**kwargs):
            calls.update(kwargs)

    monkeypatch.setattr("importlib.import_module", lambda name, *a: FakeOpenNeuro if name == "openneuro" else None)
    LeBel2023.fetch(tmp_path / "ds", ["UTS03"])
    assert calls["dataset"] == "ds003020"
    assert "derivative/preprocessed_data/UTS03/*" in calls["include"]
    assert "derivative/TextGrids/*" in calls["include"]
    # the pycortex database's surfaces and transforms (masks included) for the maps, not its caches
    assert {"derivative/pycortex-db/UTS03/surfaces/*", "derivative/pycortex-db/UTS03/transforms/*"} <= set(calls["include"])
    LeBel2023.fetch(tmp_path / "ds", [])
    assert "derivative/preprocessed_data/UTS08/*" in calls["include"]  # no subjects named: all eight
