"""The plugin contract: what a model family, brain dataset, task or metric must provide.

A plugin is a class with a ``name``, a ``version`` and typed options, registered from a module
that its package lists under the ``harness`` entry-point group. A complete brain dataset, runnable as
it is (its responses are simulated from the words' timing; ``examples/harness-tsvbrain`` reads files)::

    import numpy as np

    from harness import BrainDataset, PluginOptions, Story, SubjectData, hookimpl

    TEXT = ("once upon a time a fox lived at the edge of a quiet wood and every morning she walked "
            "down to the river to drink while the birds sang in the tall trees above the water")


    class MyOptions(PluginOptions):      # the config entry's `options:`, unknown keys rejected
        voxels: int = 20                 # a dataset on disk takes its folder here (root: Path)


    class MyDataset(BrainDataset[MyOptions]):  # self.options is a MyOptions
        name = "mydata"                  # the name a config's `dataset:` uses
        version = "1.0"                  # a new version recomputes the cells it scored

        def stories(self) -> dict[str, Story]:  # a dataset on disk reads its word timings here
            stories = {}
            for index in range(3):
                words = (TEXT.split()[7 * index:] + TEXT.split()[:7 * index]) * 3
                seconds = np.array([0.15 + 0.05 * len(word) for word in words])  # long words last longer
                offsets = 1.0 + np.cumsum(seconds)  # seconds from the start of the story audio
                stories[f"story{index}"] = Story(f"story{index}", tuple(words), offsets - seconds, offsets)
            return stories

        def subjects(self) -> list[str]:
            return ["S01", "S02"]

        def load_subject(self, subject: str) -> SubjectData:  # a dataset on disk reads its scans here
            rng = np.random.default_rng(int(subject[1:]))
            tuning = rng.normal(size=self.options.voxels)  # how strongly each voxel follows word rate
            responses, times = {}, {}
            for name, story in self.stories().items():
                times[name] = 2.0 * np.arange(int(story.offsets[-1] / 2.0) + 4) + 1.0  # scan centres, TR 2 s
                rate = np.bincount((story.onsets // 2.0).astype(int), minlength=len(times[name]))
                noise = rng.normal(size=(len(times[name]), self.options.voxels))
                responses[name] = (np.outer(rate, tuning) + noise).astype(np.float32)  # scans x voxels
            return SubjectData(responses=responses, times=times)

        def split(self) -> tuple[list[str], list[str]]:
            return ["story0", "story1"], ["story2"]  # (train, test): 2+ training stories, disjoint


    @hookimpl
    def register_brain_datasets(register):
        register(MyDataset)

and in the package's ``pyproject.toml``::

    [project.entry-points.harness]
    mydata = "my_package"

Word onsets and sample times share one clock: seconds from the start of the story's audio (an
fMRI sample time is the centre of that scan; samples before the audio have negative times). A
recording of M/EEG declares ``modality = Modality.MEG`` (or ``EEG``): its rows are sensor samples
at any rate, and the encoding model becomes a temporal response function. Where a subject heard
a story on a clock of its own (an M/EEG recording's clock), ``SubjectData.word_onsets`` gives the
story's word onsets on that clock. Required methods
are abstract: a class that misses one is a load error listed by ``harness plugins``. Optional
capabilities are declared, never guessed: ``BrainDataset.data_hash``, ``BrainDataset.notice``,
``BrainDataset.voxel_map``, ``ModelFamily.fingerprint`` and ``ModelFamily.size`` have defaults,
``Metric.needs_reference`` says a metric reads other checkpoints,
``FetchableData`` marks a dataset that ``harness data fetch`` can download, and ``WordAnnotations``
a dataset that labels the words of its stories (the ``probe`` metric predicts those labels).
"""

from __future__ import annotations

import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict

from harness.plugin import hookspecs
from harness.plugin.maps import ChannelMap
from harness.plugin.maps import VoxelMap as VoxelMap  # its home before the other kinds of map


class Kind(StrEnum):
    """The four kinds of plugin (stored as their value in tables and the run store)."""

    MODEL = "model"
    BRAIN = "brain"
    TASK = "task"
    METRIC = "metric"


class PluginOptions(BaseModel):
    """Base for a plugin's options: typed, frozen, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


OptionsT = TypeVar("OptionsT", bound=PluginOptions)


class Plugin(ABC, Generic[OptionsT]):
    """Common base: a name, a version and typed options.

    Subclass a kind's base with the options class as its parameter (``BrainDataset[MyOptions]``):
    the harness builds ``MyOptions`` from the config entry and passes it to ``__init__``, so
    everything a plugin needs comes through ``self.options``. A plugin without options leaves
    the parameter out.
    """

    kind: ClassVar[Kind]
    name: ClassVar[str]
    version: ClassVar[str] = "0"  # "0": the version of the distribution that provides it
    Options: ClassVar[type[PluginOptions]] = PluginOptions

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Options" in cls.__dict__:
            return
        for base in getattr(cls, "__orig_bases__", ()):
            args = typing.get_args(base)
            if args and isinstance(args[0], type) and issubclass(args[0], PluginOptions):
                cls.Options = args[0]
                return

    def __init__(self, options: OptionsT | None = None) -> None:
        self.options: OptionsT = options if options is not None else typing.cast(OptionsT, self.Options())


# --------------------------------------------------------------------------- model families


@dataclass(frozen=True, order=True)
class Checkpoint:
    """One published training checkpoint: its step, the tokens seen by then and its revision."""

    step: int
    tokens: int
    revision: str | None = None  # hub branch/tag or local directory name; None = default


@dataclass
class LoadedModel:
    """A checkpoint in memory: a transformers causal LM (eval mode) and its fast tokenizer."""

    model: Any
    tokenizer: Any
    checkpoint: Checkpoint
    identity: str  # stable id for caches: hub repo id or absolute local path
    commit: str | None = None  # resolved commit hash where the hub or cache gives one
    device: str = "cpu"


@dataclass(frozen=True)
class ModelSize:
    """A model's size, for cost estimates: its parameters and the width of each hidden state."""

    parameters: int
    hidden: int


class ModelFamily(Plugin[OptionsT]):
    """A family of checkpoints of one model (e.g. Pythia-160m at 154 training steps)."""

    kind = Kind.MODEL

    @abstractmethod
    def checkpoints(self) -> list[Checkpoint]:
        """Every published checkpoint, ascending by step, with the tokens seen by then."""

    @abstractmethod
    def num_layers(self) -> int:
        """Hidden states a forward pass returns: the embeddings plus one per block."""

    @abstractmethod
    def load(self, checkpoint: Checkpoint, device: str = "cpu") -> LoadedModel:
        """The checkpoint's model (eval mode, on ``device``) and its fast tokenizer (downloading what ``fetch`` did
        not)."""

    def fetch(self, checkpoint: Checkpoint) -> None:
        """Bring the checkpoint's files to this machine (its download) without building the model.

        Called ahead of ``load`` by ``prefetch: N``, from a background thread, for up to N
        checkpoints at once while another is loaded or measured; ``load`` must work whether or
        not it ran. Errors may be raised: ``load`` reports them. Default: nothing to fetch.
        """

    def fingerprint(self) -> str:
        """What identifies the weights beyond the config's options (e.g. resolved defaults); '' if nothing."""
        return ""

    def context_length(self) -> int | None:
        """The most tokens one forward pass takes, when known without loading weights; else None."""
        return None

    def size(self) -> ModelSize | None:
        """Parameters and hidden width when known without loading weights (``harness validate --estimate``); else
        None."""
        return None

    def check(self, checkpoints: Sequence[Checkpoint]) -> list[str]:
        """Check, before a sweep writes anything, that ``checkpoints`` can be loaded.

        Check what can be checked offline and cheaply (local files: config parses, weights
        present and readable, revision names exist). Raise ``DataError`` with one line naming
        the file and what is wrong; return notes for the user (e.g. checks skipped offline).
        """
        return []

    def release(self, loaded: LoadedModel) -> None:
        """Free a loaded checkpoint before the next one is loaded."""
        loaded.model = None


# --------------------------------------------------------------------------- brain datasets


@dataclass(frozen=True)
class Story:
    """A spoken story: its words in order with onset and offset times (s of story audio)."""

    name: str
    words: tuple[str, ...]
    onsets: np.ndarray
    offsets: np.ndarray


class Channels(StrEnum):
    """What the columns of a dataset's responses are: the one word every table and view uses for them.

    A brain cell counts the columns it scored in the score ``n_<channels>`` (``n_voxels``, ``n_sensors``, ...).
    """

    VOXELS = "voxels"  # fMRI in volume space
    VERTICES = "vertices"  # fMRI on a cortical surface
    SENSORS = "sensors"  # MEG
    CHANNELS = "channels"  # EEG

    @property
    def count_metric(self) -> str:
        """The score that counts a subject's scored columns: ``n_voxels``, ``n_sensors``, ..."""
        return f"n_{self.value}"

    @property
    def one(self) -> str:
        """The singular: voxel, vertex, sensor, channel."""
        return {"vertices": "vertex"}.get(self.value, self.value.removesuffix("s"))


class Modality(StrEnum):
    """What a brain dataset records: the encoding model follows from it."""

    FMRI = "fmri"  # scans (TR 1.5–2 s): Lanczos resampling to scan times + FIR delays
    MEG = "meg"  # sensor samples (50–1000 Hz): a temporal response function over lags
    EEG = "eeg"  # as MEG

    @property
    def recording(self) -> bool:
        """True for M/EEG: rows are samples of a continuous recording, modelled by a TRF."""
        return self is not Modality.FMRI

    @property
    def channels(self) -> Channels:
        """What its response columns usually are: voxels (fMRI), sensors (MEG), channels (EEG)."""
        return {Modality.FMRI: Channels.VOXELS, Modality.MEG: Channels.SENSORS, Modality.EEG: Channels.CHANNELS}[self]


@runtime_checkable
class ResponseArray(Protocol):
    """A (scans × voxels) response matrix that can be read a block of voxel columns at a time.

    A numpy array is one. So is a lazy reader of a file on disk (the ``lebel2023`` loader returns
    ``HDF5Responses``): ``shape`` is (scans, voxels) and ``array[:, start:stop]`` returns those
    voxel columns as a numpy array, read then. The encoder reads responses this way, so a
    dataset bigger than memory only needs a reader that slices its file.
    """

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, key: Any, /) -> Any: ...


@dataclass
class SubjectData:
    """One subject's responses, story -> (samples x channels) float32, and what goes with them.

    A row is an fMRI scan (a channel is a voxel) or an M/EEG sample (a channel is a sensor). A
    response is a numpy array or any ``ResponseArray`` (e.g. a lazy file reader, for data bigger
    than memory).
    ``times`` holds each row's time, on the clock of the story's word onsets: ``Story.onsets``,
    or this subject's ``word_onsets[story]`` where given. ``masks`` names sets of channels (cortex,
    a hemisphere, an ROI set) that ``encoding.voxels: mask:NAME`` limits the encoder to; an ROI of
    ``rois`` is such a set too. ``noise_ceiling`` comes from repeats of the test stories only
    (``encoding.voxels: reliable:F`` ranks channels by it). ``tr_times=`` is accepted for ``times``
    (its name before recordings were supported).
    """

    responses: Mapping[str, ResponseArray]
    times: dict[str, np.ndarray] = field(default_factory=dict)  # story -> time (s) of each row of responses
    rois: dict[str, np.ndarray] = field(default_factory=dict)  # ROI -> channel indices
    noise_ceiling: np.ndarray | None = None  # per channel, as a correlation (r units)
    # story -> onsets of its words on this subject's clock
    word_onsets: dict[str, np.ndarray] = field(default_factory=dict)
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # name -> channel indices the encoder can be limited to
    tr_times: InitVar[dict[str, np.ndarray] | None] = None

    def __post_init__(self, tr_times: dict[str, np.ndarray] | None) -> None:
        if tr_times is not None:
            if self.times:
                raise TypeError("SubjectData: give times= or tr_times=, not both")
            self.times = tr_times

    def onsets(self, story: Story) -> np.ndarray:
        """The onsets (s) of ``story``'s words on the clock of this subject's ``times``."""
        return np.asarray(self.word_onsets.get(story.name, story.onsets), dtype=np.float64)


class BrainDataset(Plugin[OptionsT]):
    """Stimuli and recorded responses of a listening experiment."""

    kind = Kind.BRAIN
    modality: ClassVar[Modality] = Modality.FMRI  # MEG/EEG: the encoding model is a TRF

    @property
    def channels(self) -> Channels:
        """What its response columns are called in every table and view; the modality's word unless
        overridden (fMRI on a cortical surface: ``Channels.VERTICES``)."""
        return self.modality.channels

    @abstractmethod
    def stories(self) -> dict[str, Story]:
        """Every story the dataset uses, by name, with its words and their timings."""

    @abstractmethod
    def subjects(self) -> list[str]:
        """The subjects scored (each is a scope of the brain cells)."""

    @abstractmethod
    def load_subject(self, subject: str) -> SubjectData:
        """One subject's responses to the stories, with the time of each row (scan or sample)."""

    @abstractmethod
    def split(self) -> tuple[list[str], list[str]]:
        """(train stories, test stories): the encoding model is fitted on the first and scored on the second.

        Preflight and the scorer reject a split unless it has at least 2 training stories (the
        cross-validation of the penalty is grouped by story: ``encoding.folds`` may be at most
        their number, and its default is lowered to it), at least 1 test story, no story in both
        lists, and only stories that ``stories()`` returns; every subject's ``load_subject`` must
        give responses to each of them, with times that reach the end of its words.
        """

    def data_hash(self) -> str:
        """A digest of the data on disk, for provenance and recomputation; '' when unknown."""
        return ""

    def check(self) -> list[str]:
        """Check, before a sweep writes anything, everything the sweep will read.

        Layout, every stimulus file parsing, response shapes against the timing, NaN or
        constant responses, subjects and stories the options name: raise ``DataError`` with one
        line naming the file and what is wrong; return notes for the user.
        """
        return []

    def left_out(self) -> list[str]:
        """What on disk the dataset leaves out, and why, one line each (e.g. subjects listed but not
        downloaded); [] when nothing. Shown by ``check`` and kept in each brain cell's provenance."""
        return []

    def notice(self) -> str:
        """A caution every report that uses this dataset shows (e.g. that it is simulated); '' for none."""
        return ""

    def voxel_map(self, subject: str) -> ChannelMap | None:
        """Where ``subject``'s voxels (or sensors) lie, for the report's brain maps; None: no geometry.

        One of ``harness.plugin.maps``: a flat grid (``VoxelMap``), fsaverage vertices (``SurfaceMap``),
        a standard-space volume (``VolumeMap``), the subject's own flattened cortex (``FlatMap``, e.g. from a
        pycortex database through ``harness.pycortex_flatmap``) or M/EEG sensors (``SensorMap``). Called when a run is
        analysed, possibly long after the sweep: read only what the map needs. Where the geometry could
        exist but is not on disk, raise ``DataError`` saying what is missing (the report shows that line
        instead of a map).
        """
        return None


class FetchableData(ABC):
    """A capability of a dataset class: ``harness data fetch NAME`` can download its data.

    A class with ``fetch_by_story = True`` also downloads by story: its ``fetch`` takes
    ``stories=`` (``harness data fetch NAME --stories ...``).
    """

    fetch_by_story: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def default_root(cls) -> Path:
        """Where the data is looked for, and fetched to, when the config names no root."""

    @classmethod
    def data_root(cls, configured: str | None) -> Path:
        """The root a config or command line names (``~`` expanded), else ``default_root()``."""
        return Path(configured).expanduser() if configured else cls.default_root()

    @classmethod
    @abstractmethod
    def fetch(cls, root: Path, subjects: list[str]) -> None:
        """Download the data of ``subjects`` (all when empty) into ``root``."""


@dataclass(frozen=True)
class WordAnnotation:
    """One property of every word of a dataset's stories, for probes of what a layer encodes.

    ``values`` maps each story to one value per word of ``Story.words`` (same order): numbers, or
    rows of numbers (words x k, probed together and scored by the mean over columns) for a
    continuous property; integer or string labels for a categorical one (``categorical=True``).
    """

    values: dict[str, np.ndarray]
    categorical: bool = False
    description: str = ""  # what the property is, for listings


@dataclass(frozen=True)
class Phones:
    """The phones of one story in order, with onset and offset times (s of story audio, the clock of
    ``Story.onsets``); silences and noise marks left out."""

    labels: tuple[str, ...]
    onsets: np.ndarray
    offsets: np.ndarray

    @classmethod
    def of(cls, found: Mapping[str, Sequence[Any]]) -> Phones:
        """From JSON-ready lists (``labels``, ``onsets``, ``offsets``), as a dataset remembers a file's phones."""
        return cls(tuple(found["labels"]), np.array(found["onsets"], dtype=np.float64),
                   np.array(found["offsets"], dtype=np.float64))


class PhoneTimings(ABC):
    """A capability of a dataset class: the timed phones of its stories (e.g. a TextGrid's phone tier).

    The nuisance feature ``phoneme_rate`` (``encoding.nuisance``) needs it.
    """

    @abstractmethod
    def phones(self) -> dict[str, Phones]:
        """Story -> its phones, for every story of ``stories()``; ``DataError`` (one line naming the file) when a
        story has no phone tier."""


class WordAnnotations(ABC):
    """A capability of a dataset class: per-word annotations of its stories (name -> annotation).

    A metric reads them through ``MetricContext.annotations`` when this dataset is the metric
    stimulus; the simulated dataset supplies the features its responses were generated from.
    """

    @abstractmethod
    def word_annotations(self) -> dict[str, WordAnnotation]:
        """Annotation name -> its values for every story of ``stories()`` (names: letters, digits, _)."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Score:
    """One number a cell produced: ``metric`` = value (± stderr) within a ``scope``.

    ``scope`` says what the number is about inside the cell: a subject for brain scores,
    a sub-task for lm-eval, '' when the cell has a single scope. ``chance`` is the value expected
    from guessing (0.25 for an accuracy over four options), None when unknown or meaningless.
    ``items`` is the number of items (documents, questions) the value averages, where it averages
    items: with it a proportion gets a binomial interval over its items; None when not known.
    """

    metric: str
    value: float
    stderr: float | None = None
    scope: str = ""
    chance: float | None = None
    items: int | None = None


@dataclass
class CellOutput:
    """What one cell returns: scores for the tables and named arrays kept on disk."""

    scores: list[Score]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


# --------------------------------------------------------------------------- tasks


class Task(Plugin[OptionsT]):
    """A downstream evaluation run on a loaded checkpoint (no layers).

    Each accuracy-like ``Score`` declares its ``chance`` level (the value a guesser gets: 1/4 for
    four options; the mean of 1/choices when items differ), so that analyses can chance-correct it
    as (value - chance) / (1 - chance); leave it None where guessing has no defined value.
    """

    kind = Kind.TASK

    @abstractmethod
    def evaluate(self, model: LoadedModel, *, seed: int, workdir: Path) -> list[Score]:
        """Scores of the checkpoint; ``workdir`` is the run's scratch folder for this task."""

    def check(self, context_length: int | None) -> list[str]:
        """Check, before a sweep writes anything, that the task can run (its names exist, its items
        fit a model taking ``context_length`` tokens, None when unknown); ``ConfigError`` or
        ``DataError`` with one line otherwise; return notes for the user."""
        return []


# --------------------------------------------------------------------------- metrics


@dataclass
class MetricContext:
    """What a metric may look at besides the layer's activations."""

    checkpoint: Checkpoint
    layer: int
    seed: int
    previous: Callable[[], np.ndarray | None]  # same layer at the previous swept checkpoint
    final: Callable[[], np.ndarray | None]  # same layer at the last swept checkpoint
    device: str = "cpu"
    words: tuple[str, ...] | None = None  # the word of each activation row (stories in sorted order)
    stories: tuple[str, ...] | None = None  # the story of each activation row
    annotations: dict[str, WordAnnotation] | None = None  # the stimulus dataset's, when it is WordAnnotations


class Metric(Plugin[OptionsT]):
    """A number (or several) computed from one layer's word activations (words x dims)."""

    kind = Kind.METRIC
    needs_reference: ClassVar[bool] = False  # True when it calls context.previous/final

    @abstractmethod
    def compute(self, activations: np.ndarray, context: MetricContext) -> list[Score]:
        """Scores of one layer's activations at one checkpoint."""


# --------------------------------------------------------------------------- the kinds


@dataclass(frozen=True)
class KindSpec:
    """How one kind of plugin appears everywhere: its base, hook, config section and title."""

    kind: Kind
    base: type[Plugin[Any]]
    hookspec: Callable[[hookspecs.Register], None]  # the register_* hook that registers it, from hookspecs
    section: str  # the config's top-level list of its entries
    name_key: str  # the key in an entry that names the plugin
    title: str  # how messages and listings call it

    @property
    def hook(self) -> str:
        """The hook's name, as a plugin module spells its ``@hookimpl``."""
        return self.hookspec.__name__


KINDS: dict[Kind, KindSpec] = {  # in listing order; targets run in this order within a layer
    spec.kind: spec
    for spec in (
        KindSpec(Kind.MODEL, ModelFamily, hookspecs.register_model_families, "models", "family", "model family"),
        KindSpec(Kind.BRAIN, BrainDataset, hookspecs.register_brain_datasets, "brain", "dataset", "brain dataset"),
        KindSpec(Kind.TASK, Task, hookspecs.register_tasks, "tasks", "task", "task"),
        KindSpec(Kind.METRIC, Metric, hookspecs.register_metrics, "metrics", "metric", "metric"),
    )
}
TARGET_KINDS = (Kind.BRAIN, Kind.TASK, Kind.METRIC)  # what a model is measured against
