"""Benchmark: brain encoding at real scale, prepared responses and every layer per pass against the path before them.

    python benchmarks/realscale.py               # (a)-(c) at the issue's sizes (disk: about 6 GiB of HDF5 + 6 GiB
    prepared)
    python benchmarks/realscale.py --scale 0.1   # a tenth of the voxels and of the stories: a minute or two

Three simulated subjects are written in the LeBel 2023 (ds003020) layout (``scale_memory.write_dataset``:
84 training stories of 300 kept scans = 25,200 training scans, one test story of 300, 20,000 voxels,
random responses) and read back through the real ``lebel2023`` loader. Word features are random.

- (a) one checkpoint x 13 layers at 64 dims x 4 delays = 256 features: the path before this change
  (``BrainScorer(baseline=True)``, ``memory_gb`` 2: every layer reads the HDF5 files again in voxel
  blocks, z-scores them and fits with ``RidgeCV.fit``; budgets shrink with ``--scale``'s data, so
  that the old path streams at every scale) against the new one (``score_layers``: responses
  prepared once, then one pass per checkpoint over the prepared, memory-mapped blocks, each fitted
  on all 13 layers, fold-shared products; ``memory_gb`` 1.5 at full size). The one-time preparation (read, clean,
  z-score, write;
  done once per data hash, for every later layer, checkpoint and sweep) is timed apart and shown
  both ways. That budget keeps this benchmark's memory under 7 GiB (``auto`` would keep the 6 GiB
  resident on a machine with room for it). -> ``layers_speedup`` = old / new pass.
- (b) one layer at 768 dims x 4 delays = 3,072 features, the three subjects, new against old, responses
  prepared (new) and in the page cache (both) before the clock -> ``fit_speedup``.
- (c) max |r_new - r_old| over every voxel, subject and layer of (a) and (b) -> ``max_r_diff``.
- (d) on a CUDA GPU: one checkpoint x 13 layers x 3 subjects x 95,000 voxels x 3,072 features, seconds
  per layer (``memory_gb`` auto) -> ``gpu_s_per_layer``; nan without a GPU.

Last line, exactly: ``realscale: layers_speedup=A fit_speedup=B max_r_diff=C gpu_s_per_layer=D``.
Targets: A >= 5, B >= 1.3, C <= 1e-4, D <= 10.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_memory import Sizes, write_dataset  # noqa: E402  (the LeBel-layout writer of the memory benchmark)

LAYERS = 13


def _features(dataset: Any, dims: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal((len(v.words), dims), dtype=np.float32) for k, v in dataset.stories().items()}


def _r(output: Any) -> dict[str, np.ndarray]:
    return {k: v for k, v in output.arrays.items() if k.startswith("r/")}


def _max_diff(new: dict[str, np.ndarray], old: dict[str, np.ndarray]) -> float:
    return max(float(np.nanmax(np.abs(new[k] - old[k]))) for k in old)


def _dataset(root: Path) -> Any:
    from harness_plugins.brain.lebel2023 import LeBel2023

    return LeBel2023(LeBel2023.Options(root=str(root)))


def layers_part(root: Path, dims: int, scale: float) -> tuple[float, float, float]:
    """(a): (old seconds, new pass seconds, max |Δr|), preparation printed; budgets scaled with the data (old: 2 GiB at
    full size)."""
    from harness.encoding import BrainScorer
    from harness.encoding.settings import EncodingSettings

    dataset = _dataset(root)
    layers = {layer: _features(dataset, dims, 100 + layer) for layer in range(LAYERS)}
    old = BrainScorer(dataset, EncodingSettings(memory_gb=2.0 * scale), baseline=True)
    start = time.perf_counter()
    old_r = {layer: _r(old.score(features)) for layer, features in layers.items()}
    t_old = time.perf_counter() - start
    how = (
        "kept in memory"
        if old.resident
        else f"blocks of {old.block_voxels(old.subjects[0]):,} voxels read from HDF5 per layer"
    )
    print(
        f"(a) old: {LAYERS} layers, layer by layer, {t_old:.1f} s ({t_old / LAYERS:.2f} s per layer; {how})", flush=True
    )
    del old
    start = time.perf_counter()
    new = BrainScorer(dataset, EncodingSettings(memory_gb=1.5 * scale))
    for info in new.info.values():
        for _ in new.response_blocks(info):  # prepared once per data hash: read, cleaned, z-scored, written
            pass
    t_prepare = time.perf_counter() - start
    start = time.perf_counter()
    outputs = new.score_layers(layers)
    t_new = time.perf_counter() - start
    diff = max(_max_diff(_r(o), old_r[layer]) for layer, o in outputs.items() if not isinstance(o, Exception))
    assert not any(isinstance(o, Exception) for o in outputs.values()), outputs
    print(
        f"(a) new: preparation (once per data hash) {t_prepare:.1f} s; one pass for {LAYERS} layers {t_new:.1f} s "
        f"({t_new / LAYERS:.2f} s per layer; {new.residency.line}); with preparation "
        f"{(t_old / (t_prepare + t_new)):.2f}x, "
        f"without {t_old / t_new:.2f}x",
        flush=True,
    )
    return t_old, t_new, diff


def fit_part(root: Path, dims: int, scale: float) -> tuple[float, float, float]:
    """(b): one layer, three subjects, wide features: (old seconds, new seconds, max |Δr|)."""
    from harness.encoding import BrainScorer
    from harness.encoding.settings import EncodingSettings

    dataset = _dataset(root)
    features = _features(dataset, dims, 7)
    new = BrainScorer(dataset, EncodingSettings(memory_gb=1.5 * scale))
    for info in new.info.values():
        for _ in new.response_blocks(info):  # prepared in (a): read back and checked
            pass
    start = time.perf_counter()
    new_out = new.score(features)
    t_new = time.perf_counter() - start
    del new
    old = BrainScorer(dataset, EncodingSettings(memory_gb=2.0 * scale), baseline=True)
    start = time.perf_counter()
    old_out = old.score(features)
    t_old = time.perf_counter() - start
    print(
        f"(b) one layer, 3 subjects, {dims} dims x 4 delays = {4 * dims} features: old {t_old:.1f} s, new {t_new:.1f} "
        "s",
        flush=True,
    )
    return t_old, t_new, _max_diff(_r(new_out), _r(old_out))


def gpu_part(sizes: Sizes, workdir: str | None) -> float:
    """(d): seconds per layer on CUDA, 13 layers x 3 subjects x 95,000 voxels x 3,072 features; nan without a GPU."""
    import torch

    if not torch.cuda.is_available():
        print("(d) no CUDA device: not measured", flush=True)
        return math.nan
    from harness.encoding import BrainScorer
    from harness.encoding.settings import EncodingSettings

    tmp = Path(tempfile.mkdtemp(prefix="realscale-gpu-", dir=workdir))
    try:
        gpu_sizes = replace(sizes, voxels=max(8, round(95_000 * sizes.voxels / 20_000)))
        root = write_dataset(tmp / "ds003020", gpu_sizes)
        dataset = _dataset(root)
        layers = {layer: _features(dataset, 768, 200 + layer) for layer in range(LAYERS)}
        scorer = BrainScorer(dataset, EncodingSettings(), device="cuda")
        for info in scorer.info.values():
            for _ in scorer.response_blocks(info):
                pass
        torch.cuda.synchronize()
        start = time.perf_counter()
        scorer.score_layers(layers)
        torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / LAYERS
        print(
            f"(d) {torch.cuda.get_device_name()}: {LAYERS} layers x 3 subjects x {gpu_sizes.voxels:,} voxels x 3,072 "
            "features, "
            f"{seconds:.2f} s per layer ({scorer.residency.line})",
            flush=True,
        )
        return seconds
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the voxels and of the training stories (default 1)"
    )
    parser.add_argument(
        "--workdir", default=None, help="where the simulated data is written (default: the system's temporary folder)"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sizes = replace(Sizes(), stories=max(4, round(84 * args.scale)), voxels=max(8, round(20_000 * args.scale)), dims=64)
    tmp = Path(tempfile.mkdtemp(prefix="realscale-", dir=args.workdir))
    os.environ["HARNESS_CACHE"] = str(tmp / "cache")  # prepared responses go here, and are removed with it
    try:
        start = time.perf_counter()
        root = write_dataset(tmp / "ds003020", sizes)
        print(
            f"data: {sizes.subjects} subjects x ({sizes.train_scans:,} training + {sizes.scans} test scans) x "
            f"{sizes.voxels:,} voxels "
            f"({sizes.subject_bytes / (1 << 30):.2f} GiB float32 per subject), written in "
            f"{time.perf_counter() - start:.1f} s",
            flush=True,
        )
        start = time.perf_counter()
        share = sizes.subject_bytes / Sizes().subject_bytes  # of the full size's responses: budgets scale with it
        a_old, a_new, a_diff = layers_part(root, 64, share)
        print(f"(a) elapsed {time.perf_counter() - start:.1f} s", flush=True)
        start = time.perf_counter()
        b_old, b_new, b_diff = fit_part(root, 768, share)
        print(f"(b) elapsed {time.perf_counter() - start:.1f} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"(c) max |r_new - r_old|: layers {a_diff:.2e}, wide fit {b_diff:.2e}", flush=True)
    gpu = gpu_part(sizes, args.workdir)
    print(f"realscale: layers_speedup={a_old / a_new:.2f} fit_speedup={b_old / b_new:.2f} "
          f"max_r_diff={max(a_diff, b_diff):.2e} gpu_s_per_layer={gpu:.2f}")


if __name__ == "__main__":
    main()
