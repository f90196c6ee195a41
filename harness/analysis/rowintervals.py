"""The 95 % interval of each row of the results table (``harness show``, ``load_run``), and notes
saying what each interval resamples and which rows have none.

Brain ``r_mean`` over subjects: subjects and voxel groups (``comparisons.brain_score_intervals``);
task scores: items; internal metrics: their plugin's own standard error (``scoreintervals``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.comparisons import brain_score_intervals
from harness.analysis.data import RunData
from harness.analysis.scoreintervals import ITEMS, with_intervals

BRAIN_ROWS = "brain r_mean over subjects (scope mean)"


def interval_frame(data: RunData, rows: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """``rows`` with ``lo``, ``hi`` (the 95 % interval; NaN where a row has none) and ``interval``
    (what was resampled; '' where none)."""
    out = with_intervals(rows)
    lo, hi, unit = out["lo"].to_numpy(float).copy(), out["hi"].to_numpy(float).copy(), list(out["interval"])
    for position, estimate in enumerate(brain_score_intervals(data, rows, n_boot, seed)):
        if estimate is not None and np.isfinite(estimate.lo):
            lo[position], hi[position], unit[position] = estimate.lo, estimate.hi, estimate.unit
    return out.assign(lo=lo, hi=hi, interval=unit)


def _covers(kind: str, metric: str) -> str:
    if kind == "brain":
        return BRAIN_ROWS
    return "task scores" if kind == "task" else f"metric {metric}"


def interval_notes(frame: pd.DataFrame) -> list[str]:
    """'95 % CI of <rows>: resampling <unit>' per unit in an ``interval_frame``, then the metrics
    shown without an interval."""
    units: dict[str, list[str]] = {}
    for kind, metric, unit in zip(frame["kind"], frame["metric"], frame["interval"]):
        what = _covers(str(kind), str(metric))
        if unit and what not in units.setdefault(str(unit), []):
            units[str(unit)].append(what)
    notes = []
    for unit, covered in units.items():
        how = (
            " (Wilson's interval over a proportion's items; +-1.96 standard errors otherwise)" if unit == ITEMS else ""
        )
        notes.append(f"95 % CI of {', '.join(covered)}: resampling {unit}{how}")
    metrics = frame[(frame["kind"] == "metric") & (frame["interval"] == "")]
    without = sorted({str(m) for m in metrics["metric"]})
    if without:
        notes.append(f"no 95 % CI (one value per layer, no standard error reported): {', '.join(without)}")
    return notes
