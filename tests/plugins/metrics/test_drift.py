"""Linear CKA to the final and previous checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness import Checkpoint, MetricContext
from harness.util.errors import DataError
from harness_plugins.metrics.drift import Drift, linear_cka


def ctx(previous=None, final=None, seed: int = 0, device: str = "cpu") -> MetricContext:
    return MetricContext(Checkpoint(2, 20), layer=1, seed=seed, previous=lambda: previous, final=lambda: final, device=device)


def cka(x, y) -> float:
    return linear_cka(torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64))


def reference_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al. 2019, eq. via centred Gram matrices (HSIC form)."""
    n = len(x)
    h = np.eye(n) - 1.0 / n
    gram_x, gram_y = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return float((gram_x * gram_y).sum() / (np.linalg.norm(gram_x) * np.linalg.norm(gram_y)))


def test_cka_with_an_orthogonal_rotation_is_one():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 24))
    q, _ = np.linalg.qr(rng.normal(size=(24, 24)))
    assert cka(x, x @ q) == pytest.approx(1.0, abs=1e-10)
    assert cka(x, 3.0 * x @ q + 5.0) == pytest.approx(1.0, abs=1e-10)  # isotropic scale and shift too


def test_cka_with_independent_noise_is_near_zero():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4000, 16)), rng.normal(size=(4000, 16))
    assert cka(x, y) < 0.02


@pytest.mark.parametrize("shape", [(60, 8, 5), (30, 200, 150)])  # feature form and Gram form
def test_cka_matches_the_gram_matrix_formula(shape):
    n, dx, dy = shape
    rng = np.random.default_rng(2)
    x = rng.normal(size=(n, dx))
    y = x[:, :1] * rng.normal(size=(1, dy)) + rng.normal(size=(n, dy))
    assert cka(x, y) == pytest.approx(reference_cka(x, y), rel=1e-9)


def test_drift_scores_both_references_and_skips_missing_ones():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 10)).astype(np.float32)
    noise = rng.normal(size=(300, 10)).astype(np.float32)
    drift = Drift()
    scores = {s.metric: s.value for s in drift.compute(x, ctx(previous=x + 0.1 * noise, final=x))}
    assert scores["cka_final"] == pytest.approx(1.0, abs=1e-6)
    assert 0.9 < scores["cka_previous"] < 1.0
    first = drift.compute(x, ctx(previous=None, final=noise))
    assert [s.metric for s in first] == ["cka_final"] and first[0].value < 0.2
    only_previous = Drift(Drift.Options(against=["previous"])).compute(x, ctx(previous=x, final=x))
    assert [s.metric for s in only_previous] == ["cka_previous"]
    assert Drift.needs_reference


def test_drift_subsamples_the_same_rows_of_both_arrays():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5000, 12)).astype(np.float32)
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    small = Drift(Drift.Options(max_points=500))
    assert small.compute(x, ctx(final=(x @ q).astype(np.float32)))[0].value == pytest.approx(1.0, abs=1e-6)


def test_word_count_mismatch_is_a_data_error():
    x = np.zeros((10, 4), dtype=np.float32)
    with pytest.raises(DataError, match="10 words at step 2 but 9 at the final checkpoint"):
        Drift().compute(x, ctx(final=np.zeros((9, 4), dtype=np.float32)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, 64)).astype(np.float32)
    y = (x @ rng.normal(size=(64, 64)) + rng.normal(size=(3000, 64))).astype(np.float32)
    cpu = Drift().compute(x, ctx(previous=y, final=y))
    gpu = Drift().compute(x, ctx(previous=y, final=y, device="cuda"))
    for a, b in zip(cpu, gpu, strict=True):
        assert b.value == pytest.approx(a.value, rel=1e-3)
