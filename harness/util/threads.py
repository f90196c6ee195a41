"""Thread counts of torch and of numpy's BLAS, set for a block and restored after it."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def torch_threads(count: int | None, *, blas: bool = True) -> Iterator[None]:
    """Run the block on ``count`` CPU threads, torch's and (``blas``) numpy's BLAS's (None or 0: leave the settings as
    they are).

    Threaded LAPACK calls stall for seconds on a busy 2-core machine, so short eigensolves run
    on one thread; training and fitting may ask for more.
    """
    import torch

    before = torch.get_num_threads()
    if not count:
        yield
        return
    torch.set_num_threads(count)
    try:
        if blas:
            with _blas().limit(limits=count, user_api="blas"):  # numpy's BLAS too (harness.encoding.products)
                yield
        else:
            yield
    finally:
        torch.set_num_threads(before)


@functools.cache
def _blas() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, made once (making it reads every loaded library: 70 ms)."""
    import numpy  # noqa: F401  (its BLAS loaded first, so that the controller sees it)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()

