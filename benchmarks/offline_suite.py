"""Benchmark: the offline task suite through lm-eval against bare forward passes over the same text.

    python benchmarks/offline_suite.py                 # a GPT-2 of 4 blocks x 128 dims, BPE vocab 2048
    python benchmarks/offline_suite.py --layers 2 --dims 64

Builds a random GPT-2 with a BPE tokenizer trained on the tinylm training corpus (so token counts
are realistic), generates the suite, and times (a) ``OfflineSuite.evaluate`` — real lm-eval:
requests, batching, generation, metrics — and (b) the baseline: one batched forward pass over
every text the suite scores (cloze passages, both sentences of each pair, the few-shot instruction
prompts, the perplexity paragraphs). Prints both times and their ratio (lm-eval's overhead factor).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def build_model(folder: Path, layers: int, dims: int, vocab: int, context: int):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from harness import Checkpoint, LoadedModel
    from harness_plugins.models.tinylm.corpus import load_corpus

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(load_corpus().train, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(fast), n_positions=context, n_embd=dims, n_layer=layers, n_head=4,
                        bos_token_id=fast.eos_token_id, eos_token_id=fast.eos_token_id)
    model = GPT2LMHeadModel(config).eval()
    return LoadedModel(model, fast, Checkpoint(0, 0, "bench"), identity=str(folder))


def suite_texts(folder: Path, shots: int) -> list[str]:
    def rows(name: str) -> list[dict]:
        return [json.loads(line) for line in (folder / name).read_text().splitlines()]

    texts = [f"{r['context']} {r['target']}" for r in rows("cloze.test.jsonl")]
    texts += [s for r in rows("minimal_pairs.test.jsonl") for s in (r["good"], r["bad"])]
    for path in sorted(folder.glob("instruction_*.test.jsonl")):  # one item set per rung of the ladder
        demo = "".join(f"{r['prompt']} {r['answer']}\n\n" for r in rows(path.name.replace(".test.", ".train."))[:shots])
        texts += [demo + r["prompt"] for r in rows(path.name)]
    texts += [r["text"] for r in rows("perplexity.test.jsonl")]
    return texts


def forward_all(loaded, texts: list[str], batch: int, context: int) -> None:
    import torch

    tok = loaded.tokenizer
    ids = [tok(t)["input_ids"][-context:] for t in texts]
    ids.sort(key=len)
    with torch.inference_mode():
        for start in range(0, len(ids), batch):
            chunk = ids[start:start + batch]
            width = max(len(c) for c in chunk)
            x = torch.tensor([c + [0] * (width - len(c)) for c in chunk])
            mask = torch.tensor([[1] * len(c) + [0] * (width - len(c)) for c in chunk])
            loaded.model(input_ids=x, attention_mask=mask).logits.log_softmax(-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--dims", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from harness_plugins.tasks.offline import OfflineSuite

    with tempfile.TemporaryDirectory() as tmp:
        loaded = build_model(Path(tmp), args.layers, args.dims, args.vocab, args.context)
        task = OfflineSuite(OfflineSuite.Options(cache_dir=str(Path(tmp) / "suite")))
        started = time.perf_counter()
        folder = task.suite_dir()
        generate = time.perf_counter() - started
        task.evaluate(loaded, seed=0, workdir=Path(tmp))  # warm-up: imports, dataset cache
        texts = suite_texts(folder, task.options.num_fewshot)
        suite_times, base_times = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            scores = task.evaluate(loaded, seed=0, workdir=Path(tmp))
            suite_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            forward_all(loaded, texts, task.options.batch_size, args.context)
            base_times.append(time.perf_counter() - started)
    suite_s, base_s = statistics.median(suite_times), statistics.median(base_times)
    print(
        f"model: GPT-2 {args.layers} blocks x {args.dims} dims, vocab {args.vocab}; torch threads "
        f"{torch.get_num_threads()}"
    )
    print(f"suite generation (first use, corpus load included): {generate:.2f} s")
    print(f"{len(scores)} scores, {len(texts)} texts")
    print(f"offline suite through lm-eval: {suite_s:.2f} s (median of {args.repeats})")
    print(f"baseline, bare batched forward over the same texts: {base_s:.2f} s")
    print(f"ratio suite / baseline: {suite_s / base_s:.1f}x")


if __name__ == "__main__":
    main()
