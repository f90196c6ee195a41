"""The ``harness`` command: plugins, validate, sweep, show, analyze, leaderboard, data fetch."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.errors import DataError, HarnessError

if TYPE_CHECKING:
    from harness.config import SweepConfig

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")


def _console() -> Console:
    return Console(highlight=False)


def cmd_plugins(args: argparse.Namespace) -> int:
    from harness.registry import get_registry

    table = Table(title="harness plugins")
    for column in ("name", "kind", "version", "origin", "error"):
        table.add_column(column, overflow="fold")
    for info in get_registry().rows():
        table.add_row(info.name, info.title, info.version, info.origin, Text(info.error, style="red"))
    _console().print(table)
    return 0


def _load(config_path: str | None, run: str | None = None) -> tuple[SweepConfig, str]:
    from harness.config import load_config

    path = Path(config_path) if config_path else DEMO_CONFIG
    config = load_config(path)
    if run:
        config = config.model_copy(update={"run": run})
    return config, str(path)


def cmd_validate(args: argparse.Namespace) -> int:
    from harness.interfaces import Kind
    from harness.planner import make_plan
    from harness.preflight import preflight
    from harness.registry import get_registry
    from harness.store import STORE_NAME, RunStore, check_run_directory

    config, source = _load(args.config, args.run)
    plan = make_plan(config, get_registry(), source)
    notes = preflight(plan)
    run_dir = Path(config.run or "")
    check_run_directory(run_dir, existing=False)
    done = RunStore(run_dir).done_cells() if (run_dir / STORE_NAME).is_file() else {}
    pending = plan.pending(done)
    console = _console()
    for note in notes:
        console.print(f"preflight: {note}")
    table = Table(title=f"plan for {source} -> {run_dir}")
    for column in ("model", "checkpoints (steps)", "target", "kind", "layers", "cells", "done"):
        table.add_column(column)
    for model in plan.models:
        steps = [c.step for c in model.checkpoints]
        shown = ", ".join(map(str, steps)) if len(steps) <= 8 else f"{len(steps)}: {steps[0]} .. {steps[-1]}"
        for target in plan.targets:
            cells = [c for c in plan.cells if c.model == model.label and c.target == target.label]
            layers = "-" if target.kind == Kind.TASK else ", ".join(map(str, model.layers))
            finished = sum(1 for c in cells if c not in pending)
            table.add_row(model.label, shown, target.label, target.kind, layers, str(len(cells)), str(finished))
    console.print(table)
    console.print(f"{len(plan.cells)} cells planned, {len(plan.cells) - len(pending)} already done, {len(pending)} to run")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from harness.runner import run_sweep

    config, source = _load(args.config, args.run)
    console = Console(stderr=True, highlight=False)
    summary = run_sweep(config, source=source, force=args.force, console=console, show_progress=not args.quiet, analyze=False if args.no_analyze else None)
    out = _console()
    out.print(f"run: {summary.run_dir}  cells: {summary.planned} planned, {summary.skipped} already done, {summary.done} computed, {summary.failed} failed")
    for path in summary.tables:
        out.print(f"table: {path}")
    for line in summary.findings:
        out.print(line)
    if summary.report:
        out.print(f"report: {summary.report}")
    return 1 if summary.failed else 0


def cmd_show(args: argparse.Namespace) -> int:
    from harness.analysis.render import text_rows
    from harness.store import RunStore

    with RunStore(args.run) as store:
        results = store.results_frame()
        cells = store.cells_frame()
    console = _console()
    if results.empty:
        console.print(f"{args.run}: no finished cells yet")
    for (model, target), frame in results.groupby(["model", "target"], sort=True):
        columns = ["step", "tokens", "layer", "scope", "metric", "value", "stderr"]
        rows = frame[columns]
        if args.metric:
            rows = rows[rows["metric"].isin(args.metric)]
        if rows.empty:
            continue
        table = Table(title=f"{model} x {target}")
        for column in columns:
            table.add_column(column, justify="right" if column not in ("scope", "metric") else "left")
        for cells_text in text_rows(rows.head(args.limit)):
            table.add_row(*cells_text)
        console.print(table)
        if len(rows) > args.limit:
            console.print(f"... {len(rows) - args.limit} more rows in {Path(args.run) / 'tables'}")
    failed = cells[cells["status"] == "failed"]
    for row in failed.itertuples(index=False):
        console.print(f"[yellow]failed[/] {row.cell_id}: {row.error}")
    for row in cells[cells["stale"].notna()].itertuples(index=False):
        console.print(f"[yellow]stale[/] {row.cell_id}: kept from an earlier computation; the recompute failed: {row.stale}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from harness.analysis import analyze_run
    from harness.store import check_run_directory

    check_run_directory(Path(args.run), existing=True)
    result = analyze_run(Path(args.run))
    console = _console()
    for line in result.summary_lines():
        console.print(line)
    console.print(f"report: {result.report}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from harness.analysis.leaderboard import build_leaderboard, print_leaderboard, render_leaderboard
    from harness.store import check_run_directory

    for run in args.runs:
        check_run_directory(Path(run), existing=True)
    board = build_leaderboard([Path(r) for r in args.runs])
    if args.format == "rich":
        print_leaderboard(board, _console())
        return 0
    text = render_leaderboard(board, args.format)
    if args.output and not Path(args.output).parent.is_dir():
        raise DataError(f"--output {args.output}: the folder {Path(args.output).parent} does not exist")
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from harness.interfaces import FetchableData, Kind
    from harness.registry import get_registry

    cls = get_registry().get(Kind.BRAIN, args.dataset)
    if not issubclass(cls, FetchableData):
        raise DataError(f"brain dataset {args.dataset!r} has no downloader; see its documentation for where to put the data")
    root = Path(args.root).expanduser() if args.root else cls.default_root()
    cls.fetch(root, args.subjects or [])
    _console().print(f"{args.dataset}: data in {root}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("plugins", help="list plugins: name, kind, version, origin, load errors").set_defaults(func=cmd_plugins)

    validate = sub.add_parser("validate", help="check a config and print the planned cells")
    validate.add_argument("config", nargs="?", help="sweep config YAML (default: the built-in demo)")
    validate.add_argument("--run", help="run directory (overrides the config's 'run')")
    validate.set_defaults(func=cmd_validate)

    sweep = sub.add_parser("sweep", help="run a sweep (no config: the built-in offline demo)")
    sweep.add_argument("config", nargs="?", help="sweep config YAML (default: the built-in demo)")
    sweep.add_argument("--run", help="run directory (overrides the config's 'run')")
    sweep.add_argument("--force", action="store_true", help="recompute cells that are already done")
    sweep.add_argument("--no-analyze", action="store_true", help="skip the phase analysis and report")
    sweep.add_argument("--quiet", action="store_true", help="no progress bars")
    sweep.set_defaults(func=cmd_sweep)

    show = sub.add_parser("show", help="print a run's tables")
    show.add_argument("run", help="run directory")
    show.add_argument("--metric", action="append", help="only this metric (repeatable)")
    show.add_argument("--limit", type=int, default=40, help="rows per table (default 40)")
    show.set_defaults(func=cmd_show)

    analyze = sub.add_parser("analyze", help="phase analysis, figures and report.html for a run")
    analyze.add_argument("run", help="run directory")
    analyze.set_defaults(func=cmd_analyze)

    board = sub.add_parser("leaderboard", help="compare models across runs")
    board.add_argument("runs", nargs="+", help="run directories")
    board.add_argument("--format", choices=["rich", "markdown", "csv", "html"], default="rich")
    board.add_argument("--output", help="write to this file instead of stdout")
    board.set_defaults(func=cmd_leaderboard)

    data = sub.add_parser("data", help="brain data sets").add_subparsers(dest="data_command", required=True)
    fetch = data.add_parser("fetch", help="download a brain data set (needs a network)")
    fetch.add_argument("dataset", help="brain dataset plugin name, e.g. lebel2023")
    fetch.add_argument("--subjects", nargs="*", help="subject ids (default: all)")
    fetch.add_argument("--root", help="where to put it (default: where the dataset plugin looks)")
    fetch.set_defaults(func=cmd_data_fetch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: user mistakes print one line and exit 2, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HarnessError as error:
        sys.stderr.write(f"error: {' '.join(str(error).split())}\n")
        return error.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: finished cells are saved; run the same command again to resume\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
