"""Encoding models: Lanczos resampling and FIR delays (fMRI), TRFs (M/EEG), grouped-CV ridge, per-channel statistics."""

from harness.encoding.design import delay_matrices, story_design
from harness.encoding.resample import lanczos_matrix, lanczos_resample
from harness.encoding.ridge import RidgeCV, RidgeCVResult, choose_form, ridge_cv, story_folds
from harness.encoding.scorer import BrainScorer
from harness.encoding.stats import block_permutation_pvalues, fdr_bh, noise_ceiling, pearson_r, zscore_columns
from harness.encoding.trf import TRFDesign, trf_design

__all__ = [
    "BrainScorer", "RidgeCV", "RidgeCVResult", "block_permutation_pvalues", "choose_form",
    "delay_matrices", "fdr_bh", "lanczos_matrix", "lanczos_resample", "noise_ceiling", "pearson_r",
    "ridge_cv", "story_design", "story_folds", "TRFDesign", "trf_design", "zscore_columns",
]
