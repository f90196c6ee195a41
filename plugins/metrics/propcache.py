"""Word properties kept on disk: a stimulus's properties are computed once, then read by every sweep and worker.

Tagging parts of speech, fitting the surprisal model and looking up frequencies take seconds per
stimulus (and import textblob, NLTK and wordfreq); a sweep on several Ray workers would redo them
in each. The properties depend only on the words, their stories and the property settings, and
on the versions of the packages that compute them, so they are stored under
``HARNESS_CACHE/word_properties/<digest>.npz`` by a digest of all of that. A file that cannot be
read is computed again and replaced; writes are atomic, so workers writing the same file at once
leave one whole copy.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

from harness import atomic_write_bytes, cache_root, settings_digest

FORMAT = 1  # bump when what is stored, or how a property is computed, changes
PACKAGES = ("wordfreq", "textblob")  # the packages the properties come from
Properties = dict[str, tuple[np.ndarray, bool]]  # name -> (one value per word, categorical)


def properties_path(words: Sequence[str], stories: Sequence[str], settings: dict[str, object]) -> Path:
    """Where the properties of these words under these settings are kept."""
    key = {"words": list(words), "stories": list(stories), "settings": settings, "format": FORMAT,
           "packages": {name: _version(name) for name in PACKAGES}}
    return cache_root() / "word_properties" / f"{settings_digest(key, 32)}.npz"


def cached_properties(path: Path, compute: Callable[[], Properties]) -> Properties:
    """The properties stored at ``path``, or ``compute()`` stored there."""
    stored = _read(path)
    if stored is not None:
        return stored
    computed = compute()
    buffer = io.BytesIO()
    np.savez(buffer, **{name: values for name, (values, _) in computed.items()},
             __categorical__=np.array([name for name, (_, categorical) in computed.items() if categorical], dtype=str))
    atomic_write_bytes(path, buffer.getvalue())
    return computed


def _read(path: Path) -> Properties | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            categorical = set(stored["__categorical__"].tolist())
            return {name: (stored[name], name in categorical) for name in stored.files if name != "__categorical__"}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # damaged: computed again and replaced


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"
