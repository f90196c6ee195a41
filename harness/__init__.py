"""harness: sweep language-model checkpoints for brain alignment, internal states and tasks."""

from harness.config import EncodingSettings, ExtractionSettings, SweepConfig, load_config
from harness.errors import ConfigError, DataError, HarnessError, PluginError
from harness.hookspecs import hookimpl
from harness.interfaces import (
    BrainDataset,
    CellOutput,
    Checkpoint,
    LoadedModel,
    Metric,
    MetricContext,
    ModelFamily,
    Plugin,
    PluginOptions,
    Score,
    Story,
    SubjectData,
    Task,
)

__version__ = "0.1.0"

__all__ = [
    "BrainDataset", "CellOutput", "Checkpoint", "ConfigError", "DataError", "EncodingSettings",
    "ExtractionSettings", "HarnessError", "LoadedModel", "Metric", "MetricContext", "ModelFamily",
    "Plugin", "PluginError", "PluginOptions", "Score", "Story", "SubjectData", "SweepConfig", "Task",
    "hookimpl", "load_config",
]
