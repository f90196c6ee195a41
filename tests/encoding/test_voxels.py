"""Voxel selection (``encoding.voxels``): parsing, the config hash, what the scorer fits and records, and preflight."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.cli import main
from harness.encoding import BrainScorer
from harness.encoding.settings import EncodingSettings, parse_voxel_selector
from harness.plan.config import parse_config
from harness.plugin.contract import SubjectData
from harness.store.database import RunStore
from harness.util.errors import ConfigError, DataError
from tests.encoding.test_scorer import InMemory
from tests.support.damage import refused_in_one_line
from tests.support.lebel_fixture import VOXELS, write_fixture
from tests.support.plugin_packages import TINY_GPT_PLUGINS, activate, write_plugin_package

N_VOXELS = 8


class Tiny(InMemory):
    """One subject held in memory, with a noise ceiling (when given), a mask and an ROI."""

    name = "tiny"

    def __init__(self, ceiling: np.ndarray | None):
        responses = {k: np.random.default_rng(1).standard_normal((30, N_VOXELS)).astype(np.float32) for k in "abct"}
        responses["b"][3, 6] = np.nan  # voxel 6 is dropped wherever it is selected
        super().__init__(responses)
        self._ceiling = ceiling

    def load_subject(self, subject):
        return SubjectData(responses=self._responses, times=self._times, noise_ceiling=self._ceiling,
                           rois={"early": np.array([0, 1])}, masks={"cortex": np.array([1, 2, 4, 6])})


CEILING = np.array([0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.95, 0.0], dtype=np.float32)


def _features(seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal((200, 4)).astype(np.float32) for k in "abct"}


def _subject(output):
    return {s.metric: s.value for s in output.scores if s.scope == "S1"}


@pytest.mark.parametrize(("text", "shown"), [("all", "all"), ("reliable:0.10", "reliable:0.1"), ("reliable:5000", "reliable:5000"),
                                             ("mask:cortex", "mask:cortex"), ("Reliable:1.0", "reliable:1")])
def test_the_forms_parse(text, shown):
    assert str(parse_voxel_selector(text)) == shown


@pytest.mark.parametrize("bad", ["some", "reliable:", "reliable:0", "reliable:1.5", "reliable:-3", "reliable:x", "mask:", "all:3"])
def test_a_malformed_value_is_one_line_naming_the_key_and_the_forms(bad):
    data = {"models": [{"family": "tinylm"}], "brain": [{"dataset": "simulated", "encoding": {"voxels": bad}}]}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "sweep.yaml")
    line = str(caught.value)
    assert "\n" not in line and line.startswith("sweep.yaml: brain[0].encoding.voxels: bad voxel selection")
    assert "reliable:F" in line and "mask:NAME" in line


def test_the_selection_changes_the_config_hash_and_all_hashes_as_before():
    def digest(encoding):
        return parse_config({"models": [{"family": "tinylm"}], "brain": [{"dataset": "simulated", "encoding": encoding}]}).digest()

    assert digest({}) == digest({"voxels": "all"})
    assert "voxels" not in EncodingSettings().model_dump()
    assert digest({"voxels": "reliable:0.1"}) != digest({})
    assert digest({"voxels": "reliable:0.1"}) == digest({"voxels": "reliable:0.10"})
    assert digest({"voxels": "reliable:0.1"}) != digest({"voxels": "reliable:0.2"})


def test_reliable_scores_the_highest_ceilings_with_the_same_r_as_all_voxels():
    everything = BrainScorer(Tiny(CEILING), EncodingSettings(folds=3), device="cpu").score(_features())
    chosen = BrainScorer(Tiny(CEILING), EncodingSettings(folds=3, voxels="reliable:4"), device="cpu").score(_features())
    top = np.array([1, 3, 5, 6])  # the four highest ceilings; voxel 6 is NaN in a story and dropped
    r_all, r = everything.arrays["r/S1"], chosen.arrays["r/S1"]
    assert r.shape == (N_VOXELS,)
    assert np.isnan(np.delete(r, [1, 3, 5])).all()
    np.testing.assert_allclose(r[[1, 3, 5]], r_all[[1, 3, 5]], atol=1e-5)  # voxels are fitted independently
    values = _subject(chosen)
    assert values["r_mean"] == pytest.approx(float(np.mean(r_all[[1, 3, 5]])), abs=1e-5)
    assert (values["n_voxels"], values["n_dropped"], values["n_unselected"]) == (3, 1, 4)
    assert values["r_mean_norm"] == pytest.approx(values["r_mean"] / float(CEILING[[1, 3, 5]].mean()), rel=1e-4)
    np.testing.assert_array_equal(chosen.arrays["voxels/S1"], top)
    np.testing.assert_allclose(chosen.arrays["voxels_ceiling/S1"], CEILING[top])
    assert "n_unselected" not in _subject(everything) and "voxels/S1" not in everything.arrays


def test_a_fraction_rounds_up():
    output = BrainScorer(Tiny(CEILING), EncodingSettings(folds=3, voxels="reliable:0.3"), device="cpu").score(_features())
    np.testing.assert_array_equal(output.arrays["voxels/S1"], [1, 3, 6])  # ceil(0.3 × 8) = 3


@pytest.mark.parametrize(("mask", "voxels"), [("cortex", [1, 2, 4, 6]), ("early", [0, 1])])
def test_a_mask_or_an_roi_limits_the_voxels(mask, voxels):
    output = BrainScorer(Tiny(None), EncodingSettings(folds=3, voxels=f"mask:{mask}"), device="cpu").score(_features())
    np.testing.assert_array_equal(output.arrays["voxels/S1"], voxels)
    assert "voxels_ceiling/S1" not in output.arrays
    scored = sorted(set(voxels) - {6})
    assert np.flatnonzero(np.isfinite(output.arrays["r/S1"])).tolist() == scored
    assert _subject(output)["n_voxels"] == len(scored)


def test_what_the_dataset_cannot_give_is_one_line():
    with pytest.raises(DataError, match=r"mask:cortx: no such mask \(did you mean 'cortex'\?\); the dataset's masks: cortex, early"):
        BrainScorer(Tiny(None), EncodingSettings(voxels="mask:cortx"))
    with pytest.raises(DataError, match="reliable:0.1 ranks voxels by the noise ceiling .* gives none for this subject; use all or mask:NAME"):
        BrainScorer(Tiny(None), EncodingSettings(voxels="reliable:0.1"))
    with pytest.raises(DataError, match="reliable:9 asks for 9 voxels, the subject has 8"):
        BrainScorer(Tiny(CEILING), EncodingSettings(voxels="reliable:9"))


# --------------------------------------------------------------------------- preflight, through the CLI


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The tiny GPT family and LeBel data (no test repeats) whose subjects have a ``cortex`` ROI."""
    folder = tmp_path_factory.mktemp("voxels")
    write_plugin_package(folder / "site", "tinyplug", TINY_GPT_PLUGINS)
    write_fixture(folder / "ds")
    (folder / "ds/derivative/rois").mkdir()
    for subject in ("UTS01", "UTS02"):
        (folder / f"ds/derivative/rois/{subject}.json").write_text(json.dumps({"cortex": list(range(VOXELS // 2))}))
    return folder


def _config(site: Path, folder: Path, voxels: str) -> Path:
    data = {
        "run": str(folder / "run"), "cache": str(folder / "cache"),
        "models": [{"family": "tinygpt", "checkpoints": "all", "layers": [0]}],
        "brain": [{"dataset": "lebel2023", "options": {"root": str(site / "ds")},
                   "encoding": {"folds": 2, "alphas": [1, 10], "voxels": voxels}}],
        "features": {"context_tokens": 32, "stride": 16, "batch_size": 4}, "analyze": False,
    }
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("voxels", "needles"), [
    ("mask:cortx", ("brain[0] (lebel2023): subject UTS01: encoding.voxels: mask:cortx: no such mask (did you mean 'cortex'?)",)),
    ("reliable:0.5", ("brain[0] (lebel2023): subject UTS01: encoding.voxels: reliable:0.5 ranks voxels by the noise ceiling",
                      "use all or mask:NAME (cortex)")),
    ("reliable:0.5x", ("brain[0].encoding.voxels: bad voxel selection 'reliable:0.5x'",)),
])
def test_preflight_refuses_what_the_dataset_cannot_give_in_one_line_and_writes_nothing(site, voxels, needles, tmp_path, capfd, monkeypatch):
    activate(site / "site", monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "tinyplug,lebel2023")
    monkeypatch.chdir(tmp_path)
    config = _config(site, tmp_path, voxels)
    before = sorted(tmp_path.rglob("*"))
    for command, line in refused_in_one_line(config, capfd):
        assert line.startswith(f"error: {config}: "), line
        for needle in needles:
            assert needle in line, (needle, line)
        assert sorted(tmp_path.rglob("*")) == before, command


def test_a_sweep_with_a_mask_records_the_selection_and_counts_it(site, tmp_path, capfd, monkeypatch):
    activate(site / "site", monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "tinyplug,lebel2023")
    config = _config(site, tmp_path, "mask:cortex")
    assert main(["validate", str(config)]) == 0
    assert main(["sweep", str(config), "--quiet"]) == 0
    with RunStore(tmp_path / "run") as store:
        results, artifacts = store.results_frame(), store.artifacts_frame()
    counts = results[(results["scope"] == "UTS01") & results["metric"].isin(["n_voxels", "n_dropped", "n_unselected"])]
    assert counts.groupby("metric")["value"].max().to_dict() == {"n_voxels": VOXELS // 2, "n_dropped": 0, "n_unselected": VOXELS // 2}
    path = artifacts[artifacts["name"] == "voxels/UTS01"]["path"].iloc[0]
    with np.load(tmp_path / "run" / path) as arrays:
        np.testing.assert_array_equal(arrays["voxels/UTS01"], np.arange(VOXELS // 2))
        assert np.isnan(arrays["r/UTS01"][VOXELS // 2:]).all() and np.isfinite(arrays["r/UTS01"][: VOXELS // 2]).all()
