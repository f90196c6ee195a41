"""Where the harness keeps things that outlive a run: trained models, task files, activations, prepared data.

One root holds them all: the config's ``cache:`` (set for the process when a plan is made, so
Ray workers that rebuild the plan use it too), else ``$HARNESS_CACHE``, else ``~/.cache/harness``.
Inside ``read_only_cache()`` (``harness validate``) nothing may be written there: writers ask
``cache_writable()`` and skip what is only remembered, or prepare it in a temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_configured: Path | None = None  # the config's cache:, while a plan made from it is in use
_read_only = 0  # depth of read_only_cache() blocks
_deferred: list[list[Callable[[], None]]] = []  # the writes of each open writes_deferred() block


def cache_root() -> Path:
    """The config's ``cache:``, else ``$HARNESS_CACHE``, else ``~/.cache/harness``."""
    if _configured is not None:
        return _configured
    return Path(os.environ.get("HARNESS_CACHE") or "~/.cache/harness").expanduser()


def use_cache(path: str | Path | None) -> None:
    """Make ``path`` (a config's ``cache:``) the cache root of this process; None goes back to the environment's."""
    global _configured
    _configured = None if path is None else Path(path).expanduser().absolute()


def cache_writable() -> bool:
    """False inside ``read_only_cache()``: a writer must leave the cache as it is."""
    return _read_only == 0


@contextmanager
def read_only_cache() -> Iterator[None]:
    """A block in which the harness writes nothing to the cache (what it learns is kept in memory or dropped)."""
    global _read_only
    _read_only += 1
    try:
        yield
    finally:
        _read_only -= 1


@contextmanager
def writes_deferred() -> Iterator[None]:
    """A block whose ``write_later`` writes are made when it ends without an error, and dropped when it fails.

    A sweep's preflight runs in one: what its checks learnt about the data is kept only once every
    check has passed, so a mistake leaves nothing behind.
    """
    _deferred.append([])
    try:
        yield
    except BaseException:
        _deferred.pop()
        raise
    for write in _deferred.pop():
        write()


def write_later(write: Callable[[], None]) -> None:
    """Run ``write`` now, or at the end of the ``writes_deferred()`` block it is called in."""
    if _deferred:
        _deferred[-1].append(write)
    else:
        write()
