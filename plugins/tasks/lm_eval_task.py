"""The ``lm_eval`` task: any lm-evaluation-harness task, group or YAML file, on the checkpoint in memory.

Every metric lm-eval reports becomes one Score (scope = lm-eval task or group name, metric = its
metric key without the ``,none`` filter suffix, stderr from the matching ``_stderr`` key).
Tasks whose dataset lives on the Hugging Face Hub fail with one line when the hub is unreachable, at preflight
when offline mode is on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from harness import ConfigError, LoadedModel, PluginOptions, Score, Task, hookimpl
from harness_plugins.tasks import lm_eval_bridge


class LmEvalOptions(PluginOptions):
    """Options of ``LmEvalTask``."""

    tasks: list[str] = Field(min_length=1, description="lm-eval task/group/tag names or YAML file paths")
    include_path: list[str] = Field(default_factory=list, description="folders of extra YAML tasks")
    include_defaults: bool = True  # index lm-eval's built-in tasks too (slow to index: ~10 s once)
    num_fewshot: int | None = Field(default=None, ge=0)  # demonstrations per prompt; null: the task's own
    limit: float | None = Field(default=None, gt=0, description="items per task; < 1 = fraction")
    batch_size: int = Field(default=8, ge=1)  # prompts per forward pass
    bootstrap_iters: int = Field(default=1000, ge=0, description="bootstrap draws for stderrs; 0 = none")
    max_length: int | None = Field(default=None, ge=1, description="context length; default from the model config")
    gen_kwargs: dict[str, Any] | None = None  # overrides generation settings of generate_until tasks
    seed: int | None = None  # lm-eval's python/numpy/torch/few-shot seeds; None = the sweep seed

    @field_validator("tasks", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("include_path", mode="before")
    @classmethod
    def _paths(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class LmEvalTask(Task[LmEvalOptions]):
    """lm-evaluation-harness tasks by name (or YAML path), run through lm-eval's HFLM wrapper."""

    name = "lm_eval"
    version = "1.0"

    def check(self, context_length: int | None) -> list[str]:
        """The include paths exist, every task name is known to lm-eval, ``max_length`` fits the models and,
        with the hub offline, every task's dataset is on disk (local files or the datasets cache).

        Indexing lm-eval's built-in tasks takes seconds; the index is kept for the sweep's own use.
        """
        opts = self.options
        lm_eval_bridge.check_datasets(opts.tasks, self._manager(), "lm_eval task options: tasks")
        if opts.max_length is not None and context_length is not None and opts.max_length > context_length:
            raise ConfigError(
                f"lm_eval task options: max_length {opts.max_length} is more than the shortest model context "
                f"({context_length} tokens); lower it or leave it unset to use each model's own"
            )
        return []

    def _manager(self) -> Any:
        """lm-eval's task index over the include paths, with every configured task name checked."""
        opts = self.options
        paths = []
        for folder in opts.include_path:
            path = Path(folder).expanduser()
            if not path.exists():
                raise ConfigError(f"lm_eval task options: include_path {folder!r} does not exist")
            paths.append(str(path.resolve()))
        manager = lm_eval_bridge.task_manager(tuple(paths), opts.include_defaults)
        lm_eval_bridge.check_task_names(opts.tasks, manager, "lm_eval task options: tasks")
        return manager

    def evaluate(self, model: LoadedModel, *, seed: int, workdir: Path) -> list[Score]:
        opts = self.options
        manager = self._manager()
        limit = None if opts.limit is None else (int(opts.limit) if opts.limit >= 1 else opts.limit)
        results = lm_eval_bridge.evaluate(
            model,
            opts.tasks,
            manager=manager,
            seed=seed if opts.seed is None else opts.seed,
            batch_size=opts.batch_size,
            num_fewshot=opts.num_fewshot,
            limit=limit,
            bootstrap_iters=opts.bootstrap_iters,
            max_length=opts.max_length,
            gen_kwargs=opts.gen_kwargs,
            where="lm_eval",
        )
        return lm_eval_bridge.scores_from_results(results)


@hookimpl
def register_tasks(register):
    register(LmEvalTask)
