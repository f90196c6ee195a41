"""The TextGrid reader: Praat's three text formats, the LeBel quirks, and every damaged file one line naming it."""

from __future__ import annotations

import pytest

from harness.util.errors import DataError
from harness_plugins.brain.textgrid import read_textgrid, read_tiers, write_textgrid
from tests.support.lebel_fixture import WORDS, chronological_textgrid, grid_tiers, short_textgrid

TIERS = grid_tiers(WORDS[:24], start=1.0, step=0.5)
XMAX = TIERS["word"][-1][1]
FORMATS = ("long", "short", "chronological")


def _text(fmt: str, tmp_path) -> str:
    if fmt == "long":
        write_textgrid(tmp_path / "ref.TextGrid", TIERS)
        return (tmp_path / "ref.TextGrid").read_text(encoding="utf-8")
    return short_textgrid(TIERS, XMAX) if fmt == "short" else chronological_textgrid(TIERS, XMAX)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reads_the_same_tiers(fmt, tmp_path):
    path = tmp_path / "story.TextGrid"
    path.write_text(_text(fmt, tmp_path), encoding="utf-8")
    assert read_textgrid(path) == TIERS


def test_lebel_quirks_bom_float_overlaps_utf16(tmp_path):
    overlapping = {"phone": [(0.0, 1.0000000000000002, "AH"), (1.0, 2.0, "B")], "word": [(0.0, 1.2000000000000002, "hi"), (1.2, 2.0, "sp")]}
    path = tmp_path / "bom.TextGrid"
    path.write_text(short_textgrid(overlapping, 2.0, bom=True), encoding="utf-8")
    assert read_textgrid(path) == overlapping
    write_textgrid(path, overlapping)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # long format with a BOM
    assert read_textgrid(path)["word"][0] == (0.0, 1.2, "hi")
    path.write_text(short_textgrid(overlapping, 2.0), encoding="utf-16")  # Praat saves non-ASCII text as UTF-16
    assert read_textgrid(path) == overlapping
    path.write_text(chronological_textgrid({"phone": overlapping["phone"], "words": [(0.0, 2.0, 'say "hi"')]}, 2.0), encoding="utf-8")
    assert read_textgrid(path)["words"] == [(0.0, 2.0, 'say "hi"')]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("eol", ["\r", "\r\n"], ids=["cr", "crlf"])
def test_cr_and_crlf_line_ends_read_the_same_tiers(fmt, eol, tmp_path):
    """Old Mac (CR-only) and Windows (CRLF) line ends; a damaged file's line numbers still count lines."""
    path = tmp_path / "story.TextGrid"
    text = _text(fmt, tmp_path).replace("\n", eol)
    path.write_bytes(text.encode("utf-8"))
    assert read_textgrid(path) == TIERS
    if fmt == "long":
        lines = text.split(eol)
        bad = next(i for i, line in enumerate(lines) if line.strip().startswith("xmax = ") and i > 10)
        lines[bad] = lines[bad].replace("xmax = ", "xmax = x")
        path.write_bytes(eol.join(lines).encode("utf-8"))
        with pytest.raises(DataError, match=rf"story.TextGrid, line {bad + 1}: "):
            read_textgrid(path)


def test_tiers_sharing_a_name_are_all_kept(tmp_path):
    path = tmp_path / "two.TextGrid"
    write_textgrid(path, {"word": TIERS["word"], "phone": TIERS["phone"]})
    path.write_text(path.read_text().replace('name = "phone"', 'name = "word"'))
    assert [name for name, _ in read_tiers(path)] == ["word", "word"]
    assert list(read_textgrid(path)) == ["word", "word#1"]


def test_a_text_may_run_over_lines(tmp_path):
    tiers = {"word": [(0.0, 1.0, "two\nlines"), (1.0, 2.0, "x")]}
    path = tmp_path / "lines.TextGrid"
    write_textgrid(path, tiers)
    assert read_textgrid(path) == tiers
    path.write_text(short_textgrid(tiers, 2.0))
    assert read_textgrid(path) == tiers


def _cuts(text: str) -> list[int]:
    """Byte offsets across the whole file, none only in trailing whitespace."""
    body = len(text.rstrip())
    cuts = sorted({int(body * f) for f in (0.05, 0.15, 0.3, 0.45, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)} | {body - 1, body - 3})
    return [c for c in cuts if c > text.index("\n") + 1]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_cut_anywhere_is_noticed(fmt, tmp_path):
    text = _text(fmt, tmp_path)
    path = tmp_path / "cut.TextGrid"
    tried = 0
    for cut in _cuts(text):
        path.write_text(text[:cut], encoding="utf-8")
        with pytest.raises(DataError) as caught:
            read_textgrid(path)
        message = str(caught.value)
        assert message.startswith(str(path)) and "\n" not in message, (cut, message)
        tried += 1
    assert tried >= 10


@pytest.mark.parametrize(
    ("fmt", "old", "new", "expected"),
    [
        ("long", "xmin = 3.5 ", "xmin = 3.5.1 ", r"line \d+: xmin = '3.5.1' is not a number"),
        ("long", "xmax = 4 ", "xmax = abc ", r"line \d+: xmax = 'abc' is not a number"),
        ("long", "xmax = 4 ", "xmax = nan ", r"line \d+: xmax = 'nan' is not a number"),
        ("long", "intervals: size = 25", "intervals: size = 2x5", r"line \d+: intervals: size = '2x5' is not a count"),
        ("short", "\n3.5\n", "\n3,5\n", r"line \d+: '3,5' is not a number"),
        ("chronological", " 3.5 ", " 3.5e ", r"line \d+: '3.5e' is not a number"),
    ],
)
def test_a_bad_number_names_file_and_line(fmt, old, new, expected, tmp_path):
    text = _text(fmt, tmp_path)
    assert old in text
    path = tmp_path / "bad.TextGrid"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(DataError, match=expected) as caught:
        read_textgrid(path)
    assert str(caught.value).startswith(f"{path}, line ")


def test_sizes_that_disagree_with_the_contents(tmp_path):
    text = _text("long", tmp_path)
    path = tmp_path / "sizes.TextGrid"
    path.write_text(text.replace("size = 2 ", "size = 3 ", 1))
    with pytest.raises(DataError, match=r"declares 3 tiers but has 2 \(file cut short\?\)"):
        read_textgrid(path)
    path.write_text(text.replace("intervals: size = 25", "intervals: size = 24", 1))
    with pytest.raises(DataError, match=r"tier 'phone' declares 24 intervals but has 25 complete ones"):
        read_textgrid(path)
    path.write_text(_text("short", tmp_path) + "0\n1\n")
    with pytest.raises(DataError, match=r"unexpected 0.0 after the last declared entry"):
        read_textgrid(path)
    path.write_text(_text("chronological", tmp_path).replace("\n1 ", "\n3 ", 1))
    with pytest.raises(DataError, match=r"tier number 3 is not one of 1..2"):
        read_textgrid(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", "not a Praat TextGrid"), (b"hello world\n", "not a Praat TextGrid"), (bytes(range(256)) * 8, "not a Praat TextGrid"),
     (b'File type = "ooTextFile"\nObject class = "TextGrid"\n', r"ends before the start time \(file cut short\?\)")],
)
def test_garbage_is_one_line(content, expected, tmp_path):
    path = tmp_path / "garbage.TextGrid"
    path.write_bytes(content)
    with pytest.raises(DataError, match=expected) as caught:
        read_textgrid(path)
    assert str(caught.value).startswith(str(path))
