"""Signals: every curve the transitions are looked for in, with its range and its bootstrap replicates.

A signal is one curve over training tokens (brain alignment at the best layer and averaged over
layers, instruction following, correctness, chance-corrected task accuracy, each internal metric)
together with replicate curves that carry its uncertainty:

* brain alignment: the subject-and-voxel bootstrap of ``bootstrap.brain_replicates``;
* behaviour: each checkpoint's score redrawn from its standard error over the task's items (the
  normal approximation of the item bootstrap; checkpoints independently, which ignores that the
  same items are asked at every checkpoint and so errs on the wide side);
* anything else (internal metrics, scores without a standard error): none here;
  ``transitions`` then draws replicates from the change-point fit's own residual noise.

A group of models (seeds or variants) becomes one signal per curve: the mean over its members at
the checkpoints all of them have, with replicates that resample the members.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.analysis.bootstrap import Replicates
from harness.analysis.curves import BrainCurve, ModelCurves, Series
from harness.analysis.streams import stream

BRAIN, BEHAVIOUR, INTERNAL = "brain", "behaviour", "internal"
BRAIN_BEST = "brain r (best layer)"
BRAIN_MEAN = "brain r (mean over layers)"
BRAIN_UNIQUE = "brain r2_unique (best layer)"  # encoding.nuisance: variance beyond the nuisance bands
INSTRUCTION = "instruction following"
CORRECTNESS = "correctness"
ACCURACY = "task accuracy (chance-corrected)"
UNBOUNDED = (-np.inf, np.inf)


@dataclass
class Signal:
    """One curve with its range and its replicate curves (None: none drawn yet)."""

    name: str
    group: str  # BRAIN, BEHAVIOUR or INTERNAL
    target: str  # the brain target a brain signal belongs to ('' for the others)
    tokens: np.ndarray
    values: np.ndarray
    bounds: tuple[float, float] = UNBOUNDED  # the values a signal of this kind can take
    replicates: np.ndarray | None = None  # (n_boot, checkpoints)
    method: str = "none"  # how the replicates were drawn
    items: float | None = None  # items per task a behaviour score averages at a checkpoint (None: unknown)

    def __len__(self) -> int:
        return len(self.tokens)


def _item_replicates(series: Series, bounds: tuple[float, float], n_boot: int,
                     rng: np.random.Generator) -> tuple[np.ndarray | None, str]:
    if series.stderr is None or n_boot <= 0 or not np.isfinite(series.stderr).all():
        return None, "none"
    draws = series.values + rng.standard_normal((n_boot, len(series))) * series.stderr
    return np.clip(draws, *bounds), "items"


def behaviour_signal(name: str, series: Series | None, bounds: tuple[float, float], n_boot: int,
                     rng: np.random.Generator) -> Signal | None:
    """A behaviour curve as a signal, replicated from its item standard errors."""
    if series is None or not len(series):
        return None
    replicates, method = _item_replicates(series, bounds, n_boot, rng)
    return Signal(name, BEHAVIOUR, "", series.tokens.astype(np.int64), series.values.astype(float), bounds,
                  replicates, method, series.items)


def brain_signals(curve: BrainCurve, best: Replicates, mean: Replicates) -> list[Signal]:
    """The best-layer and the layer-mean curve of one brain target (r lies in [-1, 1]), and with nuisance bands the
    best layer's r2_unique (its replicates drawn by ``transitions`` from the fit's residual noise)."""
    finite = np.isfinite(curve.values)
    tokens = curve.tokens[finite].astype(np.int64)
    layer_mean = curve.layer_map.mean(axis=0).to_numpy(float)[finite]
    out = []
    for name, values, reps in ((BRAIN_BEST, curve.values[finite], best), (BRAIN_MEAN, layer_mean, mean)):
        drawn = reps.curves[:, finite] if len(reps.curves) else None
        out.append(Signal(name, BRAIN, curve.target, tokens, values, (-1.0, 1.0), drawn,
                          reps.method if drawn is not None else "none"))
    if curve.unique is not None and len(curve.unique):
        unique = curve.unique
        out.append(Signal(BRAIN_UNIQUE, BRAIN, curve.target, unique.tokens.astype(np.int64),
                          unique.values.astype(float), (-np.inf, 1.0)))
    return out


def model_signals(curves: ModelCurves, n_boot: int, seed: int) -> list[Signal]:
    """The behaviour and internal signals of one model (the brain ones come with their bootstrap)."""
    out = [behaviour_signal(name, series, bounds, n_boot, stream(seed, "items", curves.model, name))
           for name, series, bounds in ((INSTRUCTION, curves.instruction, (0.0, 1.0)),
                                        (CORRECTNESS, curves.correctness, (0.0, 1.0)),
                                        (ACCURACY, curves.accuracy, (-np.inf, 1.0)))]
    for name, series in curves.metrics.items():
        out.append(Signal(name, INTERNAL, "", series.tokens.astype(np.int64), series.values.astype(float)))
    return [s for s in out if s is not None]


def group_signal(members: Sequence[Signal], n_boot: int, seed: int, group: str = "") -> Signal | None:
    """The mean of one signal over a group's members, replicated by resampling the members.

    Only the checkpoints (token counts) every member has are used; None when there are none or
    the members disagree on what the signal is.
    """
    if not members or len({(m.name, m.group, m.target) for m in members}) != 1:
        return None
    common = set(members[0].tokens.tolist())
    for member in members[1:]:
        common &= set(member.tokens.tolist())
    tokens = np.array(sorted(common), dtype=np.int64)
    if tokens.size == 0:
        return None
    matrix = np.array([m.values[np.searchsorted(m.tokens, tokens)] for m in members])  # (members, checkpoints)
    first = members[0]
    replicates, method = None, "none"
    if len(members) > 1 and n_boot > 0:
        draws = stream(seed, "members", group, first.target, first.name).integers(
            0, len(members), size=(n_boot, len(members))
        )
        replicates, method = matrix[draws].mean(axis=1), f"members ({len(members)})"
    return Signal(first.name, first.group, first.target, tokens, matrix.mean(axis=0), first.bounds, replicates, method)
