"""Nuisance bands and variance partitioning in the scorer (encoding.nuisance), on the simulated dataset: scores, the
nuisance-only fit kept under the cache, and the memory a pass plans for the banded fit's decompositions."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from harness.encoding import BrainScorer, alone
from harness.encoding import scorer as scorer_module
from harness.encoding.footprint import decomposition_bytes, layer_bytes, layer_widths, shared_bytes
from harness.encoding.nuisance import check_nuisance, word_features
from harness.encoding.settings import EncodingSettings
from harness.plugin.contract import Modality, Story
from harness.util.errors import DataError
from harness.util.paths import cache_root
from harness_plugins.brain.simulated import Simulated
from tests.support.fits import counted_fits

ALL = ["word_rate", "phoneme_rate", "word_length", "word_frequency"]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    return Simulated(Simulated.Options(cache=str(tmp_path_factory.mktemp("sim")), voxels=64, stories=5,
                                       words_per_story=300))


@pytest.fixture(scope="module")
def scorer(simulated):
    """Every nuisance feature, three band ratios."""
    settings = EncodingSettings(nuisance=ALL, nuisance_ratios=[0.1, 1.0, 10.0])
    return BrainScorer(simulated, settings, device="cpu")


def _mean(output):
    return {s.metric: s.value for s in output.scores if s.scope == "mean"}


def test_cells_report_joint_nuisance_and_unique_scores(simulated, scorer):
    output = scorer.score(simulated.ground_truth_features())
    values = _mean(output)
    for metric in ("r_mean", "r_joint", "r_nuisance", "r2_joint", "r2_nuisance", "r2_unique", "r2_unique_top",
                   "r2_unique_roi:semantic"):
        assert metric in values, metric
    assert values["r2_unique"] == pytest.approx(values["r2_joint"] - values["r2_nuisance"], abs=1e-6)
    assert values["r2_unique"] > 0.05  # the embeddings explain far more than word rate and length do
    assert values["r_joint"] >= values["r_nuisance"]
    for subject in ("SIM01", "SIM02"):
        assert output.arrays[f"r2_unique/{subject}"].shape == (64,)
        assert output.arrays[f"alpha_nuisance/{subject}"].shape == (64,)


def test_a_model_that_is_only_word_rate_has_no_unique_variance(simulated, scorer):
    rate = {s: f[:, -3:-2] for s, f in simulated.ground_truth_features().items()}  # the word_rate column
    values = _mean(scorer.score(rate))
    assert abs(values["r2_unique"]) < 0.01
    assert values["r_mean"] > 0.05  # word rate alone does predict the responses


def test_the_nuisance_only_model_is_fitted_once_per_subject(simulated, scorer, monkeypatch):
    scorer.score(simulated.ground_truth_features())  # fitted by now
    fitted = counted_fits(monkeypatch)
    scorer.score(simulated.ground_truth_features())
    assert "RidgeCV" not in fitted and "BandedRidgeCV" in fitted


def _same(a, b):
    assert [(s.metric, s.scope, s.value) for s in a.scores] == [(s.metric, s.scope, s.value) for s in b.scores]
    assert a.arrays.keys() == b.arrays.keys()
    for key in a.arrays:
        np.testing.assert_array_equal(a.arrays[key], b.arrays[key], err_msg=key)


def test_another_scorer_reads_the_kept_nuisance_only_fit_and_a_damaged_one_is_fitted_again(simulated, monkeypatch):
    settings = EncodingSettings(nuisance=["word_rate", "word_length"], nuisance_ratios=[1.0])
    features = simulated.ground_truth_features()
    first = BrainScorer(simulated, settings, device="cpu").score(features)
    folders = sorted((cache_root() / "nuisance").iterdir())
    assert len(folders) == 2  # one per subject
    fitted = counted_fits(monkeypatch)
    _same(BrainScorer(simulated, settings, device="cpu").score(features), first)  # a resumed sweep, another worker
    assert fitted.count("RidgeCV") == 0 and fitted.count("BandedRidgeCV") == 2
    damaged = folders[0] / "fit.npy"
    payload = bytearray(damaged.read_bytes())
    payload[-8:] = b"\x00" * 8  # one voxel's r, bits flipped on disk
    damaged.write_bytes(bytes(payload))
    (folders[1] / "fit.npy").write_bytes(b"")  # a file cut short
    del fitted[:]
    _same(BrainScorer(simulated, settings, device="cpu").score(features), first)
    assert fitted.count("RidgeCV") == 2  # both fitted again, not trusted
    for folder in folders:
        assert alone.read_alone(folder, 64) is not None  # and written again, whole
    (folders[0] / "meta.json").unlink()  # a write that never finished
    del fitted[:]
    _same(BrainScorer(simulated, settings, device="cpu").score(features), first)
    assert fitted.count("RidgeCV") == 1


def test_what_the_nuisance_only_fit_depends_on_is_in_its_key():
    base = EncodingSettings(nuisance=["word_rate"])
    key = alone.alone_key("responses", "design", base)
    changed = [alone.alone_key("other", "design", base), alone.alone_key("responses", "other", base)]
    changed += [alone.alone_key("responses", "design", base.model_copy(update=update)) for update in (
        {"nuisance": ["word_rate", "word_length"]}, {"delays": [1, 2]}, {"lanczos_window": 2}, {"folds": 3},
        {"alphas": [1.0, 10.0]}, {"precision": "tf32"})]
    assert key not in changed and len(set(changed)) == len(changed)
    for update in ({"nuisance_ratios": [1.0]}, {"top_fraction": 0.2}, {"permutations": 100}, {"memory_gb": 1.0}):
        assert alone.alone_key("responses", "design", base.model_copy(update=update)) == key  # the fit is the same


def test_without_nuisance_nothing_changes(simulated):
    plain = EncodingSettings()
    assert "nuisance" not in plain.model_dump() and "nuisance_ratios" not in plain.model_dump()
    assert "nuisance" in EncodingSettings(nuisance=["word_rate"]).model_dump()


def test_word_features():
    story = Story("s", ("The", "cat's", "sat"), np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.5, 2.5]))
    values = word_features(["word_rate", "word_length", "word_frequency", "phoneme_rate"], {"s": story})["s"]
    assert values.shape == (3, 3)
    np.testing.assert_array_equal(values[:, 0], 1.0)
    np.testing.assert_array_equal(values[:, 1], [3, 4, 3])
    assert values[0, 2] > values[2, 2] > 0  # "the" is more frequent than "sat"


def test_unknown_nuisance_is_one_line():
    with pytest.raises(ValidationError, match="unknown nuisance feature 'word_rat'.*did you mean 'word_rate'"):
        EncodingSettings(nuisance=["word_rat"])


def test_what_a_dataset_lacks_is_one_line():
    with pytest.raises(DataError, match="phoneme_rate needs timed phones .* nophones does not give"):
        check_nuisance(["word_rate", "phoneme_rate"], SimpleNamespace(name="nophones", modality=Modality.FMRI))
    with pytest.raises(DataError, match="fMRI only, and meggy records MEG"):
        check_nuisance(["word_rate"], SimpleNamespace(name="meggy", modality=Modality.MEG))
    assert check_nuisance(["word_rate"], SimpleNamespace(name="nophones", modality=Modality.FMRI)) is None


# ---------------------------------------------------------------- the memory a pass plans (harness.encoding.footprint)

DIMS = 40
GIB = 1 << 30


@pytest.fixture(scope="module")
def features(simulated):
    rng = np.random.default_rng(0)
    return {s: rng.standard_normal((len(story.words), DIMS)).astype(np.float32)
            for s, story in simulated.stories().items()}


def held_bytes(*objects: object) -> int:
    """Bytes of every tensor and array reachable from ``objects`` (attributes, dataclass fields, lists), each storage
    once: what the solvers keep between fits."""
    seen: set[int] = set()
    visited: set[int] = set()
    total = 0
    stack = list(objects)
    while stack:
        item = stack.pop()
        if id(item) in visited:
            continue
        visited.add(id(item))
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
        elif isinstance(item, np.ndarray):
            total += item.nbytes
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif dataclasses.is_dataclass(item) or hasattr(item, "__dict__"):
            stack.extend(vars(item).values())
    return total


def _at_once(simulated, settings: EncodingSettings, monkeypatch, available: int) -> int:
    scorer = BrainScorer(simulated, settings, device="cpu")
    monkeypatch.setattr(scorer_module, "host_available", lambda: available)
    return scorer.layers_per_pass(scorer.info["SIM01"], DIMS)


def test_a_pass_plans_fewer_layers_when_each_is_also_fitted_beside_the_nuisance_band(simulated, monkeypatch):
    available = GIB
    plain = _at_once(simulated, EncodingSettings(), monkeypatch, available)
    banded = _at_once(simulated, EncodingSettings(nuisance=ALL), monkeypatch, available)
    assert plain > 12  # room for many plain layers
    assert banded <= plain // 6  # each layer is also fitted at the 5 default ratios, each wider than the layer
    assert len(layer_widths(EncodingSettings(nuisance=ALL), 4 * DIMS, 4)) == 6


def test_the_decompositions_of_a_pass_stay_within_the_room_it_plans(simulated, features, monkeypatch):
    settings = EncodingSettings(nuisance=ALL, nuisance_ratios=[0.1, 1.0, 10.0])
    scorer = BrainScorer(simulated, settings, device="cpu")
    first = scorer.info["SIM01"]
    solver, design = scorer.solver(features, first)  # one layer: its own decomposition and the banded fit's
    assert design.joint is not None and len(design.joint.solvers) == 3
    layer = held_bytes(solver, design.joint)
    alone = held_bytes(scorer.nuisance._alone_solver(first))
    plain = decomposition_bytes(first.scans, 4 * DIMS, settings.folds)
    assert layer > plain  # more than one decomposition planned generously holds: a plan must count the banded fit
    assert layer <= layer_bytes(settings, first.scans, 4 * DIMS, 4)
    assert 0 < alone <= shared_bytes(settings, first.scans, 4)
    available = 40 * layer  # room (a quarter of it) for about ten layers
    monkeypatch.setattr(scorer_module, "host_available", lambda: available)
    at_once = scorer.layers_per_pass(first, DIMS)
    assert at_once > 1
    assert at_once * layer + alone <= scorer_module.DECOMPOSITION_SHARE * available  # what a pass holds at most
