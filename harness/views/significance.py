"""Significance on maps: the channels whose block-permutation p-value passes Benjamini–Hochberg FDR.

The encoder stores ``p/<subject>`` beside ``r/<subject>`` for cells scored with permutations
(``encoding.permutations`` > 0, at every checkpoint or only the last: ``encoding.permutations_at``).
FDR is taken over the channels with a p-value (those the encoder kept), as the cell's
``frac_significant`` is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.curves import BrainCurve
from harness.analysis.data import read_companion_arrays
from harness.encoding.stats import fdr_bh

P_ARRAY = "p"  # the name of a cell's per-channel p-values: p/<subject>


def fdr_mask(pvalues: np.ndarray, q: float) -> np.ndarray:
    """Per channel: True where its p-value passes FDR at ``q`` among the channels that have one (NaN: False)."""
    p = np.asarray(pvalues, dtype=np.float64)
    tested = np.isfinite(p)
    mask = np.zeros(p.size, dtype=bool)
    mask[tested] = fdr_bh(p[tested], q)
    return mask


def significance_lines(curve: BrainCurve, arrays: pd.DataFrame, q: float, unit: str) -> list[str]:
    """Per subject, how many ``unit`` pass FDR ``q`` at the best layer of each checkpoint that has p-values."""
    counts: dict[str, list[str]] = {}
    for j, step in enumerate(curve.steps):
        layer = int(curve.best_layer[j])
        rows = curve.best_layer_rows(arrays, j)
        for subject, p in sorted(read_companion_arrays(rows, P_ARRAY).items()):
            tested = int(np.isfinite(p).sum())
            counts.setdefault(subject, []).append(
                f"step {int(step)} (layer {layer}): {int(fdr_mask(p, q).sum()):,} of {tested:,}"
            )
    return [f"{subject}: {unit} passing FDR q {q:g} (block permutations) at " + "; ".join(found)
            for subject, found in counts.items()]
