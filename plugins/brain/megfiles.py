"""Readers of the files of a BIDS MEG recording (MEG-MASC's layout), each failing with one line naming the file.

- ``participants.tsv``: a ``participant_id`` column, every row as long as the header;
- ``<recording>_meg.json``: the sidecar, JSON, with ``SamplingFrequency`` (and ``RecordingDuration``);
- ``<recording>_channels.tsv``: a ``name`` column listing the recording's channels;
- ``<recording>_meg.<ext>``: the recording (FIF, KIT .con, ...) opened by MNE without its data,
  then its first and last samples read (a file cut short, or not a recording, is found here).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from harness import DataError, one_line

HEADER = "megmasc-header-1"  # the name (and version) of a recording's header facts in the file cache


def _tsv_rows(path: Path, required: str) -> list[dict[str, str]]:
    """The rows of a BIDS .tsv file that has column ``required``; a row shorter or longer than the header is an
    error."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a readable tab-separated file ({error})") from None
    if required not in columns:
        raise DataError(f"{path}: no {required!r} column (columns: {', '.join(columns) or 'none'})")
    for line, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            fields = len(row.get(None) or []) + sum(v is not None for k, v in row.items() if k is not None)  # type: ignore[call-overload]
            raise DataError(f"{path}: line {line}: {fields} fields, but the header has {len(columns)} columns")
        if not row[required].strip():
            raise DataError(f"{path}: line {line}: empty {required}")
    return rows


def read_participant_ids(path: Path) -> list[str]:
    """Subject labels (without ``sub-``) of ``participants.tsv``, in file order."""
    return [row["participant_id"].strip().removeprefix("sub-") for row in _tsv_rows(path, "participant_id")]


def read_channel_names(path: Path) -> list[str]:
    """The ``name`` column of a ``channels.tsv``."""
    if not path.is_file():
        raise DataError(f"{path}: not found (the recording's channel list, which mne-bids reads)")
    return [row["name"].strip() for row in _tsv_rows(path, "name")]


def read_sidecar(path: Path) -> dict[str, Any]:
    """A recording's JSON sidecar."""
    if not path.is_file():
        raise DataError(f"{path}: not found (the recording's BIDS sidecar)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not readable ({error})") from None
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: invalid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object of BIDS keys, got {type(data).__name__}")
    return data


def sidecar_number(path: Path, sidecar: dict[str, Any], key: str, required: bool) -> float | None:
    """``sidecar[key]`` as a positive number; None when absent and not ``required``."""
    value = sidecar.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise DataError(f"{path}: {key} {value!r} is not a positive number")
    return float(value)


def read_header(path: Path) -> dict[str, Any]:
    """{"sfreq", "channels", "samples"} of a recording, its first and last samples read to find a file cut short."""
    import mne

    try:
        raw = mne.io.read_raw(path, preload=False, verbose="error")
    except Exception as error:  # noqa: BLE001 - MNE raises many kinds on a damaged file
        raise DataError(f"{path}: not a readable MEG recording ({one_line(error)})") from None
    samples = int(raw.n_times)
    try:
        raw.get_data(start=0, stop=1)
        raw.get_data(start=samples - 1, stop=samples)
    except Exception as error:  # noqa: BLE001
        raise DataError(f"{path}: its data cannot be read to the end, the file is cut short or damaged "
                        f"({one_line(error)})") from None
    return {"sfreq": float(raw.info["sfreq"]), "channels": list(raw.ch_names), "samples": samples}

