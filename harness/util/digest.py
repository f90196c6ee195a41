"""Short, stable digests of settings: the one way the harness turns a payload into a hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def settings_digest(payload: Any, length: int = 16) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``payload`` as canonical JSON.

    Keys are sorted and values JSON cannot hold are written with ``str``, so equal settings give
    equal digests across processes and runs.
    """
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
