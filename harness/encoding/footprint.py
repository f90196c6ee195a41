"""What a layer's fit holds in memory while it is scored: its decompositions, counted before any is made.

A layer's features give one ridge decomposition (each fold's eigenbasis and spectral parts, the
full training set's, the design rows). With ``encoding.nuisance`` the layer is also fitted beside
the nuisance band (``harness.encoding.banded``): one more decomposition per ratio of
``nuisance_ratios``, each as wide as both bands together; the nuisance-only model adds one narrow
decomposition per group of subjects, shared by every layer. The scorer fits as many layers in one
pass as their footprints allow; ``harness validate --estimate`` counts them in its peak.
"""

from __future__ import annotations

from harness.encoding.settings import EncodingSettings


def decomposition_bytes(rows: int, width: int, folds: int) -> int:
    """About what one ridge decomposition of ``rows`` × ``width`` features holds: the design rows (float32), each
    fold's and the full eigenbasis (float32), each fold's spectral parts (float64)."""
    return 4 * (3 * rows * width + (2 * folds + 2) * width * width) + 8 * folds * width * width


def nuisance_width(settings: EncodingSettings, per_dim: int) -> int:
    """Columns of the nuisance band: each nuisance feature once per delay (``per_dim``); 0 without
    ``encoding.nuisance``."""
    return len(settings.nuisance) * per_dim


def layer_widths(settings: EncodingSettings, width: int, per_dim: int) -> list[int]:
    """The width of every decomposition one layer of ``width`` design columns holds: its own, and with
    ``encoding.nuisance`` one per ratio beside the nuisance band."""
    extra = nuisance_width(settings, per_dim)
    return [width] + ([width + extra] * len(settings.nuisance_ratio_values()) if extra else [])


def layer_bytes(settings: EncodingSettings, rows: int, width: int, per_dim: int) -> int:
    """What one layer's decompositions hold together (``decomposition_bytes`` of each of ``layer_widths``)."""
    return sum(decomposition_bytes(rows, w, settings.folds) for w in layer_widths(settings, width, per_dim))


def shared_bytes(settings: EncodingSettings, rows: int, per_dim: int) -> int:
    """What a group of subjects holds beside its layers' decompositions: the nuisance-only model's (0 without
    ``encoding.nuisance``)."""
    extra = nuisance_width(settings, per_dim)
    return decomposition_bytes(rows, extra, settings.folds) if extra else 0
