"""What a run's brain targets scored: voxels, vertices, sensors or channels, read from the results.

Every brain cell counts its scored columns in one score named for them (``n_voxels``, ``n_sensors``, ...;
``Channels.count_metric``), so the word is in the run itself and views need no plugin to say it.
"""

from __future__ import annotations

import pandas as pd

from harness.plugin.contract import Channels

COUNT_METRICS = {channels.count_metric: channels for channels in Channels}


def target_channels(results: pd.DataFrame) -> dict[str, Channels]:
    """brain target -> what its cells scored (voxels where the results hold no count)."""
    brain = results[results["kind"] == "brain"]
    counted = brain[brain["metric"].isin(list(COUNT_METRICS))].drop_duplicates("target")
    found = {str(target): COUNT_METRICS[str(metric)] for target, metric in zip(counted["target"], counted["metric"])}
    return {str(target): found.get(str(target), Channels.VOXELS) for target in brain["target"].unique()}


def resampled(*channels: Channels) -> str:
    """What a brain bootstrap resamples, as views say it: 'subjects and voxel groups', 'subjects and sensor groups';
    over several targets 'subjects and voxel/sensor groups' (voxels where none is given)."""
    words = sorted(set(channels) or {Channels.VOXELS}, key=list(Channels).index)
    return f"subjects and {'/'.join(c.one for c in words)} groups"


def bootstrap_method(channels: Channels) -> str:
    """The ``ci_method`` of a brain curve bootstrapped from per-column arrays: 'voxels+subjects', 'sensors+subjects'."""
    return f"{channels.value}+subjects"
