"""Model groups (seeds or variants of one model, the ``group`` key of the config) analysed as one.

A group is drawn and judged like a model: its rows are the mean over its members at the
checkpoints (token counts) and scores every member has, so its curves, figures, headline and
leaderboard row come from the same code as any model's. Its uncertainty is across members: each
replicate curve is the group mean over members drawn with replacement (the best-layer brain curve
takes the best layer of that mean, exactly as the group's own curve does), so the transitions'
intervals say how much the timing varies between seeds, not within one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.bootstrap import Replicates
from harness.analysis.curves import BrainCurve, ModelCurves, model_curves
from harness.analysis.signals import BRAIN, BRAIN_BEST, Signal, brain_signals, group_signal, model_signals
from harness.analysis.streams import stream

GROUP_KEYS = ["kind", "target", "step", "tokens", "layer", "scope", "metric"]


def group_frame(results: pd.DataFrame, name: str, members: list[str]) -> pd.DataFrame:
    """The group's result rows: ``model`` = ``name``, each value the mean over ``members``.

    Only the rows every member has are kept; ``stderr`` is the standard error across members;
    ``family`` is the members' family ('group' when they differ).
    """
    rows = results[results["model"].isin(members)]
    if rows.empty:
        return rows.copy()
    grouped = rows.groupby(GROUP_KEYS, dropna=False, sort=True)
    frame = grouped.agg(value=("value", "mean"), spread=("value", "std"), chance=("chance", "first"),
                        members=("model", "nunique")).reset_index()
    frame = frame[frame["members"] == len(members)].drop(columns="members")
    frame["stderr"] = frame.pop("spread") / np.sqrt(len(members))
    families = set(rows["family"].astype(str))
    frame["model"], frame["family"] = name, families.pop() if len(families) == 1 else "group"
    for column in results.columns.difference(frame.columns):
        frame[column] = pd.NA
    return frame[list(results.columns)].astype(results.dtypes.to_dict())


def _no_replicates(curve: BrainCurve) -> Replicates:
    return Replicates(np.empty((0, len(curve.steps))), "none", None)


def _best_layer_signal(target: str, group_curve: BrainCurve, members: list[BrainCurve], n_boot: int,
                       rng: np.random.Generator) -> Signal:
    """The group's best-layer curve, replicated by the best layer of the mean over resampled members."""
    steps = list(group_curve.steps)
    layers = list(group_curve.layer_map.index)
    stack = np.stack([m.layer_map.reindex(index=layers, columns=steps).to_numpy(float) for m in members])
    finite = np.isfinite(group_curve.values)
    draws = rng.integers(0, len(members), size=(n_boot, len(members)))
    replicates = np.nanmax(stack[draws].mean(axis=1), axis=1)[:, finite] if n_boot > 0 else None
    return Signal(BRAIN_BEST, BRAIN, target, group_curve.tokens[finite].astype(np.int64), group_curve.values[finite],
                  (-1.0, 1.0), replicates, f"members ({len(members)})" if replicates is not None else "none")


def group_signals(group: ModelCurves, members: list[ModelCurves], target: str | None, n_boot: int,
                  seed: int) -> list[Signal]:
    """The group's brain signals on ``target`` (its behaviour and internal ones when None), replicated
    across members."""
    if target is None:
        per_member = [model_signals(m, 0, seed) for m in members]
    else:
        brains = [m.brain[target] for m in members]
        per_member = [brain_signals(b, _no_replicates(b), _no_replicates(b)) for b in brains]
    out: list[Signal | None] = []
    for first in per_member[0]:
        if target is not None and first.name == BRAIN_BEST:
            out.append(_best_layer_signal(target, group.brain[target], brains, n_boot,
                                          stream(seed, "members", group.model, target, BRAIN_BEST)))
            continue
        same = [next((s for s in signals if s.name == first.name), None) for signals in per_member]
        if all(s is not None for s in same):
            out.append(group_signal([s for s in same if s is not None], n_boot, seed, group.model))
    return [s for s in out if s is not None]


def group_members(results: pd.DataFrame, groups: dict[str, list[str]]) -> dict[str, list[str]]:
    """The groups with at least two members present in ``results`` (a group of one is that model)."""
    present = set(results["model"].astype(str))
    found = {name: [m for m in members if m in present] for name, members in groups.items()}
    return {name: members for name, members in found.items() if len(members) >= 2 and name not in present}


def member_intervals(results: pd.DataFrame, members: list[str], rows: pd.DataFrame, n_boot: int = 1000,
                     seed: int = 0) -> pd.DataFrame:
    """``rows`` of a group's frame (``group_frame``) with ``lo``, ``hi``, the 95 % percentile interval of the mean
    over members drawn with replacement (as the group's analysis draws them), and ``interval`` saying so."""
    values = results[results["model"].isin(members)].pivot_table(
        index=GROUP_KEYS, columns="model", values="value", aggfunc="first", dropna=False)
    keys = pd.MultiIndex.from_frame(rows[GROUP_KEYS])
    matrix = values.reindex(index=keys, columns=members).to_numpy(float)  # (rows, members)
    draws = stream(seed, "members", *members).integers(0, len(members), size=(n_boot, len(members)))
    means = matrix[:, draws].mean(axis=2)  # (rows, n_boot)
    lo, hi = (np.percentile(means, q, axis=1) if means.size else np.full(len(rows), np.nan) for q in (2.5, 97.5))
    return rows.assign(lo=lo, hi=hi, interval=f"members ({len(members)})")


def with_groups(results: pd.DataFrame, groups: dict[str, list[str]]) -> pd.DataFrame:
    """``results`` with each group's rows (``group_frame``) appended."""
    frames = [group_frame(results, name, members) for name, members in group_members(results, groups).items()]
    return pd.concat([results, *frames], ignore_index=True) if frames else results


def group_curves(results: pd.DataFrame, name: str, members: list[str]) -> tuple[ModelCurves, list[ModelCurves]]:
    """The group's curves (from ``group_frame``) and each member's."""
    return model_curves(group_frame(results, name, members), name), [model_curves(results, m) for m in members]
