"""Token-to-word alignment and window planning."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from harness.features.align import align_words, special_prefix
from harness.features.windows import plan_windows, token_forwards
from harness.util.errors import DataError

ALPHABET = "The quick brown fox jumps over the lazy dog, unbelievably! (\"Hello.\") ~"
TEXT = "the cat sat on the mat . a dog ran in the park , and the bird sang ! " * 20


def byte_bpe() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([TEXT], trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


def metaspace_with_bos(normalizer=None) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>", "<s>"])
    tok.train_from_iterator([TEXT, ALPHABET], trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", unk_token="<unk>")


WORDS = ["The", "cat,", "foxcatparkdog", "sat", "on", "the", "mat.", "\"Hello!\"", "said", "the", "dog", "(quietly)."]


@pytest.mark.parametrize("make", [byte_bpe, metaspace_with_bos])
def test_each_word_gets_its_own_tokens(make):
    tokenizer = make()
    alignment = align_words(tokenizer, WORDS, story="s")
    spans = alignment.spans
    assert spans.shape == (len(WORDS), 2)
    assert (spans[:, 0] <= spans[:, 1]).all()
    assert (spans[1:, 0] > spans[:-1, 1]).all()  # no token shared between these words, in order
    for word, (first, last) in zip(WORDS, spans):
        piece = tokenizer.decode(alignment.token_ids[first : last + 1].tolist())
        assert piece.strip() == word
    assert spans[2, 1] > spans[2, 0]  # "foxcatparkdog" is several tokens with this small vocabulary
    assert spans[-1, 1] == alignment.num_tokens - 1


def test_special_prefix():
    assert special_prefix(byte_bpe()) == []
    tokenizer = metaspace_with_bos()
    assert special_prefix(tokenizer) == [tokenizer.bos_token_id]


def test_bad_words_are_named():
    tokenizer = byte_bpe()
    with pytest.raises(DataError, match="story 'tale' has no words"):
        align_words(tokenizer, [], story="tale")
    with pytest.raises(DataError, match=r"story 'tale': word #1 \(' '\) is empty"):
        align_words(tokenizer, ["a", " ", "b"], story="tale")
    dropping = metaspace_with_bos(normalizers.Replace("~", ""))
    with pytest.raises(DataError, match=r"story 'tale': word #1 \('~~'\) maps to no token"):
        align_words(dropping, ["cat", "~~", "dog"], story="tale")


def test_slow_tokenizer_is_refused():
    class Slow:
        is_fast = False
        name_or_path = "slowpoke"

    with pytest.raises(DataError, match="'slowpoke'.*fast"):
        align_words(Slow(), ["a"], story="s")


def _spans(lengths):
    ends = np.cumsum(lengths)
    return np.stack([ends - lengths, ends - 1], axis=1)


@pytest.mark.parametrize("context,stride", [(16, 8), (16, 16), (16, 1), (7, 3), (64, 32)])
def test_windows_cover_each_word_once(context, stride):
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 4, size=200)
    spans = _spans(lengths)
    n_tokens = int(lengths.sum())
    windows = plan_windows(spans, n_tokens, context, stride)
    assigned = np.concatenate([w.words for w in windows])
    assert (assigned == np.arange(len(lengths))).all()
    starts = [w.start for w in windows]
    assert starts == sorted(set(starts))
    for w in windows:
        assert 0 < w.length <= context
        assert (spans[w.words, 0] >= w.start).all() and (spans[w.words, 1] < w.stop).all()
        # each word sees all the left context the window allows: at least context - stride tokens
        # (less only where the window starts at the story start) minus the word's own length
        if w.start > 0:
            assert (spans[w.words, 0] - w.start >= context - stride - 3).all()
    assert windows[0].start == 0 and windows[-1].stop == n_tokens


def test_windows_far_fewer_token_forwards_than_per_word():
    spans = _spans(np.full(1000, 1.3).round().astype(int) + (np.arange(1000) % 3 == 0))
    n_tokens = int(spans[-1, 1] + 1)
    windows = plan_windows(spans, n_tokens, 512, 256)
    naive = sum(min(int(last) + 1, 512) for _, last in spans)
    assert naive / token_forwards(windows) > 20


def test_word_longer_than_window_is_an_error():
    with pytest.raises(DataError, match="word #1 takes 9 tokens"):
        plan_windows(_spans(np.array([1, 9, 1])), 11, 8, 4, story="s")
