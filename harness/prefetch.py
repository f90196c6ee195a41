"""Checkpoints loaded ahead: while one checkpoint is measured, the next ``depth`` load in a background thread.

Loading a hub checkpoint is mostly waiting on the network (its download) and the disk; measuring
is computing. With ``prefetch: N`` the two overlap. At most N + 1 checkpoints are loaded at any
time (the one measured and N ahead), so memory and, with ``delete_after``, the hub cache hold at
most N + 1 checkpoints; each is released (and its files deleted) once measured, in sweep order.
Loads run one after another in a single thread, in sweep order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

Unit = TypeVar("Unit")
Item = TypeVar("Item")


class Prefetcher(Generic[Unit, Item]):
    """Hands out ``load(units[i])`` in order, having started the next ``depth`` loads in the background."""

    def __init__(self, units: Sequence[Unit], load: Callable[[Unit], Item], release: Callable[[Unit, Item], None],
                 depth: int) -> None:
        self.units, self.load, self.release, self.depth = list(units), load, release, depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") if depth > 0 else None
        self._futures: dict[int, Future[Item]] = {}
        self._next = 0  # the index of the next unit to hand out

    def take(self) -> Item:
        """The next unit's loaded checkpoint (waiting for its load, or loading it now when nothing is ahead)."""
        index = self._next
        self._next += 1
        if self._pool is None:
            return self.load(self.units[index])
        for ahead in range(index, min(index + 1 + self.depth, len(self.units))):
            self._start(ahead)  # in order, on one thread: this unit's load first
        return self._futures.pop(index).result()

    def _start(self, index: int) -> None:
        if index not in self._futures and self._pool is not None:
            self._futures[index] = self._pool.submit(self.load, self.units[index])

    def close(self) -> None:
        """Stop: loads not started are cancelled, those loaded but never handed out are released."""
        if self._pool is None:
            return
        for index, future in sorted(self._futures.items()):
            if not future.cancel():
                self.release(self.units[index], future.result())
        self._futures.clear()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Prefetcher[Unit, Item]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
