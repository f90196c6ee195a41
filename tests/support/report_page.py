"""What a report page shows: its inlined figures (caption -> pixels) and its one-line notes."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from matplotlib.image import imread

PNG = "data:image/png;base64,"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, bytes] = {}
        self.items: list[str] = []
        self._item: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "img" and (found.get("src") or "").startswith(PNG):
            self.figures[found.get("alt") or ""] = base64.b64decode(str(found["src"])[len(PNG):])
        if tag == "li":
            self._item = []

    def handle_data(self, data: str) -> None:
        if self._item is not None:
            self._item.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "li" and self._item is not None:
            self.items.append("".join(self._item))
            self._item = None


def read_page(report: Path) -> _Page:
    page = _Page()
    page.feed(report.read_text(encoding="utf-8"))
    return page


def report_figures(report: Path) -> dict[str, bytes]:
    """Caption (the image's alt text, unescaped) -> the PNG bytes inlined in the report."""
    return read_page(report).figures


def report_notes(report: Path) -> list[str]:
    """The text of every list item of the report (the notes on what is missing are list items)."""
    return read_page(report).items


def _panels(png: bytes, width: float) -> np.ndarray:
    """The RGB pixels (0-1) of the left ``width`` of a PNG: a map's panels, not its colour bar at the right."""
    pixels = imread(io.BytesIO(png), format="png")[..., :3]
    return pixels[:, : int(pixels.shape[1] * width)]


def coloured_fraction(png: bytes, width: float = 0.75) -> float:
    """The share of the pixels in the left ``width`` of a PNG that are of a saturated colour (the maps' reds and
    blues, not grey, black or white)."""
    return float(np.mean(np.ptp(_panels(png, width), axis=-1) > 0.25))


def grey_fraction(png: bytes, level: float, width: float = 0.75) -> float:
    """The share of the pixels in the left ``width`` of a PNG that are grey at ``level`` (0 black, 1 white)."""
    return float(np.mean(np.all(np.abs(_panels(png, width) - level) < 0.02, axis=-1)))
