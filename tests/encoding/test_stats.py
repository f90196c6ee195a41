"""Z-scores, Pearson r, noise ceiling, block permutations and FDR."""

from __future__ import annotations

import numpy as np
import pytest

from harness.encoding.stats import block_permutation_pvalues, fdr_bh, noise_ceiling, pearson_r, zscore_columns


def test_zscore_columns_standardises_and_zeroes_constant_columns():
    rng = np.random.default_rng(0)
    n = 5000  # long enough that a float32 running mean drifts off a constant value
    values = rng.uniform(-1000, 1000, 6)
    matrix = np.tile(values, (n, 1)) + 1e-12 * rng.standard_normal((n, 6))  # constant up to float noise
    matrix[:, 0] = rng.standard_normal(n) * 3 + 7
    matrix[:, 1] = 1.0 + 1e-3 * rng.standard_normal(n)  # small but real variation is kept
    z = zscore_columns(matrix)
    assert z.dtype == np.float32 and z.shape == (n, 6)
    np.testing.assert_allclose(z[:, :2].mean(0, dtype=np.float64), 0, atol=1e-4)
    np.testing.assert_allclose(z[:, :2].std(0, dtype=np.float64), 1, atol=1e-4)
    assert not z[:, 2:].any()  # 0, not ±1 noise


def test_zscore_columns_keeps_float32_values():
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((300, 8)).astype(np.float32) * 5 + 2
    expected = (matrix.astype(np.float64) - matrix.mean(0, dtype=np.float64)) / matrix.std(0, dtype=np.float64)
    np.testing.assert_allclose(zscore_columns(matrix), expected, atol=1e-6)


def test_pearson_matches_numpy():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((50, 7))
    b = a * rng.uniform(0, 1, 7) + rng.standard_normal((50, 7))
    expected = [np.corrcoef(a[:, i], b[:, i])[0, 1] for i in range(7)]
    np.testing.assert_allclose(pearson_r(a, b), expected, atol=1e-10)
    b[:, 3] = 1.0
    assert pearson_r(a, b)[3] == 0.0


def test_noise_ceiling_matches_known_snr():
    rng = np.random.default_rng(0)
    n, v, repeats = 4000, 5, 4
    signal = rng.standard_normal((n, v)) * np.array([0.0, 0.5, 1.0, 2.0, 4.0])
    data = signal[None] + rng.standard_normal((repeats, n, v))
    expected = np.sqrt(signal.var(0) / (signal.var(0) + 1.0 / repeats))
    np.testing.assert_allclose(noise_ceiling(data), expected, atol=0.03)
    with pytest.raises(ValueError):
        noise_ceiling(data[:1])


def test_fdr_matches_scipy():
    from scipy.stats import false_discovery_control

    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0, 0.002, 30), rng.uniform(0, 1, 300)])
    expected = false_discovery_control(p, method="bh") <= 0.05
    np.testing.assert_array_equal(fdr_bh(p, 0.05), expected)
    assert not fdr_bh(np.full(10, 0.9)).any()


def test_block_permutation_separates_signal_from_noise():
    rng = np.random.default_rng(0)
    n = 300
    truth = np.cumsum(rng.standard_normal((n, 40)), 0) * 0.1 + rng.standard_normal((n, 40))
    pred = truth.copy()
    pred[:, 20:] = rng.standard_normal((n, 20))  # unrelated predictions
    p = block_permutation_pvalues(truth, pred, permutations=200, block=10, seed=0)
    assert p[:20].max() <= 1 / 201 + 1e-9
    assert p[20:].mean() > 0.2
    significant = fdr_bh(p, 0.05)
    assert significant[:20].all() and significant[20:].mean() < 0.2
