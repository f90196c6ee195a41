"""The lm_eval task plugin: same numbers as lm-eval's own simple_evaluate, one-line offline errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.util.errors import ConfigError, DataError
from harness_plugins.tasks import lm_eval_bridge
from harness_plugins.tasks.lm_eval_task import LmEvalTask
from tests.support.tiny_causal_lm import build_tiny_lm, load_tiny_lm

MC_YAML = """task: tiny_pairs
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
output_type: multiple_choice
test_split: test
doc_to_text: "{{{{prefix}}}}"
doc_to_target: 0
doc_to_choice: "{{{{[good, bad]}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""

ROLLING_YAML = """task: tiny_bpb
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
output_type: loglikelihood_rolling
test_split: test
doc_to_text: ""
doc_to_target: "{{{{text}}}}"
metric_list:
  - metric: word_perplexity
  - metric: bits_per_byte
metadata:
  version: 1.0
"""


CHOICES_YAML = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
output_type: multiple_choice
test_split: test
doc_to_text: "{{{{prefix}}}}"
doc_to_target: gold
doc_to_choice: choices
metric_list:
  - metric: acc
  - metric: acc_norm
  - metric: exact_match
metadata:
  version: 1.0
"""

GROUP_YAML = """group: tiny_choices
task:
  - tiny_two
  - tiny_three
  - tiny_bpb
aggregate_metric_list:
  - metric: acc
    weight_by_size: true
  - metric: acc_norm
    weight_by_size: false
metadata:
  version: 1.0
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    path = build_tiny_lm(root / "ckpt-10")
    tasks = root / "tasks"
    tasks.mkdir()
    pairs = [
        {"prefix": "The", "good": " cats sit on the mat.", "bad": " cats sits on the mat."},
        {"prefix": "A", "good": " bird sings in the tree.", "bad": " bird sing in the tree."},
        {"prefix": "These", "good": " dogs run.", "bad": " dog run."},
    ] * 4
    (tasks / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    (tasks / "pairs.yaml").write_text(MC_YAML.format(data=tasks / "pairs.jsonl"))
    texts = [{"text": "The cat sat on the mat. The dogs run in the park."}, {"text": "A bird sings in the tree."}]
    (tasks / "bpb.jsonl").write_text("".join(json.dumps(t) + "\n" for t in texts))
    (tasks / "bpb.yaml").write_text(ROLLING_YAML.format(data=tasks / "bpb.jsonl"))
    two = [{"prefix": "The cat", "choices": [" sat.", " sits."], "gold": 0}] * 6
    three = [{"prefix": "A dog", "choices": [" ran.", " runs.", " run."], "gold": 1}] * 3
    three += [{"prefix": "A bird", "choices": [" sang.", " sings."], "gold": 0}]  # a document with two choices
    multi = [{"prefix": "Cats", "choices": [" purr.", " meow.", " bark."], "gold": [0, 1]}] * 2  # two right of three
    for name, rows in (("tiny_two", two), ("tiny_three", three), ("tiny_multi", multi)):
        (tasks / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (tasks / f"{name}.yaml").write_text(CHOICES_YAML.format(name=name, data=tasks / f"{name}.jsonl"))
    (tasks / "group.yaml").write_text(GROUP_YAML)
    return path, tasks


def _by_key(scores):
    return {(s.scope, s.metric): (s.value, s.stderr) for s in scores}


def test_matches_lm_eval_simple_evaluate_on_saved_checkpoint(tiny, tmp_path):
    from lm_eval import simple_evaluate

    path, tasks = tiny
    task = LmEvalTask(LmEvalTask.Options(tasks=["tiny_pairs", "tiny_bpb"], include_path=[str(tasks)],
                                         include_defaults=False, batch_size=4, limit=10))
    loaded = load_tiny_lm(path, step=10)
    assert loaded.tokenizer.pad_token is None
    ours = _by_key(task.evaluate(loaded, seed=3, workdir=tmp_path))
    assert loaded.tokenizer.pad_token is None  # HFLM's pad token does not leak into later extraction

    reference = simple_evaluate(
        model="hf", model_args={"pretrained": str(path), "device": "cpu"}, tasks=["tiny_pairs", "tiny_bpb"],
        batch_size=4, limit=10, bootstrap_iters=1000, log_samples=False,
        task_manager=lm_eval_bridge.task_manager((str(tasks),), False),
        random_seed=3, numpy_random_seed=3, torch_random_seed=3, fewshot_random_seed=3,
    )
    theirs = _by_key(lm_eval_bridge.scores_from_results(reference))
    assert set(ours) == {("tiny_pairs", "acc"), ("tiny_pairs", "acc_norm"),
                         ("tiny_bpb", "word_perplexity"), ("tiny_bpb", "bits_per_byte")}
    assert ours.keys() == theirs.keys()
    for key, (value, stderr) in ours.items():
        assert value == pytest.approx(theirs[key][0], rel=1e-5), key
        if stderr is not None or theirs[key][1] is not None:
            assert stderr == pytest.approx(theirs[key][1], rel=1e-5), key
    assert ours[("tiny_pairs", "acc")][1] is not None  # stderr recorded
    assert ours[("tiny_bpb", "bits_per_byte")][0] > 0


def test_multiple_choice_accuracies_declare_their_chance_from_the_choices(tiny, tmp_path):
    """Chance = mean over the evaluated documents of right choices / choices; unknown elsewhere."""
    path, tasks = tiny
    task = LmEvalTask(LmEvalTask.Options(tasks=["tiny_pairs", "tiny_choices", "tiny_multi"], include_path=[str(tasks)],
                                         include_defaults=False, bootstrap_iters=0))
    chance = {(s.scope, s.metric): s.chance for s in task.evaluate(load_tiny_lm(path), seed=0, workdir=tmp_path)}
    three = (3 * (1 / 3) + 1 / 2) / 4  # three documents with three choices, one with two
    assert chance[("tiny_pairs", "acc")] == chance[("tiny_pairs", "acc_norm")] == 0.5
    assert chance[("tiny_two", "acc")] == chance[("tiny_two", "acc_norm")] == 0.5
    assert chance[("tiny_three", "acc")] == pytest.approx(three)
    assert chance[("tiny_choices", "acc")] == pytest.approx((6 * 0.5 + 4 * three) / 10)  # weighted by size
    assert chance[("tiny_choices", "acc_norm")] == pytest.approx((0.5 + three) / 2)  # not weighted
    assert chance[("tiny_multi", "acc")] == pytest.approx(2 / 3)
    assert chance[("tiny_two", "exact_match")] is None and chance[("tiny_bpb", "bits_per_byte")] is None
    limited = LmEvalTask(LmEvalTask.Options(tasks=["tiny_three"], include_path=[str(tasks)], include_defaults=False,
                                            limit=3, bootstrap_iters=0))
    scores = limited.evaluate(load_tiny_lm(path), seed=0, workdir=tmp_path)
    assert {s.metric: s.chance for s in scores}["acc"] == pytest.approx(1 / 3)  # only the documents evaluated
    assert [s.chance for s in scores if s.metric == "exact_match"] == [None]


def test_yaml_path_as_task_name(tiny, tmp_path):
    path, tasks = tiny
    task = LmEvalTask(LmEvalTask.Options(tasks=str(tasks / "pairs.yaml"), include_defaults=False, limit=3))
    scores = task.evaluate(load_tiny_lm(path), seed=0, workdir=tmp_path)
    assert {s.scope for s in scores} == {"tiny_pairs"}
    assert {s.metric for s in scores} == {"acc", "acc_norm"}


def test_unknown_task_name_is_a_config_error_with_a_suggestion(tiny, tmp_path):
    path, tasks = tiny
    task = LmEvalTask(LmEvalTask.Options(tasks=["tiny_pair"], include_path=[str(tasks)], include_defaults=False))
    with pytest.raises(ConfigError, match="did you mean 'tiny_pairs'"):
        task.evaluate(load_tiny_lm(path), seed=0, workdir=tmp_path)


def test_hub_only_task_offline_fails_with_one_clear_line(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path, tasks = tiny
    hub = tasks / "hub_only.yaml"
    hub.write_text(MC_YAML.replace("dataset_path: json", "dataset_path: nobody-here/not-a-dataset")
                   .replace("task: tiny_pairs", "task: hub_only").format(data="unused.jsonl"))
    task = LmEvalTask(LmEvalTask.Options(tasks=["hub_only"], include_path=[str(tasks)], include_defaults=False))
    with pytest.raises(DataError) as info:
        task.evaluate(load_tiny_lm(path), seed=0, workdir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "hub_only" in message and "nobody-here/not-a-dataset" in message and "offline" in message


def test_preflight_finds_a_hub_dataset_missing_offline_and_validate_says_so_in_one_line(tiny, tmp_path, monkeypatch, capsys):
    import yaml

    from harness.cli import main

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _, tasks = tiny
    (tasks / "hub_only.yaml").write_text(MC_YAML.replace("dataset_path: json", "dataset_path: nobody-here/not-a-dataset")
                                         .replace("task: tiny_pairs", "task: hub_only").format(data="unused.jsonl"))
    options = {"include_path": [str(tasks)], "include_defaults": False}
    task = LmEvalTask(LmEvalTask.Options(tasks=["tiny_pairs"], **options))
    assert task.check(None) == []  # a local json task passes
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"run": str(tmp_path / "run"), "models": [{"family": "tinylm", "options": {"size": "tiny"}}],
                                      "tasks": [{"task": "lm_eval", "options": {"tasks": ["hub_only"], **options}}]}))
    assert main(["validate", str(config)]) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and line.startswith(f"error: {config}: tasks[0] (lm_eval): lm_eval task options: tasks: task hub_only")
    assert "nobody-here/not-a-dataset" in line and "offline" in line and not (tmp_path / "run").exists()


def test_scores_from_results_keeps_filters_and_stderr():
    results = {"results": {"gsm": {"alias": "gsm", "exact_match,strict-match": 0.25,
                                   "exact_match_stderr,strict-match": 0.05, "acc,none": 0.5,
                                   "acc_stderr,none": "N/A", "sample_len": 10}}}
    scores = _by_key(lm_eval_bridge.scores_from_results(results, scopes={"gsm": "math"}))
    assert scores == {("math", "exact_match,strict-match"): (0.25, 0.05), ("math", "acc"): (0.5, None)}
    results[lm_eval_bridge.CHANCE_KEY] = {"gsm": {"acc,none": 0.25}}
    chance = {s.metric: s.chance for s in lm_eval_bridge.scores_from_results(results)}
    assert chance == {"exact_match,strict-match": None, "acc": 0.25}


def test_options_reject_unknown_keys_and_bad_values():
    with pytest.raises(ValidationError, match="fewshot"):
        LmEvalTask.Options(tasks=["x"], fewshot=3)
    with pytest.raises(ValidationError, match="tasks"):
        LmEvalTask.Options(tasks=[])
    with pytest.raises(ConfigError, match="include_path"):
        LmEvalTask(LmEvalTask.Options(tasks=["x"], include_path=["/no/such/dir"])).evaluate(
            None, seed=0, workdir=Path("."))  # type: ignore[arg-type]


def test_registered_hub_task_offline_is_a_data_error(tiny, tmp_path, monkeypatch):
    """lm-eval's own lambada_openai (a hub dataset) with the hub switched off: one line, no traceback text."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path, _ = tiny
    task = LmEvalTask(LmEvalTask.Options(tasks=["lambada_openai"], limit=2))
    with pytest.raises(DataError, match=r"^lm_eval: task lambada_openai needs dataset 'EleutherAI/lambada_openai' .* offline"):
        task.evaluate(load_tiny_lm(path), seed=0, workdir=tmp_path)


def test_seed_option_overrides_the_sweep_seed(tiny, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(lm_eval_bridge, "evaluate", lambda loaded, tasks, **kw: seen.append(kw["seed"]) or {"results": {}})
    path, tasks = tiny
    for seed_option in (None, 11):
        task = LmEvalTask(LmEvalTask.Options(tasks=["tiny_pairs"], include_path=[str(tasks)], include_defaults=False,
                                             seed=seed_option))
        task.evaluate(None, seed=5, workdir=tmp_path)  # type: ignore[arg-type]
    assert seen == [5, 11]
