"""A Ray instance a sweep starts (``harness.sweep.ray.executor.connect``) leaves no process behind when its driver is killed.

A driver subprocess starts a real Ray instance (``num_cpus=2``, as ``--workers 2`` does) and runs
tasks on it; the test lists every process the driver started (GCS server, raylet, dashboard and
runtime-env agents, workers, the guard), kills the driver with SIGKILL and waits for all of them
to end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.sweep.ray.guard import POLL_S

pytestmark = [pytest.mark.xdist_group("ray"),
              pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="the guard reads /proc (Linux)")]

DRIVER = """
import time

import ray

from harness.plan.config import RaySettings
from harness.sweep.ray.executor import connect


@ray.remote
def where():
    import os
    return os.getpid()


connect(ray, RaySettings(workers=2))
print(*ray.get([where.remote() for _ in range(4)]), flush=True)
print("ready", flush=True)
time.sleep(600)
"""


def _parents() -> dict[int, int]:
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            found[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError, IndexError):
            continue
    return found


def _descendants(root: int) -> set[int]:
    parents = _parents()
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent to reap it has ended)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _name(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
    except OSError:
        return "?"


def test_a_killed_driver_leaves_no_ray_process(tmp_path):
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              cwd=tmp_path, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}, text=True)
    try:
        assert driver.stdout is not None
        lines = [driver.stdout.readline() for _ in range(2)]
        assert lines[1].strip() == "ready", lines
        started = _descendants(driver.pid)
        names = " | ".join(_name(pid) for pid in started)
        assert "raylet" in names and "gcs_server" in names and "harness.sweep.ray.guard" in names, names
        assert {int(pid) for pid in lines[0].split()} <= started  # the workers that ran the tasks
        time.sleep(2 * POLL_S)  # the guard has listed them (it lists the instance's processes every POLL_S)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 60
        while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = [_name(pid) for pid in started if _alive(pid)]
        assert not left, left
    finally:
        if driver.poll() is None:
            driver.kill()
