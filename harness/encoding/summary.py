"""Summaries across layers: the best layer of each checkpoint from a run's long-format table."""

from __future__ import annotations

import pandas as pd


def best_layers(frame: pd.DataFrame, metric: str = "r_mean", scope: str = "mean") -> pd.DataFrame:
    """Per model, brain target and step: the layer with the highest ``metric`` and its value.

    ``frame`` is ``RunStore(run).results_frame()`` (or any frame with its columns).
    """
    rows = frame[(frame["kind"] == "brain") & (frame["metric"] == metric) & (frame["scope"] == scope)]
    if rows.empty:
        return pd.DataFrame(columns=["model", "target", "step", "tokens", "layer", metric])
    rows = rows.dropna(subset=["value"])
    best = rows.loc[rows.groupby(["model", "target", "step"])["value"].idxmax()]
    return best[["model", "target", "step", "tokens", "layer", "value"]].rename(columns={"value": metric}).reset_index(drop=True)
