"""Bad checkpoints and tasks are caught before anything runs: through the CLI, exit 2, one line, nothing touched.

Every case writes real files (checkpoints saved by transformers, then damaged the way a broken
download, a typo or a full disk damages them) and runs ``harness validate`` and ``harness sweep``
on them; the sweep points at a finished run directory that must come out byte-for-byte untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cli import main
from tests.plugins.tasks.test_offline import write_corpus
from tests.support.plugin_packages import TOY_PLUGINS, activate, write_plugin_package
from tests.support.tiny_causal_lm import build_tiny_lm

REVISIONS = ("step0", "step1", "step2")

CONFIG = """
run: {run}
seed: 0
models:
  - family: {family}
    label: local
    options: {options}
    checkpoints: all
tasks:
{tasks}
analyze: false
"""
TOY_TASK = "  - task: toytask"


def _save_tiny(path: Path, n_positions: int = 256) -> Path:
    """A tiny GPT-2 checkpoint directory as save_pretrained writes it."""
    if n_positions == 256:
        return build_tiny_lm(path)
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    source = build_tiny_lm(path.parent / f".{path.name}-tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(source)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=16, n_layer=2, n_head=2,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A local repository of three revisions, ``step0``, ``step1``, ``step2``."""
    root = tmp_path_factory.mktemp("pristine") / "repo"
    _save_tiny(root / REVISIONS[0])
    for name in REVISIONS[1:]:
        shutil.copytree(root / REVISIONS[0], root / name)
    return root


@pytest.fixture(scope="module")
def finished(tmp_path_factory, pristine) -> Path:
    """A finished run directory: the toy task swept over the pristine repository."""
    base = tmp_path_factory.mktemp("finished")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_CACHE", str(base / "cache"))
        activate(write_plugin_package(base / "site", "toyplug", TOY_PLUGINS), patch)
        config = _write_config(base, base / "run", options={"repo": str(pristine), "revisions": list(REVISIONS)})
        assert main(["sweep", "--quiet", str(config)]) == 0
    return base / "run"


@pytest.fixture
def site(tmp_path, monkeypatch, pristine, finished):
    """Toy task plugin active; ``tmp_path/repo`` a fresh copy to damage; ``tmp_path/run`` a finished run."""
    activate(write_plugin_package(tmp_path / "site", "toyplug", TOY_PLUGINS), monkeypatch)
    shutil.copytree(pristine, tmp_path / "repo")
    shutil.copytree(finished, tmp_path / "run")
    return tmp_path


def _write_config(where: Path, run: Path, *, family: str = "hf", options: dict, tasks: str = TOY_TASK) -> Path:
    path = where / "sweep.yaml"
    path.write_text(CONFIG.format(run=run, family=family, options=json.dumps(options), tasks=tasks), encoding="utf-8")
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def _assert_caught(site: Path, capsys, config: Path, expected: list[str]) -> None:
    """validate and sweep: exit 2 with one line holding every expected fragment; the run untouched."""
    before = _snapshot(site / "run")
    capsys.readouterr()  # what setting up the case printed
    for argv in (["validate", str(config)], ["sweep", "--quiet", str(config)]):
        code = main(argv)
        line = _one_line(capsys)
        assert code == 2, (argv, line)
        for fragment in expected:
            assert fragment in line, (argv, fragment, line)
    assert _snapshot(site / "run") == before


# --------------------------------------------------------------------------- damaged checkpoints


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _pickle_only(directory: Path) -> None:
    import torch
    from safetensors.torch import load_file

    torch.save(load_file(directory / "model.safetensors"), directory / "pytorch_model.bin")
    (directory / "model.safetensors").unlink()


def _shard(directory: Path, keep_second: bool) -> None:
    """Split the weights into two shards plus an index (as save_pretrained does for large models)."""
    from safetensors.torch import load_file, save_file

    weights = load_file(directory / "model.safetensors")
    names = sorted(weights)
    halves = (names[: len(names) // 2], names[len(names) // 2 :])
    files = [f"model-0000{i + 1}-of-00002.safetensors" for i in range(2)]
    for part, file in zip(halves, files, strict=True):
        save_file({n: weights[n].contiguous() for n in part}, directory / file, metadata={"format": "pt"})
    index = {"metadata": {}, "weight_map": {n: files[i] for i, part in enumerate(halves) for n in part}}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    (directory / "model.safetensors").unlink()
    if not keep_second:
        (directory / files[1]).unlink()


def _header_garbage(path: Path) -> None:
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    path.write_bytes(data[:8] + b"{" * size + data[8 + size :])


def _edit_config(directory: Path, **changes) -> None:
    config = json.loads((directory / "config.json").read_text())
    config.update(changes)
    (directory / "config.json").write_text(json.dumps(config))


def _drop_key(directory: Path, key: str) -> None:
    config = json.loads((directory / "config.json").read_text())
    del config[key]
    (directory / "config.json").write_text(json.dumps(config))


def _append(path: Path, extra: bytes) -> None:
    path.write_bytes(path.read_bytes() + extra)


def _set_dtype(path: Path, dtype: str) -> None:
    """Rewrite the first tensor's dtype in the header, keeping the header's length."""
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = data[8 : 8 + size].decode()
    start = header.index('"dtype":"') + len('"dtype":"')
    end = header.index('"', start)
    header = header[:start] + dtype.ljust(end - start)[: end - start] + header[end:]
    path.write_bytes(data[:8] + header.encode() + data[8 + size :])


def _truncated_pickle(directory: Path) -> None:
    _pickle_only(directory)
    assert zipfile.is_zipfile(directory / "pytorch_model.bin")
    _truncate(directory / "pytorch_model.bin")


Damage = Callable[[Path], None]
# id: (damage to the repository, option changes, fragments the one line must hold; {repo} is the repository)
CHECKPOINT_CASES: dict[str, tuple[Damage, dict, list[str]]] = {
    "no_weights": (lambda r: (r / "step1/model.safetensors").unlink(), {}, ["{repo}/step1", "no weights"]),
    "bad_config_json_not_last": (lambda r: (r / "step0/config.json").write_text('{"model_type": "gpt2",'), {},
                                 ["{repo}/step0/config.json", "not valid JSON", "line 1"]),
    "missing_config_json": (lambda r: (r / "step1/config.json").unlink(), {}, ["{repo}/step1/config.json", "missing"]),
    "config_json_not_an_object": (lambda r: (r / "step0/config.json").write_text("[1, 2]"), {},
                                  ["{repo}/step0/config.json", "not a JSON object"]),
    "config_without_model_type": (lambda r: _drop_key(r / "step1", "model_type"), {},
                                  ["{repo}/step1/config.json", "model_type"]),
    "config_unknown_model_type": (lambda r: _edit_config(r / "step0", model_type="gpt9"), {},
                                  ["{repo}/step0/config.json", "'gpt9'"]),
    "truncated_safetensors": (lambda r: _truncate(r / "step1/model.safetensors"), {},
                              ["{repo}/step1/model.safetensors", "truncated"]),
    "truncated_safetensors_last": (lambda r: _truncate(r / "step2/model.safetensors"), {},
                                   ["{repo}/step2/model.safetensors", "truncated"]),
    "garbage_safetensors": (lambda r: (r / "step1/model.safetensors").write_bytes(os.urandom(4096)), {},
                            ["{repo}/step1/model.safetensors", "not a safetensors file"]),
    "empty_safetensors": (lambda r: (r / "step0/model.safetensors").write_bytes(b""), {},
                          ["{repo}/step0/model.safetensors", "empty"]),
    "garbage_safetensors_header": (lambda r: _header_garbage(r / "step1/model.safetensors"), {},
                                   ["{repo}/step1/model.safetensors", "header"]),
    "misspelt_revision": (lambda r: None, {"revisions": ["step0", "stpe1", "step2"]},
                          ["{repo}", "'stpe1'", "did you mean 'step1'"]),
    "missing_repository": (lambda r: shutil.rmtree(r), {}, ["{repo}", "no such checkpoint directory"]),
    "pickle_weights_only": (lambda r: _pickle_only(r / "step1"), {}, ["{repo}/step1", "allow_pickle"]),
    "truncated_pickle": (lambda r: _truncated_pickle(r / "step0"), {"allow_pickle": True},
                         ["{repo}/step0/pytorch_model.bin"]),
    "missing_shard": (lambda r: _shard(r / "step1", keep_second=False), {},
                      ["{repo}/step1/model-00002-of-00002.safetensors", "missing"]),
    "bad_shard_index": (lambda r: (r / "step1/model.safetensors.index.json").write_text("{oops"), {},
                        ["{repo}/step1/model.safetensors.index.json", "not valid JSON"]),
    "no_tokenizer": (lambda r: [(r / "step2" / n).unlink() for n in ("tokenizer.json", "tokenizer_config.json")], {},
                     ["{repo}/step2", "tokenizer"]),
    "revision_is_a_file": (lambda r: (shutil.rmtree(r / "step1"), (r / "step1").write_text("")), {},
                           ["{repo}", "no revision 'step1'"]),
    "safetensors_trailing_bytes": (lambda r: _append(r / "step0/model.safetensors", b"\0" * 64), {},
                                   ["{repo}/step0/model.safetensors", "corrupt"]),
    "safetensors_unknown_dtype": (lambda r: _set_dtype(r / "step1/model.safetensors", "Q9"), {},
                                  ["{repo}/step1/model.safetensors", "corrupt safetensors file"]),
    "bad_tokenizer_json": (lambda r: (r / "step1/tokenizer.json").write_text("{"), {},
                           ["{repo}/step1/tokenizer.json", "not valid JSON"]),
}


@pytest.mark.parametrize("case", sorted(CHECKPOINT_CASES))
def test_a_damaged_checkpoint_is_one_line_before_anything_runs(site, capsys, case):
    damage, changes, expected = CHECKPOINT_CASES[case]
    repo = site / "repo"
    damage(repo)
    options = {"repo": str(repo), "revisions": list(REVISIONS), **changes}
    config = _write_config(site, site / "run", options=options)
    _assert_caught(site, capsys, config, [e.format(repo=repo) for e in expected])


def test_sharded_weights_pass(site, capsys):
    _shard(site / "repo" / "step1", keep_second=True)
    config = _write_config(site, site / "run2", options={"repo": str(site / "repo"), "revisions": list(REVISIONS)})
    assert main(["validate", str(config)]) == 0, capsys.readouterr().err


# --------------------------------------------------------------------------- tasks that cannot run

LM_EVAL_YAML = """task: mytask
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: loglikelihood
doc_to_text: "{{{{context}}}}"
doc_to_target: "{{{{' ' + target}}}}"
metric_list:
  - metric: acc
"""


def _lm_eval_tasks(site: Path, **options) -> str:
    folder = site / "yaml"
    folder.mkdir(exist_ok=True)
    (folder / "data.jsonl").write_text('{"context": "The cat sat on the", "target": "mat"}\n')
    (folder / "mytask.yaml").write_text(LM_EVAL_YAML.format(data=folder / "data.jsonl"))
    merged = {"tasks": ["mytask"], "include_path": [str(folder)], "include_defaults": False, **options}
    return f"  - task: lm_eval\n    options: {json.dumps(merged)}"


def test_lm_eval_task_with_a_good_name_passes(site, capsys):
    config = _write_config(site, site / "run2", options={"repo": str(site / "repo" / "step2")}, tasks=_lm_eval_tasks(site))
    assert main(["validate", str(config)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"tasks": ["mytaks"]}, ["'mytaks'", "did you mean 'mytask'"]),
        ({"tasks": ["mytask", "no_such_task_at_all"]}, ["'no_such_task_at_all'"]),
        ({"include_path": ["/no/such/folder"]}, ["include_path", "/no/such/folder"]),
        ({"max_length": 4096}, ["max_length", "4096", "256"]),
        ({"tasks": ["/no/such/task.yaml"]}, ["'/no/such/task.yaml'"]),
    ],
    ids=["misspelt_task", "unknown_task", "missing_include_path", "max_length_over_context", "missing_yaml_file"],
)
def test_an_lm_eval_task_that_cannot_run_is_one_line(site, capsys, options, expected):
    config = _write_config(site, site / "run", options={"repo": str(site / "repo" / "step2")}, tasks=_lm_eval_tasks(site, **options))
    _assert_caught(site, capsys, config, expected)


def _offline(site: Path, lines: int = 400, **changes) -> str:
    corpus = write_corpus(site / "prose.cor", lines=lines)  # small: the suite's items build in milliseconds
    options = {"cache_dir": str(site / "suite"), "corpus": [str(corpus)], "cloze_items": 6, "minimal_pairs_items": 8,
               "instruction_items": 6, "perplexity_items": 4, **changes}
    return f"  - task: offline\n    options: {json.dumps(options)}"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda site: _offline(site, corpus=[str(site / "absent.txt")]), ["{site}/absent.txt", "no such file"]),
        (lambda site: _offline(site, lines=3), ["offline suite", "cloze items", "larger corpus"]),
        (lambda site: _offline(site, instruction_items=100_000),
         ["tasks[0] (offline)", "instruction items per rung", "100000 asked", "instruction_items option (at most "]),
    ],
    ids=["missing_corpus_file", "corpus_too_small", "ladder_too_large"],
)
def test_an_offline_suite_that_cannot_be_made_is_one_line(site, capsys, make, expected):
    config = _write_config(site, site / "run", options={"repo": str(site / "repo" / "step2")}, tasks=make(site))
    _assert_caught(site, capsys, config, [e.format(site=site) for e in expected])
    assert not (site / "suite").exists()  # the check built its items in memory


def test_a_missing_tinylm_corpus_file_is_one_line(site, capsys):
    options = {"size": "tiny", "progress": False, "cache": str(site / "tl"), "corpus": [str(site / "absent.txt")]}
    config = _write_config(site, site / "run", family="tinylm", options=options)
    _assert_caught(site, capsys, config, [f"{site}/absent.txt", "no such file"])


def test_offline_suite_on_a_32_token_hf_model_is_one_line(site, capsys):
    _save_tiny(site / "short", n_positions=32)
    config = _write_config(site, site / "run", options={"repo": str(site / "short")}, tasks=_offline(site))
    _assert_caught(site, capsys, config, ["offline", "minimal_pairs", "tokens", "32"])
    assert not (site / "suite").exists()  # the check built its items in memory


def test_offline_suite_on_the_tiny_tinylm_is_one_line(site, capsys):
    tasks = _offline(site)
    options = {"size": "tiny", "progress": False, "cache": str(site / "tl"), "corpus": [str(site / "prose.cor")]}
    config = _write_config(site, site / "run", family="tinylm", options=options, tasks=tasks)
    _assert_caught(site, capsys, config, ["offline", "minimal_pairs", "32"])
    assert not list((site / "tl").rglob("training.json"))  # nothing was trained


def test_offline_suite_on_a_long_enough_model_passes(site, capsys):
    config = _write_config(site, site / "run2", options={"repo": str(site / "repo" / "step2")}, tasks=_offline(site))
    assert main(["validate", str(config)]) == 0, capsys.readouterr().err
