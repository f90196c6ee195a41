"""Planted truth: how often the phase verdicts are right on curves whose transitions are known.

Simulated brain, instruction-following and accuracy curves (``harness.analysis.planted``: Pythia's
checkpoint schedule thinned to 12, 40 or all 154 checkpoints, noise at the demo's levels or above)
in five scenarios: the triple phase with coincident behaviour; a surge only; no brain transition
(behaviour still changes); a surge with instruction following lagging by 1 to 1.5 decades; and a
brain fall while accuracy rises. Each simulation goes through the same transitions and verdicts as
a run's analysis. Prints the share of simulations per scenario and grid showing each pattern and
phase, then one line:

    phases: lagged_false_surge=F none_false_triple=G triple_recall_40=R1 triple_recall_154=R2 lag_error_decades=E

Targets: F <= 0.05, G <= 0.05, R1 >= 0.8, R2 >= 0.9.

    python benchmarks/phases.py [--sims N] [--boot B] [--workers W]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import product

import numpy as np

from harness.analysis.phases import LABELS, PhaseSettings
from harness.analysis.planted import SCENARIOS, Outcome, rates, run_one

GRIDS = (12, 40, 154)


def _one(job: tuple[str, int, int, int]) -> Outcome:
    scenario, grid, seed, n_boot = job
    return run_one(scenario, grid, seed, PhaseSettings(n_boot=n_boot, seed=seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=40, help="simulations per scenario and grid")
    parser.add_argument("--boot", type=int, default=100, help="bootstrap replicates per signal")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    jobs = [(scenario, grid, 1000 * i + seed, args.boot) for (i, scenario), grid, seed
            in product(enumerate(SCENARIOS), GRIDS, range(args.sims))]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        outcomes = list(pool.map(_one, jobs, chunksize=4))
    print(f"{len(outcomes)} simulations ({args.sims} per scenario and grid, {args.boot} replicates) in "
          f"{time.perf_counter() - started:.0f} s")
    print(f"{'scenario':<28} {'grid':>4}  {'triple':>6} {'partial':>7} {'absent':>6}  "
          + " ".join(f"{label[:7]:>7}" for label in LABELS) + "  |lag err|")
    for scenario, grid in product(SCENARIOS, GRIDS):
        mine = [o for o in outcomes if o.scenario == scenario and o.grid == grid]
        share = {p: np.mean([o.pattern == p for o in mine]) for p in ("triple-phase", "partial", "absent")}
        phases = " ".join(f"{np.mean([label in o.confirmed for o in mine]):>7.2f}" for label in LABELS)
        errors = [abs(o.lag - o.truth.lag) for o in mine if o.lag is not None and o.truth.lag is not None]
        error = f"{np.median(errors):.2f}" if errors else "n/a"
        print(f"{scenario:<28} {grid:>4}  {share['triple-phase']:>6.2f} {share['partial']:>7.2f} "
              f"{share['absent']:>6.2f}  {phases}  {error:>9}")
    print(rates(outcomes).line())


if __name__ == "__main__":
    main()
