"""tinylm's training mix: QA quizzes at the asked fraction, built from training prose only, in the suite's format."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from harness.util.errors import DataError
from harness_plugins.models.tinylm import TinyLMFamily
from harness_plugins.models.tinylm import train as train_module
from harness_plugins.models.tinylm.corpus import load_corpus
from harness_plugins.models.tinylm.qa import SHARES, qa_documents, questions
from harness_plugins.tasks import lm_eval_bridge
from harness_plugins.tasks.offline import OfflineSuite
from harness_plugins.tasks.offline.quiz import DESCRIPTION, LETTERS, RUNGS, SHOT_SEPARATOR, Question
from tests.plugins.tasks.test_offline import ScriptedLM, instruction_rows, write_corpus


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


def test_every_rung_is_in_the_training_mix_the_easy_one_most(corpus):
    documents = corpus.train[:200]
    asked = questions(documents, 0)
    counts = {rung: sum(q.rung == rung for q in asked) for rung in RUNGS}
    total = sum(SHARES.values())
    for rung in RUNGS:
        assert counts[rung] == pytest.approx(len(asked) * SHARES[rung] / total, abs=3)
    assert max(counts, key=counts.__getitem__) == RUNGS[0] == "stated"
    quizzes = qa_documents(documents, 0)
    for quiz in quizzes[:50]:  # each quiz holds questions of one rung
        kinds = {"stated" if "\nThe answer is " in block else "copy" if block.count("\n") == 3 else "complete"
                 for block in quiz.split(SHOT_SEPARATOR)[1:]}
        assert len(kinds) == 1
    stated = next(q for q in asked if q.rung == "stated")
    assert stated.render().endswith(f"\nThe answer is {stated.answer}.\nAnswer: {stated.answer}")


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
    assert tiny_settings(tmp_path).qa_fraction == 0.4
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
    rows = [row for split in ("train", "test") for rung in instruction_rows(folder, split).values() for row in rung]
    scripted = ScriptedLM(lambda prompt: " A").lm
    monkeypatch.setattr(lm_eval_bridge, "make_lm", lambda loaded, **kw: scripted)
    task.evaluate(SimpleNamespace(tokenizer=None), seed=0, workdir=tmp_path)  # type: ignore[arg-type]
    as_question = {r["prompt"]: Question(r["rung"], r["sentence"], tuple(r[x] for x in LETTERS), r["answer"], r["passage"],
                                         r["hint"]) for r in rows}
    assert len(scripted.prompts) == len(RUNGS) * 4
    for prompt in scripted.prompts:
        asked = [as_question[block.rsplit(" ", 1)[0]] for block in prompt.split(SHOT_SEPARATOR)[1:-1]]  # demonstrations
        asked.append(as_question[prompt.split(SHOT_SEPARATOR)[-1]])
        quiz = DESCRIPTION + SHOT_SEPARATOR + SHOT_SEPARATOR.join(q.render() for q in asked)
        assert quiz == f"{prompt} {asked[-1].answer}"
