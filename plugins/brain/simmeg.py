"""A simulated MEG story-listening experiment, written as a BIDS MEG tree (MEG-MASC's layout) with mne-bids.

This is a simulation for validating the pipeline, not evidence about brains. Stories and the
ground-truth word features are those of the ``simulated`` fMRI dataset (held-out tinylm corpus
documents; co-occurrence embeddings, word rate, unigram and bigram surprisal). Each sensor
responds to every feature through a known temporal kernel (a latency per feature group: word
rate early, embeddings later, surprisal latest, as a damped oscillation over 0–0.8 s) with
weights that vary smoothly across the sensor array, plus AR(1) noise of known size. Every
subject hears every story in each session, each recording starting at its own time, so the
sessions are repeats and the recordings do not share a clock.

Written once under ``<cache>/simulated_meg/<settings hash>/`` (``bids/``, plus ``ground_truth/``)
and read back through the ``megmasc`` loader.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
from pydantic import Field

from harness import BrainDataset, Modality, PluginOptions, cache_root, hookimpl, settings_digest
from harness_plugins.brain.megmasc import MEGMASC, MEGMASCOptions
from harness_plugins.brain.simfeatures import LanguageStats, word_timings
from harness_plugins.brain.simulated import (
    ReadBack,
    SimulatedOptions,
    _choose_stories,
    _language_stats,
    _noise,
    write_once,
)

SIM_VERSION = "3"  # 2: responses convolved here, not through the harness's TRF design code; 3: KIT sensor positions
TEST_STORY = "simtest"
NOTICE = "The simulated MEG dataset is a simulation for validating the pipeline, not evidence about brains."
LATENCY = {"embedding": 0.30, "word_rate": 0.10, "surprisal": 0.40}  # s, peak of each feature group's kernel
KERNEL_SPAN = 0.8  # s: kernels are zero beyond
FIELD_UNIT = 1e-13  # tesla: sensor values are written at a plausible MEG scale


class SimulatedMEGOptions(PluginOptions):
    """Options of ``SimulatedMEG``."""

    seed: int = 0  # the simulation's random seed (responses, noise, sensor weights)
    subjects: int = Field(2, ge=1)  # simulated listeners
    sessions: int = Field(2, ge=1)  # every story heard once per session (the repeats of the noise ceiling)
    stories: int = Field(6, ge=3)  # including the test story
    words_per_story: int = Field(300, ge=100)  # words in each story
    sensors: int = Field(32, ge=2, le=208)  # MEG sensors (channels), chosen spread out from a 208-channel KIT layout
    sfreq: float = Field(100.0, gt=0)  # recorded rate (Hz); the loader resamples to ``resample`` Hz
    resample: float = Field(50.0, gt=0)  # the rate (Hz) the loader resamples to
    l_freq: float | None = 0.5  # the loader's band-pass: its low edge (Hz; null: no high-pass)
    h_freq: float | None = 20.0  # the band-pass's high edge (Hz; null: no low-pass)
    snr: float = Field(0.5, ge=0)  # signal std / noise std at the best sensors
    noise_autocorrelation: float = Field(0.9, ge=0, lt=1)  # AR(1) coefficient per sample
    embedding_dims: int = Field(16, ge=2)  # dimensions of the hidden word features the responses are made from
    speech_rate: float = Field(2.5, gt=0)  # words per second
    cache: str | None = None  # where to write; default <HARNESS_CACHE>/simulated_meg


class SimulatedMEG(ReadBack, BrainDataset[SimulatedMEGOptions]):
    """Synthetic MEG with known temporal kernels and noise, in MEG-MASC's BIDS layout."""

    name = "simulated_meg"
    version = "1.0"
    modality = Modality.MEG

    def settings_hash(self) -> str:
        payload = self.options.model_dump(exclude={"cache", "resample", "l_freq", "h_freq"})
        payload["version"] = SIM_VERSION
        return settings_digest(payload, 16)

    @property
    def root(self) -> Path:
        base = Path(self.options.cache).expanduser() if self.options.cache else cache_root() / "simulated_meg"
        return base / self.settings_hash()

    def ensure(self) -> Path:
        """Write the dataset if it is not on disk yet; return its root."""
        return write_once(self.root, lambda tmp: write_dataset(tmp, self.options), self.settings_hash())

    @cached_property
    def reader(self) -> MEGMASC:
        root = self.ensure()
        o = self.options
        return MEGMASC(
            MEGMASCOptions(
                root=str(root / "bids"), test_stories=[TEST_STORY], l_freq=o.l_freq, h_freq=o.h_freq, sfreq=o.resample
            )
        )

    def data_hash(self) -> str:
        """The settings hash (with the loader's preprocessing): the data is a function of the settings."""
        return settings_digest(
            {"data": self.settings_hash(), "read": [self.options.l_freq, self.options.h_freq, self.options.resample]},
            16,
        )

    def check(self) -> list[str]:
        written = (self.root / "COMPLETE").is_file()
        notes = self.reader.check()
        return notes if written else [f"simulated MEG data written to {self.root}", *notes]

    def notice(self) -> str:
        return NOTICE

    def ground_truth_features(self) -> dict[str, np.ndarray]:
        """Story -> (words × features) of the features the responses were generated from."""
        folder = self.ensure() / "ground_truth" / "features"
        return {p.stem: np.load(p) for p in sorted(folder.glob("*.npy"))}

    def ground_truth(self, subject: str) -> dict[str, np.ndarray]:
        """A subject's weights (features × sensors), kernels (features × lags), lags (s) and gain per sensor."""
        with np.load(self.ensure() / "ground_truth" / f"{subject}.npz") as data:
            return dict(data)


# ---------------------------------------------------------------------- writing


def kernels(feature_names: list[str], sfreq: float) -> tuple[np.ndarray, np.ndarray]:
    """(features × lags) unit-peak temporal kernels and their lags (s), 0 to ``KERNEL_SPAN``."""
    lags = np.arange(int(round(KERNEL_SPAN * sfreq)) + 1) / sfreq
    out = np.empty((len(feature_names), len(lags)))
    for i, name in enumerate(feature_names):
        group = "embedding" if name.startswith("embedding") else "word_rate" if name == "word_rate" else "surprisal"
        peak = LATENCY[group]
        shape = np.exp(-((lags - peak) ** 2) / (2 * 0.05**2)) - 0.4 * np.exp(
            -((lags - peak - 0.15) ** 2) / (2 * 0.08**2)
        )
        out[i] = shape / np.abs(shape).max()
    return out, lags


KIT_LAYOUT = "KIT-AD"  # MNE's layout (package data) of a 208-channel KIT system
HEAD_RADIUS_M = 0.09


def kit_sensors(count: int) -> tuple[list[str], np.ndarray]:
    """``count`` channels of MNE's ``KIT_LAYOUT``, spread out (farthest first) and ordered around the head, with
    their positions lifted from the layout's 2-D plane onto a sphere: names and MNE ``loc`` rows (position,
    then the coil's orientation, pointing out)."""
    import mne

    layout = mne.channels.read_layout(KIT_LAYOUT)
    xy = layout.pos[:, :2] + layout.pos[:, 2:4] / 2
    xy = xy - xy.mean(axis=0)
    chosen = [int(np.argmax(np.linalg.norm(xy, axis=1)))]
    distance = np.linalg.norm(xy - xy[chosen[0]], axis=1)
    while len(chosen) < count:
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, np.linalg.norm(xy - xy[chosen[-1]], axis=1))
    azimuth = np.arctan2(xy[chosen, 1], xy[chosen, 0])
    chosen = [chosen[i] for i in np.argsort(azimuth, kind="stable")]
    radius = np.linalg.norm(xy, axis=1).max()
    polar = 0.5 * np.pi * np.linalg.norm(xy[chosen], axis=1) / radius
    phi = np.arctan2(xy[chosen, 1], xy[chosen, 0])
    unit = np.stack([np.sin(polar) * np.cos(phi), np.sin(polar) * np.sin(phi), np.cos(polar)], axis=1)
    loc = np.zeros((count, 12))
    loc[:, :3] = HEAD_RADIUS_M * unit
    loc[:, 9:12] = unit
    return [layout.names[i] for i in chosen], loc


def _sensor_weights(n_features: int, sensors: int, rng: np.random.Generator) -> np.ndarray:
    """(features × sensors): smooth along a ring of sensors (``kit_sensors`` orders them around the head), each
    feature with its own pattern."""
    angle = 2 * np.pi * np.arange(sensors) / sensors
    out = np.zeros((n_features, sensors))
    for harmonic in range(1, 4):
        out += rng.normal(0, 1 / harmonic, (n_features, 1)) * np.cos(
            harmonic * angle + rng.uniform(0, 2 * np.pi, (n_features, 1))
        )
    return out / np.sqrt(n_features)


def _convolved(onsets: np.ndarray, features: np.ndarray, kernel: np.ndarray, samples: int, sfreq: float) -> np.ndarray:
    """(samples × features): each feature's impulses at its words' onset samples, convolved with its kernel.

    Written apart from the encoding model's design code, so that recovering the kernels tests it.
    """
    index = np.round(np.asarray(onsets) * sfreq).astype(np.int64)
    inside = (index >= 0) & (index < samples)
    impulses = np.zeros((samples, features.shape[1]))
    np.add.at(impulses, index[inside], features[inside])
    return np.stack([np.convolve(impulses[:, f], kernel[f])[:samples] for f in range(features.shape[1])], axis=1)


def write_dataset(root: Path, options: SimulatedMEGOptions) -> None:
    """Write the BIDS MEG tree and its ground truth for ``options`` under ``root``."""
    import mne
    from mne_bids import BIDSPath, write_raw_bids

    shared = SimulatedOptions(seed=options.seed, stories=options.stories, words_per_story=options.words_per_story,
                              embedding_dims=options.embedding_dims, speech_rate=options.speech_rate)
    rng = np.random.default_rng([options.seed, 10])
    texts = _choose_stories(shared)
    names = [f"sim{i:02d}" for i in range(1, len(texts))] + [TEST_STORY]
    stats = _language_stats(options.embedding_dims, options.seed)
    feature_names = LanguageStats.feature_names(options.embedding_dims)
    kernel, lags_s = kernels(feature_names, options.sfreq)
    truth_dir = root / "ground_truth"
    (truth_dir / "features").mkdir(parents=True)
    stories = {}
    for name, words in zip(names, texts):
        onsets, offsets, _ = word_timings(words, options.speech_rate, rng, start=0.0)
        features = stats.features(words)
        np.save(truth_dir / "features" / f"{name}.npy", features)
        stories[name] = (words, onsets, offsets, features)
    stacked = np.concatenate([s[3] for s in stories.values()])
    mean, std = stacked.mean(0), stacked.std(0) + 1e-12
    bids = root / "bids"
    subjects = [f"{i:02d}" for i in range(1, options.subjects + 1)]
    (bids).mkdir(parents=True)
    (bids / "participants.tsv").write_text("participant_id\n" + "".join(f"sub-{s}\n" for s in subjects))
    ch_names, locations = kit_sensors(options.sensors)
    for index, subject in enumerate(subjects):
        own = np.random.default_rng([options.seed, 11, index])
        weights = _sensor_weights(len(feature_names), options.sensors, own)
        gain = options.snr * (
            0.25
            + 0.75
            * (0.5 + 0.5 * np.cos(2 * np.pi * np.arange(options.sensors) / options.sensors + own.uniform(0, 2 * np.pi)))
        )
        clean = {}
        for name, (_, onsets, offsets, features) in stories.items():
            seconds = float(offsets[-1]) + KERNEL_SPAN + 1.0
            times = np.arange(int(seconds * options.sfreq)) / options.sfreq
            clean[name] = _convolved(onsets, (features - mean) / std, kernel, len(times), options.sfreq) @ weights
        scale = np.concatenate(list(clean.values())).std(0) + 1e-12
        for session in range(options.sessions):
            noise_rng = np.random.default_rng([options.seed, 12, index, session])
            for task, (name, (words, onsets, offsets, _)) in enumerate(stories.items()):
                lead = 2.0 + 1.5 * session + 0.25 * task  # seconds recorded before the story starts
                signal = clean[name] / scale * gain
                pad = int(round(lead * options.sfreq))
                body = np.concatenate([np.zeros((pad, options.sensors)), signal])
                data = body + _noise(noise_rng, len(body), options.sensors, options.noise_autocorrelation)
                info = mne.create_info(ch_names, options.sfreq, ch_types="mag")
                for channel, loc in zip(info["chs"], locations):
                    channel["loc"][:] = loc
                raw = mne.io.RawArray((data * FIELD_UNIT).T, info, verbose="error")
                raw.set_meas_date(1_600_000_000 + 86_400 * session)
                descriptions = [repr({"story": name, "story_uid": task, "sound_id": 0, "kind": "word", "word": word,
                                      "sound": f"stimuli/audio/{name}_0.wav", "word_index": i})
                                for i, word in enumerate(words)]
                raw.set_annotations(mne.Annotations(onsets + lead, offsets - onsets, descriptions))
                path = BIDSPath(subject=subject, session=str(session), task=str(task), datatype="meg", root=bids)
                write_raw_bids(raw, path, format="FIF", allow_preload=True, overwrite=True, verbose="error")
        np.savez(truth_dir / f"{subject}.npz", weights=weights.astype(np.float32), kernels=kernel.astype(np.float32),
                 lags_s=lags_s, gain=gain.astype(np.float32), scale=scale.astype(np.float32))
    settings = {
        "options": options.model_dump(), "subjects": subjects, "stories": names, "test_story": TEST_STORY,
        "feature_names": feature_names, "latency_s": LATENCY, "version": SIM_VERSION,
        "note": "A simulation for validating the pipeline, not evidence about brains.",
    }
    (truth_dir / "settings.json").write_text(json.dumps(settings, indent=1))


@hookimpl
def register_brain_datasets(register):
    register(SimulatedMEG)
