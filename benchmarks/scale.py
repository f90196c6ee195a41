"""Measure: how a sweep scales out. Every figure is a ratio against a baseline measured in the same run.

    python benchmarks/scale.py                 # all four parts
    python benchmarks/scale.py --parts a d     # only the Ray speed-up and the prefetch share

(a) ray_speedup: the demo plan (harness/demo.yaml: tinylm x simulated fMRI x offline tasks x six
    metrics, 13 checkpoints) swept by the Ray executor with 2 workers x 1 thread, against the local
    executor on 1 thread, the two alternating, best of ``--repeats`` (2) each; wall time of the
    sweep. Both are timed warm: tinylm is trained, the caches every sweep on a machine shares (in
    HARNESS_CACHE: the offline suite, the stimulus's word properties) are filled, and the
    process that computes (the benchmark's own for the local executor, each of the two Ray
    workers) has swept the last two checkpoints once, so neither figure holds the one-off cost of
    importing torch, transformers and lm-eval in a process; Ray's start-up and its workers'
    warm-up are printed apart. Each run extracts into its own activation cache.
(b) mem_ratio and (c) shared_speedup come from ``benchmarks/scale_memory.py`` (``measure_memory``,
    ``measure_shared``) when that module is there; ``nan`` otherwise.
(d) prefetch_hidden: the share of checkpoint load time hidden by ``prefetch: N`` (``--depth``,
    default 2). A model family that is tinylm whose checkpoints must first be downloaded (a
    sleep in ``fetch``, or in ``load`` when not fetched ahead) is swept over the simulated
    dataset with and without prefetch; hidden = (T without - T with) / (checkpoints x sleep).
    A download (3 s) takes longer than measuring a checkpoint here (about 2 s), so one download
    in flight cannot keep up; with two in flight the measurement is what waits.

The last line is ``scale: ray_speedup=S mem_ratio=M shared_speedup=T prefetch_hidden=P``.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SLOW_TINYLM = '''
import time

from harness import hookimpl
from harness_plugins.models.tinylm import TinyLMFamily
from harness_plugins.models.tinylm import TinyLMOptions


class SlowOptions(TinyLMOptions):
    download_sleep: float = 1.0


class SlowTinyLM(TinyLMFamily):
    """tinylm whose checkpoints are downloaded first: ``fetch`` waits as a download from the hub would,
    and a load of a checkpoint not fetched waits the same (from_pretrained downloads what is missing)."""

    name = "slow_tinylm"
    Options = SlowOptions

    def __init__(self, options):
        super().__init__(options)
        self.fetched = set()

    def fetch(self, checkpoint):
        time.sleep(self.options.download_sleep)
        self.fetched.add(checkpoint.step)

    def load(self, checkpoint, device="cpu"):
        if checkpoint.step not in self.fetched:
            time.sleep(self.options.download_sleep)
        return super().load(checkpoint, device)


@hookimpl
def register_model_families(register):
    register(SlowTinyLM)
'''


def _sweep(data: dict[str, Any], **kwargs: Any) -> float:
    """Wall seconds of one sweep of ``data`` (failed cells are an error: a benchmark of failures measures nothing)."""
    from harness.plan.config import parse_config
    from harness.sweep.driver import run_sweep

    started = time.perf_counter()
    summary = run_sweep(parse_config(data, "benchmark"), show_progress=False, analyze=False, **kwargs)
    seconds = time.perf_counter() - started
    if summary.failed:
        raise SystemExit(f"{summary.failed} cells failed, e.g. {summary.errors[0]}")
    print(f"  {summary.done} cells in {seconds:.1f} s", flush=True)
    return seconds


def _demo_variant(demo: dict[str, Any], work: Path, executor: str, repeat: int) -> dict[str, Any]:
    """The demo config on ``executor``, with a run folder and a cache of its own for this repeat."""
    return demo | {"run": str(work / f"a-{executor}-{repeat}"), "cache": str(work / f"a-{executor}-cache-{repeat}"),
                   "executor": executor}


def ray_speedup(work: Path, repeats: int) -> float:
    """(a) the demo plan: local executor on 1 thread against Ray, 2 workers x 1 thread, alternating, best of
    ``repeats``.

    Both are timed warm: the benchmark's own process has swept two checkpoints before the local
    sweeps (in ``_prepare``), and each Ray instance's two workers sweep the same two before its
    timed sweep, so that neither figure holds the once-per-process cost of importing torch,
    transformers and lm-eval; that cost, a Ray worker's cold start, is printed apart.
    """
    import ray
    import yaml
    from threadpoolctl import threadpool_limits

    from harness import torch_threads
    from harness.cli import DEMO_CONFIG
    from harness.plan.config import RaySettings
    from harness.sweep.ray.executor import connect

    demo = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    demo.update(device="cpu", analyze=False)
    warm_local = _prepare(demo, work)
    local, on_ray = [], []
    for repeat in range(repeats):
        print(f"(a) the demo plan, local executor on 1 thread (run {repeat + 1} of {repeats})", flush=True)
        with torch_threads(1), threadpool_limits(1):  # torch's and the BLAS libraries' threads, as in a Ray task
            local.append(_sweep(_demo_variant(demo, work, "local", repeat)))
        started = time.perf_counter()
        connect(ray, RaySettings(workers=2, threads=1))  # as `harness sweep --executor ray --workers 2` starts it
        print(
            f"(a) Ray started in {time.perf_counter() - started:.1f} s; its workers sweep the warm-up checkpoints",
            flush=True,
        )
        try:
            warm_ray = _warm_up(demo, work / f"a-ray-warm-{repeat}", {"executor": "ray", "ray": {"threads": 1}})
            print(f"  warm-up: {warm_ray:.1f} s on Ray (each worker's first tasks import torch, transformers and "
                  f"lm-eval); the same checkpoints took {warm_local:.1f} s in this process", flush=True)
            print(f"(a) the demo plan, Ray executor, 2 workers x 1 thread (run {repeat + 1} of {repeats})", flush=True)
            on_ray.append(_sweep(_demo_variant(demo, work, "ray", repeat) | {"ray": {"threads": 1}}))
        finally:
            ray.shutdown()
        _same_tables(work / f"a-local-{repeat}", work / f"a-ray-{repeat}")
    each = f"local {', '.join(f'{t:.1f}' for t in local)} s, Ray {', '.join(f'{t:.1f}' for t in on_ray)} s"
    print(f"  ray_speedup = {min(local):.1f} s / {min(on_ray):.1f} s = {min(local) / min(on_ray):.2f} "
          f"(best of {repeats}; {each})", flush=True)
    return min(local) / min(on_ray)


def _prepare(data: dict[str, Any], work: Path) -> float:
    """Outside the timings: train tinylm (or find it trained), write the simulated data and the offline
    suite, and sweep the warm-up checkpoints locally (``_warm_up``), so that what every later sweep
    on this machine finds ready (word properties, the suite) is ready for both executors alike.
    Returns the warm-up's seconds."""
    from harness.plan.config import parse_config
    from harness.plan.planner import make_plan
    from harness.plan.preflight import preflight
    from harness.plugin.registry import get_registry

    plan = make_plan(parse_config(data, "benchmark"), get_registry(), "benchmark")
    for model in plan.models:
        prepare = getattr(model.family, "prepare", None)
        if callable(prepare):
            prepare()
    preflight(plan)
    return _warm_up(data, work / "warm-up", {"executor": "local", "prefetch": 0})


def _warm_up(data: dict[str, Any], folder: Path, executor: dict[str, Any]) -> float:
    """Sweep each model's last two checkpoints (two units: one for each of two workers) into ``folder``; its seconds."""
    from harness.plan.config import parse_config
    from harness.plan.planner import make_plan
    from harness.plugin.registry import get_registry

    plan = make_plan(parse_config(data, "benchmark"), get_registry(), "benchmark")
    last = [entry | {"checkpoints": [c.step for c in model.checkpoints[-2:]]}
            for entry, model in zip(data["models"], plan.models, strict=True)]
    print(f"warming up: the last two checkpoints of each model, executor {executor['executor']}", flush=True)
    return _sweep(data | executor | {"models": last, "run": str(folder / "run"), "cache": str(folder / "cache")})


def _same_tables(first: Path, second: Path) -> None:
    """The two runs' results agree (sorted), else the speed-up means nothing."""
    import pandas as pd

    from harness.store.database import RunStore

    frames = []
    for run in (first, second):
        with RunStore(run) as store:
            frame = store.results_frame()
        frames.append(
            frame.sort_values(["model", "step", "kind", "target", "layer", "scope", "metric"]).reset_index(drop=True)
        )
    try:
        pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)
    except AssertionError:  # float32 sums in another order (another BLAS thread count) differ in the last digits
        pd.testing.assert_frame_equal(frames[0], frames[1], rtol=1e-4, atol=1e-7)
        values = frames[0]["value"].to_numpy(dtype=float), frames[1]["value"].to_numpy(dtype=float)
        worst = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(*values) if a == a)
        print(
            f"  tables equal within float32 rounding: {len(frames[0])} rows, largest relative difference {worst:.1e}",
            flush=True,
        )
    else:
        print(f"  tables identical: {len(frames[0])} rows", flush=True)


def prefetch_hidden(work: Path, checkpoints: int, sleep: float, depth: int) -> float:
    """(d) the share of the sleeping downloads' time that ``prefetch: depth`` hides."""
    from threadpoolctl import threadpool_limits

    from harness import torch_threads
    from harness.plugin.registry import reset_registry

    site = work / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "slowtinylm.py").write_text(textwrap.dedent(SLOW_TINYLM), encoding="utf-8")
    info = site / "slowtinylm-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: slowtinylm\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[harness]\nslowtinylm = slowtinylm\n", encoding="utf-8")
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    reset_registry()
    from harness_plugins.models.tinylm.train import TinyLMSettings, checkpoint_steps

    steps = checkpoint_steps(TinyLMSettings().steps)[-checkpoints:]  # the default tinylm's last checkpoints
    data = {
        "models": [
            {
                "family": "slow_tinylm",
                "options": {"download_sleep": sleep, "progress": False},
                "checkpoints": steps,
                "layers": "all",
            }
        ],
        "brain": [{"dataset": "simulated"}],
        "metrics": [{"metric": "intrinsic_dim"}],
        "features": {"context_tokens": 128, "stride": 64},
    }
    _prepare(data, work)
    seconds = {}
    for ahead in (0, depth):
        print(f"(d) {checkpoints} checkpoints, each download sleeping {sleep:g} s, prefetch: {ahead}", flush=True)
        with torch_threads(1), threadpool_limits(1):
            seconds[ahead] = _sweep(
                data | {"run": str(work / f"d-{ahead}"), "cache": str(work / f"d-{ahead}-cache"), "prefetch": ahead}
            )
    _same_tables(work / "d-0", work / f"d-{depth}")
    hidden = (seconds[0] - seconds[depth]) / (checkpoints * sleep)
    print(
        f"  prefetch_hidden = ({seconds[0]:.1f} s - {seconds[depth]:.1f} s) / ({checkpoints} x {sleep:g} s) = "
        f"{hidden:.2f} "
        f"(the first download has nothing to hide behind: {(checkpoints - 1) / checkpoints:.2f} of the sleeps can be "
        "hidden, "
        "and the models built ahead hide their own load time on top)",
        flush=True,
    )
    return hidden


def memory_parts() -> tuple[Callable[[], float] | None, Callable[[], float] | None]:
    """``measure_memory`` and ``measure_shared`` of benchmarks/scale_memory.py, or None where it is not there.

    Imported by name with this folder on ``sys.path``: its measurements run in spawned processes,
    which import it again the same way.
    """
    here = str(Path(__file__).resolve().parent)
    if not Path(here, "scale_memory.py").is_file():
        return None, None
    if here not in sys.path:
        sys.path.insert(0, here)
    module = importlib.import_module("scale_memory")
    return getattr(module, "measure_memory", None), getattr(module, "measure_shared", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", choices=["a", "b", "c", "d"], default=["a", "b", "c", "d"])
    parser.add_argument(
        "--repeats", type=int, default=2, help="(a) sweeps of each executor, alternating; the best counts"
    )
    parser.add_argument("--checkpoints", type=int, default=10, help="(d) checkpoints swept")
    parser.add_argument("--sleep", type=float, default=3.0, help="(d) seconds each download sleeps")
    parser.add_argument("--depth", type=int, default=2, help="(d) prefetch: N, checkpoints fetched and loaded ahead")
    parser.add_argument("--work", help="where the runs go (default: a temporary folder)")
    args = parser.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="harness-scale-"))
    print(
        f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} on {os.cpu_count()} CPUs; "
        f"runs in {work}",
        flush=True,
    )
    figures = dict.fromkeys(("ray_speedup", "mem_ratio", "shared_speedup", "prefetch_hidden"), math.nan)
    if "a" in args.parts:
        figures["ray_speedup"] = ray_speedup(work, args.repeats)
    memory, shared = memory_parts() if {"b", "c"} & set(args.parts) else (None, None)
    if "b" in args.parts and memory is not None:
        figures["mem_ratio"] = memory()
    if "c" in args.parts and shared is not None:
        figures["shared_speedup"] = shared()
    if "d" in args.parts:
        figures["prefetch_hidden"] = prefetch_hidden(work, args.checkpoints, args.sleep, args.depth)
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}", flush=True)
    print("scale: " + " ".join(f"{name}={value:.2f}" for name, value in figures.items()))


if __name__ == "__main__":
    main()
