"""The benchmarks that call the harness's internals still run against them (small sizes: a check, not the figures)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.repo import ROOT

BENCHMARKS = ROOT / "benchmarks"


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


@pytest.mark.slow  # about 15 s of CPU, minutes on a busy machine
def test_realscale_runs_at_a_tiny_scale(tmp_path):
    """benchmarks/realscale.py (old path against the new) reaches its last line, the r of both paths the same."""
    done = subprocess.run([sys.executable, str(BENCHMARKS / "realscale.py"), "--scale", "0.01", "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, cwd=BENCHMARKS.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"realscale: layers_speedup=\d+\.\d\d fit_speedup=\d+\.\d\d max_r_diff=(\S+) gpu_s_per_layer=(\S+)", last)
    assert match, last
    assert float(match.group(1)) <= 1e-4
    assert match.group(2) != "nan" or "(d) no CUDA device: not measured" in done.stdout
