"""95 % intervals of task and internal-metric scores, from what their plugins reported with each value.

Task cells keep no per-item results, only each score's standard error and, since runs record it,
the number of items it averages (``items``); the intervals resample **items**:

* a proportion of its items (every item scores 0 or 1: the score's standard error is the binomial
  one, sqrt(p (1 - p) / (n - 1)) as lm-eval computes it, 0 at p = 0 or 1): Wilson's score interval
  over its ``items`` (it stays inside [0, 1] and is not empty where every item went the same way);
* any other score with a standard error (bits per byte; a metric's own estimate): value +- 1.96
  standard errors, the normal interval; ``INTERVAL_UNITS`` names what the standard error is over;
* a score without a standard error (most internal metrics: one number per layer, nothing to
  resample): no interval, and the views say so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

Z = float(norm.ppf(0.975))
ITEMS = "items"  # what a task score's interval resamples
BINOMIAL_TOLERANCE = 0.05  # relative gap between a standard error and the binomial one still called binomial
METRIC_UNITS = {  # metric plugin -> what its standard error is over, as the views state it
    "gride": "words (Cramér-Rao bound of the fit)",
    "probe": "story folds (standard error over folds)",
}
NO_INTERVAL = "no interval (the metric reports no standard error)"
COLUMNS = ["lo", "hi", "interval"]  # added by ``with_intervals``; interval: what was resampled ('' where none)


def wilson(p: float, n: float) -> tuple[float, float]:
    """Wilson's 95 % score interval of a proportion ``p`` of ``n`` items."""
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * np.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def is_proportion(value: float, stderr: float, items: float) -> bool:
    """True when ``value`` is a share of ``items`` 0/1 items: in [0, 1], with the binomial standard error."""
    if not (np.isfinite(value) and np.isfinite(stderr) and np.isfinite(items)) or items < 2 or not 0 <= value <= 1:
        return False
    binomial = np.sqrt(value * (1 - value) / (items - 1))
    return bool(abs(stderr - binomial) <= BINOMIAL_TOLERANCE * binomial + 1e-12)


def score_interval(value: float, stderr: float, items: float = float("nan")) -> tuple[float, float]:
    """The 95 % interval of one score: Wilson's over its items for a proportion, else +- 1.96 stderr;
    (NaN, NaN) without a standard error (or with a zero one that is not a proportion's)."""
    if is_proportion(value, stderr, items):
        return wilson(value, items)
    if not (np.isfinite(value) and np.isfinite(stderr)) or stderr <= 0:
        return float("nan"), float("nan")
    return float(value - Z * stderr), float(value + Z * stderr)


def interval_unit(kind: str, plugin: str) -> str:
    """What a score's interval resamples: items for a task, its plugin's unit for a metric."""
    if kind == "task":
        return ITEMS
    return METRIC_UNITS.get(plugin, "the metric's own standard error")


def _floats(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").astype("float64").to_numpy(float, na_value=np.nan)


def with_intervals(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (task and metric rows of the results table) with ``lo``, ``hi`` and ``interval`` (the
    unit resampled; '' where a row has no interval). Brain rows get none here (``differences``)."""
    out = rows.copy()
    values, errors, items = _floats(rows, "value"), _floats(rows, "stderr"), _floats(rows, "items")
    bounds = [score_interval(v, s, n) if kind != "brain" else (np.nan, np.nan)
              for kind, v, s, n in zip(rows["kind"], values, errors, items)]
    out["lo"] = [b[0] for b in bounds]
    out["hi"] = [b[1] for b in bounds]
    out["interval"] = [interval_unit(str(kind), str(plugin)) if np.isfinite(lo) else ""
                       for kind, plugin, (lo, _) in zip(rows["kind"], rows["plugin"], bounds)]
    return out


def interval_text(lo: float, hi: float, digits: int = 3) -> str:
    """'[0.412, 0.588]' ('' without an interval)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return ""
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"
