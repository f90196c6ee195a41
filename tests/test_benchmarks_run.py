"""The benchmarks that call the harness's internals still run against them (small sizes: a check, not the figures)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_scale_memory_runs_at_small_sizes(tmp_path):
    """benchmarks/scale_memory.py (parts b and c of benchmarks/scale.py) reaches its last line."""
    done = subprocess.run([sys.executable, str(BENCHMARKS / "scale_memory.py"), "--quick", "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=BENCHMARKS.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"scale_memory: mem_ratio=\d+\.\d\d shared_speedup=\d+\.\d\d", last), last
    assert "same r as separate fits: True" in done.stdout


def test_compare_benchmark_runs_at_a_tiny_size():
    """benchmarks/compare.py reaches its last line, one line per case before it."""
    done = subprocess.run([sys.executable, str(BENCHMARKS / "compare.py"), "--simulations", "3", "--n-boot", "50"],
                          capture_output=True, text=True, timeout=300, cwd=BENCHMARKS.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"compare: false_positive=\d\.\d{3} power_0\.01=\d\.\d{3} coverage=\d\.\d{3}", lines[-1]), lines[-1]
    assert [line.split(":")[0].strip() for line in lines[:-1]] == ["demo", "spread", "few subjects", "unequal voxels"]
