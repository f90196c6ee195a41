"""Lanczos resampling and design matrices against analytic values."""

from __future__ import annotations

import numpy as np
import pytest

from harness.encoding.design import delay_matrices, story_design
from harness.encoding.resample import lanczos_kernel, lanczos_matrix, lanczos_resample
from harness.encoding.stats import zscore_columns

TR = 2.0
DT = 0.05  # dense, uniform "words"


def _gain(freq: float, window: int = 3) -> float:
    """Analytic response of the truncated Lanczos kernel (in scan units) at ``freq`` Hz."""
    from scipy.integrate import quad

    value, _ = quad(lambda x: lanczos_kernel(np.array([x]), window)[0] * np.cos(2 * np.pi * freq * TR * x), -window, window, limit=200)
    return value


def _dense(duration: float = 200.0) -> tuple[np.ndarray, np.ndarray]:
    old = np.arange(0, duration, DT)
    new = np.arange(20.0, duration - 20.0, TR)  # away from the edges
    return old, new


def test_kernel_shape():
    t = np.array([0.0, 1.0, 2.0, 2.5, 3.0, 4.0, -3.5])
    k = lanczos_kernel(t, 3)
    assert k[0] == pytest.approx(1.0)
    assert k[1] == pytest.approx(0.0, abs=1e-12) and k[2] == pytest.approx(0.0, abs=1e-12)
    assert k[4] == 0.0 and k[5] == 0.0 and k[6] == 0.0
    assert k[3] != 0.0


def test_constant_gives_samples_per_scan():
    old, new = _dense()
    out = lanczos_resample(np.ones((old.size, 1)), old, new, window=3)
    # a dense constant stream sums to (TR / DT) times the kernel's integral (0.997 for window 3)
    assert _gain(0.0) == pytest.approx(0.99706, abs=1e-4)
    np.testing.assert_allclose(out[:, 0], TR / DT * _gain(0.0), rtol=1e-6)


@pytest.mark.parametrize("freq", [0.02, 0.08, 0.15])
def test_slow_sinusoid_passes_unchanged(freq):
    # a sinusoid comes out scaled by the kernel's Fourier transform at its frequency
    old, new = _dense()
    signal = np.sin(2 * np.pi * freq * old + 0.3)
    out = lanczos_resample(signal[:, None], old, new, window=3)[:, 0]
    expected = (TR / DT) * _gain(freq) * np.sin(2 * np.pi * freq * new + 0.3)
    np.testing.assert_allclose(out, expected, atol=1e-6 * TR / DT)
    assert _gain(freq) > 0.95  # the pass band is nearly flat


def test_fast_sinusoid_is_removed():
    old, new = _dense()
    signal = np.sin(2 * np.pi * 0.45 * old)  # above the kernel's band edge (1/3 Hz at TR 2 s)
    out = lanczos_resample(signal[:, None], old, new, window=3)[:, 0]
    assert np.abs(out).max() < 0.01 * TR / DT
    np.testing.assert_allclose(out, (TR / DT) * _gain(0.45) * np.sin(2 * np.pi * 0.45 * new), atol=1e-6 * TR / DT)


def test_delays_resample_earlier_times():
    words = np.sort(np.random.default_rng(0).uniform(0, 100, 300))
    scans = np.arange(20.0, 80.0, TR)
    blocks = delay_matrices(words, scans, [0.0, TR, 3 * TR], window=3)  # seconds
    assert blocks.shape == (3, scans.size, words.size)
    np.testing.assert_allclose(blocks[1], lanczos_matrix(words, scans - TR), atol=1e-6)
    np.testing.assert_allclose(blocks[2][3:], blocks[0][:-3], atol=1e-6)  # row shift = time shift


def test_story_design_zscored_and_ordered():
    rng = np.random.default_rng(1)
    words = np.sort(rng.uniform(0, 120, 400))
    feats = rng.standard_normal((400, 5)).astype(np.float32)
    feats[:, 4] = 0.0  # a constant column stays finite (zero)
    blocks = delay_matrices(words, np.arange(10.0, 110.0, TR), [TR, 2 * TR], window=3)
    design = story_design(feats, blocks)
    assert design.shape == (50, 10)
    assert np.isfinite(design).all()
    np.testing.assert_allclose(design[:, :4].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(design[:, :4].std(0), 1, atol=1e-4)
    assert np.all(design[:, 4] == 0) and np.all(design[:, 9] == 0)
    np.testing.assert_allclose(design[:, 5:9], zscore_columns(blocks[1] @ feats)[:, :4], atol=1e-5)
