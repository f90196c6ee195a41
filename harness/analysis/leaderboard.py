"""Compare models across runs: the runs' headline rows, best peak brain alignment first, rendered.

The leaderboard reads what ``analyze_run`` left in each run (``tables/headline.csv``); a run whose
analysis is missing or older than its results is analysed first.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from harness.analysis.data import read_run
from harness.analysis.headline import CORE_COLUMNS, TEXT_COLUMNS, TOKEN_COLUMNS, ordered_columns
from harness.analysis.outputs import is_fresh, read_headline
from harness.analysis.render import html_page, table_html, text_rows
from harness.analysis.run import analyze_run
from harness.errors import HarnessError

FORMATS = ("markdown", "csv", "html")


def run_headline(run_dir: Path) -> pd.DataFrame:
    """The headline rows of one run, from its analysis outputs (analysed now when missing or stale)."""
    run_dir = Path(run_dir)
    if not is_fresh(run_dir, read_run(run_dir).digest):
        analyze_run(run_dir)
    return read_headline(run_dir).assign(run=run_dir.name)  # the folder's name now, wherever it was analysed


def build_leaderboard(run_dirs: list[Path]) -> pd.DataFrame:
    """Leaderboard over several runs, best peak brain alignment first."""
    frames = [run_headline(run_dir) for run_dir in map(Path, run_dirs)]
    frame = ordered_columns(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CORE_COLUMNS))
    return frame.sort_values("peak_r", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def _markdown(df: pd.DataFrame) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [line([str(c) for c in df.columns]), line(["---"] * len(df.columns))]
    out += [line(cells) for cells in text_rows(df, TOKEN_COLUMNS)]
    return "\n".join(out) + "\n"


def render_leaderboard(df: pd.DataFrame, fmt: str) -> str:
    """The leaderboard as ``markdown``, ``csv`` or ``html`` (a self-contained page)."""
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "markdown":
        return _markdown(df)
    if fmt == "html":
        return html_page("harness leaderboard", [table_html(df, max_rows=None, token_columns=TOKEN_COLUMNS)])
    raise HarnessError(f"leaderboard format {fmt!r} is not supported; allowed: {', '.join(FORMATS)}")


SHORT_HEADERS = {
    "checkpoints": "ckpts", "peak_r": "peak r", "peak_tokens": "at tokens", "peak_layer": "layer",
    "detachment_depth": "max drop", "final_r": "final r", "final_tokens": "final at",
    "final_instruction_following": "instr.", "final_correctness": "correct", "final_task_accuracy": "task acc",
    "surge_start": "surge", "detachment_start": "detach", "realignment_start": "realign",
}


def print_leaderboard(df: pd.DataFrame, console: Console) -> None:
    """Print the core columns as a rich table (all columns are in the other formats)."""
    columns = [c for c in CORE_COLUMNS if c in df.columns and df[c].notna().any() and (df[c].astype(str) != "").any()]
    table = Table(title="harness leaderboard", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, caption=(
        "r = brain alignment (r_mean, best layer); max drop = largest fall below the running peak; instr./correct/"
        "task acc = final instruction following, correctness, mean task accuracy; surge/detach/realign = phase starts (tokens)"))
    for column in columns:
        numeric = column not in TEXT_COLUMNS
        table.add_column(SHORT_HEADERS.get(column, column), justify="right" if numeric else "left",
                         overflow="fold", no_wrap=not numeric)
    for cells in text_rows(df[columns], TOKEN_COLUMNS, digits=3):
        table.add_row(*cells)
    console.print(table)
