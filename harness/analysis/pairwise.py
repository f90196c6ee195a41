"""Model vs model on the same brain target, across runs: the paired differences ``harness compare`` prints.

For every two (run, model) entries scored on a brain target of the same label, three differences of
``r_mean`` (A minus B): at each one's final checkpoint and at each one's peak (each at its best
layer), and at the final checkpoint at matched depth (both at the layer nearest the relative depth
of A's best layer). Both sides are resampled on the target's draws (``differences``); p-values are
Holm-corrected across every row shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from harness.analysis.comparisons import SUBJECTS_ONLY, Scored, best_at, final_step, gain_text, peak_step
from harness.analysis.curves import BrainCurve
from harness.analysis.differences import Draws, estimate, holm

COLUMNS = ["a", "b", "target", "at", "a_step", "a_layer", "b_step", "b_layer", "difference", "lo", "hi",
           "p", "p_holm", "subjects", "resampled"]
AT = ("final", "peak", "depth")
WIDTH = 16  # characters of a run/model label in the printed table


@dataclass(frozen=True)
class Entry:
    """One model of one run on one brain target."""

    label: str  # 'run: model' (the run alone where it has one model)
    curve: BrainCurve
    scored: Scored


def matched_layer(curve: BrainCurve, depth: float) -> int:
    """The layer of ``curve`` nearest the relative depth ``depth`` (0 first layer, 1 last)."""
    layers = np.asarray(curve.layer_map.index, dtype=float)
    top = layers.max() if layers.size and layers.max() > 0 else 1.0
    return int(layers[int(np.argmin(np.abs(layers / top - depth)))])


def _depth(curve: BrainCurve, layer: int) -> float:
    top = float(np.max(np.asarray(curve.layer_map.index, dtype=float)))
    return layer / top if top > 0 else 0.0


def _cells(a: Entry, b: Entry, at: str) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """((step, layer) of A, (step, layer) of B) compared ``at`` ('final', 'peak', 'depth'); None when missing."""
    pick = peak_step if at == "peak" else final_step
    step_a, step_b = pick(a.curve), pick(b.curve)
    if step_a is None or step_b is None:
        return None
    layer_a, layer_b = best_at(a.curve, step_a), best_at(b.curve, step_b)
    if layer_a is None or layer_b is None:
        return None
    if at == "depth":
        layer_b = matched_layer(b.curve, _depth(a.curve, layer_a))
    return (step_a, layer_a), (step_b, layer_b)


def pairwise_table(entries: list[Entry], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Every pair of ``entries`` on the same target, at each of ``AT``; ``p_holm`` across all rows."""
    rows = []
    for a, b in combinations(entries, 2):
        if a.curve.target != b.curve.target:
            continue
        draws = Draws(seed, n_boot, "compare", a.curve.target)
        for at in AT:
            cells = _cells(a, b, at)
            if cells is None:
                continue
            (step_a, layer_a), (step_b, layer_b) = cells
            side_a, unit_a = a.scored.side(a.curve.model, a.curve.target, step_a, layer_a)
            side_b, unit_b = b.scored.side(b.curve.model, b.curve.target, step_b, layer_b)
            result = estimate(side_a, side_b, draws)
            rows.append({"a": a.label, "b": b.label, "target": a.curve.target, "at": at, "a_step": step_a,
                         "a_layer": layer_a, "b_step": step_b, "b_layer": layer_b, "difference": result.value,
                         "lo": result.lo, "hi": result.hi, "p": result.p, "p_holm": np.nan,
                         "subjects": result.subjects, "resampled": unit_a if unit_a == unit_b else SUBJECTS_ONLY})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if not frame.empty:
        frame["p_holm"] = holm(frame["p"].to_numpy(float))
    return frame


def _short(text: str, width: int = WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def _p(value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    return "<.001" if value < 0.001 else f"{value:.3f}"


def table_lines(frame: pd.DataFrame) -> list[str]:
    """The table as text lines of at most 80 characters, one block per brain target."""
    if frame.empty:
        return ["paired differences: no two models scored on the same brain target"]
    units = ", ".join(dict.fromkeys(frame["resampled"]))
    lines = [f"paired differences of r_mean (A - B), 95 % intervals; resampled: {units}",
             "(final / peak: each at its best layer; depth: B at the depth of A's best layer)"]
    for target, group in frame.groupby("target", sort=False):
        lines += ["", f"on {target}:",
                  f"{'A':<{WIDTH}} {'B':<{WIDTH}} {'at':<5} {'difference [95 % CI]':<24} {'p':>5} {'Holm p':>6}"]
        for a, b, at, difference, lo, hi, p, p_holm in zip(
            group["a"],
            group["b"],
            group["at"],
            *(group[c].to_numpy(float) for c in ("difference", "lo", "hi", "p", "p_holm")),
        ):
            lines.append(f"{_short(str(a)):<{WIDTH}} {_short(str(b)):<{WIDTH}} {at:<5} "
                         f"{gain_text(difference, lo, hi):<24} {_p(p):>5} {_p(p_holm):>6}")
    lines.append(f"Holm-corrected across the {len(frame)} differences shown")
    return lines
