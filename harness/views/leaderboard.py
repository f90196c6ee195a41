"""Compare models across runs: the runs' headline rows, best peak brain alignment first, rendered.

The leaderboard reads what ``analyze_run`` left in each run (``tables/headline.csv``); a run whose
analysis is missing or older than its results is analysed first.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from harness.analysis.comparisons import gain_text
from harness.analysis.data import read_run
from harness.analysis.headline import CORE_COLUMNS, TOKEN_COLUMNS, ordered_columns
from harness.analysis.headline import TEXT_COLUMNS as HEADLINE_TEXT
from harness.analysis.outputs import is_fresh, read_headline
from harness.analysis.scoreintervals import ITEMS, interval_text
from harness.util.errors import HarnessError, did_you_mean
from harness.views.publish import analyze_run
from harness.views.render import html_page, table_html, text_rows

FORMATS = ("markdown", "csv", "html", "json")
TEXT_COLUMNS = (*HEADLINE_TEXT, "rank", "peak_r_95", "task_acc_95")  # shown as text (a rank range, an interval)


def run_headline(run_dir: Path) -> pd.DataFrame:
    """The headline rows of one run, from its analysis outputs (analysed now when missing or stale)."""
    run_dir = Path(run_dir)
    if not is_fresh(run_dir, read_run(run_dir).digest):
        analyze_run(run_dir)
    return read_headline(run_dir).assign(run=run_dir.name)  # the folder's name now, wherever it was analysed


def build_leaderboard(run_dirs: list[Path]) -> pd.DataFrame:
    """Leaderboard over several runs, best peak brain alignment first.

    Task accuracy is comparable only between rows computed on the same task set: where the rows
    have more than one, ``task_set_id`` names each row's set (S1, S2, ... in order of appearance).
    """
    frames = [run_headline(run_dir) for run_dir in map(Path, run_dirs)]
    frame = ordered_columns(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CORE_COLUMNS))
    frame = frame.sort_values("peak_r", ascending=False, na_position="last", kind="stable").reset_index(drop=True)
    frame["rank"] = rank_ranges(frame)
    frame["peak_r_95"] = [
        interval_text(lo, hi) for lo, hi in zip(frame["peak_r_lo"].to_numpy(float), frame["peak_r_hi"].to_numpy(float))
    ]
    frame["task_acc_95"] = [interval_text(lo, hi) for lo, hi in zip(frame["final_task_accuracy_lo"].to_numpy(float),
                                                                    frame["final_task_accuracy_hi"].to_numpy(float))]
    sets = list(dict.fromkeys(s for s in frame["task_set"] if s))
    frame["task_set_id"] = [f"S{sets.index(s) + 1}" if s and len(sets) > 1 else "" for s in frame["task_set"]]
    return frame


def rank_ranges(frame: pd.DataFrame) -> list[str]:
    """Each row's rank by peak r among the rows on its brain target, as a range where 95 % intervals
    overlap ('1-2' with an en dash): from 1 + the rows surely above it to the rows not surely below it."""
    ranks = [""] * len(frame)
    peak = frame["peak_r"].to_numpy(float)
    lo = np.where(np.isfinite(frame["peak_r_lo"].to_numpy(float)), frame["peak_r_lo"].to_numpy(float), peak)
    hi = np.where(np.isfinite(frame["peak_r_hi"].to_numpy(float)), frame["peak_r_hi"].to_numpy(float), peak)
    for _, rows in frame.groupby("target", sort=False).indices.items():
        rows = np.asarray([i for i in rows if np.isfinite(peak[i])], dtype=int)
        for i in rows:
            best = 1 + int(np.sum(lo[rows] > hi[i]))
            worst = len(rows) - int(np.sum(hi[rows] < lo[i]))
            ranks[i] = str(best) if best == worst else f"{best}\u2013{worst}"
    return ranks


def control_notes(df: pd.DataFrame) -> list[str]:
    """'alignment above lexical content: model on target: +0.021 [+0.012, +0.030]' for each row with a control."""
    if "above_control" not in df:
        return []
    values = [
        df[c].to_numpy(float) for c in ("above_control", "above_control_lo", "above_control_hi", "above_control_p")
    ]
    return [f"alignment above lexical content: {model} on {target}: {gain_text(value, lo, hi)} "
            f"(final r minus its word-shuffled control; Holm p = {p:.3g}, corrected over the run's comparisons; "
            "the interval is not)"
            for model, target, value, lo, hi, p in zip(df["model"], df["target"], *values) if np.isfinite(value)]


def interval_note(df: pd.DataFrame) -> str:
    """What the intervals resample, as the rows say ('' when no row has an interval)."""
    units = [u for u in dict.fromkeys(df["resampled"]) if u] if "resampled" in df else []
    notes = (
        [f"[95 % interval] of peak r resampling {' / '.join(units)}; rank: a range where intervals overlap"]
        if units
        else []
    )
    tasks = "final_task_accuracy_lo" in df and np.isfinite(df["final_task_accuracy_lo"].to_numpy(float)).any()
    if tasks:
        notes.append(f"[95 % interval] of task scores resampling {ITEMS} (Wilson's for one task's proportion, "
                     "+-1.96 standard errors for a mean over tasks)")
    return "; ".join(notes)


def task_set_note(df: pd.DataFrame) -> str:
    """A warning naming each task set when the rows' task accuracies come from different ones ('' when not)."""
    named = df[df["task_set_id"] != ""].drop_duplicates("task_set_id") if "task_set_id" in df else df.iloc[:0]
    if named.empty:
        return ""
    sets = "; ".join(f"{row.task_set_id} = {str(row.task_set).replace(',', ', ')}" for row in named.itertuples())
    return f"task acc was computed on different task sets, comparable only within a set: {sets}"


def _markdown(df: pd.DataFrame) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [line([str(c) for c in df.columns]), line(["---"] * len(df.columns))]
    out += [line(cells) for cells in text_rows(df, TOKEN_COLUMNS)]
    notes = [n for n in (interval_note(df), *control_notes(df)) if n]
    return "\n".join(out + ([""] + notes if notes else [])) + "\n"


def render_leaderboard(df: pd.DataFrame, fmt: str) -> str:
    """The leaderboard as ``markdown``, ``csv``, ``html`` (a self-contained page) or ``json`` (a list
    of rows, missing values as null)."""
    if fmt == "json":
        return json.dumps(json.loads(df.to_json(orient="records", double_precision=15)), indent=1) + "\n"
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "markdown":
        return _markdown(df)
    if fmt == "html":
        notes = [f"<p>{html.escape(n)}</p>" for n in (interval_note(df), *control_notes(df)) if n]
        return html_page("harness leaderboard", [table_html(df, max_rows=None, token_columns=TOKEN_COLUMNS), *notes])
    raise HarnessError(f"leaderboard format {fmt!r} is not supported; allowed: {', '.join(FORMATS)}")


SHORT_HEADERS = {
    "peak_r_95": "95 % CI",
    "task_acc_95": "task 95 %",
    "checkpoints": "ckpts",
    "peak_r": "peak r",
    "peak_tokens": "peak at",
    "peak_layer": "layer",
    "detachment_depth": "detach depth",
    "final_r": "final r",
    "final_tokens": "final at",
    "final_instruction_following": "instr.",
    "final_correctness": "correct",
    "final_task_accuracy": "task acc",
    "task_set_id": "set",
    "surge_start": "surge",
    "detachment_start": "detach",
    "realignment_start": "realign",
}
GLOSSARY = {
    "peak_r": "peak r = highest brain alignment (r_mean at the best layer)",
    "peak_tokens": "peak at = tokens seen then",
    "peak_layer": "layer = the best layer then",
    "final_r": "final r = r at the last checkpoint",
    "final_tokens": "final at = tokens at the last checkpoint",
    "detachment_depth": "detach depth = detachment depth, the largest fall of r below its running peak",
    "final_instruction_following": "instr. = final instruction following",
    "final_correctness": "correct = final correctness",
    "final_task_accuracy": (
        "task acc = final task accuracy, chance-corrected ((acc - chance) / (1 - chance)), mean over its task set; "
        "below 0 = below chance (answers in the wrong format count as wrong)"
    ),
    "checkpoints": "ckpts = checkpoints with a brain score",
    "surge_start": "surge/detach/realign = where the brain transition of each confirmed phase lies",
    "detachment_start": "surge/detach/realign = where the brain transition of each confirmed phase lies",
    "realignment_start": "surge/detach/realign = where the brain transition of each confirmed phase lies",
}
COMPACT_COLUMNS = [
    "rank", "run", "model", "target", "peak_r", "peak_r_95", "peak_tokens", "peak_layer", "final_r", "detachment_depth",
    "final_instruction_following", "final_task_accuracy", "task_acc_95", "task_set_id", "pattern",
]
KEEP = ("rank", "model", "peak_r", "peak_r_95", "task_set_id", "pattern")  # never left out for width
LEAVE_OUT_FIRST = [  # when the terminal is too narrow, compact columns leave in this order
    "peak_layer", "final_r", "detachment_depth", "final_instruction_following", "target", "peak_tokens",
    "task_acc_95", "final_task_accuracy", "pattern", "run",  # task acc's interval leaves just before task acc
]


def _informative(df: pd.DataFrame, column: str) -> bool:
    values = df[column]
    return bool(values.notna().any() and (values.astype(str) != "").any())


def select_columns(df: pd.DataFrame, spec: str | None, *, compact: bool) -> list[str]:
    """The columns to show: ``spec`` ('a,b,c', short headers allowed; 'all' for every column), else
    the compact set (``compact``: the columns with values among ``COMPACT_COLUMNS``, run only when
    there are several) or every column. An unknown name is a ``HarnessError`` with a suggestion."""
    if spec is None or spec.strip() == "":
        if not compact:
            return list(df.columns)
        columns = [c for c in COMPACT_COLUMNS if c in df.columns and _informative(df, c)]
        if "run" in columns and df["run"].nunique() < 2:
            columns.remove("run")
        return columns or [c for c in KEEP if c in df.columns]
    if spec.strip() == "all":
        return list(df.columns)
    aliases = {header: name for name, header in SHORT_HEADERS.items()}
    chosen = []
    for name in (part.strip() for part in spec.split(",")):
        if not name:
            continue
        column = name if name in df.columns else aliases.get(name)
        if column is None:
            raise HarnessError(f"--columns: unknown column {name!r}{did_you_mean(name, [*df.columns, *aliases])}; "
                               f"available: {', '.join(df.columns)}")
        if column not in chosen:
            chosen.append(column)
    if not chosen:
        raise HarnessError(f"--columns: no column named in {spec!r}; available: {', '.join(df.columns)}")
    return chosen


TEXT_WIDTH = 24  # names longer than this fold; numbers never do
TEXT_FOLD = 6  # where the columns that are never left out are too wide together, names fold down to this
FOLDS = ("run", "model", "target")  # the names that may fold


def _table(df: pd.DataFrame, columns: list[str]) -> Table:
    """The rich table of ``columns``, every column exactly as wide as it needs: a number is never
    wrapped, a header longer than its numbers goes over two lines (at its space)."""
    title = "harness leaderboard"
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, min_width=len(title))
    rows = text_rows(df[columns], TOKEN_COLUMNS, digits=3)
    for index, column in enumerate(columns):
        numeric = column not in TEXT_COLUMNS
        header = SHORT_HEADERS.get(column, column)
        width = max([len(row[index]) for row in rows] + [1])
        if not numeric:
            width = min(width, TEXT_WIDTH)
        if len(header) > width and " " in header:
            header = header.replace(" ", "\n", 1)
        width = max([width, *map(len, header.split("\n"))])
        name = column in FOLDS  # a name may fold; a number, an interval, a rank or a pattern never does
        table.add_column(Text(header), justify="right" if numeric else "left", no_wrap=not name, overflow="fold",
                         min_width=min(width, TEXT_FOLD) if name else width, max_width=width)
    for cells in rows:
        table.add_row(*map(Text, cells))
    return table


def fit_columns(df: pd.DataFrame, columns: list[str], console: Console, *, chosen: bool) -> tuple[list[str], list[str]]:
    """(shown, left out): ``columns`` less those that do not fit ``console.width`` without breaking a
    number; compact columns leave in ``LEAVE_OUT_FIRST`` order, chosen ones from the right. ``KEEP``
    never leaves, nor does ``target`` where the rows have more than one (a model and its control), nor ``run``
    where model and target leave two rows alike (one model in two runs)."""
    shown = list(columns)
    named = [c for c in ("model", "target") if c in df]
    keep = [*KEEP, *(["target"] if "target" in df and df["target"].nunique() > 1 else []),  # else rows look alike
            *(["run"] if "run" in df and df.duplicated(named).any() else [])]
    order = [c for c in reversed(shown) if c not in keep] if chosen else \
        [c for c in LEAVE_OUT_FIRST if c in shown and c not in keep] + \
        [c for c in reversed(shown) if c not in LEAVE_OUT_FIRST + keep]
    while order and _width(df, shown, console) > console.width:
        shown.remove(order.pop(0))
    return shown, [c for c in columns if c not in shown]


def print_leaderboard(df: pd.DataFrame, console: Console, columns: str | None = None) -> list[str]:
    """Print the leaderboard as a rich table that fits the console; return the columns left out.

    ``columns``: as ``select_columns`` (default: the compact set). Columns that do not fit are
    left out whole (never a number broken over lines) and named under the table.
    """
    if df.empty:
        console.print("harness leaderboard: no models in these runs (no finished cells?)")
        return []
    wanted = select_columns(df, columns, compact=True)
    left_out: list[str] = []
    if columns is not None and columns.strip() == "all":
        tables, more = _pages(df, wanted, console), ""
    else:
        shown, left_out = fit_columns(df, wanted, console, chosen=columns is not None)
        tables = [shown]
        if left_out:
            more = (f"left out for width ({console.width} columns): {', '.join(left_out)}; see them with "
                    "--columns NAME,NAME,... or a wider terminal; every column: --format csv|json|markdown|html")
        else:
            more = "every column: --columns all, or --format csv|json|markdown|html" if columns is None else ""
    for number, table in enumerate(tables, 1):
        console.print(_table(df, table))
        if len(tables) > 1:
            console.print(f"(table {number} of {len(tables)}: every column, {console.width} columns wide)",
                          markup=False)
    glossary = "; ".join(dict.fromkeys(GLOSSARY[c] for table in tables for c in table if c in GLOSSARY))
    for note in (glossary, interval_note(df), *control_notes(df), task_set_note(df), more):
        if note:
            console.print(note, highlight=False, markup=False)
    return left_out


def _pages(df: pd.DataFrame, columns: list[str], console: Console) -> list[list[str]]:
    """Every column, in as many tables as the width needs, each led by the columns that name a row (rank, model
    and, where the rows have several, run and target)."""
    names = [c for c in ("rank", "run", "model", "target")
             if c in columns and (c in ("rank", "model") or df[c].nunique() > 1)]
    pages: list[list[str]] = []
    for column in (c for c in columns if c not in names):
        if not pages or _width(df, [*names, *pages[-1], column], console) > console.width:
            pages.append([column])
        else:
            pages[-1].append(column)
    return [[*names, *page] for page in pages]


def _width(df: pd.DataFrame, columns: list[str], console: Console) -> int:
    """The width of the table of ``columns``, measured without the console's limit (which would clamp it)."""
    return Measurement.get(console, console.options.update_width(10**6), _table(df, columns)).maximum

