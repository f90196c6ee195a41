"""Compare models across runs: peak and final brain alignment, detachment depth, task scores, phases."""

from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.curves import all_curves
from harness.analysis.data import PHASES_TABLE, load_results
from harness.analysis.phases import LABELS, PHASE_COLUMNS, format_tokens

FORMATS = ("markdown", "csv", "html")
CORE_COLUMNS = [
    "run", "model", "family", "target", "checkpoints", "peak_r", "peak_tokens", "peak_layer",
    "detachment_depth", "final_r", "final_tokens", "final_instruction_following", "final_correctness",
    "final_task_accuracy", "pattern", *[f"{label}_start" for label in LABELS],
]
TOKEN_COLUMNS = ("peak_tokens", "final_tokens", *[f"{label}_start" for label in LABELS])


def max_drawdown(values: np.ndarray) -> float:
    """The largest fall of a curve below its running maximum (0 for a curve that never falls)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    return float(np.max(np.maximum.accumulate(values) - values))


def _last(series) -> float:
    return float(series.values[-1]) if series is not None and len(series) else float("nan")


def leaderboard_rows(run: str, results: pd.DataFrame, phases: pd.DataFrame | list | None) -> pd.DataFrame:
    """One row per model and brain target of one run (a model without brain scores gets one row)."""
    if isinstance(phases, list):
        from harness.analysis.phases import phases_frame

        phases = phases_frame(phases)
    phases = phases if phases is not None else pd.DataFrame(columns=PHASE_COLUMNS)
    rows = []
    for curves in all_curves(results):
        tasks = {f"task:{name}": _last(series) for name, series in curves.tasks.items()}
        common = {
            "run": run, "model": curves.model, "family": curves.family,
            "final_instruction_following": _last(curves.instruction), "final_correctness": _last(curves.correctness),
            "final_task_accuracy": _last(curves.accuracy),
        }
        if not curves.brain:
            rows.append({**common, "target": "", "pattern": "", **tasks})
            continue
        for target, curve in curves.brain.items():
            finite = np.isfinite(curve.values)
            peak = int(np.nanargmax(np.where(finite, curve.values, -np.inf)))
            mine = phases[(phases["model"] == curves.model) & (phases["target"] == target)]
            starts = {f"{label}_start": float(mine.loc[mine["phase"] == label, "start_tokens"].min())
                      if (mine["phase"] == label).any() else float("nan") for label in LABELS}
            rows.append({
                **common, "target": target, "checkpoints": int(finite.sum()),
                "peak_r": float(curve.values[peak]), "peak_tokens": int(curve.tokens[peak]),
                "peak_layer": int(curve.best_layer[peak]), "detachment_depth": max_drawdown(curve.values),
                "final_r": float(curve.values[finite][-1]), "final_tokens": int(curve.tokens[finite][-1]),
                "pattern": str(mine["pattern"].iloc[0]) if len(mine) else "", **starts, **tasks,
            })
    frame = pd.DataFrame(rows)
    for column in CORE_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
    extra = sorted(c for c in frame.columns if c not in CORE_COLUMNS)
    return frame[CORE_COLUMNS + extra]


def _run_phases(run_dir: Path, results: pd.DataFrame) -> pd.DataFrame:
    """The run's phases.csv, or phases computed now (without bootstrap) when it has none."""
    path = run_dir / "tables" / PHASES_TABLE
    if path.is_file():
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    from harness.analysis.phases import PhaseSettings, phases_frame
    from harness.analysis.run import analyze_frame

    analyses = analyze_frame(results, None, PhaseSettings(n_boot=0))
    return phases_frame([a.result for a in analyses if a.result is not None])


def build_leaderboard(run_dirs: list[Path]) -> pd.DataFrame:
    """Leaderboard over several runs, best peak brain alignment first."""
    frames = []
    for run_dir in map(Path, run_dirs):
        results = load_results(run_dir)
        frames.append(leaderboard_rows(run_dir.name, results, _run_phases(run_dir, results)))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CORE_COLUMNS)
    extra = sorted(c for c in frame.columns if c not in CORE_COLUMNS)
    frame = frame[CORE_COLUMNS + extra]
    return frame.sort_values("peak_r", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def _display(value: object, column: str, digits: int | None = None) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    if column in TOKEN_COLUMNS:
        return format_tokens(float(value))
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}" if digits is not None else f"{value:.4g}"
    return str(value)


def _text_rows(df: pd.DataFrame, digits: int | None = None) -> list[list[str]]:
    return [[_display(v, c, digits) for v, c in zip(row, df.columns)] for row in df.itertuples(index=False)]


def display_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as text cells: token counts shortened (3.2B), numbers to 4 significant digits."""
    return pd.DataFrame(_text_rows(df), columns=df.columns)


def render_leaderboard(df: pd.DataFrame, fmt: str) -> str:
    """The leaderboard as ``markdown``, ``csv`` or ``html`` (a self-contained page)."""
    if fmt == "csv":
        buffer = io.StringIO()
        df.to_csv(buffer, index=False)
        return buffer.getvalue()
    if fmt == "markdown":
        def line(cells: list[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
        out = [line([str(c) for c in df.columns]), line(["---"] * len(df.columns))]
        out += [line(cells) for cells in _text_rows(df)]
        return "\n".join(out) + "\n"
    if fmt == "html":
        from harness.analysis.report import STYLE

        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>" for cells in _text_rows(df))
        return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>harness leaderboard</title>'
                f"<style>{STYLE}</style></head><body><h1>harness leaderboard</h1>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>\n")
    from harness.errors import HarnessError

    raise HarnessError(f"leaderboard format {fmt!r} is not supported; allowed: {', '.join(FORMATS)}")


SHORT_HEADERS = {
    "checkpoints": "ckpts", "peak_r": "peak r", "peak_tokens": "at tokens", "peak_layer": "layer",
    "detachment_depth": "max drop", "final_r": "final r", "final_tokens": "final at",
    "final_instruction_following": "instr.", "final_correctness": "correct", "final_task_accuracy": "task acc",
    "surge_start": "surge", "detachment_start": "detach", "realignment_start": "realign",
}


def print_leaderboard(df: pd.DataFrame, console) -> None:
    """Print the core columns as a rich table (all columns are in the other formats)."""
    from rich import box
    from rich.table import Table

    columns = [c for c in CORE_COLUMNS if c in df.columns and df[c].notna().any() and (df[c].astype(str) != "").any()]
    table = Table(title="harness leaderboard", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, caption=(
        "r = brain alignment (r_mean, best layer); max drop = largest fall below the running peak; instr./correct/"
        "task acc = final instruction following, correctness, mean task accuracy; surge/detach/realign = phase starts (tokens)"))
    for column in columns:
        numeric = column not in ("run", "model", "family", "target", "pattern")
        table.add_column(SHORT_HEADERS.get(column, column), justify="right" if numeric else "left",
                         overflow="fold", no_wrap=not numeric)
    for cells in _text_rows(df[columns], digits=3):
        table.add_row(*cells)
    console.print(table)
