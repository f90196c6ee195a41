"""tinylm's training mix: QA quizzes at the asked fraction, built from training prose only, in the suite's format."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from harness.errors import DataError
from harness_plugins.models.tinylm import TinyLMFamily
from harness_plugins.models.tinylm import train as train_module
from harness_plugins.models.tinylm.corpus import load_corpus
from harness_plugins.models.tinylm.qa import DESCRIPTION, LETTERS, SHOT_SEPARATOR, Question, qa_documents, questions
from harness_plugins.tasks import lm_eval_bridge
from harness_plugins.tasks.offline import OfflineSuite
from tests.test_tasks_offline import ScriptedLM, write_corpus


def tiny_settings(cache, **options):
    family = TinyLMFamily(TinyLMFamily.Options(size="tiny", progress=False, cache=str(cache), **options))
    return family.settings()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return load_corpus(cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("fraction", [0.25, 0.1])
def test_mixed_stream_has_qa_at_the_asked_fraction_and_none_from_heldout(corpus, tmp_path, fraction):
    settings = tiny_settings(tmp_path, qa_fraction=fraction)
    data = train_module.training_data(settings, corpus)
    batches = train_module.mixed_batches(data, settings, np.random.default_rng(0), np.random.default_rng(1))
    rows, flags = [], []
    for _ in range(50):
        batch, is_qa = next(batches)
        assert batch.shape == (settings.batch_size, settings.context)
        rows.extend(batch)
        flags.extend(is_qa)
    assert sum(flags) == int(len(flags) * fraction)  # exact, not just on average
    tokenizer = data.tokenizer
    for row, qa in zip(rows, flags, strict=True):
        assert tokenizer.decode(row).startswith(DESCRIPTION + SHOT_SEPARATOR) == bool(qa)
    # every question comes from a training sentence, and none from held-out text
    documents = corpus.train[: settings.max_train_docs]
    train_text, heldout_text = " ".join(" ".join(d.split()) for d in documents), " ".join(corpus.heldout)
    asked = questions(documents, settings.seed)
    assert len(asked) > 50
    for question in asked:
        stem = question.sentence.split("___")[0].strip()
        if len(stem.split()) >= 5:
            assert f"{stem} {question.options[LETTERS.index(question.answer)]}" in train_text
            assert stem not in heldout_text, stem
    assert set(data.qa_documents) == set(qa_documents(documents, settings.seed))


def test_no_qa_sequences_at_fraction_zero_and_same_batches_as_prose_only(corpus, tmp_path):
    settings = tiny_settings(tmp_path, qa_fraction=0.0)
    data = train_module.training_data(settings, corpus)
    assert data.qa_documents == [] and len(data.qa_stream) == 0
    mixed = train_module.mixed_batches(data, settings, np.random.default_rng(3), np.random.default_rng(4))
    plain = train_module._batches(data.stream, settings.context, settings.batch_size, np.random.default_rng(3))
    for _ in range(5):
        batch, is_qa = next(mixed)
        assert not is_qa.any() and np.array_equal(batch, next(plain))


def test_qa_fraction_is_in_the_settings_hash(tmp_path):
    assert tiny_settings(tmp_path).qa_fraction == 0.1
    assert tiny_settings(tmp_path, qa_fraction=0.05).digest("c") != tiny_settings(tmp_path).digest("c")
    assert tiny_settings(tmp_path, qa_fraction=0.0).digest("c") != tiny_settings(tmp_path).digest("c")


def test_a_corpus_without_questions_is_a_data_error(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("\n\n".join("Sun rises over the hill and it is quite warm " * 3 + "today 42." for _ in range(30)))
    corpus = load_corpus([text], cache_dir=tmp_path)
    with pytest.raises(DataError, match="qa_fraction"):
        train_module.training_data(tiny_settings(tmp_path, corpus=[str(text)], vocab_size=300), corpus)


def test_quizzes_match_the_offline_instruction_prompt(tmp_path, monkeypatch):
    """A quiz rendered from the suite's own items reads exactly like lm-eval's prompt plus the answer."""
    corpus_file = write_corpus(tmp_path / "prose.cor")
    task = OfflineSuite(OfflineSuite.Options(
        subtasks=["instruction"], instruction_items=4, num_fewshot=1, cloze_items=2, minimal_pairs_items=4,
        perplexity_items=1, corpus=[str(corpus_file)], cache_dir=str(tmp_path / "suite")))
    folder = task.suite_dir()
    rows = {split: [json.loads(line) for line in (folder / f"instruction.{split}.jsonl").read_text().splitlines()]
            for split in ("train", "test")}
    scripted = ScriptedLM(lambda prompt: " A").lm
    monkeypatch.setattr(lm_eval_bridge, "make_lm", lambda loaded, **kw: scripted)
    task.evaluate(SimpleNamespace(tokenizer=None), seed=0, workdir=tmp_path)  # type: ignore[arg-type]
    as_question = {r["sentence"]: Question(r["sentence"], (r["A"], r["B"], r["C"], r["D"]), r["answer"])
                   for split in rows.values() for r in split}
    for prompt in scripted.prompts:
        asked = [block.split("\n", 1)[0] for block in prompt.split(SHOT_SEPARATOR)[1:]]
        quiz = DESCRIPTION + SHOT_SEPARATOR + SHOT_SEPARATOR.join(as_question[s].render() for s in asked)
        assert quiz == f"{prompt} {as_question[asked[-1]].answer}"
