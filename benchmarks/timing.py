"""Timing for the benchmarks: alternating best-of-N wall-clock times of calls measured in the same run."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from harness import torch_threads


def best_times(
    runs: dict[str, Callable[[], object]], repeats: int, threads: int | None
) -> tuple[dict[str, float], int]:
    """Best of ``repeats`` seconds per call, and the torch thread count they ran on.

    Every call runs once first (caches filled, first-call costs paid); then the calls alternate,
    so a busy spell on a shared machine hits them all.
    """
    times: dict[str, list[float]] = {name: [] for name in runs}
    with torch_threads(threads or None):
        for call in runs.values():
            call()
        for _ in range(repeats):
            for name, call in runs.items():
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
        used = torch.get_num_threads()
    return {name: min(values) for name, values in times.items()}, used
