"""Rendering shared by the report and the leaderboard: the page style, cell text and escaped HTML tables."""

from __future__ import annotations

import html
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from harness.analysis.tokens import format_tokens

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f3f3f3}tr:nth-child(even) td{background:#fafafa}
pre{background:#f6f8fa;padding:1em;overflow-x:auto;font-size:.85em}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85em;color:#555}
.muted{color:#666;font-size:.9em}.pattern{font-weight:bold}
.surge{color:#2ca02c}.detachment{color:#d62728}.realignment{color:#1f77b4}
"""


def format_cell(value: object, *, tokens: bool = False, digits: int | None = None) -> str:
    """A table cell as text: '' for missing, token counts short (3.2B), floats to ``digits`` decimals or 4 significant."""
    if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
        return ""
    if tokens and isinstance(value, (int, float, np.integer, np.floating)):
        return format_tokens(float(value))
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}" if digits is not None else f"{value:.4g}"
    return str(value)


def text_rows(frame: pd.DataFrame, token_columns: Collection[str] = (), digits: int | None = None) -> list[list[str]]:
    """Every row of ``frame`` as cell texts (``format_cell``)."""
    tokens = [column in token_columns for column in frame.columns]
    return [[format_cell(value, tokens=is_tokens, digits=digits) for value, is_tokens in zip(row, tokens)]
            for row in frame.itertuples(index=False)]


def table_html(frame: pd.DataFrame, max_rows: int | None = 400, token_columns: Collection[str] = ()) -> str:
    """An escaped HTML table (at most ``max_rows`` rows, with a note when cut)."""
    if frame.empty:
        return '<p class="muted">(empty)</p>'
    shown = frame if max_rows is None else frame.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>"
                   for cells in text_rows(shown, token_columns))
    note = (f'<p class="muted">first {max_rows} of {len(frame)} rows; all rows are in tables/</p>'
            if len(shown) < len(frame) else "")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def html_page(title: str, body: Sequence[str]) -> str:
    """A self-contained HTML page: the style inline, ``title`` as its title and heading, then ``body``."""
    head = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>")
    return "\n".join([head, f"<h1>{html.escape(title)}</h1>", *body, "</body></html>"]) + "\n"
