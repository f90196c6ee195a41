"""Train the tinylm organism: a BPE tokenizer and a small GPT-2 on the corpus, checkpoints saved as HF dirs.

A training run lives in ``<cache>/tinylm/<settings hash>/`` with one Hugging Face directory per
checkpoint (``step0``, ``step1``, ``step2``, ``step3``, ``step4``, ``step6``, ``step8`` ... and the last step) and
``training.json``
(settings, loss curve, held-out loss at each checkpoint). The run is built in a temporary sibling
directory and renamed into place when complete, under a file lock, so a killed training leaves
nothing that reads as a finished run and two processes never train the same settings at once.

The training stream is the training prose plus, for a ``qa_fraction`` of the sequences, short
fill-in-the-blank quizzes made from that same prose (``qa.py``) in the prompt format of the offline
suite's instruction task and on the rungs of its ladder, so that the organism can learn to answer
with a bare option letter and, late in training, to copy an answer its prompt states (the ``stated``
rung). The held-out loss is measured on held-out prose only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from harness import DataError, new_directory, settings_digest, torch_threads, usual_permissions
from harness_plugins.models.hf import quiet_progress
from harness_plugins.models.tinylm.corpus import Corpus, load_corpus
from harness_plugins.models.tinylm.qa import qa_documents

TRAIN_VERSION = "4"  # bump when training code or the quizzes change results (3: half-octave grid; 4: quiz ladder)
EOS = "<|endoftext|>"
RUN_INFO = "training.json"


class TinyLMSettings(BaseModel):
    """Everything that determines a trained tinylm run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_layer: int = Field(2, ge=1)
    n_embd: int = Field(96, ge=8)
    n_head: int = Field(4, ge=1)
    context: int = Field(128, ge=8)  # training sequence length = n_positions
    vocab_size: int = Field(2048, ge=300)
    batch_size: int = Field(8, ge=1)
    steps: int = Field(1500, ge=1)
    lr: float = Field(3e-3, gt=0)
    warmup: int = Field(100, ge=0)
    seed: int = 0
    # the corpus's held-out split: one for every training seed, so stimuli and task items stay unseen
    split_seed: int = 0
    corpus: tuple[str, ...] | None = None  # text files; None = the gensim sample
    max_train_docs: int | None = Field(None, ge=1)  # use only the first N training documents
    eval_batches: int = Field(8, ge=1)  # held-out batches scored at every checkpoint
    # share of training sequences that are QA quizzes (qa.py): 0.4 lets the stated rung be learned within 1500 steps
    qa_fraction: float = Field(0.4, ge=0.0, lt=1.0)

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Without ``split_seed`` where it equals ``seed``: the split older versions made, under the digest they gave
        it."""
        data = handler(self)
        if data.get("split_seed") == data.get("seed"):
            data.pop("split_seed", None)
        return dict(data)

    def digest(self, corpus_digest: str) -> str:
        payload = {"settings": self.model_dump(mode="json"), "corpus": corpus_digest, "version": TRAIN_VERSION}
        return settings_digest(payload, 16)

    def tokens_per_step(self) -> int:
        return self.batch_size * self.context


PRESETS: dict[str, dict[str, Any]] = {
    # about 1.5 minutes on one free CPU core (16 steps/s); a real learning curve on the gensim corpus
    "default": {},
    # a few seconds: for tests
    "tiny": {"n_layer": 2, "n_embd": 32, "n_head": 2, "context": 32, "vocab_size": 320, "batch_size": 4,
             "steps": 16, "warmup": 2, "max_train_docs": 40, "eval_batches": 2},
}


def checkpoint_steps(steps: int) -> list[int]:
    """0, the powers of two and the steps halfway between them on a log axis (3 x 2^k) below ``steps``, then ``steps``.

    A half-octave grid: the powers of two are Pythia's early schedule; the steps between them give
    adaptive sweeps (``checkpoints: adaptive:N``) somewhere to refine.
    """
    out = [0]
    power = 1
    while power < steps:
        out.append(power)
        if power >= 2 and 3 * power // 2 < steps:
            out.append(3 * power // 2)
        power *= 2
    out.append(steps)
    return out


def train_tokenizer(documents: Sequence[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on the documents, as a fast transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(documents, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, unk_token=EOS)


def encode_documents(tokenizer: Any, documents: Sequence[str]) -> np.ndarray:
    """All documents as one token stream, each followed by the end-of-text token."""
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    if not documents:
        return np.zeros(0, dtype=np.int64)
    for encoding in tokenizer(list(documents), add_special_tokens=False)["input_ids"]:
        ids.extend(encoding)
        ids.append(eos)
    return np.asarray(ids, dtype=np.int64)


def _batches(stream: np.ndarray, context: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    span = len(stream) - context - 1
    if span <= 0:
        raise DataError(
            f"tinylm: the training corpus has {len(stream)} tokens, fewer than one {context}-token sequence"
        )
    while True:
        starts = rng.integers(0, span, size=batch_size)
        yield np.stack([stream[s : s + context] for s in starts])


@dataclass(frozen=True)
class TrainingData:
    """The tokenizer and the token streams one training run reads."""

    tokenizer: Any
    stream: np.ndarray  # training prose, documents separated by end-of-text
    heldout: np.ndarray  # held-out prose (evaluation only)
    qa_stream: np.ndarray  # QA quizzes built from the training prose, separated by end-of-text
    qa_starts: np.ndarray  # offsets in qa_stream where a quiz begins and a whole sequence fits
    qa_documents: list[str]


def training_data(settings: TinyLMSettings, corpus: Corpus) -> TrainingData:
    """Tokenizer (trained on the training prose) and the prose, held-out and QA token streams."""
    documents = corpus.train[: settings.max_train_docs] if settings.max_train_docs else corpus.train
    tokenizer = train_tokenizer(documents, settings.vocab_size)
    quizzes = qa_documents(documents, settings.seed) if settings.qa_fraction > 0 else []
    qa_stream = encode_documents(tokenizer, quizzes)
    lengths = [len(ids) + 1 for ids in tokenizer(quizzes, add_special_tokens=False)["input_ids"]] if quizzes else []
    starts = np.cumsum([0, *lengths[:-1]]).astype(np.int64) if lengths else np.zeros(0, dtype=np.int64)
    starts = starts[starts + settings.context <= len(qa_stream)]
    if settings.qa_fraction > 0 and not len(starts):
        raise DataError(
            f"tinylm: qa_fraction is {settings.qa_fraction} but the training corpus yields too few fill-in-the-blank "
            f"questions for one {settings.context}-token sequence; set qa_fraction to 0 or give a larger corpus"
        )
    return TrainingData(tokenizer, encode_documents(tokenizer, documents), encode_documents(tokenizer, corpus.heldout),
                        qa_stream, starts, quizzes)


def mixed_batches(data: TrainingData, settings: TinyLMSettings, rng: np.random.Generator,
                  qa_rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Training batches and, per row, whether it is a QA sequence.

    Of the first k sequences exactly floor(k * qa_fraction) are QA: windows that start where a quiz
    starts (as an evaluation prompt does); the others are random windows of the prose stream.
    """
    context, size, fraction = settings.context, settings.batch_size, settings.qa_fraction
    span = len(data.stream) - context - 1
    if span <= 0:
        raise DataError(
            f"tinylm: the training corpus has {len(data.stream)} tokens, fewer than one {context}-token sequence"
        )
    done = 0
    while True:
        n_qa = math.floor((done + size) * fraction + 1e-9) - math.floor(done * fraction + 1e-9)
        rows = [data.stream[s : s + context] for s in rng.integers(0, span, size=size - n_qa)]
        rows += [data.qa_stream[s : s + context] for s in qa_rng.choice(data.qa_starts, size=n_qa)] if n_qa else []
        done += size
        yield np.stack(rows), np.arange(size) >= size - n_qa


def _lr(step: int, settings: TinyLMSettings) -> float:
    if settings.warmup and step < settings.warmup:
        return settings.lr * (step + 1) / settings.warmup
    progress = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
    return settings.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train(settings: TinyLMSettings, corpus: Corpus, out_dir: Path, *, progress: bool = True) -> dict[str, Any]:
    """Train into ``out_dir`` (step directories + training.json); returns the run info."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    started = time.time()
    data = training_data(settings, corpus)
    tokenizer, stream, heldout = data.tokenizer, data.stream, data.heldout
    torch.manual_seed(settings.seed)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=settings.context, n_embd=settings.n_embd, n_layer=settings.n_layer,
        n_head=settings.n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    model.loss_type = "ForCausalLM"  # transformers cannot infer it from the class name
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, betas=(0.9, 0.95), weight_decay=0.01)
    rng = np.random.default_rng(settings.seed)
    batches = mixed_batches(data, settings, rng, np.random.default_rng(settings.seed + 2))
    eval_rng = np.random.default_rng(settings.seed + 1)
    eval_source = heldout if len(heldout) > settings.context + 1 else stream
    eval_set = [
        next(_batches(eval_source, settings.context, settings.batch_size, eval_rng))
        for _ in range(settings.eval_batches)
    ]
    save_at = set(checkpoint_steps(settings.steps))
    curve: list[list[float]] = []  # [step, train loss]
    evals: dict[str, float] = {}
    ema: float | None = None

    def save(step: int) -> None:
        model.eval()
        with torch.inference_mode():
            losses = [float(model(input_ids=torch.from_numpy(b), labels=torch.from_numpy(b)).loss) for b in eval_set]
        model.train()
        evals[str(step)] = float(np.mean(losses))
        target = out_dir / f"step{step}"
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)
        (target / "tinylm.json").write_text(json.dumps({
            "step": step, "tokens": step * settings.tokens_per_step(), "heldout_loss": evals[str(step)],
            "train_loss": ema,
        }, indent=1))

    model.train()
    with _reporter(settings.steps, progress) as report:
        save(0)
        for step in range(1, settings.steps + 1):
            batch = torch.from_numpy(next(batches)[0])
            for group in optimizer.param_groups:
                group["lr"] = _lr(step - 1, settings)
            loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            value = float(loss.detach())
            ema = value if ema is None else 0.95 * ema + 0.05 * value
            if step % 10 == 0 or step == settings.steps:
                curve.append([step, round(ema, 4)])
            if step in save_at:
                save(step)
            report(step, ema)
    info = {
        "settings": settings.model_dump(mode="json"),
        "corpus_digest": corpus.digest,
        "version": TRAIN_VERSION,
        "checkpoints": sorted(save_at),
        "tokens_per_step": settings.tokens_per_step(),
        "train_tokens": int(len(stream)),
        "heldout_tokens": int(len(heldout)),
        "qa_documents": len(data.qa_documents),
        "qa_tokens": int(len(data.qa_stream)),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "train_loss": curve,
        "heldout_loss": evals,
        "seconds": round(time.time() - started, 1),
    }
    (out_dir / RUN_INFO).write_text(json.dumps(info, indent=1))
    return info


@contextlib.contextmanager
def _reporter(total: int, enabled: bool) -> Iterator[Any]:
    """A ``report(step, loss)`` callable: a rich bar on a free terminal, else a line every 10 %.

    Inside another live display (the sweep's progress bar redirects stderr through a proxy) a
    second bar would garble the screen, so plain lines are printed there and they appear above it.
    """
    import sys

    from rich.file_proxy import FileProxy

    if not enabled:
        yield lambda step, loss: None
        return
    if sys.stderr.isatty() and not isinstance(sys.stderr, FileProxy):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      transient=True) as bar:
            task = bar.add_task("tinylm training", total=total)
            yield lambda step, loss: bar.update(task, completed=step, description=f"tinylm training, loss {loss:.2f}")
        return
    every = max(1, total // 10)

    def report(step: int, loss: float) -> None:
        if step % every == 0 or step == total:
            print(f"tinylm training: step {step}/{total}, loss {loss:.3f}", file=sys.stderr, flush=True)

    yield report


def run_dir(settings: TinyLMSettings, cache_dir: Path, corpus_digest: str) -> Path:
    return Path(cache_dir) / "tinylm" / settings.digest(corpus_digest)


def _corpus(settings: TinyLMSettings, cache_dir: Path) -> Corpus:
    return load_corpus([Path(p) for p in settings.corpus] if settings.corpus else None, seed=settings.split_seed,
                       cache_dir=cache_dir)


def finished_run(settings: TinyLMSettings, cache_dir: Path) -> Path | None:
    """The finished run directory for these settings, or None when it has not been trained (trains nothing)."""
    final = run_dir(settings, cache_dir, _corpus(settings, cache_dir).digest)
    return final if (final / RUN_INFO).is_file() else None


def ensure_trained(
    settings: TinyLMSettings, cache_dir: Path, *, progress: bool = True, threads: int | None = 1
) -> Path:
    """The finished run directory for these settings, training it first when absent.

    ``threads`` defaults to one: on a shared 2-core machine a second intra-op thread makes small
    matrix products several times slower, not faster. Folders that a killed training left behind
    are removed on the way (see ``remove_stale_partials``).
    """
    corpus = _corpus(settings, cache_dir)
    final = run_dir(settings, cache_dir, corpus.digest)
    remove_stale_partials(final.parent)
    if (final / RUN_INFO).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(_lock_path(final.parent, final.name), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / RUN_INFO).is_file():  # another process finished it while we waited
            return final
        _remove_partials(final.parent, final.name)  # we hold the lock: any other is a killed run's
        tmp = new_directory(final.parent, f".{final.name}.", PARTIAL)
        try:
            with torch_threads(threads), quiet_progress():
                train(settings, corpus, tmp, progress=progress)
            usual_permissions(tmp)
            if final.exists():  # a leftover without training.json is not a finished run
                shutil.rmtree(final)
            os.rename(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


PARTIAL = ".partial"


def _lock_path(directory: Path, digest: str) -> Path:
    return directory / f".{digest}.lock"


def _remove_partials(directory: Path, digest: str) -> int:
    stale = [p for p in directory.glob(f".{digest}.*{PARTIAL}") if p.is_dir()]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)


def remove_stale_partials(directory: Path) -> int:
    """Remove the ``.<digest>.*.partial`` folders of trainings that were killed; return how many.

    A training holds ``.<digest>.lock`` while its partial folder exists, so a partial folder whose
    lock can be taken at once has no live writer (two sweeps may share a cache: a training in
    progress elsewhere keeps its lock and its folder).
    """
    if not directory.is_dir():
        return 0
    digests = {p.name[1:].split(".", 1)[0] for p in directory.glob(f".*{PARTIAL}") if p.is_dir()}
    removed = 0
    for digest in sorted(digests):
        with open(_lock_path(directory, digest), "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a training of these settings is running
            try:
                removed += _remove_partials(directory, digest)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    return removed


def read_run_info(path: Path) -> dict[str, Any]:
    """training.json of a finished run."""
    return json.loads((Path(path) / RUN_INFO).read_text(encoding="utf-8"))
