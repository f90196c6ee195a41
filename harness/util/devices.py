"""Which torch device a sweep runs on."""

from __future__ import annotations

from harness.util.errors import ConfigError


def resolve_device(device: str) -> str:
    """'auto' becomes 'cuda' when a GPU is visible, else 'cpu'; 'cuda' without a GPU is a ``ConfigError``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {device!r} was asked for but no CUDA device is visible; use 'cpu' or 'auto'")
    return device
