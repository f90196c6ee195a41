"""A tiny random GPT-2 and a BPE tokenizer trained on the spot, saved like a real checkpoint (test helper)."""

from __future__ import annotations

from pathlib import Path

from harness.plugin.contract import Checkpoint, LoadedModel

TEXT = (
    "The cat sat on the mat. The dogs run in the park. A bird sings in the tree. "
    "Question: Which word fits? Options: A) cat B) dog C) tree D) park Answer: A\n"
    "These children play near the river, and this child reads a book about the sea. "
)


def build_tiny_lm(path: Path, *, seed: int = 0, n_layer: int = 2, n_embd: int = 32) -> Path:
    """Save a random GPT-2 (``n_layer`` blocks) and a byte-level BPE tokenizer into ``path``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([TEXT] * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(fast), n_positions=256, n_embd=n_embd, n_layer=n_layer, n_head=2,
        bos_token_id=fast.eos_token_id, eos_token_id=fast.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


def load_tiny_lm(path: Path, step: int = 0) -> LoadedModel:
    """Load a saved tiny model the way a model family would."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    return LoadedModel(model, tokenizer, Checkpoint(step, step * 1000, path.name), identity=str(path))
