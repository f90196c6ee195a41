"""Praat TextGrid files (long "ooTextFile" format and the short format): read and write tiers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness import DataError

Interval = tuple[float, float, str]

_KEY_VALUE = re.compile(r'^\s*(\w+)\s*=\s*(.*?)\s*$')
_TOKEN = re.compile(r'"((?:[^"]|"")*)"|(<exists>|<absent>)|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)')


def _unquote(value: str) -> str:
    value = value.strip()
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        value = value[1:-1]
    return value.replace('""', '"')


def read_textgrid(path: Path) -> dict[str, list[Interval]]:
    """Tier name -> intervals (start, end, text) of every interval tier, in file order.

    Point tiers (TextTier) are read with start == end. Raises ``DataError`` for unreadable files.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="strict")
    except UnicodeDecodeError:
        text = path.read_bytes().decode("utf-16", errors="replace")
    except OSError as error:
        raise DataError(f"{path}: cannot read TextGrid ({error.strerror})") from None
    if "ooTextFile" not in text[:200] or "TextGrid" not in text[:200]:
        raise DataError(f"{path}: not a Praat TextGrid (missing the 'ooTextFile'/'TextGrid' header)")
    tiers = _read_long(text) if re.search(r"^\s*item\s*\[", text, re.M) else _read_short(text, path)
    return tiers


def _read_long(text: str) -> dict[str, list[Interval]]:
    tiers: dict[str, list[Interval]] = {}
    current: list[Interval] | None = None
    in_item = False
    start = end = None
    for line in text.splitlines():
        stripped = line.strip()
        if re.match(r"item\s*\[\d+\]\s*:", stripped):
            in_item, current, start, end = True, None, None, None
            continue
        if not in_item:
            continue
        match = _KEY_VALUE.match(line)
        if not match:
            continue
        key, value = match.group(1), match.group(2)
        if key == "name" and current is None:
            name = _unquote(value)
            current = tiers.setdefault(name if name not in tiers else f"{name}#{len(tiers)}", [])
        elif current is None:
            continue
        elif key in ("xmin", "number"):
            start = float(value)
            if key == "number":
                end = start
        elif key == "xmax":
            end = float(value)
        elif key in ("text", "mark") and start is not None and end is not None:
            current.append((start, end, _unquote(value)))
            start = end = None
    return tiers


def _read_short(text: str, path: Path) -> dict[str, list[Interval]]:
    body = text.split("\n", 2)[2] if text.count("\n") >= 2 else ""
    tokens: list[str | float] = []
    for quoted, flag, number in _TOKEN.findall(body):
        tokens.append(flag if flag else (float(number) if number else quoted.replace('""', '"')))
    try:
        position = 2  # file xmin, xmax
        if tokens[position] == "<exists>":
            position += 1
        n_tiers = int(tokens[position])  # type: ignore[arg-type]
        position += 1
        tiers: dict[str, list[Interval]] = {}
        for _ in range(n_tiers):
            kind, name = str(tokens[position]), str(tokens[position + 1])
            count = int(tokens[position + 4])  # type: ignore[arg-type]
            position += 5
            items: list[Interval] = []
            for _ in range(count):
                if kind == "IntervalTier":
                    items.append((float(tokens[position]), float(tokens[position + 1]), str(tokens[position + 2])))  # type: ignore[arg-type]
                    position += 3
                else:
                    items.append((float(tokens[position]), float(tokens[position]), str(tokens[position + 1])))  # type: ignore[arg-type]
                    position += 2
            tiers[name if name not in tiers else f"{name}#{len(tiers)}"] = items
    except (IndexError, ValueError, TypeError):
        raise DataError(f"{path}: malformed short-format TextGrid") from None
    return tiers


def write_textgrid(path: Path, tiers: Mapping[str, Sequence[Interval]], xmax: float | None = None) -> None:
    """Write interval tiers as a long-format TextGrid (the format Praat saves by default)."""
    end = xmax if xmax is not None else max((iv[1] for ivs in tiers.values() for iv in ivs), default=0.0)
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0 ", f"xmax = {end:.6g} ",
             "tiers? <exists> ", f"size = {len(tiers)} ", "item []: "]
    for index, (name, intervals) in enumerate(tiers.items(), start=1):
        lines += [f"    item [{index}]:", '        class = "IntervalTier" ', f'        name = "{name}" ',
                  "        xmin = 0 ", f"        xmax = {end:.6g} ", f"        intervals: size = {len(intervals)} "]
        for number, (start, stop, label) in enumerate(intervals, start=1):
            escaped = label.replace('"', '""')
            lines += [f"        intervals [{number}]:", f"            xmin = {start:.6g} ",
                      f"            xmax = {stop:.6g} ", f'            text = "{escaped}" ']
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
