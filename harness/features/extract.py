"""Word-level hidden states of a loaded checkpoint: batched windowed forward passes, cached on disk."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.features.align import WordAlignment, align_words, check_fast_tokenizer, special_prefix
from harness.features.cache import (
    FORMAT_VERSION,
    ActivationIndex,
    ActivationSet,
    building,
    from_float32,
    layer_file,
    lookup,
    storage_dtype,
    write_index,
)
from harness.features.settings import ExtractionSettings
from harness.features.windows import Window, plan_windows, token_forwards
from harness.plugin.contract import LoadedModel
from harness.util.digest import settings_digest
from harness.util.errors import DataError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)

FEATURES_VERSION = "1"  # bump when extraction output changes for the same inputs
_WARNED: set[tuple[int, int]] = set()  # (context_tokens, model positions) already warned about


def stimulus_hash(stories: Mapping[str, Sequence[str]]) -> str:
    """A digest of the stories' names and words (order of stories does not matter)."""
    digest = hashlib.sha256()
    for name in sorted(stories):
        digest.update(name.encode("utf-8") + b"\0")
        digest.update("\x1f".join(stories[name]).encode("utf-8") + b"\0\0")
    return digest.hexdigest()[:16]


def model_fingerprint(loaded: LoadedModel) -> dict[str, object]:
    """What identifies the weights: repo/path, revision, commit and, for local dirs, file stamps."""
    model = loaded.model
    try:
        dtype = str(next(model.parameters()).dtype)
    except (StopIteration, AttributeError):
        dtype = ""
    stamp: list[list[str | int]] = []
    if not loaded.commit:
        path = Path(loaded.identity)
        if loaded.checkpoint.revision and (path / loaded.checkpoint.revision).is_dir():
            path = path / loaded.checkpoint.revision
        if path.is_dir():
            for item in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
                info = item.stat()
                stamp.append([item.name, info.st_size, info.st_mtime_ns])
    return {
        "identity": loaded.identity,
        "revision": loaded.checkpoint.revision,
        "commit": loaded.commit,
        "weights": stamp,
        "dtype": dtype,
    }


def effective_settings(settings: ExtractionSettings, max_positions: int | None) -> ExtractionSettings:
    """The settings clamped to the model's position limit (stride scaled alike)."""
    if max_positions and settings.context_tokens > max_positions:
        context = max_positions
        stride = max(1, min(context, math.floor(settings.stride * context / settings.context_tokens)))
        if (settings.context_tokens, max_positions) not in _WARNED:
            _WARNED.add((settings.context_tokens, max_positions))
            log.warning("context_tokens %d exceeds the model's %d positions; using %d (stride %d)",
                        settings.context_tokens, max_positions, context, stride)
        return settings.model_copy(update={"context_tokens": context, "stride": stride})
    return settings


def cache_key(loaded: LoadedModel, stim_hash: str, settings: ExtractionSettings) -> str:
    """The cache key of an extraction (batch size does not change results and is left out)."""
    payload = {
        "model": model_fingerprint(loaded),
        "stimulus": stim_hash,
        "settings": settings.model_dump(mode="json", exclude={"batch_size"}),
        "version": FEATURES_VERSION,
    }
    return settings_digest(payload, 24)


def max_positions(model: torch.nn.Module) -> int | None:
    """The longest input the model's config allows, or None when it names no limit."""
    config = getattr(model, "config", None)
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


@dataclass(frozen=True)
class _Job:
    story: str
    row0: int  # first row of this story in the layer files
    window: Window
    token_ids: np.ndarray  # the window's tokens, prefix included
    offset: int  # position of the window's first story token inside token_ids (prefix length)


def extract_activations(
    loaded: LoadedModel,
    stories: Mapping[str, Sequence[str]],
    settings: ExtractionSettings,
    cache_dir: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ActivationSet:
    """Word-level hidden states for every layer, from the cache when this extraction ran before.

    Entries live in ``<cache_dir>/activations/<key>/``, one per extraction. Layer 0 is the
    embedding output, 1..L the block outputs, as transformers' ``output_hidden_states`` orders them.
    ``progress(done, total)`` is called after each batch of windows.
    """
    if not stories:
        raise DataError("no stories to extract activations for")
    for name, words in stories.items():
        if len(words) == 0:
            raise DataError(f"story {name!r} has no words")
    tokenizer, model = loaded.tokenizer, loaded.model
    check_fast_tokenizer(tokenizer)
    settings = effective_settings(settings, max_positions(model))
    key = cache_key(loaded, stimulus_hash(stories), settings)
    cache_dir = Path(cache_dir) / "activations"
    hit = lookup(cache_dir, key)
    if hit is not None:
        return hit

    prefix = special_prefix(tokenizer)
    room = settings.context_tokens - len(prefix)
    if room < 2:
        raise DataError(f"context_tokens={settings.context_tokens} leaves no room after {len(prefix)} special token(s)")
    stride = min(settings.stride, room)

    jobs: list[_Job] = []
    rows: dict[str, tuple[int, int]] = {}
    spans: dict[str, np.ndarray] = {}
    row = 0
    stats = {"tokens": 0, "token_forwards": 0, "windows": 0}
    for name in stories:  # keep the caller's story order for the row layout
        words = list(stories[name])
        alignment: WordAlignment = align_words(tokenizer, words, story=name)
        windows = plan_windows(alignment.spans, alignment.num_tokens, room, stride, story=name)
        rows[name] = (row, row + len(words))
        for window in windows:
            ids = np.concatenate([np.asarray(prefix, dtype=np.int64), alignment.token_ids[window.start : window.stop]])
            jobs.append(_Job(name, row, window, ids, len(prefix)))
        spans[name] = alignment.spans
        row += len(words)
        stats["tokens"] += alignment.num_tokens
        stats["token_forwards"] += token_forwards(windows) + len(prefix) * len(windows)
        stats["windows"] += len(windows)

    with building(cache_dir, key) as tmp:
        hidden, num_layers = _run(loaded, jobs, spans, settings, row, tmp, progress)
        meta: ActivationIndex = {
            "key": key,
            "format": FORMAT_VERSION,
            "num_layers": num_layers,
            "hidden_size": hidden,
            "dtype": settings.dtype,
            "stories": {name: list(r) for name, r in rows.items()},
            "settings": settings.model_dump(mode="json"),
            "model": model_fingerprint(loaded),
            "step": loaded.checkpoint.step,
            "tokens_seen": loaded.checkpoint.tokens,
            "special_prefix": prefix,
            "stats": stats,
            "version": FEATURES_VERSION,
        }
        write_index(tmp, meta)
    result = lookup(cache_dir, key)
    assert result is not None
    return result


def forward_module(model: torch.nn.Module) -> torch.nn.Module:
    """The transformer body without the LM head (hidden states only), or the model itself."""
    base = getattr(model, "base_model", None)
    return base if base is not None and base is not model else model


def _run(
    loaded: LoadedModel,
    jobs: list[_Job],
    spans: dict[str, np.ndarray],
    settings: ExtractionSettings,
    total_rows: int,
    directory: Path,
    progress: Callable[[int, int], None] | None,
) -> tuple[int, int]:
    """Run every window in batches and write each word's row into one memory-mapped file per layer."""
    import torch

    model = loaded.model
    body = forward_module(model)
    device = torch.device(loaded.device or "cpu")
    pad_id = _pad_id(loaded.tokenizer)
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].token_ids.shape[0])  # similar lengths together
    files: list[np.memmap] = []
    hidden = num_layers = 0
    store = storage_dtype(settings.dtype)
    with torch.inference_mode():
        for b0 in range(0, len(order), settings.batch_size):
            batch = [jobs[i] for i in order[b0 : b0 + settings.batch_size]]
            width = max(j.token_ids.shape[0] for j in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, job in enumerate(batch):
                n = job.token_ids.shape[0]
                ids[r, :n] = torch.from_numpy(job.token_ids)
                mask[r, :n] = 1
            out = body(
                input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True, use_cache=False
            )
            states = out.hidden_states
            if not files:
                num_layers, hidden = len(states), int(states[0].shape[-1])
                files = [
                    np.lib.format.open_memmap(
                        directory / layer_file(i), mode="w+", dtype=store, shape=(total_rows, hidden)
                    )
                    for i in range(num_layers)
                ]
            rows_idx, gather = _gather_plan(batch, spans, settings.word_token, device)
            for layer, state in enumerate(states):
                picked = _pick(state, gather, settings.word_token)
                files[layer][rows_idx] = from_float32(picked.float().cpu().numpy(), settings.dtype)
            del out, states
            if progress is not None:
                progress(min(b0 + settings.batch_size, len(order)), len(order))
    for handle in files:
        handle.flush()
    del files
    return hidden, num_layers


def _gather_plan(
    batch: list[_Job], spans: dict[str, np.ndarray], mode: str, device: torch.device
) -> tuple[np.ndarray, tuple[torch.Tensor, ...]]:
    """Rows to write, and which (batch row, position) tokens make each word's vector."""
    import torch

    rows: list[np.ndarray] = []
    index: tuple[torch.Tensor, ...]
    if mode == "last":
        b_idx, pos = [], []
        for r, job in enumerate(batch):
            words = job.window.words
            word_spans = spans[job.story][words]
            b_idx.append(np.full(len(words), r))
            pos.append(word_spans[:, 1] - job.window.start + job.offset)
            rows.append(job.row0 + words)
        index = (torch.from_numpy(np.concatenate(b_idx)).to(device), torch.from_numpy(np.concatenate(pos)).to(device))
        return np.concatenate(rows), index
    # mean: flat token list plus the output word each token adds into
    b_tok, p_tok, seg, counts = [], [], [], []
    out = 0
    for r, job in enumerate(batch):
        words = job.window.words
        word_spans = spans[job.story][words]
        for first, last in word_spans:
            n = int(last - first + 1)
            b_tok.append(np.full(n, r))
            p_tok.append(np.arange(first, last + 1) - job.window.start + job.offset)
            seg.append(np.full(n, out))
            counts.append(n)
            out += 1
        rows.append(job.row0 + words)
    index = (
        torch.from_numpy(np.concatenate(b_tok)).to(device),
        torch.from_numpy(np.concatenate(p_tok)).to(device),
        torch.from_numpy(np.concatenate(seg)).to(device),
        torch.tensor(counts, dtype=torch.float32, device=device),
    )
    return np.concatenate(rows), index


def _pick(state: torch.Tensor, gather: tuple[torch.Tensor, ...], mode: str) -> torch.Tensor:
    """One layer's word vectors (float32) from a batch's hidden states."""
    import torch

    if mode == "last":
        b_idx, pos = gather
        return state[b_idx, pos].float()
    b_tok, p_tok, seg, counts = gather
    tokens = state[b_tok, p_tok].float()
    sums = torch.zeros((counts.shape[0], tokens.shape[-1]), dtype=torch.float32, device=tokens.device)
    sums.index_add_(0, seg, tokens)
    return sums / counts[:, None]


def _pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id that pads short windows: pad, else end-of-text, else unknown, else 0."""
    for attr in ("pad_token_id", "eos_token_id", "unk_token_id"):
        value = getattr(tokenizer, attr, None)
        if isinstance(value, int):
            return value
    return 0
