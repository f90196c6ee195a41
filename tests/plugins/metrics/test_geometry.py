"""Anisotropy and mean norm."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness import Checkpoint, MetricContext
from harness_plugins.metrics.geometry import Geometry, anisotropy


def compute(x: np.ndarray, device: str = "cpu") -> dict[str, float]:
    ctx = MetricContext(Checkpoint(1, 1), layer=0, seed=0, previous=lambda: None, final=lambda: None, device=device)
    return {s.metric: s.value for s in Geometry().compute(x, ctx)}


def test_anisotropy_equals_the_pairwise_mean_cosine():
    x = np.random.default_rng(0).normal(size=(300, 16)) + 0.7
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    cos = unit @ unit.T
    expected = (cos.sum() - np.trace(cos)) / (300 * 299)
    assert compute(x)["anisotropy"] == pytest.approx(expected, rel=1e-9)


def test_isotropic_data_is_not_anisotropic_and_a_shared_direction_is():
    rng = np.random.default_rng(1)
    iso = rng.normal(size=(5000, 32))
    assert abs(compute(iso)["anisotropy"]) < 0.01
    shifted = iso + 30.0 * np.ones(32) / np.sqrt(32)
    assert compute(shifted)["anisotropy"] > 0.9


def test_mean_norm():
    x = np.array([[3.0, 4.0], [0.0, 1.0], [0.0, 0.0]], dtype=np.float32)
    scores = compute(x)
    assert scores["mean_norm"] == pytest.approx(2.0)
    assert scores["anisotropy"] == pytest.approx(0.8)  # the zero vector has no direction


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu():
    x = np.random.default_rng(2).normal(size=(4000, 64)).astype(np.float32) + 0.3
    cpu, gpu = compute(x), compute(x, device="cuda")
    for key in cpu:
        assert gpu[key] == pytest.approx(cpu[key], rel=1e-3, abs=1e-5)
    assert anisotropy(torch.as_tensor(x, device="cuda")) == pytest.approx(cpu["anisotropy"], rel=1e-3)
