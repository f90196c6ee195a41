"""Benchmark: brain scoring at LeBel's real size in bounded memory, and subjects sharing one decomposition.

    python benchmarks/scale_memory.py                  # 3 subjects, 84 stories x 300 scans, 20,000 voxels
    python benchmarks/scale_memory.py --voxels 40000   # bigger subjects (disk: 3 x scans x voxels x 4 bytes)
    python benchmarks/scale_memory.py --quick          # 12 stories, 2,000 voxels, 256 dims: a minute or two

Three simulated subjects are written in the LeBel 2023 (ds003020) layout to a temporary folder:
84 training stories of 300 kept scans (25,200 training scans, LeBel's long subjects) and one test
story, 1,500 words per story, random responses; word features are random, 768 dims, so the design
has 768 x 4 delays = 3,072 features. Everything is read back through the real ``lebel2023`` loader
and scored by ``BrainScorer`` with the default encoding settings (memory_gb 2, 5 folds, 10 alphas).
Each measurement runs in its own spawned process, so the parent's memory does not count.

- mem_ratio: the rise of peak resident memory while one layer is scored for the three subjects
  (the peak after the features are in memory and the scorer is built, minus the memory then),
  divided by the size of one subject's responses (all its scans x voxels x 4 bytes). The
  responses do not fit the 2 GiB budget, so they are read in voxel blocks. Target <= 1.5.
- shared_speedup: one layer scored for three subjects with the same scan times by one scorer (one
  decomposition of the features, shared) against three scorers of one subject each (three
  decompositions), same sizes except ``--shared-voxels`` voxels per subject (default 2,000, a
  region-of-interest analysis; the decomposition's share falls as voxels grow, and the decomposition
  and per-voxel costs are printed so the speedup at any voxel count can be projected). Responses are
  read before the clock starts. Target >= 2.0.

Last line, exactly: ``scale_memory: mem_ratio=M shared_speedup=T``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import queue as queue_module
import resource
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

TEST_STORY = "wheretheressmoke"


@dataclass(frozen=True)
class Sizes:
    """The simulated experiment."""

    subjects: int = 3
    stories: int = 84  # training stories
    scans: int = 300  # kept scans per story (respdict gives scans + 20)
    words: int = 1500  # words per story (2.5 per second over 600 s)
    voxels: int = 20_000
    dims: int = 768
    seed: int = 0
    device: str = "cpu"  # where the encoding model is fitted ("cuda": the benchmark's GPU path)
    memory_gb: float = 2.0  # encoding.memory_gb: the bound on responses held at once

    @property
    def train_scans(self) -> int:
        return self.stories * self.scans

    @property
    def subject_bytes(self) -> int:
        """One subject's responses (training and test scans) as float32."""
        return 4 * (self.stories + 1) * self.scans * self.voxels


QUICK = Sizes(stories=12, voxels=2_000, dims=256, words=600)


def write_dataset(root: Path, sizes: Sizes) -> Path:
    """The ds003020 derivative layout under ``root``: TextGrids, respdict.json, sess_to_story.json, responses."""
    import h5py

    from harness_plugins.brain.textgrid import write_textgrid

    derivative = root / "derivative"
    (derivative / "TextGrids").mkdir(parents=True)
    train = [f"story{i:02d}" for i in range(1, sizes.stories + 1)]
    rng = np.random.default_rng(sizes.seed)
    step = (2.0 * sizes.scans) / sizes.words
    for story in [*train, TEST_STORY]:
        onsets = 0.5 + step * np.arange(sizes.words)
        words = [(float(a), float(a + 0.8 * step), f"w{rng.integers(1000)}") for a in onsets]
        tier = [(0.0, 0.5, ""), *words]
        write_textgrid(derivative / "TextGrids" / f"{story}.TextGrid", {"phone": tier, "word": tier})
    (derivative / "respdict.json").write_text(json.dumps({s: sizes.scans + 20 for s in [*train, TEST_STORY]}))
    (derivative / "sess_to_story.json").write_text(json.dumps({"1": [train, TEST_STORY]}))
    for index in range(sizes.subjects):
        folder = derivative / "preprocessed_data" / f"UTS0{index + 1}"
        folder.mkdir(parents=True)
        for story in [*train, TEST_STORY]:
            data = rng.standard_normal((sizes.scans, sizes.voxels), dtype=np.float32)
            with h5py.File(folder / f"{story}.hf5", "w") as handle:
                handle.create_dataset("data", data=data)
    return root


def _features(dataset: Any, dims: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    return {k: rng.standard_normal((len(v.words), dims), dtype=np.float32) for k, v in dataset.stories().items()}


def _rss() -> int:
    """Resident memory of this process now, bytes."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak() -> int:
    """Peak resident memory of this process since the last reset, bytes."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _gpu_peak(device: str) -> int:
    """Peak GPU memory allocated by torch in this process, bytes (0 on the CPU)."""
    if not device.startswith("cuda"):
        return 0
    import torch

    return int(torch.cuda.max_memory_allocated())


def _memory_child(root: str, sizes: dict[str, Any], out: Any) -> None:
    from harness.encoding import BrainScorer
    from harness.encoding.settings import EncodingSettings
    from harness_plugins.brain.lebel2023 import LeBel2023

    s = Sizes(**sizes)
    dataset = LeBel2023(LeBel2023.Options(root=root))
    features = _features(dataset, s.dims, s.seed)
    scorer = BrainScorer(dataset, EncodingSettings(memory_gb=s.memory_gb), device=s.device)
    before = _rss()
    exact = _reset_peak()
    start = time.perf_counter()
    output = scorer.score(features)
    seconds = time.perf_counter() - start
    peak = _peak()
    r_mean = [x.value for x in output.scores if x.metric == "r_mean" and x.scope == "mean"][0]
    out.put(
        {
            "before": before,
            "peak": peak,
            "exact": exact,
            "seconds": seconds,
            "resident": scorer.resident,
            "gpu_peak": _gpu_peak(s.device),
            "block": scorer.block_voxels(scorer.subjects[0]),
            "r_mean": r_mean,
        }
    )


def _shared_child(root: str, sizes: dict[str, Any], out: Any) -> None:
    from harness.encoding import BrainScorer
    from harness.encoding.settings import EncodingSettings
    from harness_plugins.brain.lebel2023 import LeBel2023

    s = Sizes(**sizes)
    options = LeBel2023.Options(root=root)
    shared = BrainScorer(LeBel2023(options), EncodingSettings(), device=s.device)
    subjects = shared.subjects
    separate = [
        BrainScorer(LeBel2023(options.model_copy(update={"subjects": [x]})), EncodingSettings(), device=s.device)
        for x in subjects
    ]
    features = _features(shared.dataset, s.dims, s.seed)
    for scorer in [shared, *separate]:  # before the clock: responses prepared and kept, and each scorer's delay
        for subject in scorer.subjects:   # matrices built (a sweep keeps both across layers and checkpoints)
            for _ in scorer.fit_blocks(scorer.info[subject]):
                pass
        for members in scorer.groups():
            scorer.design(features, members[0], scorer.train + scorer.test)
    assert shared.resident and all(x.resident for x in separate) and len(shared.groups()) == 1
    start = time.perf_counter()
    solver, design = shared.solver(features, shared.info[subjects[0]])  # the decomposition, prepared
    decomposition = time.perf_counter() - start
    fit = time.perf_counter()
    shared.fit_subject(solver, design, shared.info[subjects[0]])
    per_subject = time.perf_counter() - fit
    del solver, design
    start = time.perf_counter()
    together = shared.score(features)
    t_shared = time.perf_counter() - start
    start = time.perf_counter()
    alone = [scorer.score(features) for scorer in separate]
    t_separate = time.perf_counter() - start
    same = all(
        np.allclose(together.arrays[f"r/{x}"], a.arrays[f"r/{x}"], rtol=1e-4, atol=1e-5)
        for x, a in zip(subjects, alone)
    )
    out.put(
        {"shared": t_shared, "separate": t_separate, "decomposition": decomposition, "fit": per_subject, "same": same}
    )


def _in_child(target: Any, root: Path, sizes: Sizes, cache: Path) -> dict[str, Any]:
    """Run ``target`` in a spawned process (with its own harness cache) and return what it reports."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    before = os.environ.get("HARNESS_CACHE")
    os.environ["HARNESS_CACHE"] = str(cache)
    try:
        process = context.Process(target=target, args=(str(root), asdict(sizes), queue))
        process.start()
        result = None
        while result is None and (process.is_alive() or not queue.empty()):
            with contextlib.suppress(queue_module.Empty):
                result = queue.get(timeout=1.0)
        process.join()
    finally:
        if before is None:
            os.environ.pop("HARNESS_CACHE", None)
        else:
            os.environ["HARNESS_CACHE"] = before
    if process.exitcode or result is None:
        raise RuntimeError(f"the measuring process failed (exit code {process.exitcode})")
    return dict(result)


def _with_dataset(target: Any, sizes: Sizes, workdir: str | None) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="scale-memory-", dir=workdir))
    try:
        write_dataset(tmp / "ds003020", sizes)
        return _in_child(target, tmp / "ds003020", sizes, tmp / "cache")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def memory_report(sizes: Sizes = Sizes(), workdir: str | None = None) -> dict[str, Any]:
    """Peak memory of scoring one layer for ``sizes.subjects`` subjects, with the figures behind the ratio."""
    result = _with_dataset(_memory_child, sizes, workdir)
    result["ratio"] = (result["peak"] - result["before"]) / sizes.subject_bytes
    return result


def shared_report(sizes: Sizes | None = None, workdir: str | None = None) -> dict[str, Any]:
    """Time of one scorer over every subject (one decomposition) against one scorer per subject (default 2,000 voxels
    each)."""
    sizes = sizes or replace(Sizes(), voxels=2_000)
    result = _with_dataset(_shared_child, sizes, workdir)
    result["speedup"] = result["separate"] / result["shared"]
    return result


def _print_memory(memory: dict[str, Any], sizes: Sizes) -> None:
    gib = 1 << 30
    how = "kept in memory" if memory["resident"] else f"read in blocks of {memory['block']:,} voxels"
    print(
        f"(b) memory: {sizes.subjects} subjects x {sizes.train_scans:,} training scans + {sizes.scans} test x "
        f"{sizes.voxels:,} voxels, "
        f"{sizes.dims} dims x 4 delays; one subject's responses {sizes.subject_bytes / gib:.2f} GiB; memory_gb "
        f"{sizes.memory_gb:g}, {how}",
        flush=True,
    )
    print(f"  before scoring {memory['before'] / gib:.2f} GiB, peak while scoring {memory['peak'] / gib:.2f} GiB"
          f"{'' if memory['exact'] else ' (peak since start: the reset of the peak mark was refused)'}; "
          f"rise {(memory['peak'] - memory['before']) / gib:.2f} GiB = {memory['ratio']:.2f} x one subject; "
          f"{memory['seconds']:.0f} s for the layer on {sizes.device}; mean r {memory['r_mean']:+.4f} (random data)"
          + (f"; GPU peak {memory['gpu_peak'] / gib:.2f} GiB" if memory.get("gpu_peak") else ""), flush=True)


def _print_shared(shared: dict[str, Any], sizes: Sizes) -> None:
    print(
        f"(c) shared: {sizes.subjects} subjects x {sizes.voxels:,} voxels on {sizes.device}; one scorer "
        f"{shared['shared']:.1f} s, one scorer per "
        f"subject {shared['separate']:.1f} s; one decomposition {shared['decomposition']:.1f} s, one subject's fit "
        f"{shared['fit']:.1f} s ({shared['fit'] / sizes.voxels * 1e6:.0f} us per voxel); "
        f"same r as separate fits: {shared['same']}",
        flush=True,
    )


def measure_memory(voxels: int = 20_000, quick: bool = False) -> float:
    """mem_ratio: peak RSS rise of scoring one layer for three LeBel-size subjects / one subject's responses."""
    sizes = QUICK if quick else replace(Sizes(), voxels=voxels)
    memory = memory_report(sizes)
    _print_memory(memory, sizes)
    return float(memory["ratio"])


def measure_shared(voxels: int = 2_000, quick: bool = False) -> float:
    """shared_speedup: three subjects on one shared decomposition against three separate fits."""
    sizes = replace(QUICK, voxels=500) if quick else replace(Sizes(), voxels=voxels)
    shared = shared_report(sizes)
    _print_shared(shared, sizes)
    return float(shared["speedup"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voxels", type=int, default=20_000, help="voxels per subject for mem_ratio")
    parser.add_argument("--shared-voxels", type=int, default=2_000, help="voxels per subject for shared_speedup")
    parser.add_argument("--quick", action="store_true", help="small sizes (a check that it runs, not the figures)")
    parser.add_argument(
        "--device", default="cpu", help="where the encoding model is fitted: cpu, or cuda (the GPU path)"
    )
    parser.add_argument("--memory-gb", type=float, default=2.0, help="encoding.memory_gb for mem_ratio")
    parser.add_argument("--parts", nargs="+", choices=["b", "c"], default=["b", "c"])
    parser.add_argument(
        "--workdir", default=None, help="where the simulated data is written (default: the temp folder)"
    )
    args = parser.parse_args()
    sizes = replace(
        QUICK if args.quick else replace(Sizes(), voxels=args.voxels), device=args.device, memory_gb=args.memory_gb
    )
    shared_sizes = replace(sizes, voxels=500 if args.quick else args.shared_voxels)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"sizes: {sizes.subjects} subjects x {sizes.stories} training stories x {sizes.scans} scans "
          f"({sizes.train_scans:,} training scans + {sizes.scans} test), {sizes.dims} dims x 4 delays")
    mem_ratio = shared_speedup = float("nan")
    if "b" in args.parts:
        memory = memory_report(sizes, args.workdir)
        _print_memory(memory, sizes)
        mem_ratio = memory["ratio"]
    if "c" in args.parts:
        shared = shared_report(shared_sizes, args.workdir)
        _print_shared(shared, shared_sizes)
        shared_speedup = shared["speedup"]
    print(f"scale_memory: mem_ratio={mem_ratio:.2f} shared_speedup={shared_speedup:.2f}")


if __name__ == "__main__":
    main()
