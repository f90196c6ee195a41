"""Word-level activation extraction: token/word alignment, windowed batched forward passes, cache."""

from harness.features.align import WordAlignment, align_words, story_text
from harness.features.cache import ActivationSet
from harness.features.extract import cache_key, extract_activations, stimulus_hash
from harness.features.windows import Window, plan_windows, token_forwards

__all__ = [
    "ActivationSet", "Window", "WordAlignment", "align_words", "cache_key", "extract_activations",
    "plan_windows", "stimulus_hash", "story_text", "token_forwards",
]
