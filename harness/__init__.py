"""harness: sweep language-model checkpoints for brain alignment, internal states and tasks.

This module is the plugin-facing API: a plugin package (built-in or third-party) imports only
from ``harness`` itself, never from its submodules. It holds

* the four plugin bases and what they exchange (``harness.plugin.contract``): ``ModelFamily``,
  ``BrainDataset``, ``Task``, ``Metric``, ``PluginOptions``, ``Checkpoint``, ``LoadedModel``,
  ``Story``, ``SubjectData``, ``ResponseArray``, ``Modality``, ``Channels``, ``Score``, ``CellOutput``,
  ``MetricContext``, ``FetchableData``, ``WordAnnotations``, ``WordAnnotation``, ``PhoneTimings`` and ``Phones``;
* the maps a dataset's ``voxel_map`` returns (``harness.plugin.maps``): ``VoxelMap``, ``SurfaceMap``,
  ``VolumeMap``, ``FlatMap`` and ``SensorMap``, and ``fsaverage_vertices`` (vertices per hemisphere of an
  fsaverage mesh);
* ``hookimpl``, the marker for the ``register_*`` hooks;
* the errors a user can cause (``HarnessError`` and its kinds), ``did_you_mean`` and ``one_line``;
* helpers plugins share: ``cache_root``, ``cache_writable`` (False while ``harness validate`` runs) and
  ``write_later`` (a cache write kept only once a sweep's checks have passed),
  ``atomic_write_text`` and ``atomic_write_bytes``, ``new_directory``,
  ``usual_permissions``, ``writer_lock`` and ``remove_abandoned`` (folders in progress),
  ``resolve_device``, ``fsaverage5`` (a hemisphere's fsaverage5 mesh from nilearn's package data),
  ``pycortex_flatmap`` (a pycortex database subject's voxels on its flattened cortex, a ``FlatMap``),
  ``settings_digest``, ``torch_threads``, and (imported on first use, as they load torch)
  ``zscore_columns`` and ``noise_ceiling``;
* for notebooks, ``load_run(path)``: a run directory as tidy pandas frames (scores, cells,
  failures, phases, transitions, headline, provenance; see ``harness.views.frames``), imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.encoding.settings import EncodingSettings
from harness.features.settings import ExtractionSettings
from harness.plan.config import SweepConfig, load_config
from harness.plugin.contract import (
    BrainDataset,
    CellOutput,
    Channels,
    Checkpoint,
    FetchableData,
    Kind,
    LoadedModel,
    Metric,
    MetricContext,
    Modality,
    ModelFamily,
    ModelSize,
    Phones,
    PhoneTimings,
    Plugin,
    PluginOptions,
    ResponseArray,
    Score,
    Story,
    SubjectData,
    Task,
    WordAnnotation,
    WordAnnotations,
)
from harness.plugin.hookspecs import hookimpl
from harness.plugin.maps import ChannelMap, FlatMap, SensorMap, SurfaceMap, VolumeMap, VoxelMap, fsaverage_vertices
from harness.util.devices import resolve_device
from harness.util.digest import settings_digest
from harness.util.errors import ConfigError, DataError, HarnessError, PluginError, did_you_mean, one_line
from harness.util.files import (
    WRITER_LOCK,
    atomic_write_bytes,
    atomic_write_text,
    new_directory,
    remove_abandoned,
    usual_permissions,
    writer_lock,
)
from harness.util.fsaverage import fsaverage5
from harness.util.lazy import lazy_exports
from harness.util.paths import cache_root, cache_writable, write_later
from harness.util.pycortexdb import pycortex_flatmap
from harness.util.threads import torch_threads

if TYPE_CHECKING:
    from harness.encoding.stats import noise_ceiling, zscore_columns
    from harness.views.frames import RunFrames, load_run

__version__ = "0.1.0"

# the exports that import torch or the analysis, loaded when first asked for
__getattr__, __dir__ = lazy_exports(__name__, {
    "noise_ceiling": "harness.encoding.stats", "zscore_columns": "harness.encoding.stats",
    "load_run": "harness.views.frames", "RunFrames": "harness.views.frames",
})


__all__ = [
    "BrainDataset",
    "CellOutput",
    "ChannelMap",
    "FlatMap",
    "Channels",
    "Checkpoint",
    "ConfigError",
    "DataError",
    "EncodingSettings",
    "ExtractionSettings",
    "FetchableData",
    "HarnessError",
    "Kind",
    "LoadedModel",
    "Metric",
    "MetricContext",
    "Modality",
    "ModelFamily",
    "ModelSize",
    "Phones",
    "PhoneTimings",
    "Plugin",
    "PluginError",
    "PluginOptions",
    "ResponseArray",
    "RunFrames",
    "Score",
    "Story",
    "SubjectData",
    "SweepConfig",
    "Task",
    "VoxelMap",
    "SurfaceMap",
    "VolumeMap",
    "SensorMap",
    "WRITER_LOCK",
    "WordAnnotation",
    "WordAnnotations",
    "atomic_write_bytes",
    "atomic_write_text",
    "cache_root",
    "cache_writable",
    "write_later",
    "did_you_mean",
    "fsaverage5",
    "pycortex_flatmap",
    "fsaverage_vertices",
    "hookimpl",
    "load_config",
    "load_run",
    "new_directory",
    "noise_ceiling",
    "one_line",
    "remove_abandoned",
    "resolve_device",
    "settings_digest",
    "torch_threads",
    "usual_permissions",
    "writer_lock",
    "zscore_columns",
]
