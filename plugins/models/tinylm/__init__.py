"""tinylm: a small GPT-2 trained offline on a real English corpus, swept like any published model.

The first ``load`` (or ``prepare``) trains the model and caches it under
``<cache>/tinylm/<settings hash>/``; later sweeps reuse it. Checkpoints lie on a half-octave log
grid (steps 0, 1, 2, 3, 4, 6, 8, 12, ... and the last step: the powers of two, as Pythia's early
checkpoints, and 3 x 2^k between them, for adaptive sweeps to refine) and load through the same
code as the ``hf`` family.

    models:
      - family: tinylm
        options: {size: default, seed: 0}      # size "tiny" trains in seconds (tests)

Every seed trains on the same split of the corpus (``split_seed``, 0 by default): the held-out
documents that the simulated dataset and the offline tasks draw from are unseen by every seed, so
entries that differ only in ``seed`` form a group of runs (label ``tinylm-seed<N>``, see the
config's ``group``).

A ``qa_fraction`` (default 0.4) of the training sequences are fill-in-the-blank quizzes built
from the training prose in the offline instruction task's format, on the rungs of its ladder (see
``qa.py``); 0 trains on prose only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from harness import Checkpoint, ModelSize, cache_root, hookimpl
from harness_plugins.models.hf import HubFamily, LoaderOptions
from harness_plugins.models.tinylm.corpus import Corpus, load_corpus
from harness_plugins.models.tinylm.train import (
    PRESETS,
    RUN_INFO,
    TRAIN_VERSION,
    TinyLMSettings,
    checkpoint_steps,
    ensure_trained,
    finished_run,
    read_run_info,
)

__all__ = ["Corpus", "TinyLMFamily", "TinyLMSettings", "load_corpus"]


class TinyLMOptions(LoaderOptions):
    """Options of ``TinyLMFamily``."""

    # a preset: default (2 blocks x 96 dims, 1,500 steps: about 1.5 min on a CPU core) or tiny (seconds, for tests)
    size: Literal["default", "tiny"] = "default"
    seed: int = 0  # weights' initialisation, data order and quizzes
    split_seed: int = 0  # the corpus's held-out split (stimuli, task items): keep it when varying seed
    corpus: list[str] | None = None  # text files (.txt paragraphs, .cor lines, wiki .xml/.bz2)
    steps: int | None = Field(None, ge=1)  # optimizer steps (default 1,500); null: the preset's
    n_layer: int | None = Field(None, ge=1)  # transformer blocks (default 2); null: the preset's
    n_embd: int | None = Field(None, ge=8)  # hidden width (default 96); null: the preset's
    context: int | None = Field(None, ge=8)  # tokens per training sequence (default 128); null: the preset's
    batch_size: int | None = Field(None, ge=1)  # sequences per step (default 8); null: the preset's
    vocab_size: int | None = Field(None, ge=300)  # BPE vocabulary (default 2,048 tokens); null: the preset's
    max_train_docs: int | None = Field(None, ge=1)  # train on the first N documents only; null: all
    qa_fraction: float | None = Field(None, ge=0.0, lt=1.0)  # share of quiz sequences (default 0.4; 0: prose only)
    # where runs are kept (default: the cache root: the config's cache:, $HARNESS_CACHE or ~/.cache/harness)
    cache: str | None = None
    progress: bool = True  # show a progress bar while training
    threads: int | None = Field(1, ge=1)  # torch threads while training (None: torch's default)

    # A model trained here downloads nothing and runs no shipped code: the hub's options are fixed, not options.
    trust_remote_code: ClassVar[bool] = False
    allow_pickle: ClassVar[bool] = False
    delete_after: ClassVar[bool] = False
    hub_cache: ClassVar[str | None] = None
    refresh: ClassVar[bool] = False


class TinyLMFamily(HubFamily[TinyLMOptions]):
    """A GPT-2-style model organism trained here, on CPU, in a couple of minutes."""

    name = "tinylm"
    version = "1.0"

    def __init__(self, options: TinyLMOptions | None = None) -> None:
        super().__init__(options)
        self._run: Path | None = None  # the finished run directory, once found

    def settings(self) -> TinyLMSettings:
        """The resolved training settings: the size preset plus any explicit overrides."""
        options = self.options
        values = dict(PRESETS[options.size])
        for key in ("steps", "n_layer", "n_embd", "context", "batch_size", "vocab_size", "max_train_docs",
                    "qa_fraction"):
            if getattr(options, key) is not None:
                values[key] = getattr(options, key)
        values["seed"] = options.seed
        values["split_seed"] = options.split_seed
        if options.corpus:
            values["corpus"] = tuple(str(Path(p).expanduser().resolve()) for p in options.corpus)
        return TinyLMSettings(**values)

    def fingerprint(self) -> str:
        """The resolved training settings and trainer version: new defaults mean new weights."""
        payload = f"{TRAIN_VERSION}:{self.settings().model_dump_json()}"
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def cache_dir(self) -> Path:
        return Path(self.options.cache).expanduser() if self.options.cache else cache_root()

    def prepare(self) -> Path:
        """Train (or find) the run; returns its directory (remembered: the corpus is read once)."""
        if self._run is None or not (self._run / RUN_INFO).is_file():
            self._run = ensure_trained(self.settings(), self.cache_dir(), progress=self.options.progress,
                                       threads=self.options.threads)
        return self._run

    def repo(self) -> str:
        return str(self.prepare())

    def trained(self) -> Path | None:
        """The finished run for these settings, or None when it is not trained yet (trains nothing)."""
        if self._run is None or not (self._run / RUN_INFO).is_file():
            self._run = finished_run(self.settings(), self.cache_dir())
        return self._run

    def check(self, checkpoints: Sequence[Checkpoint]) -> list[str]:
        """The corpus files; once trained, every checkpoint directory like any local checkpoint."""
        if self.trained() is None:  # reads the corpus: a missing or empty corpus file fails here
            settings = self.settings()
            where = self.cache_dir() / "tinylm"
            return [f"not trained yet: trains on first use ({settings.steps} steps on CPU), then cached under {where}"]
        return super().check(checkpoints)

    def context_length(self) -> int:
        return self.settings().context

    def schedule(self) -> list[Checkpoint]:
        settings = self.settings()
        per_step = settings.tokens_per_step()
        return [Checkpoint(step=s, tokens=s * per_step, revision=f"step{s}") for s in checkpoint_steps(settings.steps)]

    def checkpoints(self) -> list[Checkpoint]:
        return self.schedule()  # known before training; there is no hub to refresh from

    def known_num_layers(self) -> int:
        return self.settings().n_layer + 1

    def size(self) -> ModelSize:
        """From the settings (GPT-2 blocks: 12·d² each, plus token and position embeddings), trained or not."""
        settings = self.settings()
        d = settings.n_embd
        return ModelSize((settings.vocab_size + settings.context) * d + settings.n_layer * 12 * d * d, d)

    def training_info(self) -> dict:
        """Settings, loss curve and held-out loss per checkpoint of the trained run."""
        return read_run_info(self.prepare())


@hookimpl
def register_model_families(register):  # type: ignore[no-untyped-def]
    register(TinyLMFamily)
