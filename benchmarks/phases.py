"""Planted truth: how often the phase verdicts are right, and how often their intervals hold the truth.

Simulated runs (``harness.analysis.planted``: 3 subjects x 3 layers, brain noise 0.005-0.01 per
checkpoint partly shared by all subjects, behaviour over 40, 100 or 400 items per checkpoint, on
Pythia's schedule thinned to 5, 12, 40 or all 154 checkpoints) go through ``analyze_frame`` exactly
as a run does. Cases: the triple phase; a surge only; no brain transition; behaviour lagging the
brain by 1-1.5 decades; a brain fall while accuracy rises; a flat brain with one checkpoint
+0.03/+0.05/+0.10 at the onset of instruction following; brain and behaviour planted independently.
Prints one row per case (shares of patterns and confirmed phases; how often the surge verdict
says alignment rises at all; coverage of the 95 % location and lag intervals), then one line
(wrapped here):

    phases: spike_false_surge=A lagged_false_surge=F none_false_triple=G triple_recall_154_items400=R
    triple_recall_154_items100=Q lag_coverage=L location_coverage=K

Targets: A <= 0.05 (the worst spike case), F <= 0.05, G <= 0.05, R >= 0.9, Q >= 0.6,
0.92 <= L <= 0.98, 0.92 <= K <= 0.98.

    python benchmarks/phases.py [--sims N] [--boot B] [--workers W]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from harness.analysis.phases import LABELS, PhaseSettings
from harness.analysis.planted import Case, Outcome, lag_hit, location_hits, rates, run_one

CASES = (
    *(
        Case("triple", grid, items)
        for grid, items in ((12, 100), (40, 100), (40, 400), (154, 40), (154, 100), (154, 400))
    ),
    *(Case("surge_only", grid) for grid in (5, 12, 40, 154)),
    *(Case("none", grid) for grid in (12, 40, 154)),
    *(Case("lagged", grid) for grid in (12, 40, 154)),
    *(Case("detach_while_accuracy_rises", grid) for grid in (40, 154)),
    *(Case("spike", grid, spike=size) for grid in (40, 154) for size in (0.03, 0.05, 0.10)),
    *(Case("independent", grid) for grid in (40, 154)),
)


def _one(job: tuple[Case, int, int]) -> Outcome:
    case, seed, n_boot = job
    return run_one(case, seed, PhaseSettings(n_boot=n_boot, seed=seed))


def _coverage(hits: list[bool]) -> str:
    return f"{np.mean(hits):.2f} ({len(hits)})" if hits else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=40, help="simulations per case")
    parser.add_argument("--boot", type=int, default=100, help="bootstrap replicates per signal")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    jobs = [(case, 1000 * i + seed, args.boot) for i, case in enumerate(CASES) for seed in range(args.sims)]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        outcomes = list(pool.map(_one, jobs, chunksize=2))
    print(f"{len(outcomes)} simulations ({args.sims} per case, {args.boot} replicates) in "
          f"{time.perf_counter() - started:.0f} s")
    print(
        f"{'case':<30} {'grid':>4} {'items':>5}  {'triple':>6} {'partial':>7} {'absent':>6}  "
        + " ".join(f"{label[:7]:>7}" for label in LABELS)
        + f"  {'rises':>5}  {'loc cover (n)':>13} {'lag cover (n)':>13}"
    )
    for case in CASES:
        mine = [o for o in outcomes if o.case == case]
        share = {p: np.mean([o.pattern == p for o in mine]) for p in ("triple-phase", "partial", "absent")}
        phases = " ".join(f"{np.mean([label in o.confirmed for o in mine]):>7.2f}" for label in LABELS)
        rises = np.mean([not o.surge_reason.startswith("brain alignment does not rise") for o in mine])
        locations = [hit for o in mine for hit in location_hits(o)]
        lags = [hit for o in mine if (hit := lag_hit(o)) is not None]
        print(f"{case.name:<30} {case.grid:>4} {case.items:>5}  {share['triple-phase']:>6.2f} {share['partial']:>7.2f} "
              f"{share['absent']:>6.2f}  {phases}  {rises:>5.2f}  {_coverage(locations):>13} {_coverage(lags):>13}")
    print(rates(outcomes).line())


if __name__ == "__main__":
    main()
