"""Torch's intra-op thread count, set for a block and restored after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block on ``count`` CPU threads (None or 0: leave torch's setting as it is).

    Threaded LAPACK calls stall for seconds on a busy 2-core machine, so short eigensolves run
    on one thread; training and fitting may ask for more.
    """
    import torch

    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
