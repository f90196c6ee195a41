"""Change-point search: speed against ruptures, and how often phases are found falsely or truly.

The harness's exact search (``best_segmentations`` over ``segment_costs``) and ruptures' (``Dynp``
with its ``CostLinear``, every checkpoint admissible) run on the same piecewise-linear curves; the
script prints the speed-up and checks that both find the same change points. Then, on 12, 13 and 40 checkpoints, it
prints how often
``phase_trends`` (the run of trends the change points cut a curve into: segments and significant steps)

* reports any phase boundary on flat noise and on a noisy straight line (false positives), with the
  noise level unknown, known from a bootstrap standard error, or known only in part (the bootstrap
  sees half the noise: the rest is training noise);
* recovers rising, falling, rising on a noisy rise-fall-rise, and flat, rising, flat on a curve
  shaped like the demo run's (flat, steep rise, plateau).

    python benchmarks/changepoints.py
"""

from __future__ import annotations

import time

import numpy as np
import ruptures as rpt

from harness.analysis.changepoints import best_segmentations, choose_changes, segment, segment_costs

TRIALS = 300
NULL_TRIALS = 1000  # flat noise and straight lines: false-positive rates near 5 % need more curves


def rise_fall_rise(x: np.ndarray) -> np.ndarray:
    return np.where(x < 7.5, 0.04 * (x - 6), np.where(x < 9, 0.06 - 0.03 * (x - 7.5), 0.015 + 0.03 * (x - 9)))


def demo_shape(x: np.ndarray) -> np.ndarray:
    """Flat, a rise of 0.08 over the middle tenth of the axis, then a plateau (like the demo run)."""
    start, stop = x[0] + 0.3 * np.ptp(x), x[0] + 0.4 * np.ptp(x)
    return 0.265 + 0.08 * np.clip((x - start) / (stop - start), 0, 1)


def phase_trends(x: np.ndarray, y: np.ndarray, stderr: float | None = None, limit: int = 4) -> list[str]:
    """The trends of a curve's segments and significant steps, in order, repeats merged."""
    fit = segment(x, y, choose_changes(x, y, limit, stderr=stderr), stderr=stderr)
    trends = [fit.segments[0].trend]
    for step, seg in zip(fit.steps, fit.segments[1:]):
        trends += ([step.trend] if step.trend != "flat" else []) + [seg.trend]
    return [t for i, t in enumerate(trends) if i == 0 or t != trends[i - 1]]


def rate(x: np.ndarray, make, noise: float, stderr: float | None, hit, rng: np.random.Generator,
         trials: int = TRIALS) -> float:
    return float(np.mean([hit(phase_trends(x, make(x) + rng.normal(0, noise, x.size), stderr))
                          for _ in range(trials)]))


def timed_ruptures(x: np.ndarray, y: np.ndarray, n_changes: int) -> tuple[float, list[int]]:
    """ruptures' exact search with its own linear cost (regresses column 0 on the others: y on 1, x)."""
    start = time.perf_counter()
    signal = np.column_stack([y, np.ones(len(x)), x])
    breaks = rpt.Dynp(custom_cost=rpt.costs.CostLinear(), min_size=3, jump=1).fit(signal).predict(n_bkps=n_changes)
    return time.perf_counter() - start, breaks[:-1]


def timed_ours(x: np.ndarray, y: np.ndarray, n_changes: int) -> tuple[float, list[int]]:
    start = time.perf_counter()
    breaks_by_k, _ = best_segmentations(segment_costs(x, y), n_changes)
    return time.perf_counter() - start, breaks_by_k[n_changes]


def main() -> None:
    rng = np.random.default_rng(0)
    for n in (25, 60, 154):
        x = np.linspace(6, 11, n)
        y = rise_fall_rise(x) + rng.normal(0, 0.003, n)
        ours, ours_breaks = timed_ours(x, y, 2)
        base, base_breaks = timed_ruptures(x, y, 2)
        same = "same" if ours_breaks == base_breaks else f"DIFFERENT {ours_breaks} vs {base_breaks}"
        print(f"n={n:4d} checkpoints: ruptures CostLinear {base:7.3f}s, ours {ours:7.4f}s, "
              f"speed-up x{base / ours:6.1f}, change points {same}")
    def split(trends: list[str]) -> bool:
        return len(trends) > 1

    print(f"share of {NULL_TRIALS} curves (false phases) or {TRIALS} (found); SE known: the bootstrap's standard "
          "error equals the noise; SE half: it sees half of it; SE unknown: no bootstrap")
    for n in (12, 13, 40):
        x = np.linspace(6, 11, n)
        for label, stderr in (("SE unknown", None), ("SE known", 1.0), ("SE half", 0.5)):
            def se(noise: float, share: float | None = stderr) -> float | None:
                return None if share is None else share * noise

            flat = rate(x, lambda x: np.full_like(x, 0.05), 0.003, se(0.003), split, rng, NULL_TRIALS)
            line = rate(x, lambda x: 0.01 * x, 0.003, se(0.003), split, rng, NULL_TRIALS)
            rfr = rate(x, rise_fall_rise, 0.008, se(0.008), lambda t: t == ["rising", "falling", "rising"], rng)
            demo = rate(x, demo_shape, 0.01, se(0.01), lambda t: t == ["flat", "rising", "flat"], rng)
            print(f"n={n:3d} {label:10s}: false phases on flat noise {flat:6.1%}, on a straight line {line:6.1%}; "
                  f"rise-fall-rise (noise 0.008) found {rfr:6.1%}; demo shape (noise 0.01) found {demo:6.1%}")


if __name__ == "__main__":
    main()
