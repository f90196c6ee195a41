"""The encoder at real scale: prepared responses, every layer per pass, residency, fold-shared products."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from harness.encoding import BrainScorer, RidgeCV, story_folds
from harness.encoding.folded import FoldedResponses
from harness.encoding.prepared import open_prepared, prepare_subject, prepared_folder, prepared_key
from harness.encoding.residency import GIB, choose_residency
from harness.encoding.responses import read_blocks
from harness.encoding.settings import EncodingSettings
from harness.plan.config import parse_config
from harness.store.database import RunStore
from harness.sweep.driver import run_sweep
from harness.sweep.measure import CellMeasurer
from harness.util.errors import DataError
from harness.util.paths import cache_root
from harness_plugins.brain.simulated import Simulated

VOXELS = 120


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    return Simulated(Simulated.Options(cache=str(tmp_path_factory.mktemp("sim")), voxels=VOXELS, stories=6, words_per_story=300))


def _layer(truth: np.ndarray, index: int, rng: np.random.Generator) -> np.ndarray:
    """Layer ``index``: the true features fading with depth, beside 5 noise columns."""
    return np.hstack([truth * (1 - 0.3 * index), rng.standard_normal((len(truth), 5))]).astype(np.float32)


@pytest.fixture(scope="module")
def layers(simulated):
    """Three 'layers' of word features per story."""
    rng = np.random.default_rng(7)
    return {index: {story: _layer(truth, index, rng) for story, truth in simulated.ground_truth_features().items()} for index in range(3)}


def _same(a, b, exact: bool) -> None:
    assert [(s.metric, s.scope) for s in a.scores] == [(s.metric, s.scope) for s in b.scores]
    assert a.arrays.keys() == b.arrays.keys()
    for x, y in zip(a.scores, b.scores):
        assert x.value == y.value if exact else x.value == pytest.approx(y.value, rel=1e-4, abs=1e-5), (x.metric, x.scope)
    for key in a.arrays:
        if exact:
            np.testing.assert_array_equal(a.arrays[key], b.arrays[key], err_msg=key)
        else:
            np.testing.assert_allclose(a.arrays[key], b.arrays[key], rtol=1e-4, atol=1e-5, err_msg=key)


def _prepared_files() -> list[Path]:
    return sorted((cache_root() / "responses").glob("*/values.f32"))


# ---------------------------------------------------------------------------------------- prepared responses


def test_prepared_values_equal_the_standardised_blocks(simulated):
    scorer = BrainScorer(simulated, EncodingSettings(), device="cpu")
    info = scorer.info["SIM01"]
    data = simulated.load_subject("SIM01")
    blocks = list(read_blocks("here", data, info, scorer.train, scorer.test, 50))
    key = prepared_key(scorer.name, simulated.data_hash(), info, scorer.train, scorer.test)
    prepared = prepare_subject("here", data, info, scorer.train, scorer.test, 50, prepared_folder(key))
    assert isinstance(prepared.values, np.memmap) and prepared.values.shape == (VOXELS, info.scans)
    np.testing.assert_array_equal(prepared.kept, np.concatenate([b.kept for b in blocks]))
    np.testing.assert_array_equal(prepared.block(0, VOXELS).y_train, np.concatenate([b.y_train for b in blocks], axis=1))
    np.testing.assert_array_equal(prepared.block(0, VOXELS).y_test, np.concatenate([b.y_test for b in blocks], axis=1))
    again = open_prepared(prepared_folder(key), info.scans)  # read back as written
    assert again is not None
    np.testing.assert_array_equal(again.values, prepared.values)


def test_a_damaged_or_partial_prepared_file_is_prepared_again(simulated, layers):
    expected = BrainScorer(simulated, EncodingSettings(), device="cpu").score(layers[0])
    files = _prepared_files()
    assert len(files) == 2  # one per subject
    scans = BrainScorer(simulated, EncodingSettings()).info["SIM01"].scans
    values = files[0]
    raw = bytearray(values.read_bytes())
    raw[100:104] = b"\xff\xff\xff\x7f"  # a flipped value: same size, wrong checksum
    values.write_bytes(bytes(raw))
    assert open_prepared(values.parent, scans) is None
    _same(BrainScorer(simulated, EncodingSettings(), device="cpu").score(layers[0]), expected, exact=True)
    assert open_prepared(values.parent, scans) is not None  # written again
    with open(values, "r+b") as handle:  # truncated, as by a killed writer
        handle.truncate(values.stat().st_size // 2)
    assert open_prepared(values.parent, scans) is None
    _same(BrainScorer(simulated, EncodingSettings(), device="cpu").score(layers[0]), expected, exact=True)
    (values.parent / "meta.json").unlink()  # no completion marker: never trusted
    assert open_prepared(values.parent, scans) is None
    _same(BrainScorer(simulated, EncodingSettings(), device="cpu").score(layers[0]), expected, exact=True)
    assert _prepared_files() == files


class Rehashed(Simulated):
    """The simulated data under another data hash (as after the files on disk changed), or none."""

    def __init__(self, inner: Simulated, digest: str) -> None:
        super().__init__(inner.options)
        self.digest = digest

    def data_hash(self) -> str:
        return self.digest


def test_a_changed_data_hash_prepares_new_files_and_no_hash_prepares_none(simulated, layers):
    first = BrainScorer(Rehashed(simulated, "aaaa"), EncodingSettings(), device="cpu").score(layers[1])
    before = _prepared_files()
    assert len(before) == 2
    second = BrainScorer(Rehashed(simulated, "bbbb"), EncodingSettings(), device="cpu").score(layers[1])
    after = _prepared_files()
    assert len(after) == 4 and set(before) < set(after)
    _same(first, second, exact=True)
    none = BrainScorer(Rehashed(simulated, ""), EncodingSettings(), device="cpu").score(layers[1])  # prepared in memory
    assert _prepared_files() == after
    _same(none, first, exact=True)


# ---------------------------------------------------------------------------------------- every layer per pass


@pytest.mark.parametrize("memory_gb", ["auto", 0.0002], ids=["resident", "streamed"])
def test_layers_in_one_pass_equal_layer_by_layer(simulated, layers, memory_gb):
    settings = EncodingSettings(memory_gb=memory_gb, permutations=20, fdr_q=0.1)
    together = BrainScorer(simulated, settings, device="cpu", seed=0)
    assert together.resident == (memory_gb == "auto")
    assert together.resident or together.block_voxels("SIM01") < VOXELS / 2  # several blocks per subject
    outputs = together.score_layers(layers)
    alone = BrainScorer(simulated, settings, device="cpu", seed=0)
    for layer, features in layers.items():
        output = outputs[layer]
        assert not isinstance(output, Exception)
        _same(output, alone.score(features), exact=True)


def test_the_new_path_gives_the_baseline_numbers(simulated, layers):
    new = BrainScorer(simulated, EncodingSettings(memory_gb=0.001), device="cpu").score_layers(layers)
    old = BrainScorer(simulated, EncodingSettings(memory_gb=0.001), device="cpu", baseline=True)
    for layer, features in layers.items():
        output = new[layer]
        assert not isinstance(output, Exception)
        _same(output, old.score(features), exact=False)


def test_a_failing_layer_fails_alone(simulated, layers):
    bad = dict(layers[2], sim01=np.full_like(layers[2]["sim01"], np.nan))
    outputs = BrainScorer(simulated, EncodingSettings(), device="cpu").score_layers({0: layers[0], 2: bad})
    assert isinstance(outputs[2], DataError) and "NaN" in str(outputs[2])
    assert not isinstance(outputs[0], Exception)
    _same(outputs[0], BrainScorer(simulated, EncodingSettings(), device="cpu").score(layers[0]), exact=True)


def _sweep_config(root: Path, run: str) -> dict:
    return {"run": str(root / run), "cache": str(root / "cache"), "analyze": False,
            "models": [{"family": "tinylm", "label": "tiny", "options": {"size": "tiny", "progress": False, "cache": str(root / "cache")},
                        "checkpoints": [0, 16], "layers": "all"}],
            "brain": [{"dataset": "simulated", "options": {"subjects": 2, "stories": 4, "words_per_story": 150, "voxels": 128},
                       "encoding": {"folds": 3, "alphas": [1, 10, 100, 1000]}}],
            "features": {"context_tokens": 32, "stride": 16}}


def test_a_sweep_scoring_layers_together_gives_the_layer_by_layer_tables(tmp_path, monkeypatch):
    batches: list[int] = []
    together = CellMeasurer.measure_brain

    def counted(self, cells, model, loaded):
        batches.append(len(cells))
        return together(self, cells, model, loaded)

    monkeypatch.setattr(CellMeasurer, "measure_brain", counted)
    one_pass = run_sweep(parse_config(_sweep_config(tmp_path, "together")), show_progress=False)
    assert one_pass.failed == 0 and batches == [3, 3]  # every layer of a checkpoint in one pass

    def one_by_one(self, cells, model, loaded):
        return {k: v for cell in cells for k, v in together(self, [cell], model, loaded).items()}

    monkeypatch.setattr(CellMeasurer, "measure_brain", one_by_one)
    layer_by_layer = run_sweep(parse_config(_sweep_config(tmp_path, "alone")), show_progress=False)
    assert layer_by_layer.failed == 0

    def results(run: str) -> pd.DataFrame:
        with RunStore(tmp_path / run) as store:
            frame = store.results_frame()
        return frame.sort_values(["step", "layer", "scope", "metric"]).reset_index(drop=True)[["step", "layer", "scope", "metric", "value", "stderr"]]

    pd.testing.assert_frame_equal(results("together"), results("alone"))


# ---------------------------------------------------------------------------------------- residency


def test_residency_follows_the_memory_there_is():
    gib = GIB
    assert choose_residency(10 * gib, "cuda", "auto", host_available=64 * gib, device_free=40 * gib).where == "device"
    host = choose_residency(10 * gib, "cuda", "auto", host_available=64 * gib, device_free=12 * gib, reserve=4 * gib)
    assert host.where == "host" and "pinned" in host.line  # the GPU has the model and decompositions to hold too
    streamed = choose_residency(10 * gib, "cuda", "auto", host_available=16 * gib, device_free=8 * gib)
    assert streamed.where == "stream" and 0 < streamed.budget <= 2 * gib
    assert choose_residency(10 * gib, "cpu", "auto", host_available=24 * gib).where == "host"
    assert choose_residency(10 * gib, "cpu", "auto", host_available=16 * gib).where == "stream"
    fixed = choose_residency(10 * gib, "cpu", 2.0, host_available=512 * gib)
    assert fixed.where == "stream" and fixed.budget == 2 * gib  # a number is a fixed budget
    assert choose_residency(1 * gib, "cuda", 2.0, host_available=4 * gib, device_free=40 * gib).where == "device"
    assert choose_residency(1 * gib, "cpu", 2.0, host_available=1 * gib).where == "host"


def test_memory_gb_auto_is_the_default_and_unhashed():
    assert EncodingSettings().memory_gb == "auto"
    assert "memory_gb" not in EncodingSettings(memory_gb=3).model_dump()
    assert EncodingSettings(precision="tf32").model_dump()["precision"] == "tf32"
    assert "precision" not in EncodingSettings().model_dump()  # the default hashes as before it existed


# ---------------------------------------------------------------------------------------- fewer flops, same numbers


def test_fold_shared_training_products_equal_explicit_ones():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 24)).astype(np.float32)
    Y = (X @ rng.standard_normal((24, 200)) + 2 * rng.standard_normal((300, 200))).astype(np.float32)
    folds = story_folds([50, 70, 60, 40, 80], 3)
    full = X.T.astype(np.float64) @ Y
    for rows in folds:
        train = np.setdiff1d(np.arange(300), rows)
        shared = full - X[rows].T.astype(np.float64) @ Y[rows]
        np.testing.assert_allclose(shared, X[train].T.astype(np.float64) @ Y[train], rtol=1e-9, atol=1e-9)
    folded = FoldedResponses.of(Y, folds)
    np.testing.assert_array_equal(folded.rows(), Y)
    for method in ("spectral", "explicit"):
        solver = RidgeCV(X, folds, np.logspace(-1, 3, 7), X_test=X[:30], method=method)
        explicit, shared_fit = solver.fit(Y, return_weights=True), solver.fit_folded(folded, return_weights=True, voxel_batch=64)
        np.testing.assert_array_equal(shared_fit.alphas, explicit.alphas)
        np.testing.assert_allclose(shared_fit.cv_scores, explicit.cv_scores, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(shared_fit.predictions, explicit.predictions, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(shared_fit.weights, explicit.weights, rtol=1e-4, atol=1e-5)
    shared_grams = RidgeCV(X, folds, np.logspace(-1, 3, 7), X_test=X[:30], shared_grams=True)  # XₜᵀXₜ = XᵀX − XᵥᵀXᵥ
    for mine, theirs in zip([*shared_grams.folds, shared_grams.full], [*solver.folds, solver.full]):
        np.testing.assert_allclose(mine.eig.numpy(), theirs.eig.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(shared_grams.fit_folded(folded).predictions, solver.fit(Y).predictions, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="other folds"):
        solver.fit_folded(FoldedResponses.of(Y, story_folds([50, 70, 60, 40, 80], 2)))


def test_fold_gather_copies_runs_exactly_as_an_indexed_gather():
    from harness.encoding.folded import _gather_columns

    rng = np.random.default_rng(5)
    block = rng.standard_normal((60, 200)).astype(np.float32)[:, :150]  # a strided view, as a prepared block is
    for columns in (np.r_[10:40, 90:120, 0:5], np.r_[3, 2, 1, 7:9, 7], rng.permutation(150)[:40], np.arange(150),
                    np.zeros(0, dtype=np.int64)):
        gathered = _gather_columns(block, columns)
        assert gathered.flags.c_contiguous
        np.testing.assert_array_equal(gathered, block[:, columns])


def _anisotropic_lagged(rng: np.random.Generator, rows: int, dims: int, lags: int) -> np.ndarray:
    """Features like a language model's: a few directions dominate, an offset, smooth over rows, lagged copies."""
    mix = (np.arange(1, dims + 1) ** -1.5)[:, None] * rng.standard_normal((dims, dims))
    smooth = np.cumsum(rng.standard_normal((rows + lags, dims)), axis=0) @ mix + 5.0
    return np.hstack([smooth[lags - lag : lags - lag + rows] for lag in range(lags)]).astype(np.float32)


def test_float32_loss_chooses_the_float64_penalty_and_rescores_near_ties(monkeypatch):
    """``fit_folded``'s float32 spectral loss picks float64's penalty for every voxel. Its error is far inside
    ``TIE_TOL`` (and not zero: float32 is really used); when float32 is made worse, up to half of ``TIE_TOL``, the
    near ties scored again in float64 still give float64's choices, which float32 alone then misses."""
    import harness.encoding.ridge as ridge

    rng = np.random.default_rng(11)
    X = _anisotropic_lagged(rng, 900, 16, 4)
    signal = X @ rng.standard_normal((64, 400)).astype(np.float32)
    signal /= signal.std(0)
    Y = (rng.standard_normal((900, 400)) + signal * np.linspace(0, 0.6, 400)).astype(np.float32)
    folds = story_folds([150, 200, 130, 170, 250], 5)
    solver = RidgeCV(X, folds, np.logspace(-1, 5, 13), X_test=X[:40], method="spectral")
    folded = FoldedResponses.of(Y, folds)
    reference = solver.fit(Y)  # float64 spectral loss throughout
    np.testing.assert_array_equal(solver.fit_folded(folded).alphas, reference.alphas)
    tolerance = ridge.TIE_TOL
    monkeypatch.setattr(ridge, "TIE_TOL", -1.0)  # no voxel rescored: float32 alone
    relative = np.abs(solver.fit_folded(folded).cv_scores / reference.cv_scores - 1)
    assert 0 < relative.max() < tolerance / 10

    single = ridge._spectral_mse32

    def coarser(*args):  # float32 with errors of half the tolerance, of alternating sign from penalty to penalty
        mse = single(*args)
        signs = torch.ones(mse.shape[0], 1, dtype=mse.dtype)
        signs[1::2] = -1
        return mse * (1 + signs * tolerance / 2)

    monkeypatch.setattr(ridge, "_spectral_mse32", coarser)
    assert (solver.fit_folded(folded).alphas != reference.alphas).any()  # the coarse loss alone flips choices
    monkeypatch.setattr(ridge, "TIE_TOL", tolerance)
    np.testing.assert_array_equal(solver.fit_folded(folded).alphas, reference.alphas)


def test_tf32_on_the_cpu_is_float32(simulated, layers):
    exact = BrainScorer(simulated, EncodingSettings(), device="cpu").score(layers[0])
    _same(BrainScorer(simulated, EncodingSettings(precision="tf32"), device="cpu").score(layers[0]), exact, exact=True)
