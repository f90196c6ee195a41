"""The ``offline`` task: a small lm-eval suite over items the project generates itself, no hub needed.

Sub-tasks (each an lm-eval YAML task over generated JSONL, run through real lm-eval):

- ``cloze``: predict the last word of a held-out passage (LAMBADA-style, greedy match): ``acc``
  (chance unknown: guessing has no defined value over a whole vocabulary);
- ``minimal_pairs``: grammatical vs. ungrammatical sentence from templates: ``acc`` (chance 1/2);
- ``instruction``: few-shot fill-in-the-blank with four lettered options, answered by generation:
  ``follows_format`` (the answer is a bare option letter) apart from ``correct`` (chance 1/4), on a
  ladder of rungs (``quiz.py``): ``stated`` (the prompt states the answer letter), ``copy`` (the
  prompt states the answer word) and ``complete`` (it states nothing). Scores per rung under scope
  ``instruction:<rung>`` and over all rungs under ``instruction``; ``instruction_items`` per rung, of
  any size the held-out prose allows (sentence ends first, then inner words blanked);
- ``perplexity``: held-out paragraphs: ``bits_per_byte``.

Items come from the tinylm held-out corpus (documents never trained on) and from templates, are
fixed by ``item_seed`` and versioned by ``SUITE_VERSION``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Literal

from pydantic import Field

from harness import ConfigError, LoadedModel, PluginOptions, Score, Task, cache_root, hookimpl
from harness_plugins.tasks import lm_eval_bridge
from harness_plugins.tasks.offline.items import Sizes, build_items
from harness_plugins.tasks.offline.quiz import CHANCE
from harness_plugins.tasks.offline.suite import (
    SUBTASKS,
    SUITE_VERSION,
    ensure_suite,
    read_items,
    scopes,
    suite_path,
    task_name,
    token_needs,
)

Subtask = Literal["cloze", "minimal_pairs", "instruction", "perplexity"]


class OfflineSuiteOptions(PluginOptions):
    """Options of ``OfflineSuite``."""

    # which subtasks run: cloze, minimal_pairs, instruction (the rungs), perplexity
    subtasks: list[Subtask] = Field(default_factory=lambda: list(SUBTASKS))
    item_seed: int = 0  # fixes the items; independent of the sweep seed
    cloze_items: int = Field(default=40, ge=1)  # passages whose last word is predicted (LAMBADA-style)
    minimal_pairs_items: int = Field(default=48, ge=1)  # grammatical/ungrammatical sentence pairs
    instruction_items: int = Field(default=40, ge=1, description=(
        "test questions per rung of the instruction ladder; a checkpoint costs 3 x this many few-shot generations "
        "(so items x 3 x checkpoints in a sweep); 400 lets the phase analysis show accuracy flat within 0.1; "
        "the default corpus yields about 2000 (beyond its sentence ends, about 70, inner words are blanked)"))
    perplexity_items: int = Field(default=16, ge=1)  # held-out paragraphs scored in bits per byte
    num_fewshot: int = Field(default=1, ge=0, le=8)  # demonstrations per instruction prompt; 1 fits 128 tokens
    batch_size: int = Field(default=32, ge=1)  # prompts per forward pass
    corpus: list[str] | None = None  # corpus files; default the tinylm corpus (must match the model's)
    corpus_seed: int = 0  # the tinylm corpus split seed (must match the model's)
    cache_dir: str | None = None  # default <cache root>/tasks/offline (the config's cache:, else $HARNESS_CACHE)


class OfflineSuite(Task[OfflineSuiteOptions]):
    """Cloze, minimal pairs, instruction following (format apart from correctness) and bits per byte."""

    name = "offline"
    version = f"1.1+items{SUITE_VERSION}"

    def suite_dir(self) -> Path:
        """The folder with the suite's YAML and JSONL files (generated on first use)."""
        opts = self.options
        return ensure_suite(self._root(), seed=opts.item_seed, sizes=self._sizes(), num_fewshot=opts.num_fewshot,
                            corpus_id=self._corpus_id(), heldout=self._heldout)

    def check(self, context_length: int | None) -> list[str]:
        """The items can be made from the corpus, and every chosen sub-task's longest item fits a model of
        ``context_length`` tokens (counted per byte).

        Reads the generated suite, or builds its items in memory (writing nothing) when there is none yet.
        """
        opts = self.options
        folder = suite_path(self._root(), seed=opts.item_seed, sizes=self._sizes(), num_fewshot=opts.num_fewshot,
                            corpus_id=self._corpus_id())
        if (folder / "manifest.json").is_file():
            items = read_items(folder)
        else:
            items = build_items(self._heldout(), opts.item_seed, self._sizes())  # a missing or small corpus fails here
        if context_length is None:
            return []
        for subtask, (need, item) in token_needs(items, opts.subtasks).items():
            if need > context_length:
                which = f"its longest item ({item}) needs up to {need} tokens" if item else f"it needs {need} tokens"
                raise ConfigError(
                    f"offline task options: subtasks: {subtask} cannot run: {which} but the shortest model context "
                    f"is {context_length} tokens; "
                    f"leave {subtask!r} out of 'subtasks' or sweep a model with a longer context"
                )
        return []

    def evaluate(self, model: LoadedModel, *, seed: int, workdir: Path) -> list[Score]:
        folder = self.suite_dir()
        manager = lm_eval_bridge.task_manager((str(folder),), include_defaults=False)
        names = [task_name(sub) for sub in self.options.subtasks]
        results = lm_eval_bridge.evaluate(
            model, names, manager=manager, seed=seed, batch_size=self.options.batch_size,
            # bootstrap only enables stderrs: all closed-form here
            bootstrap_iters=100, where="offline", labels=scopes(),
        )
        scores = lm_eval_bridge.scores_from_results(results, scopes=scopes())
        return [dataclasses.replace(s, chance=chance_level(s.scope, s.metric)) for s in scores]

    def _sizes(self) -> Sizes:
        opts = self.options
        return Sizes(opts.cloze_items, opts.minimal_pairs_items, opts.instruction_items,
                     max(opts.num_fewshot, 1) + 4, opts.perplexity_items)

    def _root(self) -> Path:
        opts = self.options
        return Path(opts.cache_dir).expanduser() if opts.cache_dir else cache_root() / "tasks" / "offline"

    def _corpus_id(self) -> str:
        from harness_plugins.models.tinylm import corpus

        sources = []
        for name in sorted(self.options.corpus or []):
            path = Path(name).expanduser().resolve()
            stat = path.stat() if path.is_file() else None  # a missing file fails later, in load_corpus
            sources.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}" if stat else str(path))
        spec = f"{corpus.CORPUS_VERSION}|{self.options.corpus_seed}|{'|'.join(sources) or 'default'}"
        return hashlib.sha256(spec.encode()).hexdigest()[:12]

    def _heldout(self) -> list[str]:
        from harness_plugins.models.tinylm.corpus import load_corpus

        sources = [Path(p).expanduser() for p in self.options.corpus] if self.options.corpus else None
        return load_corpus(sources, seed=self.options.corpus_seed).heldout


def chance_level(scope: str, metric: str) -> float | None:
    """What guessing scores on a sub-task's metric: 1/2 for a minimal pair, 1/4 for an instruction
    answer (any rung); None for the cloze word, the answer format and bits per byte."""
    if (scope, metric) == ("minimal_pairs", "acc"):
        return 0.5
    if scope.split(":")[0] == "instruction" and metric == "correct":
        return CHANCE
    return None


@hookimpl
def register_tasks(register):
    register(OfflineSuite)
