"""Rendering shared by the report and the leaderboard: the page style, cell text and escaped HTML tables."""

from __future__ import annotations

import html
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from harness.analysis.tokens import format_tokens

STYLE = """
*,*::before,*::after{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#222;line-height:1.45;padding:0 1em;overflow-wrap:break-word}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
h3{margin-bottom:.3em}
.scroll{overflow:auto;max-width:100%;max-height:75vh;margin:.6em 0}
.scroll th{position:sticky;top:0;z-index:1}
table{border-collapse:collapse;font-size:.85em}
th,td{border:1px solid #ddd;padding:.25em .55em;text-align:left;vertical-align:top}
td{max-width:32em}th{background:#f3f3f3;white-space:nowrap}tr:nth-child(even) td{background:#fafafa}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
code,td.path{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em;overflow-wrap:anywhere}
pre{background:#f6f8fa;padding:1em;overflow-x:auto;font-size:.85em;max-width:100%}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.85em;color:#555}
.muted{color:#666;font-size:.9em}.pattern{font-weight:bold}
.surge{color:#2ca02c}.detachment{color:#d62728}.realignment{color:#1f77b4}
.notice,.alert,.warn{padding:.6em 1em;margin:1em 0;border-left:4px solid}
.notice{background:#fff8e1;border-color:#e0a800}.alert{background:#fdecea;border-color:#d93025}
.warn{background:#fff4e5;border-color:#f57c00}
nav.toc{font-size:.9em}nav.toc a{margin-right:.9em;white-space:nowrap}
.glance{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(30em,100%),1fr));gap:1em;margin:.6em 0}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:0}
.card h3{margin:.1em 0 .5em;font-size:1.05em}
.card dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.15em 1em;margin:0;font-size:.92em}
.card dt{color:#555}.card dd{margin:0;font-variant-numeric:tabular-nums}
"""


def format_cell(value: object, *, tokens: bool = False, digits: int | None = None) -> str:
    """A table cell as text: '' for missing, token counts short (3.2B), floats to ``digits`` decimals or 4
    significant."""
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


def _numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def table_html(frame: pd.DataFrame, max_rows: int | None = 400, token_columns: Collection[str] = (), *,
               digits: int | None = None, path_columns: Collection[str] = ()) -> str:
    """An escaped HTML table (at most ``max_rows`` rows, with a note when cut) in a box that scrolls
    sideways when the table is wider than the page; numbers right-aligned and never wrapped."""
    if frame.empty:
        return '<p class="muted">(empty)</p>'
    shown = frame if max_rows is None else frame.head(max_rows)
    classes = ["num" if _numeric(frame[c]) else "path" if c in path_columns else "" for c in frame.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{cls}">{html.escape(cell)}</td>' if cls else f"<td>{html.escape(cell)}</td>"
            for cell, cls in zip(cells, classes)
        )
        + "</tr>"
        for cells in text_rows(shown, token_columns, digits)
    )
    note = (f'<p class="muted">first {max_rows} of {len(frame)} rows; all rows are in tables/</p>'
            if len(shown) < len(frame) else "")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{note}'


def html_page(title: str, body: Sequence[str]) -> str:
    """A self-contained HTML page: the style inline, ``title`` as its title and heading, then ``body``."""
    head = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>")
    return "\n".join([head, f"<h1>{html.escape(title)}</h1>", *body, "</body></html>"]) + "\n"
