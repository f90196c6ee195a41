"""Benchmark: the ``probe`` metric over all layers of a checkpoint against one layer's brain encoding.

    python benchmarks/probe.py                 # the demo: simulated defaults, tinylm's 3 layers x 96 dims
    python benchmarks/probe.py --layers 13 --dims 768

The demo's simulated dataset (default options: 2 subjects, 10 stories x 500 words, 1024 voxels) is
written to a temporary folder. Word features are random with the demo model's shape (tinylm:
embeddings + 2 blocks = 3 layers of 96 dims; the cost depends on the shape, not the content).
Measured in the same run on the same torch threads (``--threads``, default 1), after one warm-up
call of each, best of ``--repeats``:

- probe: ``Probe.compute`` on every layer of one checkpoint (words x dims of all stories, in sorted
  story order, with the words, stories and the simulated dataset's annotations in the context, as
  in the demo): 4 continuous word properties and 3 annotations by ridge, part of speech by
  logistic regression, each with its control task. The word properties (the part-of-speech
  tagging among them) are computed once per stimulus and kept in HARNESS_CACHE (the plugin also
  keeps them in memory for every layer and checkpoint); computing them is printed apart
  (``--properties-per-checkpoint`` makes a new probe in every call, which reads them back);
- encoding: ``BrainScorer.score`` of one layer (every subject, the demo's encoding settings).

The last line is the ratio probe (all layers) / encoding (one layer); the issue asks for <= 1.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
from timing import best_times

from harness import Checkpoint, MetricContext
from harness.encoding import BrainScorer
from harness.encoding.settings import EncodingSettings
from harness_plugins.brain.simulated import Simulated
from harness_plugins.metrics.probe import Probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--dims", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both (0: torch's default)")
    parser.add_argument(
        "--properties-per-checkpoint",
        action="store_true",
        help="a new probe in every timed call, as in a fresh worker (word properties read back from HARNESS_CACHE)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dataset = Simulated(Simulated.Options(cache=tmp))
        stories = dataset.stories()
        scorer = BrainScorer(dataset, EncodingSettings(), device="cpu", seed=0)
        rng = np.random.default_rng(1)
        layers = [{k: rng.standard_normal((len(v.words), args.dims)).astype(np.float32) for k, v in stories.items()}
                  for _ in range(args.layers)]
        names = sorted(stories)
        words = tuple(w for name in names for w in stories[name].words)
        labels = tuple(name for name in names for _ in stories[name].words)
        stacked = [np.concatenate([layer[name] for name in names]) for layer in layers]
        annotations = dataset.word_annotations()
        kept = Probe(Probe.Options())

        def probe_all_layers() -> None:
            metric = Probe(Probe.Options()) if args.properties_per_checkpoint else kept
            for i, x in enumerate(stacked):
                metric.compute(
                    x,
                    MetricContext(
                        Checkpoint(1, 1),
                        i,
                        0,
                        lambda: None,
                        lambda: None,
                        words=words,
                        stories=labels,
                        annotations=annotations,
                    ),
                )

        start = time.perf_counter()
        kept.computed_properties(words, labels)
        once = time.perf_counter() - start

        runs = {"probe": probe_all_layers, "encoding": lambda: scorer.score(layers[-1])}
        best, threads = best_times(runs, args.repeats, args.threads)
        probe, encoding = best["probe"], best["encoding"]
        print(
            f"simulated (demo defaults): {len(scorer.subjects)} subjects, {len(stories)} stories, {len(words)} words; "
            f"{args.layers} layers x {args.dims} dims"
        )
        print(f"machine: {os.cpu_count()} CPUs, torch threads {threads}, load average {os.getloadavg()[0]:.1f}")
        print(
            f"word properties, computed once per stimulus: {once:.3f} s (not counted below; "
            f"{'read back from HARNESS_CACHE in every call' if args.properties_per_checkpoint else 'kept in memory'})"
        )
        print(f"probe, all {args.layers} layers : {probe:.3f} s (best of {args.repeats})")
        print(f"encoding, one layer   : {encoding:.3f} s (best of {args.repeats})")
        print(f"ratio probe (all layers) / encoding (one layer): {probe / encoding:.2f}")


if __name__ == "__main__":
    main()
