"""Random streams of the analysis: every signal's resampling draws from a stream of its own.

Two signals bootstrapped from the same stream share their jitter, so a lag between them (their
difference) comes out too certain. A stream is named by the analysis seed and what it serves
(``stream(seed, "locations", model, target, signal)``): the same names give the same draws in
every run, different names independent ones.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, *names: str) -> np.random.Generator:
    """The random stream of ``names`` under ``seed``: reproducible, and independent of every other name."""
    key = tuple(zlib.crc32(str(name).encode()) for name in names)
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))
