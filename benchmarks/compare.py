"""Paired brain-score differences on planted pairs: false positives, power at 0.01 and interval coverage.

Each simulation builds model A's per-voxel r for every subject at the demo's size (the simulated
dataset's 2 subjects x 1024 voxels unless a case says otherwise) and model B from it: A's scores
with noise added (no difference) or with a planted gain of 0.01 in r_mean. The pair goes through
``harness.analysis.differences.estimate`` exactly as ``harness compare`` and comparisons.csv use
it (the same draws for both sides). Cases:

* demo: 2 subjects x 1024 voxels, B = A + voxel noise (+ gain);
* spread: 8 subjects whose own difference varies around the planted one (sd 0.004);
* few subjects (adversarial): 3 subjects with the same spread;
* unequal voxels (adversarial): B scored a different voxel count per subject (no shared voxels).

A difference is declared when its p-value is below 0.05; power is the rate at which the planted
0.01 is declared; coverage, how often the 95 % interval holds the planted value (0 or 0.01). One
line per case, then the rates over every simulation of every case (each case weighs the same):
``compare: false_positive=F power_0.01=P coverage=C`` (targets F <= 0.05, P >= 0.8,
0.93 <= C <= 0.97). 200 simulations of each case with 500 replicates take about 25 minutes on
one core; ``--simulations`` and ``--n-boot`` make it smaller.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from harness.analysis.differences import Draws, estimate

GAIN = 0.01


@dataclass(frozen=True)
class Case:
    name: str
    subjects: int = 2
    voxels: int = 1024
    spread: float = 0.0  # sd of the subjects' own difference around the planted one
    noise: float = 0.03  # sd of B's per-voxel noise
    b_voxels: float = 1.0  # B's voxel count as a share of A's (< 1: unequal voxel sets)


CASES = [
    Case("demo"),
    Case("spread", subjects=8, spread=0.004),
    Case("few subjects", subjects=3, spread=0.004),
    Case("unequal voxels", b_voxels=0.8),
]


def planted_pair(
    case: Case, gain: float, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Model A's and model B's per-voxel r per subject, B planted ``gain`` above A in expectation."""
    a, b = {}, {}
    for s in range(case.subjects):
        subject = f"S{s + 1:02d}"
        r = 0.12 + rng.normal(0, 0.02) + rng.normal(0, 0.06, case.voxels)
        own = gain + rng.normal(0, case.spread) if case.spread else gain
        if case.b_voxels < 1:
            kept = rng.choice(case.voxels, int(case.voxels * case.b_voxels), replace=False)
            b[subject] = r[kept] + own + rng.normal(0, case.noise, kept.size)
            r = r + rng.normal(0, case.noise / 2, case.voxels)  # A's own scoring noise: the sets share no draws
        else:
            b[subject] = r + own + rng.normal(0, case.noise, case.voxels)
        a[subject] = r
    return a, b


def run_case(case: Case, simulations: int, n_boot: int, seed: int) -> dict[str, float]:
    """Rates over ``simulations`` null and ``simulations`` planted pairs of ``case``."""
    rng = np.random.default_rng([seed, len(case.name), case.subjects, case.voxels])
    declared = {0.0: 0, GAIN: 0}
    covered = 0
    for index in range(simulations):
        for gain in (0.0, GAIN):
            a, b = planted_pair(case, gain, rng)
            result = estimate(b, a, Draws(seed + index, n_boot, "benchmark", case.name, str(gain)))
            declared[gain] += result.p < 0.05
            covered += result.lo <= gain <= result.hi
    return {"false_positive": declared[0.0] / simulations, "power": declared[GAIN] / simulations,
            "coverage": covered / (2 * simulations)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--simulations", type=int, default=200)
    parser.add_argument("--n-boot", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    totals = {"false_positive": 0.0, "power": 0.0, "coverage": 0.0}
    for case in CASES:
        rates = run_case(case, args.simulations, args.n_boot, args.seed)
        print(f"{case.name:>15}: subjects={case.subjects} voxels={case.voxels} "
              f"false_positive={rates['false_positive']:.3f} power_0.01={rates['power']:.3f} "
              f"coverage={rates['coverage']:.3f}", flush=True)
        for key in totals:
            totals[key] += rates[key] / len(CASES)
    print(f"compare: false_positive={totals['false_positive']:.3f} power_0.01={totals['power']:.3f} "
          f"coverage={totals['coverage']:.3f}")


if __name__ == "__main__":
    main()
