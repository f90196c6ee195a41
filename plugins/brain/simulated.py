"""A simulated listening experiment in the LeBel 2023 layout, with its ground truth saved beside it.

This is a simulation for validating the pipeline, not evidence about brains. Stories are
held-out tinylm corpus documents with plausible word timings; each voxel of a 2-D sheet of
"cortex" responds to an HRF-convolved mixture of known word features (co-occurrence embeddings,
word rate, unigram and bigram surprisal) with tunings that vary smoothly across the sheet, plus
AR(1) noise of known size. The test story is heard several times, so a noise ceiling exists.

The dataset is written once under ``<cache>/simulated/<settings hash>/`` (``derivative/`` as in
ds003020, plus ``ground_truth/``) and then read back through the ``lebel2023`` loader.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from harness import (
    BrainDataset,
    ChannelMap,
    DataError,
    Phones,
    PhoneTimings,
    PluginOptions,
    Story,
    SubjectData,
    SurfaceMap,
    VoxelMap,
    WordAnnotation,
    WordAnnotations,
    cache_root,
    cache_writable,
    hookimpl,
    settings_digest,
)
from harness_plugins.brain.lebel2023 import SKIP_WORDS, LeBel2023, LeBel2023Options, kept_scan_times
from harness_plugins.brain.simfeatures import LanguageStats, normalize, word_timings
from harness_plugins.brain.simsurface import sheet_vertices
from harness_plugins.brain.textgrid import write_textgrid

SIM_VERSION = "1"
TEST_STORY = "simtest"
ROI_NAMES = ("auditory", "lexical", "semantic")
NOTICE = "The simulated dataset is a simulation for validating the pipeline, not evidence about brains."


class SimulatedOptions(PluginOptions):
    """Options of ``Simulated``."""

    seed: int = 0  # the simulation's random seed (responses, noise, voxel weights)
    subjects: int = Field(2, ge=1)  # simulated listeners
    stories: int = Field(10, ge=3)  # including the test story
    words_per_story: int = Field(500, ge=100)  # words in each story
    voxels: int = Field(1024, ge=4)  # voxels per subject (a square sheet with planted regions)
    test_repeats: int = Field(4, ge=2)  # times the test story is heard (for the noise ceiling)
    snr: float = Field(1.0, ge=0)  # signal std / noise std at the best voxels
    noise_autocorrelation: float = Field(0.3, ge=0, lt=1)  # AR(1) coefficient of the noise
    embedding_dims: int = Field(16, ge=2)  # dimensions of the hidden word features the responses are made from
    speech_rate: float = Field(2.5, gt=0)  # words per second
    tr: float = Field(2.0, gt=0)  # seconds between scans
    # where to write; default <cache root>/simulated (the config's cache:, else $HARNESS_CACHE)
    cache: str | None = None


class ReadBack(ABC):
    """A simulated dataset written in a real dataset's on-disk format and read back through that
    dataset's own loader (``reader``), so the loader's code is what a sweep exercises."""

    @property
    @abstractmethod
    def reader(self) -> BrainDataset[Any]:
        """The real dataset's loader over the files written."""

    def stories(self) -> dict[str, Story]:
        return self.reader.stories()

    def subjects(self) -> list[str]:
        return self.reader.subjects()

    def split(self) -> tuple[list[str], list[str]]:
        return self.reader.split()

    def load_subject(self, subject: str) -> SubjectData:
        return self.reader.load_subject(subject)

    def voxel_map(self, subject: str) -> ChannelMap | None:
        """The map the real dataset's loader gives for the files written."""
        return self.reader.voxel_map(subject)


class Simulated(ReadBack, BrainDataset[SimulatedOptions], WordAnnotations, PhoneTimings):
    """Synthetic fMRI with known tunings and noise, in the LeBel 2023 on-disk layout; its words are
    annotated with the ground-truth features the responses were made from, and its TextGrids hold a
    placeholder phone tier (letter pairs)."""

    name = "simulated"
    version = "1.0"

    # ------------------------------------------------------------------ location

    def settings_hash(self) -> str:
        payload = self.options.model_dump(exclude={"cache"})
        payload["version"] = SIM_VERSION
        return settings_digest(payload, 16)

    @property
    def root(self) -> Path:
        base = Path(self.options.cache).expanduser() if self.options.cache else cache_root() / "simulated"
        return base / self.settings_hash()

    @property
    def ground_truth_dir(self) -> Path:
        return self.ensure() / "ground_truth"

    def ensure(self) -> Path:
        """Write the dataset if it is not on disk yet; return its root."""
        return write_once(self.root, lambda tmp: write_dataset(tmp, self.options), self.settings_hash())

    @cached_property
    def reader(self) -> LeBel2023:
        root = self.ensure()
        info = json.loads((root / "ground_truth" / "settings.json").read_text())
        return LeBel2023(LeBel2023Options(
            root=str(root), subjects=info["subjects"], stories=info["train_stories"],
            test_stories=[TEST_STORY], tr=self.options.tr,
        ))

    # ------------------------------------------------------------------ BrainDataset

    def data_hash(self) -> str:
        """The settings hash: the data is a function of the settings (and ``SIM_VERSION``), written once."""
        return self.settings_hash()

    def check(self) -> list[str]:
        """Write the data if it is not there yet, then check it as ``lebel2023`` checks its files."""
        written = (self.root / "COMPLETE").is_file()
        notes = self.reader.check()
        if written:
            return notes
        if not cache_writable():
            return [
                "simulated data checked in a temporary folder (validate writes nothing); a sweep writes it to "
                f"{self.root}",
                *notes,
            ]
        return [f"simulated data written to {self.root}", *notes]

    def notice(self) -> str:
        return NOTICE

    def voxel_map(self, subject: str) -> SurfaceMap | VoxelMap:
        """The sheet every subject's voxels lie on, laid onto fsaverage5's left hemisphere (``simsurface``); the
        flat 2-D sheet itself when it has more voxels than the hemisphere has vertices. From the options alone."""
        side, cells = _layout(self.options)
        try:
            vertices = sheet_vertices(len(cells), side)
        except ValueError:
            return VoxelMap(rows=cells[:, 0], cols=cells[:, 1], name="simulated 2-D sheet of cortex")
        return SurfaceMap("fsaverage5", vertices, name="the simulated sheet on fsaverage5 (left temporal cortex)")

    # ------------------------------------------------------------------ ground truth

    def ground_truth_features(self) -> dict[str, np.ndarray]:
        """Story -> (words × features) of the features the responses were generated from."""
        folder = self.ground_truth_dir / "features"
        return {p.stem: np.load(p) for p in sorted(folder.glob("*.npy"))}

    def phones(self) -> dict[str, Phones]:
        """The placeholder phone tier the TextGrids hold (letter pairs), read by the ``lebel2023`` loader."""
        return self.reader.phones()

    def word_annotations(self) -> dict[str, WordAnnotation]:
        """The ground-truth features as annotations: ``embedding`` (its columns together),
        ``unigram_surprisal`` and ``bigram_surprisal`` (word rate, 1 for every word, is left out)."""
        features = self.ground_truth_features()
        dims = self.options.embedding_dims
        return {
            "embedding": WordAnnotation(
                {s: f[:, :dims] for s, f in features.items()},
                description=f"the {dims} co-occurrence embedding dimensions the responses were made from",
            ),
            "unigram_surprisal": WordAnnotation(
                {s: f[:, dims + 1] for s, f in features.items()}, description="-log2 P(word) in the simulation's corpus"
            ),
            "bigram_surprisal": WordAnnotation(
                {s: f[:, dims + 2] for s, f in features.items()},
                description="-log2 P(word | previous word) in the simulation's corpus",
            ),
        }

    def ground_truth(self, subject: str) -> dict[str, np.ndarray]:
        """A subject's weights (features × voxels), gain, analytic ceiling, coordinates, ROI labels."""
        with np.load(self.ground_truth_dir / f"{subject}.npz") as data:
            return dict(data)

# ---------------------------------------------------------------------- writing



_SCRATCH: dict[Path, tempfile.TemporaryDirectory[str]] = {}  # root -> its copy while the cache is read-only


def write_once(root: Path, write: Callable[[Path], None], stamp: str) -> Path:
    """``root``, written by ``write(folder)`` into a temporary folder beside it and moved into place
    whole, unless a complete copy is there already (a ``COMPLETE`` file holding ``stamp``). Two
    processes writing at once leave one complete copy. While the cache is read-only (``harness
    validate``), a missing copy is written to a temporary folder removed when the process ends."""
    if not (root / "COMPLETE").is_file() and not cache_writable():
        if root not in _SCRATCH:
            _SCRATCH[root] = tempfile.TemporaryDirectory(prefix="harness-validate-")
            write(Path(_SCRATCH[root].name))
        return Path(_SCRATCH[root].name)
    if not (root / "COMPLETE").is_file():
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".writing-", dir=root.parent))
        try:
            write(tmp)
            (tmp / "COMPLETE").write_text(stamp + "\n")
            try:
                os.replace(tmp, root)
            except OSError:  # another process finished first
                if not (root / "COMPLETE").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root

def _smooth_field(rng: np.random.Generator, side: int, width: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.standard_normal((side, side)), sigma=width, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-12)


def _hrf(t: np.ndarray) -> np.ndarray:
    """SPM-style canonical double-gamma HRF (peak ~5 s, undershoot ~15 s); 0 before onset."""
    from scipy.stats import gamma

    t = np.asarray(t, dtype=np.float64)
    h = gamma.pdf(t, 6) - gamma.pdf(t, 16) / 6
    return np.where(t > 0, h, 0.0)


@lru_cache(maxsize=2)
def _corpus():
    from harness_plugins.models.tinylm.corpus import load_corpus

    return load_corpus()


@lru_cache(maxsize=4)
def _language_stats(dims: int, seed: int) -> LanguageStats:
    return LanguageStats.from_documents(_corpus().train, dims, seed=seed)


def _choose_stories(options: SimulatedOptions) -> list[list[str]]:
    docs = [d.split() for d in _corpus().heldout]
    long_enough = [d for d in docs if len(d) >= options.words_per_story]
    if len(long_enough) < options.stories:
        raise DataError(
            f"simulated: the held-out corpus has {len(long_enough)} documents of ≥ {options.words_per_story} words; "
            f"lower 'stories' or 'words_per_story'"
        )
    rng = np.random.default_rng(options.seed)
    picks = sorted(rng.choice(len(long_enough), options.stories, replace=False))
    stories = []
    for i in picks:
        words = [w for w in long_enough[i] if w.strip("{}").lower() not in SKIP_WORDS][: options.words_per_story]
        ends = [j for j, w in enumerate(words) if w.endswith((".", "!", "?")) and j >= 0.8 * len(words)]
        stories.append(words[: ends[-1] + 1] if ends else words)
    return stories


def _layout(options: SimulatedOptions) -> tuple[int, np.ndarray]:
    side = math.ceil(math.sqrt(options.voxels))
    cells = np.stack(np.meshgrid(np.arange(side), np.arange(side), indexing="ij"), -1).reshape(-1, 2)
    return side, cells[: options.voxels]


def _tunings(options: SimulatedOptions, n_features: int, subject_seed: int) -> dict[str, np.ndarray]:
    """Weights (features × voxels), gain per voxel and ROI labels, smooth across the sheet."""
    side, cells = _layout(options)
    shared = np.random.default_rng([options.seed, 1])
    own = np.random.default_rng([options.seed, 2, subject_seed])
    width = side / 6
    maps = np.stack(
        [0.8 * _smooth_field(shared, side, width) + 0.2 * _smooth_field(own, side, width) for _ in range(n_features)]
    )
    xy = cells / max(side - 1, 1)
    centres = np.array([[0.2, 0.2], [0.8, 0.3], [0.5, 0.8]]) + own.normal(0, 0.03, (3, 2))
    bumps = np.exp(-((xy[None, :, :] - centres[:, None, :]) ** 2).sum(-1) / (2 * 0.22**2))  # (3, voxels)
    dims = n_features - 3
    emphasis = np.empty((n_features, len(cells)))
    emphasis[:dims] = bumps[2]  # semantic: embeddings
    emphasis[dims] = bumps[0]  # auditory: word rate
    emphasis[dims + 1 :] = bumps[1]  # lexical: surprisal
    weights = maps[:, cells[:, 0], cells[:, 1]] * (0.15 + emphasis)
    weights[dims] = np.abs(weights[dims]) + bumps[0]  # more words, more response where auditory
    gain_field = _smooth_field(own, side, width)[cells[:, 0], cells[:, 1]]
    gain = options.snr * np.clip((gain_field - gain_field.min()) / (np.ptp(gain_field) + 1e-12), 0, 1)
    labels = np.where(bumps.max(0) > 0.4, bumps.argmax(0), -1)
    return {"weights": weights.astype(np.float32), "gain": gain.astype(np.float32), "coords": cells, "roi": labels}


def _noise(rng: np.random.Generator, n: int, v: int, rho: float) -> np.ndarray:
    eps = rng.standard_normal((n, v))
    out = np.empty_like(eps)
    out[0] = eps[0]
    scale = math.sqrt(1 - rho**2)
    for t in range(1, n):
        out[t] = rho * out[t - 1] + scale * eps[t]
    return out


def write_dataset(root: Path, options: SimulatedOptions) -> None:
    """Write stimuli, responses and ground truth for ``options`` under ``root``."""
    import h5py

    rng = np.random.default_rng([options.seed, 0])
    texts = _choose_stories(options)
    train_names = [f"sim{i:02d}" for i in range(1, len(texts))]
    names = train_names + [TEST_STORY]
    stats = _language_stats(options.embedding_dims, options.seed)
    derivative = root / "derivative"
    (derivative / "TextGrids").mkdir(parents=True)
    (root / "ground_truth" / "features").mkdir(parents=True)
    reader_options = LeBel2023Options(root=str(root), tr=options.tr)
    respdict: dict[str, int] = {}
    convolved: dict[str, np.ndarray] = {}
    for name, words in zip(names, texts):
        onsets, offsets, pauses = word_timings(words, options.speech_rate, rng)
        _write_grid(derivative / "TextGrids" / f"{name}.TextGrid", words, onsets, offsets, pauses)
        features = stats.features(words)
        np.save(root / "ground_truth" / "features" / f"{name}.npy", features)
        o = reader_options
        respdict[name] = math.ceil((float(offsets[-1]) + o.sound_start + 10) / o.tr) + o.pad + o.trim_end + 1
        times = kept_scan_times(respdict[name], o.tr, o.pad, o.sound_start, o.trim_start, o.trim_end)
        midpoints = (onsets + offsets) / 2
        convolved[name] = _hrf(times[:, None] - midpoints[None, :]) @ features.astype(np.float64)
    stacked = np.concatenate(list(convolved.values()))
    mean, std = stacked.mean(0), stacked.std(0) + 1e-12
    (derivative / "respdict.json").write_text(json.dumps(respdict, indent=1))
    (derivative / "sess_to_story.json").write_text(json.dumps({"1": [train_names, TEST_STORY]}))
    subjects = [f"SIM{i:02d}" for i in range(1, options.subjects + 1)]
    (derivative / "rois").mkdir()
    for index, subject in enumerate(subjects):
        truth = _tunings(options, stacked.shape[1], index)
        signal = {s: ((convolved[s] - mean) / std) @ truth["weights"].astype(np.float64) for s in names}
        scale = np.concatenate(list(signal.values())).std(0) + 1e-12
        folder = derivative / "preprocessed_data" / subject
        folder.mkdir(parents=True)
        noise_rng = np.random.default_rng([options.seed, 3, index])
        for story in names:
            clean = signal[story] / scale * truth["gain"]
            n, v = clean.shape
            with h5py.File(folder / f"{story}.hf5", "w") as handle:
                if story == TEST_STORY:
                    repeats = np.stack(
                        [
                            clean + _noise(noise_rng, n, v, options.noise_autocorrelation)
                            for _ in range(options.test_repeats)
                        ]
                    )
                    handle.create_dataset("data", data=repeats.mean(0).astype(np.float32))
                    handle.create_dataset("repeats", data=repeats.astype(np.float32))
                    signal_var = clean.var(0)
                    truth["ceiling"] = np.sqrt(signal_var / (signal_var + 1.0 / options.test_repeats)).astype(
                        np.float32
                    )
                else:
                    handle.create_dataset(
                        "data", data=(clean + _noise(noise_rng, n, v, options.noise_autocorrelation)).astype(np.float32)
                    )
        rois = {ROI_NAMES[k]: np.nonzero(truth["roi"] == k)[0].tolist() for k in range(len(ROI_NAMES))}
        (derivative / "rois" / f"{subject}.json").write_text(json.dumps(rois))
        np.savez(root / "ground_truth" / f"{subject}.npz", **truth)
    settings = {
        "options": options.model_dump(), "subjects": subjects, "train_stories": train_names, "test_story": TEST_STORY,
        "feature_names": LanguageStats.feature_names(options.embedding_dims), "version": SIM_VERSION,
        "note": "A simulation for validating the pipeline, not evidence about brains.",
    }
    (root / "ground_truth" / "settings.json").write_text(json.dumps(settings, indent=1))


def _write_grid(
    path: Path, words: list[str], onsets: np.ndarray, offsets: np.ndarray, pauses: list[tuple[float, float]]
) -> None:
    """A word tier and a placeholder phone tier (letter groups), with 'sp' in the pauses."""
    word_tier: list[tuple[float, float, str]] = [(0.0, float(onsets[0]), "")]
    phone_tier: list[tuple[float, float, str]] = [(0.0, float(onsets[0]), "")]
    pause_at = {round(a, 9): b for a, b in pauses}
    for word, a, b in zip(words, onsets, offsets):
        word_tier.append((float(a), float(b), word))
        letters = normalize(word).upper() or "SPN"
        pieces = max(1, len(letters) // 2)
        edges = np.linspace(a, b, pieces + 1)
        for k in range(pieces):
            phone_tier.append((float(edges[k]), float(edges[k + 1]), letters[2 * k : 2 * k + 2] or letters))
        if round(float(b), 9) in pause_at:
            end = pause_at[round(float(b), 9)]
            word_tier.append((float(b), end, "sp"))
            phone_tier.append((float(b), end, "sp"))
    write_textgrid(path, {"phone": phone_tier, "word": word_tier})


@hookimpl
def register_brain_datasets(register):
    register(Simulated)
