"""GRIDE against dadapy's numbers and against known dimensions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness import Checkpoint, MetricContext
from harness.util.errors import DataError
from harness_plugins.metrics.gride import Gride, gride
from tests.plugins.metrics.test_dimension import linear_subspace, swiss_roll
from tests.support.gride_scaling import gride_scaling


def context(seed: int = 0) -> MetricContext:
    return MetricContext(Checkpoint(1, 1), layer=0, seed=seed, previous=lambda: None, final=lambda: None)


def lcg_uniform(count: int, seed: int) -> np.ndarray:
    """Uniforms in [0, 1) from a 64-bit LCG (Knuth's MMIX constants): exact integer arithmetic, the
    same numbers on every platform and numpy version, so frozen reference numbers stay valid."""
    out = np.empty(count, dtype=np.float64)
    state = seed
    for i in range(count):
        state = (6364136223846793005 * state + 1442695040888963407) % 2**64
        out[i] = (state >> 11) / 2.0**53
    return out


def planted(n: int, d: int, dims: int, seed: int) -> np.ndarray:
    """n points uniform in [0, 1]^d, mapped into ``dims`` dimensions by a fixed linear map."""
    u = lcg_uniform(n * d, seed).reshape(n, d)
    mix = np.cos(np.outer(np.arange(1, d + 1, dtype=np.float64), np.arange(dims, dtype=np.float64) + 1.0) * 0.7)
    return u @ mix


# dadapy 0.3.4, Data(coordinates=planted(n, d, dims, seed=n + d)).return_id_scaling_gride(range_max, return_ranks=True).
# Frozen here because dadapy pins numpy<2, which the harness (mne) cannot install beside; the test
# below recomputes them live wherever dadapy is importable.
DADAPY = {
    (400, 2, 5, 64): [2.1304633576216583, 1.9391097636357009, 1.8275977920532165, 1.8405236633480815, 1.8326616206582107, 1.8076173339332162],
    (600, 3, 8, 128): [2.693735244002804, 3.0956119999814247, 2.758065937267645, 2.7421653664365007, 2.6890238042245915, 2.5392366667840687, 2.331084184034407],
    (500, 5, 10, 32): [3.708729501278868, 3.7358059318295274, 3.5419237995820287, 3.5209724386488954, 3.431661428814434],
}


@pytest.mark.parametrize("case", list(DADAPY))
def test_gride_matches_dadapy_at_every_scale(case):
    n, d, dims, range_max = case
    x = torch.as_tensor(planted(n, d, dims, seed=n + d))
    ranks, ids, _ = gride_scaling(x, range_max)
    assert ranks == [2 ** (i + 1) for i in range(len(DADAPY[case]))]
    np.testing.assert_allclose(ids, DADAPY[case], atol=1e-3)


def test_gride_matches_live_dadapy_when_installed():
    dadapy = pytest.importorskip("dadapy")
    x = linear_subspace(800, 4, ambient=20, seed=5).astype(np.float64)
    theirs, _, ranks = dadapy.Data(coordinates=x, verbose=False).return_id_scaling_gride(range_max=64, return_ranks=True)
    mine_ranks, mine, _ = gride_scaling(torch.as_tensor(x), 64)
    assert mine_ranks == list(ranks)
    np.testing.assert_allclose(mine, theirs, atol=1e-3)


def test_one_scale_equals_the_scaling_curve():
    x = torch.as_tensor(planted(400, 2, 5, seed=402))
    ranks, ids, errors = gride_scaling(x, 64)
    for n2 in (2, 16, 64):
        value, error = gride(x, n2)
        assert value == pytest.approx(ids[ranks.index(n2)], abs=1e-9)
        assert error == pytest.approx(errors[ranks.index(n2)], rel=1e-9)


def gride_metric(x: np.ndarray, **options) -> float:
    scores = Gride(Gride.Options(**options)).compute(x, context())
    assert [s.metric for s in scores] == ["gride"]
    assert scores[0].stderr is not None and scores[0].stderr > 0
    return scores[0].value


@pytest.mark.parametrize("d", [2, 5, 10])
def test_gride_recovers_the_dimension_of_a_linear_subspace(d):
    x = linear_subspace(2500, d, ambient=64, seed=d)
    assert gride_metric(x, max_points=None, n2=4) == pytest.approx(d, rel=0.10)


def test_gride_recovers_two_on_a_swiss_roll():
    assert gride_metric(swiss_roll(2500), max_points=None, n2=8) == pytest.approx(2.0, rel=0.10)


def test_gride_sees_past_small_scale_noise():
    """A plane with tiny isotropic noise in 30 dimensions: TwoNN's scale sees the noise, a coarser GRIDE scale the plane."""
    rng = np.random.default_rng(0)
    x = linear_subspace(2000, 2, ambient=30, seed=1) + 1e-2 * rng.normal(size=(2000, 30)).astype(np.float32)
    assert gride_metric(x, max_points=None, n2=2) > 4
    assert gride_metric(x, max_points=None, n2=128) == pytest.approx(2.0, rel=0.15)


def test_gride_options_and_bad_input():
    with pytest.raises(ValueError):
        Gride.Options(n2=12)
    with pytest.raises(DataError):
        Gride(Gride.Options(n2=16)).compute(np.ones((10, 3)), context())
    with pytest.raises(DataError):
        Gride(Gride.Options(n2=16)).compute(np.random.default_rng(0).normal(size=(10, 3)), context())
