"""Measure: tinylm's learning curve on the offline suite, checkpoint by checkpoint.

    python benchmarks/tinylm_curve.py                      # the default tinylm, in a temporary cache
    python benchmarks/tinylm_curve.py --qa-fraction 0      # prose only (no question/answer documents)
    python benchmarks/tinylm_curve.py --cache /tmp/tl --subtasks instruction perplexity cloze

Trains the tinylm organism into a fresh cache (or reuses ``--cache``), prints the training time,
then runs the ``offline`` task plugin on every checkpoint and prints, per step: held-out loss,
instruction ``follows_format`` and ``correct`` (over all rungs and per rung of the ladder), and the
other sub-tasks asked for.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", help="harness cache to train into (default: a temporary folder)")
    parser.add_argument("--size", default="default", choices=["default", "tiny"])
    parser.add_argument("--qa-fraction", type=float, default=None, help="override tinylm's qa_fraction")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subtasks", nargs="+", default=["instruction", "perplexity"])
    parser.add_argument(
        "--instruction-items", type=int, default=40, help="test items per rung of the instruction ladder"
    )
    parser.add_argument("--only", type=int, nargs="+", help="evaluate only these steps")
    args = parser.parse_args()
    cache = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="tinylm-curve-"))
    os.environ["HARNESS_CACHE"] = str(cache)  # the offline suite and corpus cache go there too

    from harness_plugins.models.tinylm import TinyLMFamily
    from harness_plugins.tasks.offline import OfflineSuite

    options = {"size": args.size, "seed": args.seed, "progress": False, "cache": str(cache)}
    if args.qa_fraction is not None:
        options["qa_fraction"] = args.qa_fraction
    if args.steps is not None:
        options["steps"] = args.steps
    family = TinyLMFamily(TinyLMFamily.Options(**options))
    started = time.time()
    family.prepare()
    info = family.training_info()
    print(f"cache {cache}\ntraining: {info['seconds']} s recorded ({time.time() - started:.1f} s wall incl. corpus)")
    print(f"settings: {info['settings']}")
    task = OfflineSuite(OfflineSuite.Options(subtasks=args.subtasks, instruction_items=args.instruction_items))
    columns: list[str] = []
    with tempfile.TemporaryDirectory() as work:
        for checkpoint in family.checkpoints():
            if args.only and checkpoint.step not in args.only:
                continue
            loaded = family.load(checkpoint)
            scores = task.evaluate(loaded, seed=0, workdir=Path(work))
            family.release(loaded)
            row = {f"{s.scope}.{s.metric}": s.value for s in scores}
            if not columns:
                columns = sorted(row)
                print("step\ttokens\theldout_loss\t" + "\t".join(columns))
            loss = info["heldout_loss"][str(checkpoint.step)]
            print(f"{checkpoint.step}\t{checkpoint.tokens}\t{loss:.3f}\t" + "\t".join(f"{row[c]:.3f}" for c in columns),
                  flush=True)


if __name__ == "__main__":
    main()
