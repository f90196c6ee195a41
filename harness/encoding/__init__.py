"""Encoding models: Lanczos resampling and FIR delays (fMRI), TRFs (M/EEG), grouped-CV ridge, per-channel statistics.

``settings`` (the ``encoding`` settings of a config) loads no torch; the other exports are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.util.lazy import lazy_exports

if TYPE_CHECKING:
    from harness.encoding.design import delay_matrices, story_design
    from harness.encoding.resample import lanczos_matrix, lanczos_resample
    from harness.encoding.ridge import RidgeCV, RidgeCVResult, choose_form, ridge_cv, story_folds
    from harness.encoding.scorer import BrainScorer
    from harness.encoding.stats import block_permutation_pvalues, fdr_bh, noise_ceiling, pearson_r, zscore_columns
    from harness.encoding.trf import TRFDesign, trf_design

_HOMES = {
    "delay_matrices": "design", "story_design": "design", "lanczos_matrix": "resample", "lanczos_resample": "resample",
    "RidgeCV": "ridge", "RidgeCVResult": "ridge", "choose_form": "ridge", "ridge_cv": "ridge", "story_folds": "ridge",
    "BrainScorer": "scorer", "block_permutation_pvalues": "stats", "fdr_bh": "stats", "noise_ceiling": "stats",
    "pearson_r": "stats", "zscore_columns": "stats", "TRFDesign": "trf", "trf_design": "trf",
}
__getattr__, __dir__ = lazy_exports(__name__, {name: f"{__name__}.{module}" for name, module in _HOMES.items()})

__all__ = [
    "BrainScorer", "RidgeCV", "RidgeCVResult", "block_permutation_pvalues", "choose_form",
    "delay_matrices", "fdr_bh", "lanczos_matrix", "lanczos_resample", "noise_ceiling", "pearson_r",
    "ridge_cv", "story_design", "story_folds", "TRFDesign", "trf_design", "zscore_columns",
]
