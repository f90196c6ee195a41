"""The repository's root, for tests that read its files (pyproject, README, docs, examples, benchmarks)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
