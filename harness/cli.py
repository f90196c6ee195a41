"""The harness command: plugins, validate, sweep, show, analyze, leaderboard, compare, data fetch."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.util.errors import DataError, HarnessError, did_you_mean

if TYPE_CHECKING:
    import pandas as pd

    from harness.plan.config import SweepConfig
    from harness.plan.planner import Plan
    from harness.plugin.registry import PluginInfo
    from harness.views.frames import RunFrames

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")
DESCRIPTION = ("Sweep the training checkpoints of language models; measure brain alignment, internal states and "
               "task behaviour at each; find the phase transitions; compare runs.")
SELECTORS = ("In a config, checkpoints: all | last | log:N (N checkpoints spaced evenly on a log scale of steps) | "
             "every:K (the steps that are multiples of K, e.g. every:1000 = steps 0, 1000, 2000, ...) | a step | "
             "a list of these | adaptive:N or adaptive:N/K alone (N checkpoints: a log:K grid first, then rounds that "
             "add checkpoints where the transitions found so far are least resolved). "
             "layers: all | last | every:K (every K-th layer from the embeddings, 0, K, 2K, ..., "
             "and the last) | an index (0 = embeddings, -1 = last) | a depth in [0, 1] | a list of these.")


def _console() -> Console:
    return Console(highlight=False)


def _errors() -> Console:
    return Console(stderr=True, highlight=False)


# --------------------------------------------------------------------------- plugins


def cmd_plugins(args: argparse.Namespace) -> int:
    from harness.plugin.registry import get_registry

    registry = get_registry()
    for warning in registry.warnings:
        _errors().print(f"warning: {warning}", markup=False, soft_wrap=True)
    if args.name:
        return _plugin_detail(args.name, registry.rows())
    if not registry.rows():
        _console().print("no plugins loaded", markup=False)
        return 0
    table = Table(title="harness plugins", caption="details and options of one: harness plugins NAME")
    for column in ("name", "kind", "version", "origin", "error"):
        table.add_column(column, overflow="fold")
    for info in registry.rows():
        table.add_row(*map(Text, (info.name, info.title, info.version, info.origin)), Text(info.error, style="red"))
    _console().print(table)
    return 0


def _plugin_detail(name: str, rows: list[PluginInfo]) -> int:
    from harness.plugin.contract import KINDS
    from harness.plugin.describe import option_lines, option_rows, summary

    matches = [info for info in rows if info.name == name]
    if not matches:
        names = sorted({info.name for info in rows})
        raise HarnessError(
            f"no plugin named {name!r}{did_you_mean(name, names)}; installed: {', '.join(names) or 'none'}"
        )
    console = _console()
    for info in matches:
        if info.cls is None or info.kind is None:
            console.print(
                f"{info.name}: failed to load ({info.origin} {info.version}): {info.error}",
                markup=False,
                soft_wrap=True,
            )
            continue
        spec = KINDS[info.kind]
        console.print(f"{info.name}  {info.title}, version {info.version}, from {info.origin} "
                      f"(entry point {info.source})", markup=False)
        if summary(info.cls):
            console.print(summary(info.cls), markup=False)
        example = f"{spec.section}: [{{{spec.name_key}: {info.name}, options: {{...}}}}]"
        console.print(f"in a config: {example}", markup=False)
        options = option_rows(info.cls)
        if not options:
            console.print("options: none")
            continue
        console.print(f"options of {info.name}:", markup=False)
        for line in option_lines(options, max(console.width, 40)):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    return 0


# --------------------------------------------------------------------------- validate, sweep


def _load(config_path: str | None, run: str | None = None) -> tuple[SweepConfig, str]:
    from harness.plan.config import load_config

    path = Path(config_path) if config_path else DEMO_CONFIG
    config = load_config(path)
    if run:
        config = config.model_copy(update={"run": run})
    return config, str(path)


def cmd_validate(args: argparse.Namespace) -> int:
    """Check the config and print the plan; writes nothing, in the cache or anywhere else."""
    from harness.util.paths import read_only_cache

    with read_only_cache():
        return _validate(args)


def _validate(args: argparse.Namespace) -> int:
    from harness.plan.checks import check_run
    from harness.plan.planner import make_plan
    from harness.plan.preflight import preflight
    from harness.plugin.contract import Kind
    from harness.plugin.registry import get_registry
    from harness.store.database import STORE_NAME, RunStore

    config, source = _load(args.config, args.run)
    plan = make_plan(config, get_registry(), source)
    run_dir = check_run(config, source)
    console = _console()
    preflight(plan, lambda note: console.print(f"preflight: {note}"))  # notes as found: those before a mistake show too
    done = RunStore(run_dir).done_cells() if (run_dir / STORE_NAME).is_file() else {}
    pending = plan.pending(done)
    table = Table(title=f"plan for {source} -> {run_dir}")
    for column in ("model", "checkpoints (steps)", "target", "kind", "layers", "cells", "done"):
        table.add_column(column)
    for model in plan.models:
        steps = [c.step for c in model.checkpoints]
        shown = ", ".join(map(str, steps)) if len(steps) <= 8 else f"{len(steps)}: {steps[0]} .. {steps[-1]}"
        if model.adaptive is not None:
            shown = f"{model.adaptive} of {len(model.published)}; round 0: {shown}"
        for target in plan.targets:
            cells = [c for c in plan.cells if c.model == model.label and c.target == target.label]
            layers = "-" if target.kind == Kind.TASK else ", ".join(map(str, model.layers))
            finished = sum(1 for c in cells if c not in pending)
            table.add_row(
                *map(Text, (model.label, shown, target.label, target.kind, layers, str(len(cells)), str(finished)))
            )
    console.print(table)
    console.print(
        f"{len(plan.cells)} cells planned, {len(plan.cells) - len(pending)} already done, {len(pending)} to run",
        markup=False,
        soft_wrap=True,
    )
    if any(model.adaptive is not None for model in plan.models):
        console.print("adaptive checkpoints: the counts are round 0's; the sweep adds the other rounds' checkpoints "
                      "as it goes (docs/configuration.md#adaptive-checkpoints)", markup=False, soft_wrap=True)
    if args.estimate:
        _print_estimate(plan, done, console)
    return 0


def _print_estimate(plan: Plan, done: dict[str, str], console: Console) -> None:
    from harness.plan.estimate import figures, measured, project

    projection = project(plan, done)
    table = Table(title=f"projected cost of {projection.cells} cells", title_justify="left")
    for column in ("figure", "value", "how"):
        table.add_column(column, overflow="fold")
    for row in figures(projection):
        table.add_row(*map(Text, row))
    console.print(table)
    console.print(measured(projection.units), markup=False)
    console.print(f"assumed: {'; '.join(projection.assumed)}", markup=False)


def cmd_sweep(args: argparse.Namespace) -> int:
    config, source = _load(args.config, args.run)
    before = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return _sweep(args, config, source)
    finally:
        signal.signal(signal.SIGTERM, before)


def _sweep(args: argparse.Namespace, config: SweepConfig, source: str) -> int:
    from harness.store.logs import SWEEP_LOG
    from harness.sweep.driver import run_sweep

    executor = args.executor or ("ray" if args.ray_address or args.workers else None)
    if executor == "local" and (args.ray_address or args.workers):
        raise HarnessError("--ray-address and --workers apply to --executor ray, not local")
    if executor:
        config = config.model_copy(update={"executor": executor})
    summary = run_sweep(config, source=source, force=args.force, console=_errors(), show_progress=not args.quiet,
                        analyze=False if args.no_analyze else None, debug=args.debug, ray_address=args.ray_address,
                        workers=args.workers, quiet=args.quiet)
    lines = [f"run: {summary.run_dir}", f"cells: {summary.planned} planned, {summary.skipped} already done, "
             f"{summary.done} computed, {summary.failed} failed"]
    folders = sorted({str(path.parent) for path in summary.tables})
    lines += [f"tables: {len(summary.tables)} in {folder}" for folder in folders]
    lines += summary.findings
    lines += [f"report: {summary.report}"] if summary.report else []
    lines.append(f"log: {summary.run_dir / SWEEP_LOG}")
    if summary.failed:
        lines += [f"{summary.failed} cell(s) failed; errors and tracebacks:",
                  f"  harness show {summary.run_dir} --errors --debug"]
    out = _console()
    for line in wrapped(lines, out.width):
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    return 1 if summary.failed else 0


# --------------------------------------------------------------------------- show


def _write(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _traceback(log: object) -> str:
    if isinstance(log, str) and Path(log).is_file():
        return Path(log).read_text(encoding="utf-8")
    return "(no traceback file: the cell failed before tracebacks were kept; run the sweep again to get one)"


def cmd_show(args: argparse.Namespace) -> int:
    from harness.views.frames import load_run

    run = load_run(args.run)
    scores = _filtered(run.scores, args)
    if args.errors or args.debug:
        return _show_errors(run, args.format, args.debug)
    if args.format in ("json", "csv"):
        scores = run.intervals(scores)
    if args.format == "json":
        _write(json.dumps(run.to_dict(scores=scores), indent=1))
    elif args.format == "csv":
        _write(scores.to_csv(index=False))
    elif args.all:
        _show_summary(run)
        _show_tables(run, scores, args.limit)
        _show_failures(run)
    else:
        _show_summary(run)
        _show_pivots(run, scores, args.layer, args.limit)
        _show_failures(run)
    return 0


def _filtered(scores: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    """The scores ``--target``, ``--metric``, ``--layer`` and ``--step`` keep (a name nobody has: a one-line error)."""
    for column, wanted in (("target", args.target), ("metric", args.metric)):
        if wanted:
            known = sorted(set(scores[column].astype(str)))
            for name in wanted:
                if name not in known:
                    raise HarnessError(f"--{column} {name!r}: not in this run{did_you_mean(name, known)}; "
                                       f"{column}s: {', '.join(known) or 'none (no finished cells)'}")
            scores = scores[scores[column].isin(wanted)]
    if args.layer is not None:
        scores = scores[scores["layer"].isna() | (scores["layer"] == args.layer)]
    if args.step:
        scores = scores[scores["step"].isin(args.step)]
    return scores


def _show_summary(run: RunFrames) -> None:
    """What ran, what failed and the verdict, in a few wrapped lines."""
    from harness.analysis.data import model_groups
    from harness.analysis.groups import group_members
    from harness.analysis.phases import PATTERN_WORDS
    from harness.views.pivots import KIND_ORDER

    console = _console()
    cells = run.cells
    done = int((cells["status"] == "done").sum())
    failures = run.failures
    failed, stale = int((failures["state"] == "failed").sum()), int((failures["state"] == "stale").sum())
    analysis = "current" if run.analysis_fresh else "missing or older than the results (harness analyze)"
    console.print(f"run {run.path}: {len(cells)} cells, {done} done, {failed} failed, {stale} stale; "
                  f"analysis {analysis}", markup=False, highlight=False)
    if run.scores.empty:
        console.print(f"{run.path}: no finished cells yet", markup=False, highlight=False)
        return
    models = [f"{model} ({frame['step'].nunique()} checkpoints)" for model, frame in run.scores.groupby("model")]
    kinds = run.scores.groupby("target")["kind"].first().sort_values(key=lambda kind: kind.map(KIND_ORDER))
    targets = [f"{target} ({kind})" for target, kind in kinds.items()]
    console.print(f"models: {', '.join(models)}; targets: {', '.join(targets)}", markup=False, highlight=False)
    for name, members in group_members(run.scores, model_groups(run.path)).items():
        console.print(f"group {name}: the mean of {', '.join(members)}", markup=False, highlight=False)
    for (model, target), phases in run.phases.groupby(["model", "target"], sort=True) if len(run.phases) else []:
        pattern = PATTERN_WORDS[str(phases["pattern"].iloc[0])]
        which = ", ".join(f"{phase} {status}" for phase, status in zip(phases["phase"], phases["status"]))
        console.print(f"verdict, {model} on {target}: {pattern} ({which})", markup=False, highlight=False)


def _show_pivots(run: RunFrames, scores: pd.DataFrame, layer: int | None, limit: int) -> None:
    from harness.analysis.data import model_groups, read_run
    from harness.analysis.groups import group_members, member_intervals, with_groups
    from harness.analysis.rowintervals import interval_frame
    from harness.views.pivots import run_pivots

    console = _console()
    data = read_run(run.path)
    groups = group_members(scores, model_groups(run.path))  # seeds of one model: their mean, as the analysis judges it

    def intervals(rows: pd.DataFrame) -> pd.DataFrame:
        members = groups.get(str(rows["model"].iloc[0])) if len(rows) else None
        return member_intervals(scores, members, rows) if members else interval_frame(data, rows)

    titles = {name: f"{name} (mean of {len(members)} members)" for name, members in groups.items()}
    for pivot in run_pivots(with_groups(scores, groups), console.width, layer, intervals, limit, titles):
        console.print("")
        for line in pivot.lines(console.width):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    if not scores.empty:
        console.print("\nevery score, with its 95 % interval (or --format csv|json):", markup=False, highlight=False)
        console.print(f"  harness show {run.path} --all", markup=False, highlight=False, soft_wrap=True)


SCORE = "scope metric"  # --all's column of what a row scores: 'SIM01 r_mean', 'instruction:copy correct'


def _show_tables(run: RunFrames, scores: pd.DataFrame, limit: int) -> None:
    import pandas as pd

    from harness.analysis.data import read_run
    from harness.analysis.rowintervals import interval_frame, interval_notes
    from harness.analysis.scoreintervals import interval_text
    from harness.store.tables import TABLES_DIR
    from harness.views.render import text_rows

    console = _console()
    columns = ["step", "tokens", "layer", SCORE, "value", "stderr", "chance"]
    data = read_run(run.path)
    shown_rows = []
    for (model, target), frame in scores.groupby(["model", "target"], sort=True):
        table = Table(title=Text(f"{model} x {target}"), box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        shown = interval_frame(data, frame.head(limit))
        shown_rows.append(shown)
        shown = shown.assign(**{SCORE: (shown["scope"] + " " + shown["metric"]).str.strip()})  # wraps at the space
        cis = [interval_text(lo, hi, 4 if kind == "brain" else 3)  # brain r is small: 4 decimals
               for kind, lo, hi in zip(shown["kind"], shown["lo"].to_numpy(float), shown["hi"].to_numpy(float))]
        # brain rows have no stderr or chance, task rows no layer: columns no row fills are left out
        kept = [c for c in columns if c not in ("stderr", "chance", "layer") or shown[c].notna().any()]
        for column in [*kept, "95 % CI"] if any(cis) else kept:
            wraps = column == SCORE  # names fold at a narrow terminal; numbers never break
            table.add_column(column, justify="left" if wraps else "right", no_wrap=not wraps, overflow="fold",
                             min_width=max(map(len, cis)) if column == "95 % CI" else None)
        for cells_text, ci in zip(text_rows(shown[kept], {"tokens"}), cis):
            table.add_row(*map(Text, [*cells_text, ci] if any(cis) else cells_text))
        console.print(table)
        if len(frame) > limit:
            console.print(f"... {len(frame) - limit} more rows in {run.path / TABLES_DIR} (or --format csv|json)",
                          markup=False, soft_wrap=True)
    for note in wrapped(interval_notes(pd.concat(shown_rows)) if shown_rows else [], console.width):
        console.print(note, markup=False, soft_wrap=True)


def _show_failures(run: RunFrames) -> None:
    console = _console()
    failures = run.failures
    stale = "stale (kept from an earlier computation; the recompute failed)"
    lines = [f"{'failed' if row.state == 'failed' else stale} {row.cell_id}: {row.error}"
             for row in failures.itertuples(index=False)]
    if len(failures):
        lines += ["errors with their log files (tracebacks: add --debug):", f"  harness show {run.path} --errors"]
    for line in wrapped(lines, console.width):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _show_errors(run: RunFrames, fmt: str, debug: bool) -> int:
    failures = run.failures
    if fmt != "rich":
        if debug:
            failures = failures.assign(traceback=[_traceback(log) for log in failures["log"]])
        if fmt == "csv":
            _write(failures.to_csv(index=False))
        else:
            from harness.views.frames import records

            _write(json.dumps({"run": str(run.path), "failures": records(failures)}, indent=1))
        return 0
    console = _console()
    if failures.empty:
        console.print(f"{run.path}: no failed cells and no stale results", markup=False, soft_wrap=True)
        return 0
    for row in failures.itertuples(index=False):
        console.print(f"[yellow]{row.state}[/] ", end="")
        console.print(row.cell_id, markup=False)
        console.print(f"  error: {row.error}", markup=False, soft_wrap=True)
        console.print(f"  log:   {row.log if isinstance(row.log, str) else '(none)'}", markup=False, soft_wrap=True)
        if debug:
            console.print(_traceback(row.log), markup=False, soft_wrap=True)
    if not debug:
        console.print("tracebacks: add --debug", markup=False)
    return 0


# --------------------------------------------------------------------------- analyze, leaderboard, compare


def cmd_analyze(args: argparse.Namespace) -> int:
    from harness.store.database import check_run_directory
    from harness.views import analyze_run

    check_run_directory(Path(args.run), existing=True)
    result = analyze_run(Path(args.run))
    console = _console()
    if result.results.empty:
        console.print(
            f"{args.run}: no finished cells, nothing to analyse (harness show {args.run} --errors)",
            markup=False,
            soft_wrap=True,
        )
    for line in wrapped(result.summary_lines(), console.width):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"report: {result.report}", markup=False, soft_wrap=True)
    return 0


def wrapped(lines: Sequence[str], width: int) -> list[str]:
    """``lines`` wrapped to ``width`` columns, each continuation indented two spaces beyond its line's indent;
    a command (a line starting ``harness``) or a line holding a word (a path) too long for any line is left whole,
    so that it copies as one."""
    out = []
    for line in lines:
        indent = " " * (len(line) - len(line.lstrip(" ")))
        if line.lstrip().startswith("harness ") or max(map(len, line.split()), default=0) > width - len(indent) - 2:
            out.append(line)
            continue
        out += textwrap.wrap(line, width, subsequent_indent=indent + "  ", break_on_hyphens=False) or [line]
    return out


def _output_file(output: str | None) -> Path | None:
    if output is None:
        return None
    path = Path(output)
    if path.is_dir():
        raise DataError(f"--output {path}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise DataError(f"--output {path}: the folder {path.parent} does not exist")
    return path


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from harness.store.database import check_run_directory
    from harness.views.leaderboard import build_leaderboard, print_leaderboard, render_leaderboard, select_columns

    for run in args.runs:
        check_run_directory(Path(run), existing=True)
    output = _output_file(args.output)
    board = build_leaderboard([Path(r) for r in args.runs])
    if args.format == "rich":
        if output is not None:
            raise HarnessError("--output needs a file format: --format markdown|csv|html|json")
        print_leaderboard(board, _console(), args.columns)
        return 0
    text = render_leaderboard(board[select_columns(board, args.columns, compact=False)], args.format)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        _console().print(f"leaderboard: {output}")
    else:
        _write(text)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.views.compare import compare_runs, default_output

    runs = [Path(r) for r in args.runs]
    output = Path(args.output) if args.output else default_output(runs)
    comparison = compare_runs(runs, output, replace=args.force)
    console = _console()
    console.print(f"comparison {'replaced' if comparison.replaced else 'written'} in {output}", markup=False,
                  soft_wrap=True)
    for label in comparison.empty_runs:
        console.print(f"{label}: no finished cells, nothing drawn", markup=False, soft_wrap=True)
    from harness.analysis.pairwise import table_lines
    from harness.views.compare import DIFFERENCES

    for line in wrapped(table_lines(comparison.differences), console.width):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"figure: {comparison.png}\nfigure: {comparison.svg}\npage: {comparison.page}\n"
                  f"table: {comparison.page.parent / DIFFERENCES}", markup=False, soft_wrap=True)
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from harness.plugin.contract import FetchableData, Kind
    from harness.plugin.registry import get_registry

    cls = get_registry().get(Kind.BRAIN, args.dataset)
    if not issubclass(cls, FetchableData):
        raise DataError(
            f"brain dataset {args.dataset!r} has no downloader; see its documentation for where to put the data"
        )
    root = cls.data_root(args.root)
    if root.exists() and not root.is_dir():
        raise DataError(f"--root {root}: is a file, not a folder")
    if args.stories is not None and not getattr(cls, "fetch_by_story", False):
        raise DataError(f"--stories: {args.dataset} downloads by subject only (--subjects)")
    if getattr(cls, "fetch_by_story", False):
        cls.fetch(root, args.subjects or [], stories=args.stories or [])  # type: ignore[call-arg]
    else:
        cls.fetch(root, args.subjects or [])
    _console().print(f"{args.dataset}: data in {root}")
    return 0


# --------------------------------------------------------------------------- parser


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from harness import __version__

    parser = Parser(prog="harness", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    plugins = sub.add_parser("plugins", help="list plugins (name, kind, version, origin, load errors), or show one",
                             description="List the installed plugins, or show one plugin's kind, version, origin and "
                                         "options. HARNESS_PLUGINS=a,b loads only those entry points or distributions.")
    plugins.add_argument("name", nargs="?", help="a plugin's name: print its kind, version, origin and options")
    plugins.set_defaults(func=cmd_plugins)

    validate = sub.add_parser("validate", help="check a config and print the planned cells", description=SELECTORS)
    validate.add_argument("config", nargs="?", help="sweep config YAML (default: the built-in demo)")
    validate.add_argument("--run", help="run directory (overrides the config's run)")
    validate.add_argument(
        "--estimate",
        action="store_true",
        help="also project wall time, device-hours, disk and peak memory from unit costs measured here",
    )
    validate.set_defaults(func=cmd_validate)

    sweep = sub.add_parser("sweep", help="run a sweep (no config: the built-in offline demo)", description=(
        "Run the pending cells of a sweep; finished cells are kept, so running it again resumes. Each sweep "
        "appends to RUN/logs/sweep.log; a failed cell's traceback goes to RUN/logs/cells/. " + SELECTORS))
    sweep.add_argument("config", nargs="?", help="sweep config YAML (default: the built-in demo)")
    sweep.add_argument("--run", help="run directory (overrides the config's run)")
    sweep.add_argument("--force", action="store_true", help="recompute cells that are already done")
    sweep.add_argument("--no-analyze", action="store_true", help="skip the phase analysis and report")
    sweep.add_argument("--quiet", action="store_true", help="no progress bars and no preflight notes on stderr "
                       "(they are in RUN/logs/sweep.log); a mistake is the only line printed")
    sweep.add_argument("--debug", action="store_true", help="print the full traceback of each failing cell as it fails")
    sweep.add_argument(
        "--executor", choices=("local", "ray"), help="where work units run (overrides the config's executor)"
    )
    sweep.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="a running Ray cluster: 'auto' (the one 'ray start' "
        "started on this node) or host:port; implies --executor ray (default: start Ray on this machine)",
    )
    sweep.add_argument(
        "--workers",
        type=_positive,
        metavar="N",
        help="Ray tasks at once when the sweep starts Ray itself (default: one per CPU); implies --executor ray",
    )
    sweep.set_defaults(func=cmd_sweep)

    show = sub.add_parser("show", help="print a run's scores, failed cells and stale results", description=(
        "Print a run's scores (one table per model and target), then its failed cells and stale results."))
    show.add_argument("run", help="run directory")
    show.add_argument("--target", action="append", help="only this target: a brain, task or metric label (repeatable)")
    show.add_argument("--metric", action="append", help="only this metric (repeatable)")
    show.add_argument("--layer", type=int, help="only this layer (metrics: its value, not the median over layers)")
    show.add_argument("--step", type=int, action="append", help="only this checkpoint step (repeatable)")
    show.add_argument("--all", action="store_true", help="every score in long tables, each with its 95 %% interval")
    show.add_argument("--limit", type=_positive, default=40, help="rows (checkpoints) per table (default 40)")
    show.add_argument(
        "--errors", action="store_true", help="only the failed cells and stale results: cell, error, log file"
    )
    show.add_argument(
        "--debug", action="store_true", help="the failed cells and stale results with the full traceback of each"
    )
    show.add_argument("--format", choices=["rich", "json", "csv"], default="rich", help=(
        "rich: tables for the terminal (default); json: every table of the run (scores, cells, failures, phases, "
        "transitions, headline, provenance) as one object; csv: the long scores table (with --errors: the failures)"))
    show.set_defaults(func=cmd_show)

    analyze = sub.add_parser("analyze", help="phase analysis, figures and report.html for a run")
    analyze.add_argument("run", help="run directory")
    analyze.set_defaults(func=cmd_analyze)

    board = sub.add_parser(
        "leaderboard",
        help="compare models across runs, one row per model and brain target",
        description="One row per model and brain target of the runs, best peak brain alignment first.",
    )
    board.add_argument("runs", nargs="+", help="run directories")
    board.add_argument("--format", choices=["rich", "markdown", "csv", "html", "json"], default="rich",
                       help="rich: a table that fits the terminal (default); the others hold every column")
    board.add_argument("--columns", help="comma-separated columns to show, e.g. model,peak_r,pattern; all for every "
                                         "column (default in the terminal: a compact set)")
    board.add_argument("--output", help="write to this file instead of stdout (not with --format rich)")
    board.set_defaults(func=cmd_leaderboard)

    compare = sub.add_parser("compare", help="overlay the curves of several runs in one figure and page", description=(
        "Draw the brain-alignment and behaviour curves of several runs on one log token axis: "
        "comparison.png, comparison.svg and a self-contained comparison.html in the output folder."))
    compare.add_argument("runs", nargs="+", help="run directories")
    compare.add_argument("--output", help="output folder (default: FIRST_RUN/comparisons/<run names joined by -vs->)")
    compare.add_argument("--force", action="store_true", help="replace a comparison already in the output folder")
    compare.set_defaults(func=cmd_compare)

    data = sub.add_parser("data", help="brain data sets").add_subparsers(
        dest="data_command", required=True, parser_class=Parser
    )
    fetch = data.add_parser("fetch", help="download a brain data set (needs a network)")
    fetch.add_argument("dataset", help="brain dataset plugin name, e.g. lebel2023")
    fetch.add_argument("--subjects", nargs="*", help="subject ids (default: all)")
    fetch.add_argument(
        "--stories", nargs="*", help="stories to download, for datasets fetched by story (e.g. narratives)"
    )
    fetch.add_argument("--root", help="where to put it (default: where the dataset plugin looks)")
    fetch.set_defaults(func=cmd_data_fetch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: user mistakes print one line and exit 2, never a traceback."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error already printed
        return stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 2
    try:
        code: int = args.func(args)
        return code
    except HarnessError as error:
        sys.stderr.write(f"error: {' '.join(str(error).split())}\n")
        return error.exit_code
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM during a sweep (Terminated)
        sys.stderr.write("interrupted: finished cells are saved; run the same command again to resume\n")
        return 128 + (stop.signum if isinstance(stop, Terminated) else signal.SIGINT)


class Terminated(KeyboardInterrupt):
    """SIGTERM during a sweep, stopped as Ctrl-C stops it: the same message and ``sweep.log`` line."""

    signum = signal.SIGTERM


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
