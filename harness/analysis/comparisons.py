"""The paired comparisons of brain scores in runs: original vs control, checkpoint vs step 0, model vs model.

Each comparison is a ``differences.estimate`` of two sides (per-voxel r per subject, read from the
run's arrays; per-subject ``r_mean`` rows where a run kept no arrays, which resamples subjects
only), both on the draws of their brain target, with Holm's correction across the rows of a table.
A side's layer is its best one at that checkpoint on the full data (not re-chosen per replicate).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from harness.analysis.channels import resampled, target_channels
from harness.analysis.curves import BRAIN_SCOPE, BrainCurve, ModelCurves
from harness.analysis.data import BrainControl, RunData, read_voxel_values
from harness.analysis.differences import Draws, Estimate, Side, estimate, holm

SUBJECTS_ONLY = "subjects"  # the unit where a run kept no per-voxel arrays
COLUMNS = [
    "comparison", "model", "target", "versus", "step", "tokens", "layer", "versus_step", "versus_layer",
    "difference", "lo", "hi", "p", "p_holm", "subjects", "resampled",
]
ABOVE_CONTROL = "above control"
VS_STEP0 = "vs step 0"


@dataclass(frozen=True)
class Scored:
    """Where the brain scores of one run live: its per-voxel arrays and its results table."""

    data: RunData

    @cached_property
    def _resampled(self) -> dict[str, str]:
        """brain target -> what its per-column bootstrap resamples ('subjects and sensor groups')."""
        return {target: resampled(channels) for target, channels in target_channels(self.data.results).items()}

    def side(self, model: str, target: str, step: int, layer: int) -> tuple[Side, str]:
        """The per-subject per-voxel r of a cell (per-subject r_mean where no arrays), and the unit."""
        arrays = self.data.arrays
        rows = arrays[(arrays["model"] == model) & (arrays["target"] == target) & (arrays["step"] == step)
                      & (arrays["layer"] == layer)]
        if not rows.empty:
            return read_voxel_values(rows), self._resampled[target]
        results = self.data.results
        scores = results[(results["model"] == model) & (results["kind"] == "brain") & (results["target"] == target)
                         & (results["metric"] == "r_mean") & (results["step"] == step) & (results["layer"] == layer)
                         & (results["scope"] != BRAIN_SCOPE)]
        return {str(s): np.array([float(v)]) for s, v in zip(scores["scope"], scores["value"])}, SUBJECTS_ONLY


def best_at(curve: BrainCurve, step: int) -> int | None:
    """The best layer of ``curve`` at ``step`` (None where the step has no finite score)."""
    where = np.flatnonzero(curve.steps == step)
    if where.size == 0 or not np.isfinite(curve.values[where[0]]):
        return None
    return int(curve.best_layer[where[0]])


def peak_step(curve: BrainCurve) -> int | None:
    """The checkpoint where the best-layer curve peaks (None: no finite score)."""
    finite = np.isfinite(curve.values)
    return int(curve.steps[int(np.argmax(np.where(finite, curve.values, -np.inf)))]) if finite.any() else None


def final_step(curve: BrainCurve) -> int | None:
    finite = np.isfinite(curve.values)
    return int(curve.steps[finite][-1]) if finite.any() else None


def row(comparison: str, model: str, target: str, versus: str, result: Estimate, unit: str, *, step: int,
        tokens: float, layer: int, versus_step: int, versus_layer: int) -> dict[str, object]:
    """One row of a comparisons table (``p_holm`` filled by ``with_holm``)."""
    return {"comparison": comparison, "model": model, "target": target, "versus": versus, "step": step,
            "tokens": tokens, "layer": layer, "versus_step": versus_step, "versus_layer": versus_layer,
            "difference": result.value, "lo": result.lo, "hi": result.hi, "p": result.p, "p_holm": np.nan,
            "subjects": result.subjects, "resampled": unit}


def with_holm(rows: list[dict[str, object]]) -> pd.DataFrame:
    """The rows as a table, ``p_holm`` corrected across all of them."""
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if not frame.empty:
        frame["p_holm"] = holm(frame["p"].to_numpy(float))
    return frame


def _pair(
    scored: Scored, draws: Draws, a: tuple[str, str, int, int], b: tuple[str, str, int, int]
) -> tuple[Estimate, str]:
    side_a, unit_a = scored.side(*a)
    side_b, unit_b = scored.side(*b)
    return estimate(side_a, side_b, draws), unit_a if unit_a == unit_b else SUBJECTS_ONLY


def run_comparisons(data: RunData, curves: list[ModelCurves], controls: dict[str, BrainControl],
                    n_boot: int, seed: int) -> pd.DataFrame:
    """``comparisons.csv``: per model, each control target vs its original at the original's peak and
    final checkpoint, and each checkpoint vs step 0 on every target; Holm across every row."""
    scored = Scored(data)
    rows: list[dict[str, object]] = []
    for model_curves in curves:
        model = model_curves.model
        for target, curve in model_curves.brain.items():
            draws = Draws(seed, n_boot, "comparisons", target)
            control = next((c for c in controls.values() if c.label == target), None)
            original = model_curves.brain.get(control.baseline) if control and control.baseline else None
            if control is not None and original is not None:
                control_draws = Draws(seed, n_boot, "comparisons", original.target)
                for step in dict.fromkeys(s for s in (peak_step(original), final_step(original)) if s is not None):
                    layer, versus_layer = best_at(original, step), best_at(curve, step)
                    if layer is None or versus_layer is None:
                        continue
                    result, unit = _pair(scored, control_draws, (model, original.target, step, layer),
                                         (model, target, step, versus_layer))
                    tokens = float(original.tokens[original.steps == step][0])
                    rows.append(row(ABOVE_CONTROL, model, original.target, target, result, unit, step=step,
                                    tokens=tokens, layer=layer, versus_step=step, versus_layer=versus_layer))
            zero = best_at(curve, 0)
            if zero is None:
                continue
            for step, tokens in zip(curve.steps, curve.tokens):
                layer = best_at(curve, int(step))
                if int(step) == 0 or layer is None:
                    continue
                result, unit = _pair(scored, draws, (model, target, int(step), layer), (model, target, 0, zero))
                rows.append(row(VS_STEP0, model, target, "step 0", result, unit, step=int(step), tokens=float(tokens),
                                layer=layer, versus_step=0, versus_layer=zero))
    return with_holm(rows)


INTERVAL_COLUMNS = ["model", "target", "at", "step", "layer", "value", "lo", "hi", "resampled"]


def score_intervals(data: RunData, curves: list[ModelCurves], n_boot: int, seed: int) -> pd.DataFrame:
    """The 95 % interval of each model's best-layer r_mean at its peak and its final checkpoint, per
    brain target (``INTERVAL_COLUMNS``; ``at``: 'peak' or 'final'), on the target's draws."""
    scored = Scored(data)
    rows = []
    for model_curves in curves:
        for target, curve in model_curves.brain.items():
            draws = Draws(seed, n_boot, "comparisons", target)
            for at, step in (("peak", peak_step(curve)), ("final", final_step(curve))):
                layer = best_at(curve, step) if step is not None else None
                if step is None or layer is None:
                    continue
                side, unit = scored.side(model_curves.model, target, step, layer)
                result = estimate(side, None, draws)
                rows.append({"model": model_curves.model, "target": target, "at": at, "step": step, "layer": layer,
                             "value": result.value, "lo": result.lo, "hi": result.hi, "resampled": unit})
    return pd.DataFrame(rows, columns=INTERVAL_COLUMNS)


def brain_score_intervals(
    data: RunData, rows: pd.DataFrame, n_boot: int = 1000, seed: int = 0
) -> list[Estimate | None]:
    """For each row of a results frame: the 95 % interval of a brain ``r_mean`` at scope ``mean`` (the
    cell's per-subject sides on its target's draws), None for any other row."""
    scored = Scored(data)
    out: list[Estimate | None] = []
    for kind, metric, scope, model, target, step, layer in zip(
        rows["kind"], rows["metric"], rows["scope"], rows["model"], rows["target"], rows["step"], rows["layer"]
    ):
        if kind != "brain" or metric != "r_mean" or scope != BRAIN_SCOPE or pd.isna(layer):
            out.append(None)
            continue
        side, unit = scored.side(str(model), str(target), int(step), int(layer))
        result = estimate(side, None, Draws(seed, n_boot, "comparisons", str(target)))
        out.append(Estimate(result.value, result.lo, result.hi, result.p, result.subjects, result.replicates, unit))
    return out


def control_gain(table: pd.DataFrame, model: str, target: str) -> pd.Series | None:
    """The ``above control`` row of ``model`` on ``target`` at its final checkpoint (None: no control)."""
    if table.empty:
        return None
    rows = table[(table["comparison"] == ABOVE_CONTROL) & (table["model"] == model) & (table["target"] == target)]
    return rows.sort_values("step").iloc[-1] if not rows.empty else None


def gain_text(difference: float, lo: float, hi: float) -> str:
    """'+0.021 [+0.012, +0.030]'."""
    if not np.isfinite(difference):
        return ""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{difference:+.3f}"
    return f"{difference:+.3f} [{lo:+.3f}, {hi:+.3f}]"
