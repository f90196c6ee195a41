"""Benchmark: ``BrainScorer.score`` against one plain ridge solve per subject on the same design.

    python benchmarks/scorer.py                        # 2 subjects, 6 stories x 400 words, 144 voxels, 128 dims
    python benchmarks/scorer.py --voxels 4096 --dims 768

The simulated dataset is written to a temporary folder and scored with random word features
(the width sets the cost; the content does not). Measured in the same run on the same torch
threads (``--threads``, default 1), alternating, after one warm-up call of each, best of ``--repeats``:

- scorer: ``BrainScorer.score(features)``: design matrices, grouped-CV ridge over the penalty grid
  with one penalty per voxel, test-set r and the summaries, for every subject;
- baseline: for every subject, the same training and test design matrices, one closed-form ridge
  solve at a single penalty (``torch.linalg.solve`` on XᵀX + αI), test predictions and r.

Printed: both times and the ratio scorer / baseline, i.e. what the cross-validation over penalties
and folds and the summaries cost on top of a single fit.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import torch
from timing import best_times

from harness.encoding import BrainScorer, pearson_r
from harness.encoding.settings import EncodingSettings
from harness_plugins.brain.simulated import Simulated


def baseline(scorer: BrainScorer, features: dict[str, np.ndarray], alpha: float) -> None:
    """One ridge fit per subject at ``alpha`` on the scorer's own design matrices."""
    for subject in scorer.subjects:
        info = scorer.info[subject]
        x = torch.as_tensor(scorer.design(features, info, scorer.train))
        x_test = torch.as_tensor(scorer.design(features, info, scorer.test))
        for block in scorer.blocks(subject):
            y = torch.as_tensor(block.y_train)
            gram = x.T @ x + alpha * torch.eye(x.shape[1])
            weights = torch.linalg.solve(gram, x.T @ y)
            pearson_r(block.y_test, x_test @ weights)



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=2)
    parser.add_argument("--stories", type=int, default=6)
    parser.add_argument("--words", type=int, default=400, help="words per story")
    parser.add_argument("--voxels", type=int, default=144)
    parser.add_argument("--dims", type=int, default=128, help="feature width")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both (0: torch's default)")
    args = parser.parse_args()
    settings = EncodingSettings()
    with tempfile.TemporaryDirectory() as tmp:
        options = Simulated.Options(cache=tmp, subjects=args.subjects, voxels=args.voxels, stories=args.stories,
                                    words_per_story=args.words)
        dataset = Simulated(options)
        scorer = BrainScorer(dataset, settings, device="cpu", seed=0)
        rng = np.random.default_rng(1)
        features = {k: rng.standard_normal((len(v.words), args.dims)).astype(np.float32)
                    for k, v in dataset.stories().items()}
        alpha = float(np.median(settings.alpha_values()))
        runs = {"scorer": lambda: scorer.score(features), "baseline": lambda: baseline(scorer, features, alpha)}
        best, threads = best_times(runs, args.repeats, args.threads)
        ours, base = best["scorer"], best["baseline"]
        scans = sum(len(scorer.info[scorer.subjects[0]].times[s]) for s in scorer.train)
        print(
            f"simulated: {args.subjects} subjects, {args.stories} stories x {args.words} words ({scans} training "
            "scans), "
            f"{args.voxels} voxels; features {args.dims} dims x {len(settings.delay_seconds(1.0))} delays; "
            f"{len(settings.alpha_values())} alphas, {settings.folds} folds"
        )
        print(f"machine: {os.cpu_count()} CPUs, torch threads {threads}, load average {os.getloadavg()[0]:.1f}")
        print(f"scorer.score : {ours:.3f} s (best of {args.repeats})")
        print(f"baseline     : {base:.3f} s (one ridge solve per subject at alpha {alpha:g}, same design)")
        print(f"ratio scorer / baseline: {ours / base:.1f}x")


if __name__ == "__main__":
    main()
