"""What a checkpoint directory must hold, checked without loading its weights.

A directory as ``save_pretrained`` writes it: ``config.json``, the weights (``model.safetensors``,
or shards listed in ``model.safetensors.index.json``; pickled ``pytorch_model.bin`` only where
allowed) and the tokenizer's files. Each check reads at most a file's header or its zip directory,
so a repository of hundreds of checkpoints is checked in well under a second per checkpoint, and
each failure is a one-line ``DataError`` naming the file and what is wrong with it.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path
from typing import Any

from harness import DataError, one_line

CONFIG = "config.json"
SAFE_INDEX = "model.safetensors.index.json"
PICKLE_INDEX = "pytorch_model.bin.index.json"
SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth")
NOT_WEIGHTS = {"training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth", "scaler.pt"}
# any one of these (or both files of a pair) is a tokenizer transformers can load from the directory
TOKENIZER_FILES = (("tokenizer.json",), ("tokenizer.model",), ("spiece.model",), ("sentencepiece.bpe.model",),
                   ("vocab.json", "merges.txt"), ("vocab.txt",), ("tiktoken.model",))
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length")
LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors format's own limit on a header


class MissingFile(DataError):
    """A file the checkpoint needs is not there (in a hub cache: perhaps not downloaded yet)."""


def read_json(path: Path, what: str = "file") -> Any:
    """A JSON file's content; ``DataError`` naming the file when it is missing or does not parse."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingFile(f"{path}: {what} is missing") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read the {what}: {error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error.msg} at line {error.lineno} column {error.colno})") from None


def read_config(directory: Path, *, trust_remote_code: bool = False) -> dict[str, Any]:
    """``config.json`` of a checkpoint directory, checked to name a model type transformers can build."""
    path = directory / CONFIG
    config = read_json(path, "model config")
    if not isinstance(config, dict):
        raise DataError(f"{path}: not a JSON object (a model config maps keys to values)")
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise DataError(f"{path}: no 'model_type' key; transformers cannot tell which model this is")
    if not (trust_remote_code and "auto_map" in config) and model_type not in _known_model_types():
        import transformers

        raise DataError(
            f"{path}: model_type {model_type!r} is not known to transformers {transformers.__version__}"
            + (" (it ships modelling code: set 'trust_remote_code: true' to run it)" if "auto_map" in config else "")
        )
    return config


def _known_model_types() -> set[str]:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return set(CONFIG_MAPPING_NAMES)


def _first_int(section: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = section.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _config_int(config: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    """The first positive integer under one of ``keys``, in a config's nested text config first, then in the config."""
    for section in (config.get("text_config"), config):
        if isinstance(section, dict):
            value = _first_int(section, keys)
            if value is not None:
                return value
    return None


def context_from_config(config: dict[str, Any]) -> int | None:
    """The most tokens one forward pass takes, from a config's usual keys (a nested text config first)."""
    return _config_int(config, CONTEXT_KEYS)


def size_from_config(config: dict[str, Any]) -> tuple[int, int] | None:
    """(parameters, hidden width) of a decoder from a config's usual keys: embeddings plus per block
    4·d² (attention) and 2·d·ff (MLP; 3·d·ff gated); None when the keys are not there."""
    for section in (config.get("text_config"), config):
        if not isinstance(section, dict):
            continue
        hidden = _first_int(section, ("hidden_size", "n_embd", "d_model"))
        layers = _first_int(section, LAYER_KEYS)
        vocab = _first_int(section, ("vocab_size",))
        if hidden is None or layers is None or vocab is None:
            continue
        ff = _first_int(section, ("intermediate_size", "n_inner", "ffn_dim")) or 4 * hidden
        gated = str(section.get("hidden_act", section.get("activation_function", ""))).lower() in ("silu", "swiglu")
        return vocab * hidden + layers * (4 * hidden * hidden + (3 if gated else 2) * hidden * ff), hidden
    return None


def check_checkpoint(directory: Path, *, allow_pickle: bool = False, trust_remote_code: bool = False) -> dict[str, Any]:
    """Check a checkpoint directory (config, weights, tokenizer) without loading it; return its config."""
    config = read_config(directory, trust_remote_code=trust_remote_code)
    check_weights(directory, allow_pickle=allow_pickle)
    check_tokenizer(directory)
    return config


def weight_files(directory: Path, *, allow_pickle: bool) -> list[Path]:
    """The weight files a loader would read (shards from the index when there is one)."""
    index = directory / SAFE_INDEX
    if index.is_file():
        return _shards(index)
    safe = sorted(p for p in directory.iterdir() if p.suffix in SAFE_SUFFIXES and p.is_file())
    if safe:
        return safe
    pickled = sorted(p for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES and p.name not in NOT_WEIGHTS
                     and p.is_file())
    if (directory / PICKLE_INDEX).is_file():
        pickled = _shards(directory / PICKLE_INDEX)
    if pickled and not allow_pickle:
        raise DataError(f"{directory}: only pickle weights ({pickled[0].name}); set 'allow_pickle: true' to load them")
    if not pickled:
        raise DataError(f"{directory}: checkpoint directory has no weights (expected model.safetensors)")
    return pickled


def check_weights(directory: Path, *, allow_pickle: bool = False) -> list[Path]:
    """Every weight file present and readable as far as its header says; returns them."""
    files = weight_files(directory, allow_pickle=allow_pickle)
    for path in files:
        if path.suffix in SAFE_SUFFIXES:
            check_safetensors(path)
        else:
            check_pickle(path)
    return files


def _shards(index: Path) -> list[Path]:
    content = read_json(index, "weights index")
    weight_map = content.get("weight_map") if isinstance(content, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise DataError(f"{index}: no 'weight_map' naming the weight files")
    shards = [index.parent / name for name in sorted(set(map(str, weight_map.values())))]
    for shard in shards:
        if not shard.is_file():
            raise MissingFile(f"{shard}: weight file listed in {index.name} is missing")
    return shards


def check_safetensors(path: Path) -> None:
    """A safetensors file whose header parses and whose length is what the header says."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(8)
            if size == 0:
                raise DataError(f"{path}: weight file is empty (0 bytes)")
            if len(head) < 8:
                raise DataError(f"{path}: not a safetensors file ({size} bytes, shorter than a header)")
            (header_size,) = struct.unpack("<Q", head)
            if header_size > min(_MAX_HEADER, size - 8):
                if header_size <= _MAX_HEADER and size > 8:
                    raise DataError(f"{path}: truncated: {size} bytes, shorter than its {header_size}-byte header")
                raise DataError(f"{path}: not a safetensors file (its first 8 bytes give no valid header length)")
            raw = handle.read(header_size)
    except OSError as error:
        raise DataError(f"{path}: cannot read the weight file: {error}") from None
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{path}: not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise DataError(f"{path}: not a safetensors file (its header is not a JSON object)")
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise DataError(f"{path}: corrupt safetensors header (tensor {name!r} has no data_offsets)")
        end = max(end, offsets[1])
    expected = 8 + header_size + end
    if size < expected:
        raise DataError(f"{path}: truncated: {size} bytes, its header describes {expected}")
    if size > expected:
        raise DataError(f"{path}: corrupt: {size} bytes, its header describes {expected}")
    _safe_open(path)


def _safe_open(path: Path) -> None:
    """Let safetensors itself validate the header (dtypes, shapes against offsets)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy"):
            pass
    except SafetensorError as error:
        raise DataError(f"{path}: corrupt safetensors file: {one_line(error)}") from None


def check_pickle(path: Path) -> None:
    """A torch pickle file: non-empty and, in torch's zip format, with a readable zip directory."""
    try:
        size = path.stat().st_size
        if size == 0:
            raise DataError(f"{path}: weight file is empty (0 bytes)")
        with open(path, "rb") as handle:
            magic = handle.read(4)
        if magic.startswith(b"PK"):
            with zipfile.ZipFile(path) as archive:
                archive.infolist()
    except zipfile.BadZipFile as error:
        raise DataError(f"{path}: truncated or corrupt torch weight file ({error})") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read the weight file: {error}") from None


def check_tokenizer(directory: Path) -> None:
    """The directory holds a tokenizer transformers can load (its main file parses, where JSON)."""
    for group in TOKENIZER_FILES:
        if all((directory / name).is_file() for name in group):
            for name in group:
                if name.endswith(".json"):
                    read_json(directory / name, "tokenizer file")
            return
    raise DataError(
        f"{directory}: no tokenizer files (expected tokenizer.json, or vocab.json and merges.txt, or a "
        "sentencepiece model); transformers would build an empty tokenizer"
    )


def local_revisions(base: Path) -> list[str]:
    """Sub-directories of ``base`` that look like checkpoints (hold a config.json), sorted."""
    try:
        return sorted(p.name for p in base.iterdir() if (p / CONFIG).is_file())
    except OSError:
        return []
