"""The offline suite on disk: JSONL items and the lm-eval YAML tasks over them, generated once per key.

Everything lives in ``<cache>/tasks/offline/v<SUITE_VERSION>-<key>/``; the key is a digest of the
suite version, the item seed, the sizes and the corpus. The folder is written next to its final
place and renamed into it, so a half-written suite is never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from harness import WRITER_LOCK, new_directory, remove_abandoned, settings_digest, writer_lock
from harness_plugins.tasks.offline import quiz
from harness_plugins.tasks.offline.items import Sizes, build_items, instruction_unit

SUITE_VERSION = "2"  # bump whenever items or prompts change: old results stay comparable by version
SUBTASKS = ("cloze", "minimal_pairs", "instruction", "perplexity")
TASK_PREFIX = "harness_offline_"
INSTRUCTION_DESCRIPTION = quiz.DESCRIPTION + quiz.SHOT_SEPARATOR
MAX_GEN_TOKS = 3  # tokens the instruction sub-task generates for an answer
# the item fields each sub-task scores as a continuation lm-eval cannot shorten (cloze: the last word
# after its context; minimal pairs: each whole sentence, with no context)
SCORED_FIELDS = {"cloze": ("target",), "minimal_pairs": ("good", "bad")}
FIXED_NEEDS = {"instruction": MAX_GEN_TOKS + 1, "perplexity": 2}  # generation room; a rolling window

_COMMON = """dataset_path: json
dataset_kwargs:
  cache_dir: {datasets_cache}
  data_files:
{data_files}
test_split: test
metadata:
  version: {version}
"""

_TEMPLATES = {
    "cloze": """task: {task}
output_type: loglikelihood
doc_to_text: "{{{{context}}}}"
doc_to_target: "{{{{' ' + target}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
""",
    "minimal_pairs": """task: {task}
output_type: multiple_choice
doc_to_text: ""
doc_to_target: 0
doc_to_choice: "{{{{[good, bad]}}}}"
target_delimiter: ""
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
""",
    "instruction_rung": """task: {task}
output_type: generate_until
fewshot_split: train
num_fewshot: {num_fewshot}
description: {description}
doc_to_text: "{{{{prompt}}}}"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: {max_gen_toks}
  do_sample: false
process_results: !function harness_plugins.tasks.offline.scoring.process_instruction
metric_list:
  - metric: follows_format
    aggregation: mean
    higher_is_better: true
  - metric: correct
    aggregation: mean
    higher_is_better: true
""",
    "instruction": """group: {task}
task:
{rungs}
aggregate_metric_list:
  - metric: follows_format
    aggregation: mean
    weight_by_size: true
  - metric: correct
    aggregation: mean
    weight_by_size: true
metadata:
  version: {version}
""",
    "perplexity": """task: {task}
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: "{{{{text}}}}"
metric_list:
  - metric: bits_per_byte
""",
}


def task_name(unit: str) -> str:
    """The lm-eval task (or group) name of a sub-task or item set."""
    return TASK_PREFIX + unit


def units(subtask: str) -> tuple[str, ...]:
    """The item sets of a sub-task: one per rung for the instruction ladder, else the sub-task itself."""
    return tuple(instruction_unit(rung) for rung in quiz.RUNGS) if subtask == "instruction" else (subtask,)


def scopes() -> dict[str, str]:
    """lm-eval task or group name -> the scope its scores get: the sub-task, or ``instruction:<rung>``."""
    names = {task_name(sub): sub for sub in SUBTASKS}
    names.update({task_name(instruction_unit(rung)): f"instruction:{rung}" for rung in quiz.RUNGS})
    return names


def suite_key(seed: int, sizes: Sizes, num_fewshot: int, corpus_id: str) -> str:
    """A digest of everything that decides the suite's files."""
    spec = {"version": SUITE_VERSION, "seed": seed, "sizes": asdict(sizes), "shots": num_fewshot, "corpus": corpus_id}
    return settings_digest(spec, 12)


def suite_path(root: Path, *, seed: int, sizes: Sizes, num_fewshot: int, corpus_id: str) -> Path:
    """Where the suite for these settings lives (whether or not it has been generated)."""
    return root / f"v{SUITE_VERSION}-{suite_key(seed, sizes, num_fewshot, corpus_id)}"


def ensure_suite(
    root: Path, *, seed: int, sizes: Sizes, num_fewshot: int, corpus_id: str, heldout: Callable[[], Sequence[str]]
) -> Path:
    """The suite folder for these settings, generated (from ``heldout()``) if it is not there yet.

    Folders that a killed generation left behind (``.building-*``, no live writer holding their
    lock) are removed on the way.
    """
    final = suite_path(root, seed=seed, sizes=sizes, num_fewshot=num_fewshot, corpus_id=corpus_id)
    if (final / "manifest.json").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(root)
    tmp = new_directory(root, BUILDING)
    with writer_lock(tmp):
        try:
            write_suite(tmp, build_items(heldout(), seed, sizes), num_fewshot=num_fewshot, final=final)
            (tmp / WRITER_LOCK).unlink()
            try:
                os.replace(tmp, final)
            except OSError:  # another process got there first
                if not (final / "manifest.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


BUILDING = ".building-"


def remove_stale_builds(root: Path) -> int:
    """Remove ``.building-*`` folders whose writer is gone; return how many (see ``harness.remove_abandoned``)."""
    return remove_abandoned(root.glob(f"{BUILDING}*"))


def read_items(folder: Path) -> dict[str, dict[str, list[dict]]]:
    """sub-task -> split -> items, as a generated suite folder holds them."""
    items: dict[str, dict[str, list[dict]]] = {unit: {} for sub in SUBTASKS for unit in units(sub)}
    for path in sorted(folder.glob("*.jsonl")):
        unit, split = path.name.split(".")[:2]
        if unit in items:
            items[unit][split] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return items


def token_needs(items: dict[str, dict[str, list[dict]]], subtasks: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Per sub-task: the most tokens one of its items may need and which item (an upper bound).

    Without the model's tokenizer a token is counted per UTF-8 byte of the scored text, plus one
    (byte-level tokenizers never need more; a sentencepiece word marker may add one).
    """
    needs: dict[str, tuple[int, str]] = {}
    for subtask in subtasks:
        if subtask in FIXED_NEEDS:
            needs[subtask] = (FIXED_NEEDS[subtask], "")
            continue
        best = (0, "")
        for split, rows in items.get(subtask, {}).items():
            for row in rows:
                for field in SCORED_FIELDS[subtask]:
                    need = len(str(row.get(field, "")).encode("utf-8")) + 1
                    if need > best[0]:
                        best = (need, f"{split} item {row.get('id')} {field!r}")
        needs[subtask] = best
    return needs


def write_suite(folder: Path, items: dict[str, dict[str, list[dict]]], *, num_fewshot: int, final: Path) -> None:
    """JSONL per item set and split, one YAML per item set, and the instruction ladder's group YAML
    (data paths point into ``final``)."""
    digests = {}
    for unit in [u for sub in SUBTASKS for u in units(sub)]:
        files = []
        for split, rows in items[unit].items():
            name = f"{unit}.{split}.jsonl"
            text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
            (folder / name).write_text(text, encoding="utf-8")
            digests[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
            files.append(f"    {split}: {json.dumps(str(final / name))}")
        body = _TEMPLATES["instruction_rung" if unit not in SUBTASKS else unit].format(
            task=task_name(unit), num_fewshot=num_fewshot, description=json.dumps(INSTRUCTION_DESCRIPTION),
            max_gen_toks=MAX_GEN_TOKS,
        )
        common = _COMMON.format(data_files="\n".join(files), version=SUITE_VERSION,
                                datasets_cache=json.dumps(str(final / "datasets-cache")))
        (folder / f"{unit}.yaml").write_text(body + common, encoding="utf-8")
    rungs = "\n".join(f"  - {task_name(unit)}" for unit in units("instruction"))
    group = _TEMPLATES["instruction"].format(task=task_name("instruction"), rungs=rungs, version=SUITE_VERSION)
    (folder / "instruction.yaml").write_text(group, encoding="utf-8")
    counts = {sub: {split: len(rows) for split, rows in splits.items()} for sub, splits in items.items()}
    manifest = {"suite_version": SUITE_VERSION, "counts": counts, "sha256": digests}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
