"""Where the harness keeps things that outlive a run: trained models, activations, data."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$HARNESS_CACHE`` or ``~/.cache/harness``."""
    return Path(os.environ.get("HARNESS_CACHE") or "~/.cache/harness").expanduser()
