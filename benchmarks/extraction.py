"""Extraction throughput against the model's own forward pass, and token-forwards against a naive loop.

    python benchmarks/extraction.py [--words 1000 --stories 4 --context 512 --stride 256]

Stories are held-out documents of the tinylm corpus joined to ``--words`` words. The model is a
randomly initialised GPT-2 (weights do not change the cost) with a BPE tokenizer trained on the
corpus. Measured in the same run, alternating, median of ``--repeats``:

- raw forward: the same windows, same batch size, through ``model(input_ids)`` (logits, no hidden
  states kept) -- the model's throughput on exactly the tokens the extraction runs; also the
  transformer body alone (no LM head), which is what the extraction runs;
- extraction: ``extract_activations`` into an empty cache (tokenize, align, forward, write every
  layer to disk).

Printed: tokens/s of both, the extraction overhead (target < 25 %), and the number of token-forwards
of the windowed extraction against a naive loop that runs one forward pass per word with its full
left context up to the window (target >= 20x fewer), timed on the first ``--naive-words`` words.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from harness.features import align_words, extract_activations, plan_windows
from harness.features.settings import ExtractionSettings
from harness.plugin.contract import Checkpoint, LoadedModel
from harness_plugins.models.tinylm.corpus import load_corpus
from harness_plugins.models.tinylm.train import train_tokenizer


def make_stories(n_stories: int, n_words: int) -> dict[str, list[str]]:
    corpus = load_corpus()
    words = " ".join(corpus.heldout).split()
    if len(words) < n_stories * n_words:
        raise SystemExit(f"the held-out corpus has {len(words)} words, fewer than {n_stories} x {n_words}")
    return {f"story{i}": words[i * n_words : (i + 1) * n_words] for i in range(n_stories)}


def make_model(args: argparse.Namespace) -> LoadedModel:
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = train_tokenizer(load_corpus().train[:300], args.vocab)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=args.context, n_embd=args.width, n_layer=args.layers,
                        n_head=max(1, args.width // 64), bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id)
    model = GPT2LMHeadModel(config).eval().to(args.device)
    return LoadedModel(
        model, tokenizer, Checkpoint(0, 0, "bench"), identity="benchmark/random-gpt2", device=args.device
    )


def planned_windows(
    loaded: LoadedModel, stories: dict[str, list[str]], settings: ExtractionSettings
) -> tuple[list[np.ndarray], list]:
    windows, alignments = [], []
    for name, words in stories.items():
        alignment = align_words(loaded.tokenizer, words, story=name)
        alignments.append(alignment)
        for w in plan_windows(
            alignment.spans, alignment.num_tokens, settings.context_tokens, settings.stride, story=name
        ):
            windows.append(alignment.token_ids[w.start : w.stop])
    return windows, alignments


def raw_forward(loaded: LoadedModel, windows: list[np.ndarray], batch_size: int, *, body: bool = False) -> float:
    """Seconds for the model's plain forward pass over the windows (right-padded batches).

    ``body``: the transformer without its LM head (what extraction runs), else the whole model.
    """
    model = loaded.model.base_model if body else loaded.model
    order = sorted(windows, key=len, reverse=True)
    start = time.perf_counter()
    with torch.inference_mode():
        for b in range(0, len(order), batch_size):
            batch = order[b : b + batch_size]
            width = max(len(w) for w in batch)
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, w in enumerate(batch):
                ids[r, : len(w)] = torch.from_numpy(w)
                mask[r, : len(w)] = 1
            model(input_ids=ids.to(loaded.device), attention_mask=mask.to(loaded.device), use_cache=False)
    if loaded.device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def extraction(loaded: LoadedModel, stories: dict[str, list[str]], settings: ExtractionSettings) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        acts = extract_activations(loaded, stories, settings, Path(cache))
        if loaded.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start, acts.meta["stats"]


def naive_loop(loaded: LoadedModel, alignment, context: int, n_words: int) -> tuple[float, int]:
    """One forward pass per word over its left context (up to ``context`` tokens)."""
    start = time.perf_counter()
    forwards = 0
    with torch.inference_mode():
        for _first, last in alignment.spans[:n_words]:
            lo = max(0, int(last) + 1 - context)
            ids = torch.from_numpy(alignment.token_ids[lo : int(last) + 1])[None].to(loaded.device)
            loaded.model(input_ids=ids, output_hidden_states=True, use_cache=False)
            forwards += ids.shape[1]
    return time.perf_counter() - start, forwards


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=1000)
    parser.add_argument("--stories", type=int, default=4)
    parser.add_argument("--context", type=int, default=512)
    parser.add_argument("--stride", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-words", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    settings = ExtractionSettings(context_tokens=args.context, stride=args.stride, batch_size=args.batch_size)
    stories = make_stories(args.stories, args.words)
    loaded = make_model(args)
    windows, alignments = planned_windows(loaded, stories, settings)
    n_tokens = sum(a.num_tokens for a in alignments)
    window_tokens = sum(len(w) for w in windows)

    raw_times, body_times, ext_times = [], [], []
    raw_forward(loaded, windows[: args.batch_size], args.batch_size)  # warm-up
    stats: dict = {}
    for _ in range(args.repeats):
        raw_times.append(raw_forward(loaded, windows, args.batch_size))
        body_times.append(raw_forward(loaded, windows, args.batch_size, body=True))
        seconds, stats = extraction(loaded, stories, settings)
        ext_times.append(seconds)
    raw, body, ext = statistics.median(raw_times), statistics.median(body_times), statistics.median(ext_times)

    naive_seconds, naive_forwards_part = naive_loop(loaded, alignments[0], args.context, args.naive_words)
    naive_forwards = sum(sum(min(int(last) + 1, args.context) for _, last in a.spans) for a in alignments)
    ours = stats["token_forwards"]
    per_word_naive = naive_seconds / min(args.naive_words, len(alignments[0].spans))
    naive_total_estimate = per_word_naive * sum(len(w) for w in stories.values())

    print(f"model: GPT-2 {args.layers} layers x {args.width}, vocab {len(loaded.tokenizer)}, device {args.device}")
    print(f"stimulus: {args.stories} stories x {args.words} words = {n_tokens} tokens; "
          f"{len(windows)} windows of <= {args.context} tokens (stride {args.stride}), {window_tokens} token-forwards")
    print(f"raw forward:  {raw:7.3f} s  {window_tokens / raw:10.0f} tokens/s  (median of {args.repeats})")
    print(f"raw body:     {body:7.3f} s  {window_tokens / body:10.0f} tokens/s  (same, without the LM head)")
    print(
        f"extraction:   {ext:7.3f} s  {window_tokens / ext:10.0f} tokens/s  (all {loaded.model.config.n_layer + 1} "
        "layers to disk)"
    )
    print(f"extraction overhead vs raw forward: {100 * (ext / raw - 1):+.1f} %   (target < 25 %); "
          f"vs body without LM head: {100 * (ext / body - 1):+.1f} %")
    print(
        f"token-forwards: windowed {ours}, naive per-word {naive_forwards}: {naive_forwards / ours:.1f}x fewer   "
        "(target >= 20x)"
    )
    print(f"naive loop timed on {args.naive_words} words: {per_word_naive * 1000:.1f} ms/word -> about "
          f"{naive_total_estimate:.1f} s for the stimulus, {naive_total_estimate / ext:.1f}x the extraction time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
