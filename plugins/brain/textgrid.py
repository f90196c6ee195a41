"""Praat TextGrid files: read the three text formats (long, short, chronological), write the long one.

Every way a file can be damaged is a one-line ``DataError`` naming the file (and the line where
there is one): not a TextGrid, a number that is not a number, a file cut short (fewer tiers or
intervals than it declares, a quoted text never closed, a chronological file that stops before
its time domain ends) or one with more entries than it declares.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import DataError

Interval = tuple[float, float, str]
Tier = tuple[str, list[Interval]]  # a tier's name and its intervals

CHRONOLOGICAL = '"Praat chronological TextGrid text file"'
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_ENTRY = re.compile(r"^\s*(intervals|points)\s*\[\s*\d*\s*\]\s*:?\s*$")
_ITEM = re.compile(r"^\s*item\s*\[\s*\d+\s*\]\s*:?\s*$")
_END_TOLERANCE = 1e-3  # s: how far before its time domain's end a chronological file may stop


def read_textgrid(path: Path) -> dict[str, list[Interval]]:
    """Tier name -> intervals (start, end, text) of every tier, in file order.

    Point tiers (TextTier) are read with start == end; a second tier of a name is keyed
    ``name#<position>`` (``read_tiers`` keeps the names as they are). Raises ``DataError`` naming
    the file (and line) for a file that is unreadable, not a TextGrid, malformed or cut short.
    """
    out: dict[str, list[Interval]] = {}
    for name, intervals in read_tiers(path):
        out[name if name not in out else f"{name}#{len(out)}"] = intervals
    return out


def read_tiers(path: Path) -> list[Tier]:
    """(name, intervals) of every tier in file order, names as written (two tiers may share one)."""
    path = Path(path)
    text = _decode(path)
    head = text.lstrip()[:200]
    if head.startswith(CHRONOLOGICAL):
        return _Parser(path, text).chronological()
    if "ooTextFile" not in head or "TextGrid" not in head:
        raise DataError(f"{path}: not a Praat TextGrid (missing the 'ooTextFile'/'TextGrid' header)")
    if re.search(r"^\s*(?:item\s*\[|xmin\s*=)", text, re.M):
        return _read_long(path, text.splitlines())
    return _Parser(path, text).short()


def _decode(path: Path) -> str:
    """The file's text (UTF-8 with or without a BOM, UTF-16, else Latin-1) with CR and CRLF line ends made LF."""
    return _bytes_text(path).replace("\r\n", "\n").replace("\r", "\n")


def _bytes_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read TextGrid ({error.strerror})") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Praat saves non-ASCII text as UTF-16
        return raw.decode("utf-16", errors="replace")
    try:
        return raw.decode("utf-8-sig")  # a BOM is common in the LeBel files
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # garbage: the header check says what is wrong


def _unquote(value: str) -> str:
    return value[1:-1].replace('""', '"')


def _closed(value: str) -> bool:
    """Whether ``value`` (starting with a quote) is one complete quoted string."""
    return _string_end(value) == len(value) - 1


# --------------------------------------------------------------------------- long format


@dataclass
class _Tier:
    name: str
    kind: str
    line: int
    declared: int | None = None
    intervals: list[Interval] | None = None


def _read_long(path: Path, lines: list[str]) -> list[Tier]:
    """The long ("ooTextFile") format: one ``key = value`` per line, ``item [n]:`` per tier."""

    def cut(line: int) -> str:
        return " (file cut short?)" if line == len(lines) else ""

    def number(value: str, key: str, line: int) -> float:
        if not _NUMBER.fullmatch(value):
            raise DataError(f"{path}, line {line}: {key} = {value!r} is not a number{cut(line)}")
        return float(value)

    def count(value: str, key: str, line: int) -> int:
        if not value.isdigit():
            raise DataError(f"{path}, line {line}: {key} = {value!r} is not a count{cut(line)}")
        return int(value)

    tiers: list[_Tier] = []
    declared_tiers: int | None = None
    tier: _Tier | None = None
    start = end = None
    line_no = 0
    feed = iter(enumerate(lines, start=1))
    for line_no, line in feed:
        key, equals, value = line.partition("=")
        key = key.strip()
        if not equals:
            if key.startswith("item") and _ITEM.match(line):
                tier = _Tier(name="", kind="", line=line_no, intervals=[])
                tiers.append(tier)
                start = end = None
            elif tier is not None and _ENTRY.match(line):
                start = end = None
            continue
        value = value.strip()
        if tier is None:  # file header
            if key == "size":
                declared_tiers = count(value, "size", line_no)
            elif key in ("xmin", "xmax"):
                number(value, key, line_no)
            continue
        if key.replace(" ", "") in ("intervals:size", "points:size"):
            tier.declared = count(value, key, line_no)
            continue
        if key == "class":
            tier.kind = value.strip('"')
        elif key == "name":
            if not value.startswith('"') or not _closed(value):
                raise DataError(f"{path}, line {line_no}: name = {value!r} is not a quoted string{cut(line_no)}")
            tier.name = _unquote(value)
        elif key in ("xmin", "number", "time"):
            start = number(value, key, line_no)
            if key != "xmin":
                end = start
        elif key == "xmax":
            end = number(value, key, line_no)
        elif key in ("text", "mark"):
            first = line_no
            if not value.startswith('"'):
                raise DataError(f"{path}, line {line_no}: {key} = {value!r} is not a quoted string{cut(line_no)}")
            while not _closed(value):  # a text may run over several lines
                following = next(feed, None)
                if following is None:
                    raise DataError(f"{path}, line {first}: the {key} never ends (file cut short?)")
                line_no, more = following
                value = f"{value}\n{more.rstrip()}"
            if start is None or end is None:
                raise DataError(f"{path}, line {first}: {key} without the times before it")
            assert tier.intervals is not None
            tier.intervals.append((start, end, _unquote(value)))
            start = end = None
    out: list[Tier] = []
    for position, tier in enumerate(tiers, start=1):
        assert tier.intervals is not None
        what = "points" if "Text" in tier.kind else "intervals"
        label = repr(tier.name) if tier.name else str(position)
        if tier.declared is None:
            raise DataError(f"{path}, line {tier.line}: tier {label} has no '{what}: size' line (file cut short?)")
        if len(tier.intervals) != tier.declared:
            raise DataError(
                f"{path}, line {tier.line}: tier {label} declares {tier.declared} {what} but has "
                f"{len(tier.intervals)} complete "
                f"ones{' (file cut short?)' if len(tier.intervals) < tier.declared else ''}"
            )
        out.append((tier.name, tier.intervals))
    if declared_tiers is not None and len(tiers) != declared_tiers:
        raise DataError(
            f"{path}: declares {declared_tiers} tiers but has "
            f"{len(tiers)}{' (file cut short?)' if len(tiers) < declared_tiers else ''}"
        )
    return out


# --------------------------------------------------------------------------- short and chronological formats


class _Parser:
    """A token stream (numbers, quoted texts, <flags>; '!' starts a comment) with line numbers."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        lines = text.splitlines()
        skip = 1 if text.lstrip().startswith(CHRONOLOGICAL) else 2  # the header lines
        self.tokens = list(self._tokenize(lines, skip))
        self.position = 0
        self.last_line = len(lines)

    def _tokenize(self, lines: list[str], skip: int) -> Iterator[tuple[str | float, int, bool]]:
        """(value, line, quoted) for every token after the first ``skip`` lines."""
        row = skip
        while row < len(lines):
            line, number, col = lines[row], row + 1, 0
            while col < len(line):
                char = line[col]
                if char.isspace():
                    col += 1
                elif char == "!":
                    break
                elif char == '"':
                    value, first = line[col:], number
                    end = _string_end(value)
                    while end is None:  # a text may run over several lines
                        row += 1
                        if row >= len(lines):
                            raise DataError(f"{self.path}, line {first}: a text never ends (file cut short?)")
                        line, number = lines[row], row + 1
                        value = f"{value}\n{line}"
                        end = _string_end(value)
                    yield _unquote(value[: end + 1]), first, True
                    col = len(line) - (len(value) - end - 1)
                else:
                    word = line[col:].split(None, 1)[0]
                    col += len(word)
                    if word.startswith("<") and word.endswith(">"):
                        yield word, number, False
                    elif _NUMBER.fullmatch(word):
                        yield float(word), number, False
                    else:
                        raise DataError(f"{self.path}, line {number}: {word!r} is not a number")
            row += 1

    def _next(self, what: str) -> tuple[str | float, int, bool]:
        if self.position >= len(self.tokens):
            raise DataError(f"{self.path}, line {self.last_line}: ends before {what} (file cut short?)")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def number(self, what: str) -> float:
        value, line, quoted = self._next(what)
        if quoted or isinstance(value, str):
            raise DataError(f"{self.path}, line {line}: expected {what} (a number), found {value!r}")
        return value

    def count(self, what: str) -> int:
        value = self.number(what)
        if value != int(value) or value < 0:
            raise DataError(f"{self.path}, line {self.tokens[self.position - 1][1]}: {what} {value:g} is not a count")
        return int(value)

    def text(self, what: str) -> str:
        value, line, quoted = self._next(what)
        if not quoted:
            raise DataError(f"{self.path}, line {line}: expected {what} (a quoted text), found {value!r}")
        assert isinstance(value, str)
        return value

    def _done(self) -> bool:
        return self.position >= len(self.tokens)

    def _extra(self) -> DataError:
        value, line, _ = self.tokens[self.position]
        return DataError(
            f"{self.path}, line {line}: unexpected {value!r} after the last declared entry (the sizes disagree with "
            "the contents)"
        )

    def short(self) -> list[Tier]:
        """The short format: the long format's values without their keys."""
        self.number("the start time")
        self.number("the end time")
        if self.position < len(self.tokens) and self.tokens[self.position][0] == "<exists>":
            self.position += 1
        tiers: list[Tier] = []
        for index in range(1, self.count("the number of tiers") + 1):
            kind = self.text(f"the class of tier {index}")
            name = self.text(f"the name of tier {index}")
            self.number(f"the start of tier {name!r}")
            self.number(f"the end of tier {name!r}")
            size = self.count(f"the size of tier {name!r}")
            items: list[Interval] = []
            for number in range(1, size + 1):
                where = f"{'point' if kind == 'TextTier' else 'interval'} {number} of {size} in tier {name!r}"
                if kind == "TextTier":
                    time = self.number(f"the time of {where}")
                    items.append((time, time, self.text(f"the mark of {where}")))
                else:
                    start = self.number(f"the start of {where}")
                    end = self.number(f"the end of {where}")
                    items.append((start, end, self.text(f"the text of {where}")))
            tiers.append((name, items))
        if not self._done():
            raise self._extra()
        return tiers

    def chronological(self) -> list[Tier]:
        """Praat's chronological format: tier headers, then every entry as ``tier time(s) text`` in time order."""
        self.number("the start time")
        xmax = self.number("the end time")
        headers: list[tuple[str, str]] = []
        for index in range(1, self.count("the number of tiers") + 1):
            kind = self.text(f"the class of tier {index}")
            name = self.text(f"the name of tier {index}")
            self.number(f"the start of tier {name!r}")
            self.number(f"the end of tier {name!r}")
            headers.append((kind, name))
        entries: list[list[Interval]] = [[] for _ in headers]
        while not self._done():
            tier = self.count("a tier number")
            if not 1 <= tier <= len(headers):
                raise DataError(
                    f"{self.path}, line {self.tokens[self.position - 1][1]}: tier number {tier} is not one of "
                    f"1..{len(headers)}"
                )
            kind, name = headers[tier - 1]
            if kind == "TextTier":
                time = self.number(f"the time of a point in tier {name!r}")
                entries[tier - 1].append((time, time, self.text(f"the mark of a point in tier {name!r}")))
            else:
                start = self.number(f"the start of an interval in tier {name!r}")
                end = self.number(f"the end of an interval in tier {name!r}")
                entries[tier - 1].append((start, end, self.text(f"the text of an interval in tier {name!r}")))
        ends = [e[-1][1] for (kind, _), e in zip(headers, entries) if kind != "TextTier" and e]
        if any(kind != "TextTier" for kind, _ in headers) and (not ends or max(ends) < xmax - _END_TOLERANCE):
            last = max(ends, default=0.0)
            raise DataError(
                f"{self.path}: its intervals stop at {last:g} s but its time domain ends at {xmax:g} s (file cut "
                "short?)"
            )
        return [(name, items) for (_, name), items in zip(headers, entries)]


def _string_end(value: str) -> int | None:
    """Index of the quote closing the string that ``value`` starts with; None while it is open."""
    index = 1
    while index < len(value):
        if value[index] == '"':
            if value[index + 1 : index + 2] == '"':
                index += 2
                continue
            return index
        index += 1
    return None


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
