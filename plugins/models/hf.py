"""Any Hugging Face causal LM, by hub id or local directory, over a list of revisions.

The base class :class:`HubFamily` holds everything about loading (dtype, device, safetensors-only,
remote code, freeing memory, deleting downloaded weights); subclasses only say which checkpoints
exist (their published schedule) and how many layers the model has. ``hf`` is the generic family
whose checkpoints come from the config::

    models:
      - family: hf
        options:
          repo: EleutherAI/pythia-70m          # or a local directory
          revisions:                           # hub branches/tags, or sub-directories of repo
            - {step: 1000, tokens: 2097152000, revision: step1000}
            - step143000                       # a name: step (and tokens) parsed from it
          tokens_per_step: 2097152             # tokens for names that carry only a step

Before a sweep, ``check`` reads each selected local checkpoint's config.json, the headers of its
weight files and its tokenizer files (``checkpoint_files``), without loading weights; hub
checkpoints are checked as far as the local cache holds them (no network at preflight).
"""

from __future__ import annotations

import gc
import logging
import os
import re
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from harness import (
    Checkpoint,
    DataError,
    LoadedModel,
    ModelFamily,
    ModelSize,
    PluginError,
    PluginOptions,
    did_you_mean,
    hookimpl,
    one_line,
)
from harness_plugins.models.checkpoint_files import (
    CONFIG,
    SAFE_INDEX,
    MissingFile,
    check_checkpoint,
    check_weights,
    context_from_config,
    local_revisions,
    read_config,
    read_json,
    size_from_config,
)

log = logging.getLogger(__name__)


def _load_errors() -> tuple[type[BaseException], ...]:
    """What ``from_pretrained`` raises on a missing, damaged or incompatible checkpoint."""
    import pickle

    from safetensors import SafetensorError

    return (OSError, ValueError, EOFError, pickle.UnpicklingError, SafetensorError, RuntimeError)


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) forbids downloads."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


class LoaderOptions(PluginOptions):
    """How checkpoints are loaded; shared by every hub-backed family."""

    # the weights' precision once loaded (auto: as the checkpoint stores them)
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "float32"
    device: str | None = None  # overrides the sweep's device for this model ("cpu", "cuda", "cuda:1")
    trust_remote_code: bool = False  # run modelling code shipped with the checkpoint
    allow_pickle: bool = False  # accept .bin/.pt weights (pickle); safetensors only by default
    delete_after: bool = False  # delete a hub checkpoint's downloaded files once it is released
    hub_cache: str | None = None  # where hub downloads go (default: the Hugging Face cache)
    refresh: bool = False  # list the hub's branches online instead of the built-in schedule


class RevisionEntry(BaseModel):
    """One checkpoint named in the config."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    step: int = Field(ge=0)
    tokens: int | None = Field(None, ge=0)
    revision: str | None = None


_STEP = re.compile(r"step[-_]?(\d+)", re.IGNORECASE)
_TOKENS = re.compile(r"tokens(\d+(?:\.\d+)?)([KMBT])", re.IGNORECASE)
_SCALE = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def parse_revision_name(name: str, tokens_per_step: int | None = None) -> Checkpoint | None:
    """A checkpoint from a revision name such as ``step1000`` or ``stage1-step1000-tokens5B``."""
    step_match = _STEP.search(name)
    if not step_match:
        return None
    step = int(step_match.group(1))
    tokens_match = _TOKENS.search(name)
    if tokens_per_step is not None:
        tokens = step * tokens_per_step
    elif tokens_match:
        tokens = int(float(tokens_match.group(1)) * _SCALE[tokens_match.group(2).upper()])
    else:
        tokens = 0
    return Checkpoint(step=step, tokens=tokens, revision=name)


@contextmanager
def quiet_progress() -> Iterator[None]:
    """Hide transformers' per-file progress bars (loading weights) for the duration."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def free_memory() -> None:
    """Collect garbage and return cached accelerator memory."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


LoaderOptionsT = TypeVar("LoaderOptionsT", bound=LoaderOptions)


class HubFamily(ModelFamily[LoaderOptionsT]):
    """A family whose checkpoints are revisions of a hub repository or sub-directories of a path.

    Subclasses implement ``repo`` and ``schedule`` (and ``known_num_layers`` when the depth is
    known offline); loading, freeing and provenance are shared.
    """

    # ------------------------------------------------------------------ what subclasses provide

    @abstractmethod
    def repo(self) -> str:
        """The hub id ("org/name") or local directory the checkpoints are revisions of."""

    @abstractmethod
    def schedule(self) -> list[Checkpoint]:
        """Every published checkpoint, known offline."""

    def known_num_layers(self) -> int | None:
        """Hidden states returned (embeddings + blocks) when known without reading a config."""
        return None

    def parse_ref(self, name: str) -> Checkpoint | None:
        """A checkpoint from a hub branch name (used by ``refresh``)."""
        return parse_revision_name(name)

    def source(self, checkpoint: Checkpoint) -> tuple[str, str | None]:
        """Where a checkpoint's files are: (hub id or local path, revision)."""
        return self.repo(), checkpoint.revision

    # ------------------------------------------------------------------ ModelFamily

    def checkpoints(self) -> list[Checkpoint]:
        if self.options.refresh:
            return self._hub_refs()
        return sorted(self.schedule())

    def num_layers(self) -> int:
        known = self.known_num_layers()
        if known is not None:
            return known
        checkpoints = self.checkpoints()
        repo, revision = self.source(checkpoints[-1])
        config = self._config(repo, revision)
        layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
        if not isinstance(layers, int):
            raise DataError(f"{repo}: the model config has no 'num_hidden_layers'; set the 'num_layers' option")
        return layers + 1

    def load(self, checkpoint: Checkpoint, device: str = "cpu") -> LoadedModel:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        options = self.options
        device = options.device or device
        repo, revision = self.source(checkpoint)
        directory = self.local_directory(repo, revision)
        kwargs: dict[str, Any] = {"trust_remote_code": options.trust_remote_code}
        if directory is not None:
            path, where = str(directory), str(directory)
            check_checkpoint(directory, allow_pickle=options.allow_pickle, trust_remote_code=options.trust_remote_code)
        else:
            path, where = repo, f"{repo}@{revision}" if revision else repo
            kwargs["revision"] = revision
            if options.hub_cache:
                kwargs["cache_dir"] = options.hub_cache
        dtype = "auto" if options.dtype == "auto" else getattr(torch, options.dtype)
        try:
            with quiet_progress():
                model = AutoModelForCausalLM.from_pretrained(
                    path, dtype=dtype, use_safetensors=None if options.allow_pickle else True, **kwargs
                )
                tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        except _load_errors() as error:
            if directory is None:
                self._check_hub_cache(repo, revision)  # a damaged file in the local cache is named
            reason = one_line(error)
            if not options.allow_pickle and "safetensors" in str(error).lower() and "SafetensorError" not in reason:
                reason += " (only .safetensors weights are accepted; set 'allow_pickle: true' to load .bin files)"
            raise DataError(f"{where}: cannot load the checkpoint: {reason}") from error
        model.eval()
        model.to(device)
        commit = None if directory is not None else getattr(model.config, "_commit_hash", None)
        identity = str(Path(repo).expanduser().resolve()) if directory is not None else repo
        return LoadedModel(model, tokenizer, checkpoint, identity=identity, commit=commit, device=device)

    def fetch(self, checkpoint: Checkpoint) -> None:
        """Download a hub checkpoint's files (config, weights, tokenizer) into the hub cache; a local directory needs
        nothing."""
        repo, revision = self.source(checkpoint)
        if self.local_directory(repo, revision) is not None:
            return
        from huggingface_hub import snapshot_download

        with quiet_progress():
            snapshot_download(
                repo, revision=revision, cache_dir=self.options.hub_cache, allow_patterns=self._fetched_files()
            )

    def _fetched_files(self) -> list[str]:
        """The file patterns ``load`` reads: configs, safetensors weights, tokenizer files (and what the options
        allow)."""
        patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken"]
        if self.options.allow_pickle:
            patterns.append("*.bin")
        if self.options.trust_remote_code:
            patterns.append("*.py")
        return patterns

    def context_length(self) -> int | None:
        """The family's known value, else from the config.json of its last checkpoint (local, or in the hub cache)."""
        known = self.known_context_length()
        if known is not None:
            return known
        config = self._config_at_hand()
        return context_from_config(config) if config is not None else None

    def size(self) -> ModelSize | None:
        """Parameters and hidden width from the config.json of its last checkpoint at hand (local, or in the hub
        cache)."""
        config = self._config_at_hand()
        found = size_from_config(config) if config is not None else None
        return ModelSize(*found) if found is not None else None

    def _config_at_hand(self) -> dict[str, Any] | None:
        """The config.json of the last checkpoint whose config is on this machine; None when none is (or it is bad:
        check() says why)."""
        for checkpoint in reversed(self.checkpoints()):  # the last one whose config is at hand
            repo, revision = self.source(checkpoint)
            try:
                directory = self.local_directory(repo, revision)
                if directory is None:
                    cached = self._cached_file(repo, revision, CONFIG)
                    if cached is None:
                        continue
                    directory = cached.parent
                config = read_json(directory / CONFIG, "model config")
            except DataError:
                return None  # check() names what is wrong
            return config if isinstance(config, dict) else None
        return None

    def check(self, checkpoints: Sequence[Checkpoint]) -> list[str]:
        """Local checkpoints: revision directories, config, weights and tokenizer; hub ones: what the cache holds."""
        options = self.options
        hub: dict[str, list[str | None]] = {}
        for checkpoint in checkpoints:
            repo, revision = self.source(checkpoint)
            directory = self.local_directory(repo, revision)
            if directory is not None:
                check_checkpoint(
                    directory, allow_pickle=options.allow_pickle, trust_remote_code=options.trust_remote_code
                )
            else:
                hub.setdefault(repo, []).append(revision)
        notes = []
        offline = hub_offline()
        for repo, revisions in hub.items():
            cached = 0
            for revision in revisions:
                if self._check_hub_cache(repo, revision):
                    cached += 1
                elif offline:
                    where = f"{repo}@{revision}" if revision else repo
                    raise DataError(
                        f"{where}: not in the local Hugging Face cache ({self._cache_location()}) and HF_HUB_OFFLINE "
                        "is set; download it first or unset HF_HUB_OFFLINE"
                    )
            if cached < len(revisions):
                notes.append(
                    f"{repo}: {len(revisions) - cached} of {len(revisions)} checkpoints are not in the local cache; "
                    "that their revisions exist on the hub and download was not checked (no network at preflight)"
                )
        return notes

    def known_context_length(self) -> int | None:
        """The context length when known without reading a config (subclasses with a fixed model)."""
        return None

    def release(self, loaded: LoadedModel) -> None:
        """Drop the model, free memory, and delete its downloaded files when ``delete_after``."""
        loaded.model = None
        free_memory()
        if self.options.delete_after and loaded.commit:
            delete_cached_revision(loaded.identity, loaded.commit, self.options.hub_cache)

    # ------------------------------------------------------------------ helpers

    def local_directory(self, repo: str, revision: str | None) -> Path | None:
        """The checkpoint's directory when ``repo`` is a local path (None for a hub id).

        A revision must name a sub-directory: a missing one is a ``DataError`` listing those there.
        """
        base = Path(repo).expanduser()
        looks_local = base.is_absolute() or repo.startswith((".", "~")) or base.exists()
        if not looks_local:
            return None
        if not base.is_dir():
            raise DataError(f"{base}: no such checkpoint directory")
        if not revision:
            return base
        directory = base / revision
        if directory.is_dir():
            return directory
        available = local_revisions(base)
        shown = ", ".join(available[:12]) + (f" ... ({len(available)} in all)" if len(available) > 12 else "")
        raise DataError(
            f"{base}: no revision {revision!r} (no directory {directory}){did_you_mean(revision, available)}; "
            f"available: {shown or 'none'}"
        )

    def _config(self, repo: str, revision: str | None) -> Any:
        from transformers import AutoConfig

        directory = self.local_directory(repo, revision)
        kwargs: dict[str, Any] = {"trust_remote_code": self.options.trust_remote_code}
        if directory is not None:
            read_config(directory, trust_remote_code=self.options.trust_remote_code)  # names the file when bad
            source, where = str(directory), str(directory / CONFIG)
        else:
            source, where = repo, repo
            kwargs["revision"] = revision
        try:
            return AutoConfig.from_pretrained(source, **kwargs)
        except (OSError, ValueError) as error:
            raise DataError(f"{where}: cannot read the model config: {one_line(error)}") from None

    def _cache_location(self) -> str:
        if self.options.hub_cache:
            return self.options.hub_cache
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)

    def _cached_file(self, repo: str, revision: str | None, filename: str) -> Path | None:
        """A file of a hub revision in the local cache, or None when it is not there."""
        from huggingface_hub import try_to_load_from_cache

        try:
            found = try_to_load_from_cache(repo, filename, cache_dir=self.options.hub_cache, revision=revision)
        except Exception:  # noqa: BLE001 - a malformed repo id or cache layout: treat as not cached
            return None
        return Path(found) if isinstance(found, str) else None

    def _check_hub_cache(self, repo: str, revision: str | None) -> bool:
        """Check what the local cache holds of a hub revision; True when its config and weights are there."""
        config = self._cached_file(repo, revision, CONFIG)
        if config is None:
            return False
        snapshot = config.parent
        read_config(snapshot, trust_remote_code=self.options.trust_remote_code)
        if not any((snapshot / n).exists() for n in ("model.safetensors", SAFE_INDEX)) and not (
            self.options.allow_pickle and any(snapshot.glob("*.bin"))
        ):
            return False  # weights not downloaded yet
        try:
            check_weights(snapshot, allow_pickle=self.options.allow_pickle)
        except MissingFile:
            return False  # a shard not downloaded yet
        return True

    def _hub_refs(self) -> list[Checkpoint]:
        """The hub's branches parsed into checkpoints (network access)."""
        from huggingface_hub import list_repo_refs

        repo = self.repo()
        try:
            refs = list_repo_refs(repo)
        except Exception as error:  # noqa: BLE001 - any hub failure is reported the same way
            raise PluginError(f"{repo}: cannot list the hub's branches for 'refresh': {error}") from None
        found = [c for c in (self.parse_ref(b.name) for b in refs.branches) if c is not None]
        if not found:
            raise PluginError(f"{repo}: no branch names look like checkpoints")
        return sorted(set(found))


def delete_cached_revision(repo: str, commit: str, cache_dir: str | None = None) -> None:
    """Remove one downloaded revision of a hub repo from the local cache (best effort)."""
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir(cache_dir)
        hashes = [
            rev.commit_hash for r in info.repos if r.repo_id == repo for rev in r.revisions if rev.commit_hash == commit
        ]
        if hashes:
            info.delete_revisions(*hashes).execute()
    except Exception as error:  # noqa: BLE001 - deleting a cache must never fail a sweep
        log.warning("could not delete cached %s@%s: %s", repo, commit, error)


class HFOptions(LoaderOptions):
    """Options of ``HFFamily``."""

    repo: str  # hub id ("org/name") or local directory
    revisions: list[RevisionEntry | str] = Field(default_factory=list)  # empty: the default revision only
    tokens_per_step: int | None = Field(None, ge=1)  # training tokens per optimizer step (for the token axis)
    num_layers: int | None = Field(None, ge=1)  # embeddings + blocks; read from the config if unset


class HFFamily(HubFamily[HFOptions]):
    """A causal LM from the hub or a local directory, checkpoints listed in the config."""

    name = "hf"
    version = "1.0"

    def repo(self) -> str:
        return self.options.repo

    def schedule(self) -> list[Checkpoint]:
        options = self.options
        if not options.revisions:
            return [Checkpoint(step=0, tokens=0, revision=None)]
        out: list[Checkpoint] = []
        for index, entry in enumerate(options.revisions):
            if isinstance(entry, str):
                parsed = parse_revision_name(entry, options.tokens_per_step)
                out.append(parsed or Checkpoint(step=index, tokens=0, revision=entry))
            else:
                tokens = entry.tokens if entry.tokens is not None else entry.step * (options.tokens_per_step or 0)
                out.append(Checkpoint(step=entry.step, tokens=tokens, revision=entry.revision))
        steps = [c.step for c in out]
        if len(set(steps)) != len(steps):
            raise PluginError(f"hf {options.repo}: two revisions share a step; give each a distinct 'step'")
        return out

    def known_num_layers(self) -> int | None:
        return self.options.num_layers

    def parse_ref(self, name: str) -> Checkpoint | None:
        return parse_revision_name(name, self.options.tokens_per_step)


@hookimpl
def register_model_families(register):  # type: ignore[no-untyped-def]
    register(HFFamily)
