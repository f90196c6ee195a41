"""M/EEG sensor topographies: r per sensor at the best layer, from the recording's own sensor positions (MNE).

Subjects by rows, checkpoints by columns; where the checkpoint's cell has block-permutation p-values,
the sensors passing FDR are marked with a dot (the topography itself is interpolated over every
sensor: an unmarked sensor is not significant). A sensor the encoder dropped (NaN r) is drawn as 0.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from harness.plugin.maps import SensorMap
from harness.views.panels import CMAP, MapPanels, map_title


def sensor_figure(data: MapPanels, maps: dict[str, SensorMap]) -> Figure:
    """Topographies of r per sensor: subjects by rows, the chosen checkpoints by columns."""
    from mne.viz import plot_topomap

    figure, axes, cells = data.grid(2.0, 2.0)
    for i, k, ax, panel in cells:
        plot_topomap(np.nan_to_num(panel.values), maps[panel.subject].info, axes=ax, show=False, cmap=CMAP,
                     vlim=(-data.limit, data.limit), contours=0, sensors=True, mask=panel.significant,
                     extrapolate="head",  # filled to the head outline and clipped there, whatever the sensors' spread
                     mask_params={"marker": "o", "markerfacecolor": "k", "markeredgecolor": "k", "markersize": 3})
        data.label(ax, i, k, panel)
    data.colour_bar(figure, axes, 0.8)
    map_title(figure, f"{data.curve.model} on {data.curve.target}: {data.quantity.name} per sensor at the best layer",
              11)
    return figure
