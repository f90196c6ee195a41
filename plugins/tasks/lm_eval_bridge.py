"""Run lm-evaluation-harness on a checkpoint already in memory and turn its results into Scores.

Shared by the ``lm_eval`` task plugin and the offline suite: one place builds lm-eval's HFLM
wrapper around the loaded model (no reload), keeps task indexes between calls, translates
lm-eval's failures into one-line harness errors and reads every metric with its stderr and, where
the task's choices define one, its chance level (``lm_eval_chance``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import traceback
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness import ConfigError, DataError, HarnessError, LoadedModel, Score, did_you_mean, one_line
from harness_plugins.tasks.lm_eval_chance import chance_levels

_SKIP_KEYS = {"alias", "name", "sample_len", "samples", " "}
CHANCE_KEY = "harness_chance"  # where ``evaluate`` adds the chance levels to lm-eval's results dict
_HUB_ID = re.compile(r"'([\w.-]+(?:/[\w.-]+)?)' (?:on|from|doesn't)")


def task_manager(include_paths: tuple[str, ...] = (), include_defaults: bool = True) -> Any:
    """An lm-eval ``TaskManager`` over the built-in tasks and/or ``include_paths``.

    Kept between calls (indexing lm-eval's own tasks takes seconds) until a YAML file under
    ``include_paths`` changes.
    """
    stamps = tuple(_yaml_stamp(Path(p)) for p in include_paths)
    return _cached_manager(tuple(include_paths), include_defaults, stamps)


def _yaml_stamp(path: Path) -> tuple[int, int]:
    if path.is_file():
        return 1, path.stat().st_mtime_ns
    files = [f for pattern in ("*.yaml", "*.yml") for f in path.rglob(pattern)]
    return len(files), max((f.stat().st_mtime_ns for f in files), default=0)


@lru_cache(maxsize=8)
def _cached_manager(include_paths: tuple[str, ...], include_defaults: bool, _stamps: tuple) -> Any:
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=list(include_paths) or None, include_defaults=include_defaults)


def check_task_names(names: Sequence[str], manager: Any, where: str) -> None:
    """Raise ``ConfigError`` for a name that is neither a registered task/group/tag nor a YAML file."""
    known = set(manager.all_tasks)
    for name in names:
        if name in known or (name.endswith((".yaml", ".yml")) and Path(name).is_file()):
            continue
        raise ConfigError(
            f"{where}: unknown lm-eval task {name!r}{did_you_mean(name, known)}; "
            "give a registered task, group or tag name, a YAML file path, or add its folder to include_path"
        )


def make_lm(loaded: LoadedModel, *, batch_size: int, max_length: int | None = None) -> Any:
    """lm-eval's HFLM wrapped around the in-memory model and tokenizer."""
    from lm_eval.models.huggingface import HFLM

    if loaded.model is None:
        raise DataError(f"lm_eval: checkpoint {loaded.identity} was released before evaluation")
    quiet = logging.getLogger("lm_eval.models.huggingface")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the "pretrained is not a str" warning is expected here
    try:
        return HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=batch_size, max_length=max_length)
    finally:
        quiet.setLevel(level)


def evaluate(
    loaded: LoadedModel,
    tasks: Sequence[str],
    *,
    manager: Any,
    seed: int,
    batch_size: int = 8,
    num_fewshot: int | None = None,
    limit: int | float | None = None,
    bootstrap_iters: int = 1000,
    max_length: int | None = None,
    gen_kwargs: dict[str, Any] | None = None,
    where: str = "lm_eval",
    verbose: bool = False,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``lm_eval.simple_evaluate`` on the loaded model; lm-eval's results dict, plus under ``CHANCE_KEY``
    the chance level of every task or group and metric key that has one (``lm_eval_chance``).

    A failure inside lm-eval becomes a one-line ``DataError`` that says which task failed and why
    (``labels`` renames lm-eval task names in it, e.g. to a suite's sub-task names); an item whose
    scored text is longer than the model's context is found before lm-eval asserts on it.
    """
    from lm_eval import evaluator, simple_evaluate

    _cache_templates()
    pad_before = getattr(loaded.tokenizer, "pad_token", None)  # HFLM sets one; extraction must not see it
    lm = make_lm(loaded, batch_size=batch_size, max_length=max_length)
    _guard(lm, where, labels or {})
    recorder = _Recording(manager)
    os.environ.setdefault("DISABLE_MULTIPROC", "1")  # bootstrap in-process: no worker pool per cell
    env_info, git_hash = evaluator.add_env_info, evaluator.get_git_commit_hash
    evaluator.add_env_info = _skip_env_info  # torch's collect_env runs subprocesses: ~0.7 s a call
    evaluator.get_git_commit_hash = _no_git_hash  # runs `git describe` in the working directory
    chatty = logging.getLogger("lm_eval")
    level = chatty.level
    if not verbose:
        chatty.setLevel(logging.ERROR)  # per-item truncation and default-aggregation notices
    try:
        with _silenced(not verbose):
            results = simple_evaluate(
                model=lm,
                tasks=list(tasks),
                num_fewshot=num_fewshot,
                limit=limit,
                gen_kwargs=dict(gen_kwargs) if gen_kwargs else None,
                bootstrap_iters=bootstrap_iters,
                task_manager=recorder,
                log_samples=False,
                random_seed=seed,
                numpy_random_seed=seed,
                torch_random_seed=seed,
                fewshot_random_seed=seed,
            )
    except HarnessError:
        raise
    except Exception as exc:  # datasets raises its own offline / missing-file errors
        if _looks_offline(exc):
            raise DataError(_offline_message(where, tasks, exc)) from exc
        named = _named(list(tasks), labels or {})
        raise DataError(f"{where}: lm-eval failed on {named}: {_why(exc, lm)}") from exc
    finally:
        evaluator.add_env_info, evaluator.get_git_commit_hash = env_info, git_hash
        chatty.setLevel(level)
        if getattr(loaded.tokenizer, "pad_token", None) != pad_before:
            loaded.tokenizer.pad_token = pad_before
    if results is None:  # only on non-zero ranks of a distributed run
        return {"results": {}}
    results[CHANCE_KEY] = chance_levels(recorder.loaded or {}, results)
    return results


class _Recording:
    """Stands in for a ``TaskManager``: remembers what ``load`` built, the task objects lm-eval evaluates
    (their documents and choices give the chance levels)."""

    def __init__(self, manager: Any) -> None:
        self._manager = manager
        self.loaded: Any = None

    def load(self, *args: Any, **kwargs: Any) -> Any:
        self.loaded = self._manager.load(*args, **kwargs)
        return self.loaded

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)


_REQUEST_METHODS = ("loglikelihood", "loglikelihood_rolling", "generate_until")


def _guard(lm: Any, where: str, labels: Mapping[str, str]) -> None:
    """Wrap the model's request methods: items too long to score are refused, and a failure names its tasks.

    lm-eval sends the requests of all tasks of one kind in one call, so the tasks a failure
    concerns are read from the requests themselves.
    """
    for method in _REQUEST_METHODS:
        original = getattr(lm, method)

        def call(
            requests: list[Any], *args: Any, _original: Any = original, _method: str = method, **kwargs: Any
        ) -> Any:
            if _method == "loglikelihood":
                _check_continuations(lm, requests, where, labels)
            try:
                return _original(requests, *args, **kwargs)
            except HarnessError:
                raise
            except Exception as exc:
                if _looks_offline(exc):
                    raise
                tasks = sorted({str(r.task_name) for r in requests if getattr(r, "task_name", None)})
                raise DataError(
                    f"{where}: {_named(tasks, labels)} failed in lm-eval's {_method}: {_why(exc, lm)}"
                ) from exc

        setattr(lm, method, call)


def _check_continuations(lm: Any, requests: Sequence[Any], where: str, labels: Mapping[str, str]) -> None:
    """Refuse a loglikelihood request whose continuation alone is longer than the model's context.

    lm-eval shortens a context from the left but cannot shorten the scored continuation (it
    asserts). Only continuations that could be that long are tokenized (a token takes a byte at least).
    """
    try:
        limit = int(lm.max_length)
    except Exception:  # noqa: BLE001 - no limit known: lm-eval itself will say
        return
    for request in requests:
        context, continuation = request.args[:2]
        if len(continuation.encode("utf-8")) + 2 <= limit:
            continue
        try:
            if context:
                scored = lm._encode_pair(context, continuation)[1]
            else:
                scored = lm.tok_encode(continuation, add_special_tokens=False)
                scored = scored[1:] if scored and scored[0] == lm.prefix_token_id else scored
        except Exception:  # noqa: BLE001 - tokenizer quirks: leave it to lm-eval
            continue
        if len(scored) > limit:
            task = _named([str(request.task_name)], labels)
            text = " ".join(continuation.split())
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise DataError(
                f"{where}: {task} item {request.doc_id} scores {len(scored)} tokens ({shown!r}) but the model takes "
                f"{limit}; lm-eval cannot shorten a scored text: "
                "leave the task out or use a model with a longer context"
            )


def _named(tasks: Sequence[str], labels: Mapping[str, str]) -> str:
    shown = [labels.get(t, t) for t in tasks]
    kind = "sub-task" if labels else "task"
    if not shown:
        return "the tasks"
    return f"{kind} {shown[0]}" if len(shown) == 1 else f"{kind}s {', '.join(shown)}"


def _why(exc: BaseException, lm: Any) -> str:
    """Why lm-eval failed, in one line: the message, or for a bare assertion the assertion and where it is."""
    frames = traceback.extract_tb(exc.__traceback__)
    place = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    message = " ".join(str(exc).split())
    if isinstance(exc, AssertionError):
        code = (frames[-1].line or "").strip() if frames else ""
        why = message or (f"assertion failed: {code}" if code else "assertion failed")
        if "max_length" in why or "max_length" in code:
            try:
                why += f" (the model takes {int(lm.max_length)} tokens)"
            except Exception:  # noqa: BLE001
                pass
        return why + place
    return (f"{type(exc).__name__}: {message}" if message else type(exc).__name__) + place


def _skip_env_info(results: dict[str, Any]) -> None:
    """Stands in for lm-eval's ``add_env_info``: the harness records its own provenance."""


def _no_git_hash() -> None:
    """Stands in for lm-eval's ``get_git_commit_hash``: the harness records its own provenance."""
    return None


@contextlib.contextmanager
def _silenced(active: bool) -> Iterator[None]:
    """Swallow lm-eval's and datasets' progress bars and prints (they would break the sweep's display)."""
    if not active:
        yield
        return
    import datasets

    bars_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        if bars_on:
            datasets.enable_progress_bars()


def _cache_templates() -> None:
    """Compile each Jinja prompt template once: lm-eval compiles it again for every document."""
    from lm_eval import utils

    if not getattr(utils.env.from_string, "_harness_cached", False):
        cached = lru_cache(maxsize=4096)(utils.env.from_string)
        cached._harness_cached = True  # type: ignore[attr-defined]
        utils.env.from_string = cached


def scores_from_results(results: Mapping[str, Any], scopes: Mapping[str, str] | None = None) -> list[Score]:
    """One Score per task (or group) and metric; ``scopes`` renames lm-eval task names.

    The chance level comes from ``results[CHANCE_KEY]`` (added by ``evaluate``); unknown without it.
    ``items`` is lm-eval's ``sample_len`` of the task (a group's: the sum over its tasks).
    """
    scores: list[Score] = []
    chances = results.get(CHANCE_KEY, {})
    for task, metrics in results.get("results", {}).items():
        scope = (scopes or {}).get(task, task)
        chance = chances.get(task, {})
        items = int(metrics["sample_len"]) if _is_number(metrics.get("sample_len")) else None
        for key, value in metrics.items():
            if key in _SKIP_KEYS or "_stderr" in key or not _is_number(value):
                continue
            metric, _, filt = key.partition(",")
            stderr_key = f"{metric}_stderr,{filt}" if filt else f"{metric}_stderr"
            stderr = metrics.get(stderr_key)
            name = metric if filt in ("", "none") else f"{metric},{filt}"
            scores.append(Score(metric=name, value=float(value), stderr=float(stderr) if _is_number(stderr) else None,
                                scope=scope, chance=chance.get(key), items=items))
    return scores


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(float(value))


def _looks_offline(exc: BaseException) -> bool:
    for err in (exc, exc.__cause__, exc.__context__):
        if err is None:
            continue
        kind = type(err).__name__
        text = str(err)
        if (
            kind in ("OfflineModeIsEnabled", "LocalEntryNotFoundError", "DatasetNotFoundError")
            or "Couldn't reach" in text
        ):
            return True
        if isinstance(err, ConnectionError | TimeoutError):
            return True
    return False


def hub_offline() -> bool:
    """True when offline mode is on (``HF_DATASETS_OFFLINE`` or ``HF_HUB_OFFLINE``)."""
    return any(os.environ.get(v, "").strip() not in ("", "0") for v in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))


def check_datasets(tasks: Sequence[str], manager: Any, where: str) -> None:
    """With the hub offline, build the tasks now (each reads its dataset from local files or the datasets
    cache): a dataset that is in neither is a one-line ``DataError`` at preflight, not a failed cell later."""
    if not hub_offline():
        return
    try:
        with _silenced(True):
            manager.load_task_or_group(list(tasks))
    except HarnessError:
        raise
    except Exception as exc:  # datasets raises its own offline / missing-file errors
        if _looks_offline(exc):
            raise DataError(_offline_message(where, tasks, exc)) from exc
        raise DataError(f"{where}: lm-eval could not load {', '.join(tasks)}: {one_line(exc)}") from exc


def _offline_message(where: str, tasks: Sequence[str], exc: BaseException) -> str:
    quoted = _HUB_ID.findall(" ".join(str(e) for e in (exc, exc.__cause__) if e is not None))
    dataset = f"dataset {quoted[0]!r}" if quoted else "its dataset"
    why = (
        "offline mode is on (HF_DATASETS_OFFLINE/HF_HUB_OFFLINE)"
        if hub_offline()
        else "the Hugging Face Hub cannot be reached"
    )
    return (
        f"{where}: task {', '.join(tasks)} needs {dataset} from the Hugging Face Hub but {why}; "
        "download it into the datasets cache beforehand, or use a local YAML task via include_path"
    )
