"""Word-level activation extraction: token/word alignment, windowed batched forward passes, cache.

``settings`` (the ``extraction`` settings of a config) loads no torch; the other exports are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.util.lazy import lazy_exports

if TYPE_CHECKING:
    from harness.features.align import WordAlignment, align_words, story_text
    from harness.features.cache import ActivationSet
    from harness.features.extract import cache_key, extract_activations, stimulus_hash
    from harness.features.windows import Window, plan_windows, token_forwards

_HOMES = {
    "WordAlignment": "align", "align_words": "align", "story_text": "align", "ActivationSet": "cache",
    "cache_key": "extract", "extract_activations": "extract", "stimulus_hash": "extract",
    "Window": "windows", "plan_windows": "windows", "token_forwards": "windows",
}
__getattr__, __dir__ = lazy_exports(__name__, {name: f"{__name__}.{module}" for name, module in _HOMES.items()})

__all__ = [
    "ActivationSet", "Window", "WordAlignment", "align_words", "cache_key", "extract_activations",
    "plan_windows", "stimulus_hash", "story_text", "token_forwards",
]
