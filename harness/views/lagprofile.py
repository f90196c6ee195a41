"""The temporal response function over lags: per checkpoint, the TRF weights' size at each lag (M/EEG).

A brain cell of an M/EEG dataset stores ``lag_profile/<subject>`` (lags × sensors: the root mean
square over the model's features of each sensor's weights at each lag) and ``lags_s``. Drawn here at
the best layer of every checkpoint, averaged over sensors, one line per checkpoint coloured by its
training tokens, one panel per subject: a response emerging at 100–400 ms over training shows as a
bump there that grows from the early (dark) lines to the late (light) ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from harness.analysis.curves import BrainCurve
from harness.analysis.data import read_cell_array, read_companion_arrays
from harness.analysis.tokens import format_tokens
from harness.views.panels import MAX_SUBJECTS, BrainMap, map_title

LAG_ARRAY = "lag_profile"
RESPONSE_WINDOW_S = (0.1, 0.4)  # shaded: where word responses are expected in M/EEG


def lag_profiles(curve: BrainCurve, arrays: pd.DataFrame) -> tuple[np.ndarray | None, dict[str, dict[int, np.ndarray]]]:
    """(lags in s, subject -> checkpoint index -> mean profile over sensors) at each checkpoint's best layer."""
    lags: np.ndarray | None = None
    found: dict[str, dict[int, np.ndarray]] = {}
    for j in range(len(curve.steps)):
        rows = curve.best_layer_rows(arrays, j)
        for subject, profile in read_companion_arrays(rows, LAG_ARRAY).items():
            found.setdefault(subject, {})[j] = np.nanmean(profile, axis=1)
            if lags is None:
                lags = read_cell_array(rows, "lags_s")
    return lags, found


def lag_profile_figure(curve: BrainCurve, arrays: pd.DataFrame) -> BrainMap | None:
    """The TRF's weights over lags per checkpoint and subject; None when the cells stored no lag profiles."""
    lags, found = lag_profiles(curve, arrays)
    if lags is None or not found:
        return None
    subjects = sorted(found)[:MAX_SUBJECTS]
    tokens = np.asarray(curve.tokens, dtype=float)
    positive = tokens[tokens > 0]
    norm: Normalize = (LogNorm(positive.min(), positive.max()) if positive.size > 1 and positive.min() < positive.max()
                       else Normalize(float(tokens.min()), float(tokens.max()) or 1.0))
    cmap = colormaps["viridis"]
    figure = Figure(figsize=(3.4 * len(subjects) + 1.4, 3.0), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(subjects), squeeze=False)[0])
    # the expected response window, within the lags fitted (a TRF that stops at 200 ms shades 100-200 ms)
    shade = max(RESPONSE_WINDOW_S[0], float(lags.min())), min(RESPONSE_WINDOW_S[1], float(lags.max()))
    for ax, subject in zip(axes, subjects):
        if shade[0] < shade[1]:
            ax.axvspan(1000 * shade[0], 1000 * shade[1], color="0.9", lw=0)
        for j, profile in sorted(found[subject].items()):
            colour = cmap(norm(max(tokens[j], positive.min() if positive.size else 0.0)))
            ax.plot(1000 * lags, profile, color=colour, lw=1.2)
        ax.set_title(subject, fontsize=9)
        ax.set_xlabel("lag (ms)")
    axes[0].set_ylabel("TRF weight (RMS over features,\nmean over sensors)")
    figure.colorbar(ScalarMappable(norm, cmap), ax=list(axes), label="training tokens")
    where = f"{curve.model} on {curve.target}"
    map_title(figure, f"{where}: TRF weights over lags at the best layer, one line per checkpoint", 11)
    first, last = format_tokens(float(tokens[0])), format_tokens(float(tokens[-1]))
    shaded = f"; {1000 * shade[0]:.0f}–{1000 * shade[1]:.0f} ms shaded" if shade[0] < shade[1] else ""
    caption = (f"lag profile: {where} (TRF weight by lag, averaged over sensors, per checkpoint from {first} "
               f"(dark) to {last} tokens (light){shaded})")
    notes = [f"first {MAX_SUBJECTS} of {len(found)} subjects shown"] if len(found) > MAX_SUBJECTS else []
    return BrainMap(figure, caption, notes)
