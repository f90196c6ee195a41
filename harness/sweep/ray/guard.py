"""A Ray instance a sweep starts dies with its driver, even when the driver is killed (SIGKILL).

Ray stops the processes of an instance it started when the driver exits or is terminated, but a
killed driver leaves them running: the GCS server, the raylet, the dashboard and runtime-env
agents and the workers. So before starting Ray, the driver starts a guard: a small process of
its own session that lists, every second while the driver runs, the processes that carry the
instance's mark (an environment variable each Ray process inherits from the driver) and their
descendants, and stops them when the driver ends. A driver
that closes its executor stops the guard first. Linux only (it reads ``/proc``); elsewhere no
guard is started.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MARK = "HARNESS_RAY_INSTANCE"  # set while Ray starts: every process of the instance inherits it
GRACE_S = 3.0  # between SIGTERM and SIGKILL
POLL_S = 1.0  # how often the guard lists the instance's processes while the driver runs
PROC = Path("/proc")


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent, start time) of a running process, or None (gone, or a zombie)."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else (int(fields[1]), int(fields[19]))


def _marked(pid: int, needle: bytes) -> bool:
    try:
        return needle in (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:  # gone, or not ours
        return False


def instance_processes(mark: str) -> dict[int, int]:
    """pid -> start time of the processes carrying ``MARK=mark`` and their descendants (not this process).

    Descendants count because Ray renames some of its processes (the agents), which overwrites the
    environment that ``/proc`` shows; while their parent lives, they are found through it.
    """
    table = {int(e.name): stat for e in PROC.iterdir() if e.name.isdigit() and (stat := _stat(int(e.name))) is not None}
    needle = f"{MARK}={mark}".encode()
    found = {pid for pid in table if pid != os.getpid() and _marked(pid, needle)}
    frontier = set(found)
    while frontier:
        frontier = {pid for pid, (parent, _) in table.items() if parent in frontier} - found - {os.getpid()}
        found |= frontier
    return {pid: table[pid][1] for pid in found}


def stop_processes(known: dict[int, int], grace_s: float = GRACE_S) -> None:
    """SIGTERM the processes of ``known`` still running with the same start time, then SIGKILL those left after
    ``grace_s``."""
    def running() -> list[int]:
        return [pid for pid, started in known.items() if (stat := _stat(pid)) is not None and stat[1] == started]

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in running():
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + grace_s
        while running() and time.monotonic() < deadline:
            time.sleep(0.1)


def _ended(handle: int | None, pid: int, timeout_s: float) -> bool:
    """True once process ``pid`` has ended (a zombie counts), waiting up to ``timeout_s`` for it."""
    if handle is not None:
        return bool(select.select([handle], [], [], timeout_s)[0])
    if _stat(pid) is None:
        return True
    time.sleep(timeout_s)
    return False


def guard(driver: int, mark: str) -> None:
    """List the instance's processes while ``driver`` runs; when it ends, stop them (runs in its own process)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the driver closed the executor: nothing to clean
    try:
        handle: int | None = os.pidfd_open(driver)
    except (AttributeError, OSError):
        handle = None
    known: dict[int, int] = {}
    while not _ended(handle, driver, POLL_S):
        known.update(instance_processes(mark))
    known.update(instance_processes(mark))
    stop_processes(known)


@contextmanager
def guarded_start() -> Iterator[subprocess.Popen[bytes] | None]:
    """Around ``ray.init`` of an instance this process starts: its processes are marked and a guard watches this one.

    Yields the guard's process (None where there is no ``/proc``); stop it with ``stop_guard``.
    """
    if not (PROC / str(os.getpid()) / "environ").is_file():
        yield None
        return
    mark = uuid.uuid4().hex
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.sweep.ray.guard", str(os.getpid()), mark],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    before = os.environ.get(MARK)
    os.environ[MARK] = mark
    try:
        yield process
    finally:
        if before is None:
            os.environ.pop(MARK, None)
        else:
            os.environ[MARK] = before


def stop_guard(process: subprocess.Popen[bytes] | None) -> None:
    """Stop the guard of an instance this process has shut down itself."""
    if process is not None and process.poll() is None:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    guard(int(sys.argv[1]), sys.argv[2])
