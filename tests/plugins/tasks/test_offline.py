"""The offline suite: fixed, versioned items; real lm-eval runs; format scored apart from correctness."""

from __future__ import annotations

import json
import os
import random
import re
import stat
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from harness import ConfigError, DataError
from harness_plugins.tasks import lm_eval_bridge
from harness_plugins.tasks.offline import OfflineSuite, grammar, quiz
from harness_plugins.tasks.offline.items import Sizes, instruction_unit
from harness_plugins.tasks.offline.scoring import answer_label, process_instruction
from harness_plugins.tasks.offline.suite import SUBTASKS, SUITE_VERSION, scopes, suite_key, task_name
from tests.support.tiny_causal_lm import build_tiny_lm, load_tiny_lm

SMALL = dict(cloze_items=6, minimal_pairs_items=8, instruction_items=6, perplexity_items=4, num_fewshot=2)
WORDS = ("river city people music village market garden history country station island "
         "winter morning teacher family animal forest mountain church summer").split()


def write_corpus(path: Path, lines: int = 400, seed: int = 0) -> Path:
    """A .cor file (one document a line) of plain synthetic prose."""
    rng = random.Random(seed)
    docs = []
    for _ in range(lines):
        sents = []
        for _ in range(4):
            words = [rng.choice(WORDS) for _ in range(rng.randint(7, 12))]
            sents.append(f"The {' '.join(words)}.")
        docs.append(" ".join(sents))
    path.write_text("\n".join(docs) + "\n")
    return path


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "prose.cor")


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return build_tiny_lm(tmp_path_factory.mktemp("lm") / "ckpt-5")


def suite(corpus_file, tmp_path, **changes) -> OfflineSuite:
    options = {**SMALL, "corpus": [str(corpus_file)], "cache_dir": str(tmp_path / "suite"), **changes}
    return OfflineSuite(OfflineSuite.Options(**options))


def read_items(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.glob("*.jsonl"))}


def test_items_are_fixed_by_seed_and_versioned(corpus_file, tmp_path):
    first = suite(corpus_file, tmp_path / "a").suite_dir()
    again = suite(corpus_file, tmp_path / "b").suite_dir()
    other = suite(corpus_file, tmp_path / "c", item_seed=1).suite_dir()
    assert first.name.startswith(f"v{SUITE_VERSION}-") and first.name == again.name != other.name
    assert read_items(first) == read_items(again)
    assert read_items(first) != read_items(other)
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["counts"]["cloze"]["test"] == 6
    assert manifest["counts"]["minimal_pairs"]["test"] == 8
    for rung in quiz.RUNGS:
        assert manifest["counts"][instruction_unit(rung)] == {"test": 6, "train": 6}
    assert manifest["counts"]["perplexity"]["test"] == 4
    yamls = {*SUBTASKS, *(instruction_unit(r) for r in quiz.RUNGS)}  # instruction.yaml: the group of the rungs
    assert sorted(p.name for p in first.glob("*.yaml")) == sorted(f"{s}.yaml" for s in yamls)


def instruction_rows(folder: Path, split: str = "test") -> dict[str, list[dict]]:
    """rung -> its items in a generated suite."""
    return {rung: [json.loads(line) for line in (folder / f"{instruction_unit(rung)}.{split}.jsonl").read_text().splitlines()]
            for rung in quiz.RUNGS}


def check_rung_row(rung: str, row: dict) -> None:
    """One question of a rung: four options, one blank, no distractor shown, and only what its rung states."""
    options = [row[letter] for letter in quiz.LETTERS]
    answer = row[row["answer"]]
    assert len(set(options)) == 4 and row["sentence"].count(quiz.BLANK) == 1
    shown = [w.strip(".,;:!?\"'()") for w in row["sentence"].lower().replace(quiz.BLANK, " ").split()]
    assert not any(word in shown for word in options if word != answer), row  # no distractor is in the question
    assert row["prompt"] == quiz.Question(rung, row["sentence"], tuple(options), row["answer"], row["passage"],
                                          row["hint"]).prompt()
    if rung == "stated":
        assert row["hint"] == f"The answer is {row['answer']}." and not row["passage"]
    elif rung == "copy":
        assert row["passage"] == row["sentence"].replace(quiz.BLANK, answer) and not row["hint"]
        passage = [w.strip(".,;:!?\"'()") for w in row["passage"].lower().split()]
        assert [w for w in options if w in passage] == [answer]
    else:
        assert not row["passage"] and not row["hint"]


def test_the_instruction_ladder_states_the_answer_on_its_easy_rungs_only(corpus_file, tmp_path):
    folder = suite(corpus_file, tmp_path).suite_dir()
    sentences = []
    for rung, rows in instruction_rows(folder).items():
        for row in rows:
            check_rung_row(rung, row)
            sentences.append(row["sentence"])
    assert len(set(sentences)) == len(sentences)  # no sentence serves two rungs


def test_generated_suite_is_reused_not_rebuilt(corpus_file, tmp_path, monkeypatch):
    task = suite(corpus_file, tmp_path)
    folder = task.suite_dir()
    monkeypatch.setattr(OfflineSuite, "_heldout", lambda self: pytest.fail("suite regenerated"))
    assert suite(corpus_file, tmp_path).suite_dir() == folder


def test_an_edited_corpus_file_gives_a_new_suite(tmp_path):
    corpus = write_corpus(tmp_path / "prose.cor")
    before = suite(corpus, tmp_path).suite_dir()
    write_corpus(corpus, lines=410)
    assert suite(corpus, tmp_path).suite_dir() != before


def test_minimal_pairs_differ_in_one_word():
    pairs = grammar.minimal_pairs(40, random.Random(0))
    assert {p["phenomenon"] for p in pairs} == set(grammar.PHENOMENA)
    for pair in pairs:
        good, bad = pair["good"].lower().split(), pair["bad"].lower().split()
        assert len(good) == len(bad) and sum(a != b for a, b in zip(good, bad)) == 1, pair


@pytest.mark.parametrize(("generation", "label"), [
    (" B", "B"), ("B\n", "B"), (" (C)", "C"), (" D.", "D"), (" A)\nSentence: x", "A"),
    (" the", None), (" A man", None), ("", None), (" E", None), (" b", None),
])
def test_answer_label(generation, label):
    assert answer_label(generation) == label


def test_follows_format_is_scored_apart_from_correct():
    doc = {"answer": "B"}
    assert process_instruction(doc, [" B"]) == {"follows_format": 1, "correct": 1}
    assert process_instruction(doc, [" C"]) == {"follows_format": 1, "correct": 0}
    assert process_instruction(doc, [" B is right"]) == {"follows_format": 0, "correct": 0}


def test_suite_runs_through_lm_eval_on_a_tiny_checkpoint(corpus_file, tiny_path, tmp_path):
    scores = suite(corpus_file, tmp_path).evaluate(load_tiny_lm(tiny_path), seed=0, workdir=tmp_path)
    found = {(s.scope, s.metric): s for s in scores}
    ladder = [f"instruction:{rung}" for rung in quiz.RUNGS]
    assert set(found) == {("cloze", "acc"), ("minimal_pairs", "acc"), ("perplexity", "bits_per_byte"),
                          *((scope, metric) for scope in ("instruction", *ladder) for metric in ("follows_format", "correct"))}
    assert 0 <= found[("minimal_pairs", "acc")].value <= 1
    assert found[("minimal_pairs", "acc")].stderr is not None
    assert found[("perplexity", "bits_per_byte")].value > 0
    for scope in ("instruction", *ladder):
        assert found[(scope, "correct")].value <= found[(scope, "follows_format")].value
    mean = sum(found[(scope, "correct")].value for scope in ladder) / len(ladder)  # equal rung sizes
    assert found[("instruction", "correct")].value == pytest.approx(mean)
    chance = {key: score.chance for key, score in found.items()}
    assert chance.pop(("minimal_pairs", "acc")) == 0.5
    for scope in ("instruction", *ladder):
        assert chance.pop((scope, "correct")) == 0.25
    assert set(chance.values()) == {None}  # cloze acc, follows_format, bits_per_byte


def test_suite_equals_lm_eval_simple_evaluate_on_the_saved_checkpoint(corpus_file, tiny_path, tmp_path):
    from lm_eval import simple_evaluate

    task = suite(corpus_file, tmp_path, subtasks=["minimal_pairs", "instruction", "perplexity"])
    ours = {(s.scope, s.metric): s.value for s in task.evaluate(load_tiny_lm(tiny_path), seed=7, workdir=tmp_path)}
    reference = simple_evaluate(
        model="hf", model_args={"pretrained": str(tiny_path), "device": "cpu"},
        tasks=[task_name(s) for s in ("minimal_pairs", "instruction", "perplexity")],
        batch_size=task.options.batch_size, bootstrap_iters=100, log_samples=False,
        task_manager=lm_eval_bridge.task_manager((str(task.suite_dir()),), False),
        random_seed=7, numpy_random_seed=7, torch_random_seed=7, fewshot_random_seed=7,
    )
    theirs = {(s.scope, s.metric): s.value for s in lm_eval_bridge.scores_from_results(reference, scopes=scopes())}
    assert ours.keys() == theirs.keys() and len(ours) == 2 + 2 * (1 + len(quiz.RUNGS))
    for key, value in ours.items():
        assert value == pytest.approx(theirs[key], rel=1e-5), key


class ScriptedLM:
    """Stands in for HFLM: answers the instruction prompts from a script and records them."""

    def __init__(self, answers):
        from lm_eval.api.model import LM

        class _LM(LM):
            prompts: list[str] = []

            def loglikelihood(self, requests):
                return [(-1.0, False) for _ in requests]

            def loglikelihood_rolling(self, requests):
                return [-1.0 for _ in requests]

            def generate_until(self, requests):
                out = []
                for req in requests:
                    self.prompts.append(req.args[0])
                    out.append(answers(req.args[0]))
                return out

        self.lm = _LM()


def test_instruction_prompts_and_separate_scores_with_a_scripted_model(corpus_file, tmp_path, monkeypatch):
    task = suite(corpus_file, tmp_path, subtasks=["instruction"], instruction_items=6, num_fewshot=2)
    rows = instruction_rows(task.suite_dir())
    right = {row["prompt"]: row["answer"] for rung in rows.values() for row in rung}
    script = {"stated": ["right"] * 6, "copy": ["right", "right", "wrong", "wrong", "prose", "prose"],
              "complete": ["wrong"] * 5 + ["prose"]}
    planned = {row["prompt"]: plan for rung, rung_rows in rows.items() for row, plan in zip(rung_rows, script[rung], strict=True)}

    def answer(prompt: str) -> str:
        question = prompt.rsplit(quiz.SHOT_SEPARATOR, 1)[1]
        letter = right[question]
        return {"right": f" {letter}", "wrong": " A" if letter != "A" else " B", "prose": " the answer"}[planned[question]]

    scripted = ScriptedLM(answer).lm
    monkeypatch.setattr(lm_eval_bridge, "make_lm", lambda loaded, **kw: scripted)
    scores = task.evaluate(SimpleNamespace(tokenizer=None), seed=0, workdir=tmp_path)  # type: ignore[arg-type]
    found = {(s.scope, s.metric): s.value for s in scores}
    assert found == {
        ("instruction:stated", "follows_format"): 1.0, ("instruction:stated", "correct"): 1.0,
        ("instruction:copy", "follows_format"): pytest.approx(4 / 6), ("instruction:copy", "correct"): pytest.approx(2 / 6),
        ("instruction:complete", "follows_format"): pytest.approx(5 / 6), ("instruction:complete", "correct"): 0.0,
        ("instruction", "follows_format"): pytest.approx(15 / 18), ("instruction", "correct"): pytest.approx(8 / 18),
    }
    prompt = next(p for p in scripted.prompts if p.endswith(rows["stated"][0]["prompt"]))
    assert prompt.startswith("Fill in the blank. Answer with a letter.\n\n")
    assert prompt.count("___") == 3 and prompt.count("Answer:") == 3  # two demonstrations + the question
    assert prompt.count("Answer: ") == 2 and "\nA) " in prompt and prompt.count("The answer is ") == 3
    assert prompt.endswith("\nAnswer:")


def test_too_small_a_corpus_is_a_data_error(tmp_path):
    from harness.util.errors import DataError

    tiny_corpus = write_corpus(tmp_path / "small.cor", lines=30)
    with pytest.raises(DataError, match="only .* cloze items, 6 asked; lower the cloze_items option"):
        suite(tiny_corpus, tmp_path).suite_dir()


@pytest.mark.parametrize("key", ["subtasks", "num_fewshot"])
def test_options_are_checked(key):
    bad = {"subtasks": ["arithmetic"], "num_fewshot": -1}[key]
    with pytest.raises(ValidationError, match=key):
        OfflineSuite.Options(**{key: bad})


def test_default_sizes_come_out_of_the_tinylm_heldout_corpus(tmp_path):
    """The real default corpus (gensim's wiki and news samples) yields every item at the default sizes."""
    folder = OfflineSuite(OfflineSuite.Options(cache_dir=str(tmp_path))).suite_dir()
    counts = json.loads((folder / "manifest.json").read_text())["counts"]
    assert counts["cloze"]["test"] == 40 and counts["minimal_pairs"]["test"] == 48 and counts["perplexity"]["test"] == 16
    assert [counts[instruction_unit(rung)]["test"] for rung in quiz.RUNGS] == [40] * len(quiz.RUNGS)


def test_suite_key_is_stable():
    """Pinned: a new value regenerates the suite's files (bump SUITE_VERSION on purpose)."""
    assert suite_key(0, Sizes(), 3, "abc") == "89e93890aa58"
    assert suite_key(7, Sizes(), 0, "\u00fc") == "e5a48ed6afbb"


@pytest.fixture(scope="module")
def short_model(tmp_path_factory):
    """A saved GPT-2 that takes 32 tokens, with the byte-level tokenizer of the tiny checkpoint."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    root = tmp_path_factory.mktemp("short")
    tokenizer = AutoTokenizer.from_pretrained(build_tiny_lm(root / "source"))
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=32, n_embd=16, n_layer=2, n_head=2,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(root / "ckpt-32")
    tokenizer.save_pretrained(root / "ckpt-32")
    return root / "ckpt-32"


def test_check_fits_the_items_to_the_shortest_context(corpus_file, tmp_path):
    task = suite(corpus_file, tmp_path)
    assert task.check(None) == [] and task.check(128) == []
    with pytest.raises(ConfigError, match=r"subtasks: minimal_pairs cannot run: its longest item .* needs up to \d+ tokens "
                                          r"but the shortest model context is 32 tokens"):
        task.check(32)
    assert not (tmp_path / "suite").exists()  # items are built in memory: preflight writes nothing
    assert suite(corpus_file, tmp_path, subtasks=["cloze", "instruction", "perplexity"]).check(32) == []
    with pytest.raises(ConfigError, match="instruction cannot run: it needs 4 tokens"):
        suite(corpus_file, tmp_path, subtasks=["instruction"]).check(3)
    task.suite_dir()
    assert task.check(128) == []  # now read from the generated suite


def test_a_sub_task_too_long_for_the_model_is_named_at_run_time(corpus_file, short_model, tmp_path):
    task = suite(corpus_file, tmp_path, subtasks=["cloze", "minimal_pairs"])
    with pytest.raises(DataError) as info:
        task.evaluate(load_tiny_lm(short_model), seed=0, workdir=tmp_path)
    message = str(info.value)
    assert re.fullmatch(r"offline: sub-task minimal_pairs item \d+ scores (\d+) tokens \('.*'\) but the model takes 32; "
                        r"lm-eval cannot shorten a scored text: .*", message), message
    assert int(re.search(r"scores (\d+) tokens", message).group(1)) > 32


def test_a_bare_assertion_inside_lm_eval_says_which_sub_task_and_why(corpus_file, short_model, tmp_path, monkeypatch):
    monkeypatch.setattr(lm_eval_bridge, "_check_continuations", lambda *args: None)  # let lm-eval meet the item
    task = suite(corpus_file, tmp_path, subtasks=["cloze", "minimal_pairs"])
    with pytest.raises(DataError) as info:
        task.evaluate(load_tiny_lm(short_model), seed=0, workdir=tmp_path)
    message = str(info.value)
    assert message.startswith("offline: sub-tasks cloze, minimal_pairs failed in lm-eval's loglikelihood: assertion failed: ")
    assert "max_length" in message and "(the model takes 32 tokens)" in message and "huggingface.py:" in message
    assert "\n" not in message


def test_a_killed_suite_build_is_removed_and_suites_get_the_usual_permissions(corpus_file, tmp_path):
    root = tmp_path / "suite"
    root.mkdir()
    dead = root / ".building-dead"  # a build whose process was killed: its lock file is not held
    dead.mkdir()
    (dead / ".writer.lock").write_text("")
    (dead / "cloze.test.jsonl").write_text("{}\n")
    old = root / ".building-old"  # an older version's build (no lock file), days old
    old.mkdir()
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    mask = os.umask(0o022)
    try:
        folder = suite(corpus_file, tmp_path).suite_dir()
    finally:
        os.umask(mask)
    assert [p.name for p in root.iterdir()] == [folder.name]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.glob("*.*")} == {0o644}
