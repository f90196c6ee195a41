"""Checkpoints fetched and loaded ahead: while one checkpoint is measured, the next ``depth`` are prepared.

Fetching a hub checkpoint (``ModelFamily.fetch``) is waiting on the network; loading it is reading
the disk and building the model; measuring is computing. With ``prefetch: N`` the next N
checkpoints are fetched at the same time, in N background threads (several downloads in flight
keep up with a measurement shorter than one download), and loaded one after another in sweep
order in one more thread (building models in parallel would only share the same cores). At most
N + 1 checkpoints are loaded at any time (the one measured and N ahead), so memory and, with
``delete_after``, the hub cache hold at most N + 1 checkpoints; each is released (and its files
deleted) once measured. A sweep that stops leaves nothing behind: checkpoints fetched or loaded
ahead of it are loaded and released too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

Unit = TypeVar("Unit")
Item = TypeVar("Item")


class Prefetcher(Generic[Unit, Item]):
    """Hands out ``load(units[i])`` in order, having started ``fetch`` and ``load`` of the next ``depth`` in the
    background."""

    def __init__(self, units: Sequence[Unit], load: Callable[[Unit], Item], release: Callable[[Unit, Item], None],
                 depth: int, fetch: Callable[[Unit], None] | None = None) -> None:
        self.units, self.load, self.release, self.fetch, self.depth = list(units), load, release, fetch, depth
        ahead = depth > 0
        self._fetching = ThreadPoolExecutor(max_workers=depth, thread_name_prefix="fetch") if ahead and fetch else None
        self._loading = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") if ahead else None
        self._fetches: dict[int, Future[None]] = {}
        self._loads: dict[int, Future[Item]] = {}
        self._next = 0  # the index of the next unit to hand out

    def take(self) -> Item:
        """The next unit's loaded checkpoint (waiting for its load, or loading it now when nothing is ahead)."""
        index = self._next
        self._next += 1
        if self._loading is None:
            return self.load(self.units[index])
        for ahead in range(index, min(index + 1 + self.depth, len(self.units))):
            self._start(ahead)  # in order: this unit's fetch and load first
        return self._loads.pop(index).result()

    def _start(self, index: int) -> None:
        if index in self._loads or self._loading is None:
            return
        unit = self.units[index]
        if self._fetching is not None and self.fetch is not None:
            self._fetches[index] = self._fetching.submit(self.fetch, unit)
        self._loads[index] = self._loading.submit(self._load_fetched, index)

    def _load_fetched(self, index: int) -> Item:
        """Load unit ``index`` once its fetch is over (a failed fetch is left to the load to report)."""
        fetched = self._fetches.pop(index, None)
        if fetched is not None:
            fetched.exception()  # waits; the error, if any, is the load's to raise
        return self.load(self.units[index])

    def close(self) -> None:
        """Stop: every checkpoint fetched or loaded ahead but never handed out is loaded (if need be) and released."""
        if self._loading is None:
            return
        for index, future in sorted(self._loads.items()):
            fetch = self._fetches.get(index)
            if future.cancel() and (fetch is None or fetch.cancel()):
                continue  # neither its fetch nor its load began: nothing to release
            unit = self.units[index]
            self.release(unit, future.result() if not future.cancelled() else self._load_fetched(index))
        self._loads.clear()
        for pool in (self._loading, self._fetching):
            if pool is not None:
                pool.shutdown(wait=True)

    def __enter__(self) -> Prefetcher[Unit, Item]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
