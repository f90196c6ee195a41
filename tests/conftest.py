"""Shared test set-up: never reach a hub, keep caches inside the test's temporary directory."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from harness.util.paths import use_cache  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own HARNESS_CACHE unless it sets one."""
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path_factory.mktemp("harness-cache")))
    use_cache(None)  # a config's cache: from an earlier test is not this one's
