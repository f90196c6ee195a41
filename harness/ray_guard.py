"""A Ray instance a sweep starts dies with its driver, even when the driver is killed (SIGKILL).

Ray stops the processes of an instance it started when the driver exits or is terminated, but a
killed driver leaves them running: the GCS server, the raylet, the dashboard and runtime-env
agents and the workers. So before starting Ray, the driver starts a guard: a small process of
its own session that waits for the driver to end and then stops every process that carries the
instance's mark, an environment variable each Ray process inherits from the driver. A driver
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
PROC = Path("/proc")


def marked_processes(mark: str) -> list[int]:
    """The processes (other than this one) whose environment carries ``MARK=mark``."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours
            continue
        if needle in environment.split(b"\0"):
            found.append(int(entry.name))
    return found


def stop_marked(mark: str, grace_s: float = GRACE_S) -> None:
    """SIGTERM every marked process, then SIGKILL those still there after ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in marked_processes(mark):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + grace_s
        while marked_processes(mark) and time.monotonic() < deadline:
            time.sleep(0.1)


def _wait_for_exit(pid: int) -> None:
    """Return when process ``pid`` has ended (a zombie counts as ended)."""
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):
        handle = None
    if handle is not None:
        select.select([handle], [], [])
        os.close(handle)
        return
    while True:  # no pidfd: poll its state
        try:
            state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.5)


def guard(driver: int, mark: str) -> None:
    """Wait for ``driver`` to end, then stop the marked processes (the guard's own job; runs in its own process)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the driver closed the executor: nothing to clean
    _wait_for_exit(driver)
    stop_marked(mark)


@contextmanager
def guarded_start() -> Iterator[subprocess.Popen[bytes] | None]:
    """Around ``ray.init`` of an instance this process starts: its processes are marked and a guard watches this one.

    Yields the guard's process (None where there is no ``/proc``); stop it with ``stop_guard``.
    """
    if not (PROC / str(os.getpid()) / "environ").is_file():
        yield None
        return
    mark = uuid.uuid4().hex
    process = subprocess.Popen([sys.executable, "-m", "harness.ray_guard", str(os.getpid()), mark], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
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
