"""The instruction ladder of any size: beyond the sentence ends, inner words of the held-out prose are blanked."""

from __future__ import annotations

import re
from collections import Counter
from types import SimpleNamespace

import pytest

from harness import DataError
from harness_plugins.models.tinylm.corpus import load_corpus
from harness_plugins.tasks import lm_eval_bridge
from harness_plugins.tasks.offline import quiz
from harness_plugins.tasks.offline.items import Sizes, build_items, instruction_unit
from tests.plugins.tasks.test_offline import ScriptedLM, check_rung_row, instruction_rows, suite, write_corpus

LARGE = Sizes(instruction=400, instruction_shots=7)  # num_fewshot 3, as the README's quickstart


@pytest.fixture(scope="module")
def heldout() -> list[str]:
    return load_corpus(None, seed=0).heldout


@pytest.fixture(scope="module")
def ladder(heldout) -> dict[str, dict[str, list[dict]]]:
    """rung -> split -> rows of a 400-item ladder on the default corpus (built in memory)."""
    items = build_items(heldout, 0, LARGE)
    return {rung: items[instruction_unit(rung)] for rung in quiz.RUNGS}


def sources(rows: list[dict], sentences: list[str]) -> set[int]:
    """The held-out sentences that hold the unblanked text of any of the rows."""
    found = set()
    for row in rows:
        text = row["sentence"].replace(quiz.BLANK, row[row["answer"]])
        hits = {i for i, sent in enumerate(sentences) if text in sent}
        assert hits, row
        found |= hits
    return found


def test_a_ladder_of_400_items_per_rung_comes_out_of_the_default_corpus(ladder):
    for rung, splits in ladder.items():
        assert len(splits["test"]) == 400 and len(splits["train"]) == LARGE.instruction_shots
        for row in splits["test"] + splits["train"]:
            check_rung_row(rung, row)
            assert len(row["sentence"].split()) <= quiz.MAX_WORDS
    texts = [row["sentence"] for splits in ladder.values() for rows in splits.values() for row in rows]
    assert len(set(texts)) == len(texts)  # no question shown twice, in any rung or split
    prompts = [row["prompt"] for splits in ladder.values() for row in splits["test"]]
    assert len(set(prompts)) == len(prompts)


def test_no_sentence_serves_two_rungs_or_both_a_demonstration_and_a_test_item(ladder, heldout):
    sentences = [" ".join(s.split()) for para in quiz.paragraphs(heldout) for s in quiz.sentences(para)]
    tests = {rung: sources(splits["test"], sentences) for rung, splits in ladder.items()}
    demos = {rung: sources(splits["train"], sentences) for rung, splits in ladder.items()}
    for rung in quiz.RUNGS:
        assert not tests[rung] & demos[rung], rung
        for other in quiz.RUNGS:
            if other != rung:
                assert not (tests[rung] | demos[rung]) & (tests[other] | demos[other]), (rung, other)


def test_the_large_ladder_is_fixed_by_the_seed_and_begins_with_the_default_items(ladder, heldout):
    again = build_items(heldout, 0, LARGE)
    other = build_items(heldout, 1, LARGE)
    default = build_items(heldout, 0, Sizes(instruction=40, instruction_shots=7))
    for rung, splits in ladder.items():
        unit = instruction_unit(rung)
        assert again[unit] == splits and other[unit]["test"] != splits["test"]
        assert splits["test"][:40] == default[unit]["test"]  # a larger ladder only adds items


def test_each_rung_answers_with_every_letter_about_as_often(ladder):
    for rung, splits in ladder.items():
        counts = Counter(row["answer"] for row in splits["test"])
        expected = len(splits["test"]) / len(quiz.LETTERS)
        chi2 = sum((counts[letter] - expected) ** 2 / expected for letter in quiz.LETTERS)
        assert chi2 < 16.27, (rung, counts)  # chi-square, 3 degrees of freedom, p = 0.001


def test_the_ladder_uses_sentence_ends_before_inner_blanks_alike_on_every_rung(ladder):
    firsts = []
    for splits in ladder.values():
        ends = [row["sentence"].endswith((f"{quiz.BLANK}.", f"{quiz.BLANK}!", f"{quiz.BLANK}?")) for row in splits["test"]]
        firsts.append(ends.index(False))
        assert firsts[-1] >= 40 and sum(ends) == firsts[-1]  # every sentence end before the first inner blank
        assert all(row["sentence"].endswith(f"{quiz.BLANK}.") for row in splits["train"])  # demonstrations: ends
    assert max(firsts) - min(firsts) <= 5  # the rungs differ in what the prompt states, not in the kind of blank


def test_inner_blanks_show_a_window_of_the_sentence():
    sentence = "The old river runs through the city, past the market and the church of the village."
    blanks = quiz.inner_blanks(sentence, {"old", "river", "city", "market", "church", "village", "the"})
    assert [word for _, word, _ in blanks] == ["old", "river", "the", "city", "the", "market", "the", "church", "the"]
    for before, word, after in blanks:
        shown = f"{before}{word}{after}"
        assert shown in sentence and len(shown.split()) <= quiz.MAX_WORDS
        assert len(after.lstrip(",;:").split()) <= quiz.AFTER_BLANK
    assert blanks[3] == ("old river runs through the ", "city", ", past the market")
    assert quiz.inner_blanks("Too short a sentence.", {"short"}) == []


def test_a_ladder_too_large_for_the_corpus_says_the_most_it_allows(tmp_path):
    corpus = write_corpus(tmp_path / "prose.cor")  # 40 held-out documents of 4 sentences
    task = suite(corpus, tmp_path, subtasks=["instruction"], instruction_items=100_000)
    with pytest.raises(DataError) as info:
        task.check(None)
    message = str(info.value)
    match = re.fullmatch(r"offline suite: the held-out corpus yields only (\d+) instruction items per rung \(besides 6 "
                         r"demonstrations\), 100000 asked; lower the instruction_items option \(at most \1\) or give a "
                         r"larger corpus", message)
    assert match, message
    most = int(match.group(1))
    assert most > 60  # far more than sentence ends: the ladder gets a third of the 160 held-out sentences
    assert suite(corpus, tmp_path, subtasks=["instruction"], instruction_items=most).check(None) == []
    with pytest.raises(DataError, match=rf"only {most} instruction items per rung"):
        suite(corpus, tmp_path, subtasks=["instruction"], instruction_items=most + 1).check(None)
    assert not (tmp_path / "suite").exists()  # checked in memory: nothing written



def test_an_extended_ladder_runs_through_lm_eval_with_demonstrations_from_its_own_pool(tmp_path, monkeypatch):
    task = suite(write_corpus(tmp_path / "prose.cor"), tmp_path, subtasks=["instruction"], instruction_items=60)
    folder = task.suite_dir()
    tests, demos = instruction_rows(folder), instruction_rows(folder, "train")
    assert not all(row["sentence"].endswith(f"{quiz.BLANK}.") for rows in tests.values() for row in rows)  # inner blanks
    right = {row["prompt"]: row["answer"] for rows in tests.values() for row in rows}
    pool = {row["prompt"] for rows in demos.values() for row in rows}
    scripted = ScriptedLM(lambda prompt: " " + right[prompt.rsplit(quiz.SHOT_SEPARATOR, 1)[1]]).lm
    monkeypatch.setattr(lm_eval_bridge, "make_lm", lambda loaded, **kw: scripted)
    scores = task.evaluate(SimpleNamespace(tokenizer=None), seed=0, workdir=tmp_path)  # type: ignore[arg-type]
    assert {(s.scope, s.metric): s.value for s in scores if s.metric == "correct"} == {
        (scope, "correct"): 1.0 for scope in ("instruction", *(f"instruction:{rung}" for rung in quiz.RUNGS))}
    assert len(scripted.prompts) == 60 * len(quiz.RUNGS)
    for prompt in scripted.prompts:
        shots = [block.rsplit(" ", 1)[0] for block in prompt.split(quiz.SHOT_SEPARATOR)[1:-1]]
        assert len(shots) == 2 and set(shots) <= pool  # SMALL's num_fewshot, drawn from the demonstrations only
