"""Headline rows of one run: per model and brain target, peak and final r, detachment depth,
final task scores (accuracy chance-corrected over a named task set), confirmed phases (the report's "scores at a glance"
and the leaderboard's rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.comparisons import control_gain
from harness.analysis.curves import ModelCurves, Series
from harness.analysis.findings import CurveAnalysis
from harness.analysis.phases import CONFIRMED, LABELS, PhaseResult, phases_frame

TEXT_COLUMNS = ("run", "model", "family", "target", "pattern", "task_set", "resampled")
INTERVAL_COLUMNS = ["peak_r_lo", "peak_r_hi", "final_r_lo", "final_r_hi", "resampled"]
CONTROL_COLUMNS = ["above_control", "above_control_lo", "above_control_hi", "above_control_p"]
BEHAVIOUR = {"final_instruction_following": "instruction", "final_correctness": "correctness",
             "final_task_accuracy": "accuracy"}  # headline column -> the ModelCurves series of its final value
TASK_INTERVAL_COLUMNS = [f"{column}_{end}" for column in BEHAVIOUR for end in ("lo", "hi")]  # 95 %, resampling items
TOKEN_COLUMNS = ("peak_tokens", "final_tokens", *[f"{label}_start" for label in LABELS])
CORE_COLUMNS = [
    "run", "model", "family", "target", "checkpoints", "peak_r", "peak_tokens", "peak_layer",
    "detachment_depth", "final_r", "final_tokens", "final_instruction_following", "final_correctness",
    "final_task_accuracy", "task_set", "pattern", *[f"{label}_start" for label in LABELS],
    *INTERVAL_COLUMNS, *CONTROL_COLUMNS, *TASK_INTERVAL_COLUMNS,
]
TASK_PREFIX = "task:"  # columns task:<target>:<scope>:<metric>, the final value of every task metric (and _lo, _hi)


def max_drawdown(values: np.ndarray) -> float:
    """The largest fall of a curve below its running maximum (0 for a curve that never falls)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    return float(np.max(np.maximum.accumulate(values) - values))


def _last(series: Series | None) -> float:
    return float(series.values[-1]) if series is not None and len(series) else float("nan")


def _last_interval(name: str, series: Series | None) -> dict[str, float]:
    """``<name>_lo`` and ``<name>_hi``: the 95 % interval of the series' final value (NaN where it has none)."""
    if series is None or not len(series) or series.lo is None or series.hi is None:
        return {f"{name}_lo": float("nan"), f"{name}_hi": float("nan")}
    return {f"{name}_lo": float(series.lo[-1]), f"{name}_hi": float(series.hi[-1])}


def _behaviour(curves: ModelCurves) -> dict[str, object]:
    """The final behaviour scores and every task metric's final value, each with its 95 % interval over items."""
    out: dict[str, object] = {"task_set": ",".join(curves.task_set)}
    for column, attribute in BEHAVIOUR.items():
        series = getattr(curves, attribute)
        out.update({column: _last(series), **_last_interval(column, series)})
    for name, series in curves.tasks.items():
        out.update({f"{TASK_PREFIX}{name}": _last(series), **_last_interval(f"{TASK_PREFIX}{name}", series)})
    return out


def _phase_starts(result: PhaseResult | None) -> dict[str, float]:
    """``<label>_start``: where the brain transition of each confirmed phase lies (NaN where none is confirmed)."""
    phases = phases_frame([result] if result is not None else [])
    confirmed = phases[phases["status"] == CONFIRMED]
    return {
        f"{label}_start": float(confirmed.loc[confirmed["phase"] == label, "brain_tokens"].min()) for label in LABELS
    }


def _brain(analysis: CurveAnalysis) -> dict[str, object]:
    """The brain-alignment columns of one model on one brain target."""
    curve = analysis.curves.brain[analysis.target] if analysis.target else None
    if curve is None:
        return {"target": "", "pattern": ""}
    finite = np.isfinite(curve.values)
    row: dict[str, object] = {
        "target": analysis.target, "checkpoints": int(finite.sum()), "detachment_depth": max_drawdown(curve.values),
        "pattern": analysis.result.pattern if analysis.result is not None else "", **_phase_starts(analysis.result),
    }
    if finite.any():
        peak = int(np.argmax(np.where(finite, curve.values, -np.inf)))
        row.update({
            "peak_r": float(curve.values[peak]), "peak_tokens": int(curve.tokens[peak]),
            "peak_layer": int(curve.best_layer[peak]), "final_r": float(curve.values[finite][-1]),
            "final_tokens": int(curve.tokens[finite][-1]),
        })
    return row


def _control(comparisons: pd.DataFrame | None, model: str, target: str | None) -> dict[str, float]:
    """``above_control*``: the final checkpoint's alignment above the target's control, its 95 % interval
    and Holm-corrected p (NaN where the target has no control in the run)."""
    gain = control_gain(comparisons, model, target) if comparisons is not None and target else None
    if gain is None:
        return {}
    return dict(
        zip(CONTROL_COLUMNS, (float(gain["difference"]), float(gain["lo"]), float(gain["hi"]), float(gain["p_holm"])))
    )


def _intervals(intervals: pd.DataFrame | None, model: str, target: str | None) -> dict[str, object]:
    """``peak_r_lo`` ... ``final_r_hi`` and what was resampled, from ``comparisons.score_intervals``."""
    if intervals is None or intervals.empty or not target:
        return {}
    rows = intervals[(intervals["model"] == model) & (intervals["target"] == target)]
    out: dict[str, object] = {}
    for at, lo, hi, unit in zip(rows["at"], rows["lo"], rows["hi"], rows["resampled"]):
        out.update({f"{at}_r_lo": float(lo), f"{at}_r_hi": float(hi), "resampled": str(unit)})
    return out


def headline_rows(run: str, analyses: list[CurveAnalysis], comparisons: pd.DataFrame | None = None,
                  intervals: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per model and brain target of a run (a model without brain scores gets one row);
    ``comparisons`` (the run's comparisons table) gives the alignment above each control, ``intervals``
    (``comparisons.score_intervals``) the 95 % intervals of peak and final r; the task scores' intervals
    resample items (``scoreintervals``)."""
    rows = []
    for analysis in analyses:
        curves = analysis.curves
        rows.append({
            "run": run, "model": curves.model, "family": curves.family, **_behaviour(curves), **_brain(analysis),
            **_control(comparisons, curves.model, analysis.target),
            **_intervals(intervals, curves.model, analysis.target),
        })
    return ordered_columns(pd.DataFrame(rows))


def ordered_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every core column (missing ones empty) first, the task columns after, sorted."""
    frame = frame.copy()
    for column in CORE_COLUMNS:
        if column not in frame:
            frame[column] = "" if column in TEXT_COLUMNS else np.nan
    extra = sorted(c for c in frame.columns if c not in CORE_COLUMNS)
    return frame[CORE_COLUMNS + extra]
