"""Unit costs measured on this machine in a few seconds, for ``harness validate --estimate``.

The encoder's arithmetic is two kinds of work: products of a design with responses (XᵀY, the
cross-validation products, predictions) and symmetric eigendecompositions (of XᵀX per fold).
Each is timed at a small size on the configured device and expressed as flops per second, to be
scaled by the flop counts of the plan. Reading responses is timed through a dataset's own reader.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from harness.encoding.products import matmul
from harness.plugin.contract import ResponseArray

PRODUCT_SIZE = (2048, 256, 2048)  # scans × features × voxels of the timed XᵀY
EIGH_SIZE = 256  # features of the timed eigendecomposition
EIGH_FLOPS = 9.0  # flops of a symmetric eigendecomposition with vectors, per p³ (Golub & Van Loan)
READ_BYTES = 64 << 20  # at most this much of one response file is read to time the reader
LEAST_SECONDS = 0.25  # each timing repeats its work for at least this long


@dataclass(frozen=True)
class UnitCosts:
    """Rates measured here: flops per second of products and of eigendecompositions, bytes per second read."""

    device: str
    threads: int
    product_flops: float
    eigh_flops: float
    read_bytes: float | None  # None: nothing to read (no brain target)
    read_from: str = ""  # what was read, for the user


def _seconds_per_call(work: Callable[[], object], device: str) -> float:
    """Seconds one call of ``work`` takes: the fastest of the calls made in ``LEAST_SECONDS`` after a warm-up
    (the fastest, as other processes on a shared machine only ever slow a call down)."""
    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    work()
    sync()
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < LEAST_SECONDS:
        begun = time.perf_counter()
        work()
        sync()
        best = min(best, time.perf_counter() - begun)
    return best


def product_rate(device: str) -> float:
    """Flops per second of a float32 XᵀY product of ``PRODUCT_SIZE`` on ``device`` (on the CPU through numpy's BLAS,
    as the encoder does: ``harness.encoding.products``)."""
    n, p, v = PRODUCT_SIZE
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, p, generator=generator).to(device)
    y = torch.randn(n, v, generator=generator).to(device)
    return 2.0 * n * p * v / _seconds_per_call(lambda: matmul(x.T, y), device)  # as the encoder multiplies


def eigh_rate(device: str) -> float:
    """Flops per second of a symmetric eigendecomposition of ``EIGH_SIZE`` features on ``device``, in float64 as the
    ridge does it."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(4 * EIGH_SIZE, EIGH_SIZE, generator=generator, dtype=torch.float64).to(device)
    gram = x.T @ x
    return EIGH_FLOPS * EIGH_SIZE**3 / _seconds_per_call(lambda: torch.linalg.eigh(gram), device)


def read_rate(responses: ResponseArray) -> float:
    """Bytes per second of reading voxel columns of ``responses`` through its reader (the operating system may have it
    cached)."""
    rows, columns = int(responses.shape[0]), int(responses.shape[1])
    width = max(1, min(columns, READ_BYTES // (4 * max(rows, 1))))
    read = 0
    start = time.perf_counter()
    for first in range(0, columns, width):
        block = np.asarray(responses[:, first : first + width], dtype=np.float32)
        read += block.nbytes
        if time.perf_counter() - start >= LEAST_SECONDS or read >= READ_BYTES:
            break
    return read / max(time.perf_counter() - start, 1e-9)


def measure_units(device: str, responses: ResponseArray | None = None, read_from: str = "") -> UnitCosts:
    """Every unit cost, on ``device`` with the threads torch uses now; ``responses`` timed for reading when given."""
    return UnitCosts(device, torch.get_num_threads(), product_rate(device), eigh_rate(device),
                     read_rate(responses) if responses is not None else None, read_from)
