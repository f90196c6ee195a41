"""Intrinsic and linear dimension against scikit-dimension and known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness import Checkpoint, MetricContext
from harness.util.errors import DataError
from harness_plugins.metrics.dimension import (
    IntrinsicDimension,
    LinearDimension,
    covariance_spectrum,
    effective_rank,
    participation_ratio,
)


def context(seed: int = 0, device: str = "cpu") -> MetricContext:
    return MetricContext(Checkpoint(1, 1), layer=0, seed=seed, previous=lambda: None, final=lambda: None, device=device)


def linear_subspace(n: int, d: int, ambient: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(ambient, d)))
    return (rng.normal(size=(n, d)) @ basis.T + 3.0).astype(np.float32)


def swiss_roll(n: int, seed: int = 0) -> np.ndarray:
    from sklearn.datasets import make_swiss_roll

    points, _ = make_swiss_roll(n, random_state=seed)
    return points.astype(np.float32)


def intrinsic(x: np.ndarray, **options) -> float:
    scores = IntrinsicDimension(IntrinsicDimension.Options(**options)).compute(x, context())
    assert [s.metric for s in scores] == ["intrinsic_dim"]
    return scores[0].value


@pytest.mark.parametrize("d", [2, 5, 10])
def test_twonn_recovers_the_dimension_of_a_linear_subspace(d):
    x = linear_subspace(2500, d, ambient=64, seed=d)
    assert intrinsic(x, max_points=None) == pytest.approx(d, rel=0.10)


def test_twonn_recovers_two_on_a_swiss_roll():
    assert intrinsic(swiss_roll(2500), max_points=None) == pytest.approx(2.0, rel=0.10)


@pytest.mark.parametrize("data", ["subspace", "roll"])
def test_twonn_agrees_with_scikit_dimension(data):
    import skdim

    x = linear_subspace(1500, 6, ambient=40) if data == "subspace" else swiss_roll(1500, seed=3)
    theirs = skdim.id.TwoNN().fit(x.astype(np.float64)).dimension_
    assert intrinsic(x, max_points=None) == pytest.approx(theirs, rel=1e-3)
    mle = skdim.id.TwoNN(method="mle").fit(x.astype(np.float64)).dimension_ if _has_mle() else None
    if mle is not None:
        assert intrinsic(x, max_points=None, fit="mle") == pytest.approx(mle, rel=1e-3)


def _has_mle() -> bool:
    import inspect

    import skdim

    return "method" in inspect.signature(skdim.id.TwoNN).parameters


def test_twonn_ignores_duplicate_rows():
    x = linear_subspace(1200, 4, ambient=32)
    doubled = np.concatenate([x, x[:600]])
    assert intrinsic(doubled, max_points=None) == pytest.approx(intrinsic(x, max_points=None), rel=1e-9)


def test_subsample_is_seeded():
    x = linear_subspace(3000, 5, ambient=32)
    metric = IntrinsicDimension(IntrinsicDimension.Options(max_points=800))
    a = metric.compute(x, context(seed=1))[0].value
    assert a == metric.compute(x, context(seed=1))[0].value
    assert a != metric.compute(x, context(seed=2))[0].value
    fixed = IntrinsicDimension(IntrinsicDimension.Options(max_points=800, seed=1))
    assert fixed.compute(x, context(seed=9))[0].value == a


def test_participation_ratio_and_effective_rank_of_isotropic_data_equal_its_dimension():
    x = np.random.default_rng(0).normal(size=(40000, 12)).astype(np.float32)
    scores = {s.metric: s.value for s in LinearDimension(LinearDimension.Options(max_points=None)).compute(x, context())}
    assert scores["participation_ratio"] == pytest.approx(12, rel=0.02)
    assert scores["effective_rank"] == pytest.approx(12, rel=0.02)


def test_linear_dimension_of_a_known_spectrum():
    eig = torch.tensor([4.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    assert participation_ratio(eig) == pytest.approx(36 / 18)
    p = np.array([2, 1, 1]) / 4
    assert effective_rank(eig) == pytest.approx(np.exp(-(p * np.log(p)).sum()))


def test_covariance_spectrum_matches_numpy_in_both_shapes():
    rng = np.random.default_rng(1)
    for shape in [(200, 30), (20, 300)]:
        x = rng.normal(size=shape) * rng.uniform(0.1, 3, size=shape[1])
        ours = covariance_spectrum(torch.as_tensor(x)).numpy()
        theirs = np.sort(np.clip(np.linalg.eigvalsh(np.cov(x, rowvar=False)), 0, None))[::-1]
        k = min(shape) - 1
        np.testing.assert_allclose(ours[:k], theirs[:k], rtol=1e-8, atol=1e-10)


def test_bad_input_is_a_data_error():
    with pytest.raises(DataError, match="NaN"):
        intrinsic(np.full((10, 3), np.nan, dtype=np.float32))
    with pytest.raises(DataError, match="shape"):
        intrinsic(np.zeros(10, dtype=np.float32))
    with pytest.raises(DataError, match="distinct"):
        intrinsic(np.zeros((10, 3), dtype=np.float32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu():
    x = linear_subspace(2000, 6, ambient=48)
    metric = IntrinsicDimension(IntrinsicDimension.Options(max_points=None))
    cpu = metric.compute(x, context())[0].value
    assert metric.compute(x, context(device="cuda"))[0].value == pytest.approx(cpu, rel=1e-3)
    lin = LinearDimension(LinearDimension.Options(max_points=None))
    for a, b in zip(lin.compute(x, context()), lin.compute(x, context(device="cuda")), strict=True):
        assert b.value == pytest.approx(a.value, rel=1e-3)


def test_neighbour_search_in_blocks_matches_brute_force():
    from harness_plugins.metrics.dimension import two_nearest

    x = torch.as_tensor(np.random.default_rng(3).normal(size=(257, 7)))
    r1, r2 = two_nearest(x, max_elements=257 * 10)  # blocks of 10 rows
    dist = torch.cdist(x, x) + torch.diag(torch.full((257,), float("inf"), dtype=x.dtype))
    expected = dist.sort(dim=1).values
    torch.testing.assert_close(r1, expected[:, 0])
    torch.testing.assert_close(r2, expected[:, 1])
