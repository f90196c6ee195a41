"""``RUN/report.html``: one self-contained page (figures inlined as base64, no external links)."""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.data import load_config_text
from harness.analysis.phases import format_tokens
from harness.files import atomic_write_text

REPORT_NAME = "report.html"
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


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)) or value is pd.NA:
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def table_html(frame: pd.DataFrame, max_rows: int = 400) -> str:
    """An escaped HTML table (at most ``max_rows`` rows, with a note when cut)."""
    if frame.empty:
        return '<p class="muted">(empty)</p>'
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.head(max_rows).itertuples(index=False)
    )
    note = f'<p class="muted">first {max_rows} of {len(frame)} rows; all rows are in tables/</p>' if len(frame) > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def _image(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _phase_display(phases: pd.DataFrame) -> pd.DataFrame:
    if phases.empty:
        return phases
    out = phases[["model", "target", "phase_index", "phase", "brain_trend"]].copy()
    phases = phases.assign(_last=phases["phase_index"] == phases.groupby(["model", "target"])["phase_index"].transform("max"))

    def span(row: pd.Series, which: str) -> str:
        value, lo, hi = row[f"{which}_tokens"], row[f"{which}_lo"], row[f"{which}_hi"]
        text = format_tokens(value)
        if np.isfinite(lo) and np.isfinite(hi) and which_has_ci(row, which):
            text += f" [{format_tokens(lo)}, {format_tokens(hi)}]"
        return text

    out["start (95% CI)"] = [span(r, "start") for _, r in phases.iterrows()]
    out["end (95% CI)"] = [span(r, "end") for _, r in phases.iterrows()]
    out["confirmed"] = phases["confirmed"]
    out["evidence"] = phases["evidence"]
    out["support"] = phases["support"]
    out["CI from"] = phases["ci_method"] + " x" + phases["n_boot"].astype(str)
    return out


def which_has_ci(row: pd.Series, which: str) -> bool:
    """A run's first start and last end are the curve's ends, not estimated boundaries."""
    first = row["phase_index"] == 1
    return not (which == "start" and first) and not (which == "end" and row["_last"])


def _curve_table(analysis) -> pd.DataFrame:
    curves = analysis.curves
    curve = curves.brain[analysis.target]
    frame = pd.DataFrame({"step": curve.steps, "tokens": curve.tokens, "best layer": curve.best_layer,
                          "r_mean (best layer)": curve.values})
    for name, series in (("instruction following", curves.instruction), ("correctness", curves.correctness),
                         ("task accuracy", curves.accuracy)):
        if series is not None:
            frame = frame.merge(pd.DataFrame({"step": series.steps, name: series.values}), on="step", how="left")
    return frame


def _final_scores(results: pd.DataFrame) -> pd.DataFrame:
    tasks = results[results["kind"] == "task"]
    if tasks.empty:
        return tasks
    last = tasks[tasks["step"] == tasks.groupby("model")["step"].transform("max")]
    return last[["model", "step", "tokens", "target", "scope", "metric", "value", "stderr"]].reset_index(drop=True)


def _provenance(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    plugins = results[["model", "family", "kind", "target", "plugin", "plugin_version", "config_hash", "data_hash", "seed"]]
    checkpoints = results[["model", "step", "tokens", "revision", "commit"]]
    return plugins.drop_duplicates().reset_index(drop=True), checkpoints.drop_duplicates().reset_index(drop=True)


def render_report(run_dir: Path, results: pd.DataFrame, analyses: list, phases: pd.DataFrame,
                  overviews: list[Path] = ()) -> str:
    """The report page as a string."""
    from harness import __version__
    from harness.analysis.leaderboard import display_frame, leaderboard_rows

    run_dir = Path(run_dir)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>harness report: {html.escape(run_dir.name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>harness report: {html.escape(run_dir.name)}</h1>",
        f'<p class="muted">generated {now} by harness {html.escape(__version__)} from {html.escape(str(run_dir.resolve()))}</p>',
        "<h2>Summary</h2><ul>",
    ]
    for analysis in analyses:
        who = f"{analysis.curves.model} ({analysis.curves.family})"
        if analysis.result is None:
            parts.append(f"<li>{html.escape(who)}: no brain alignment measured, so no phase analysis</li>")
        else:
            result = analysis.result
            parts.append(f'<li>{html.escape(who)} on {html.escape(result.target)}: '
                         f'<span class="pattern">{html.escape(result.pattern)}</span> &mdash; {html.escape(result.summary)}</li>')
    parts.append("</ul>")
    board = leaderboard_rows(run_dir.name, results, [a.result for a in analyses if a.result is not None])
    if not board.empty:
        parts += ["<h2>Scores at a glance</h2>", table_html(display_frame(board))]
    parts += [
        "<h2>Phases</h2>",
        '<p class="muted">Change points on the best-layer brain-alignment curve (piecewise-linear in log tokens, '
        "ruptures; the number of change points is tested against straight noisy lines, the noise taken from the "
        "bootstrap where it explains the scatter); a significant step between segments is a phase of its own; "
        "adjacent stretches with the same trend merged; labels only where the behaviour fits the "
        "signature: surge = brain rising while instruction following rises (a brain rise without it is reported as "
        "'surge (brain only)', unconfirmed); detachment = brain falling while task "
        "accuracy stagnates; realignment = brain and task accuracy rising. Boundaries: first checkpoint of the new "
        "phase, 95% bootstrap interval in brackets; support = share of bootstrap replicates choosing the same number "
        "of change points.</p>",
        table_html(_phase_display(phases)),
        "<h2>Figures</h2>",
    ]
    for png in (p for p in overviews if p.suffix == ".png"):
        parts.append(_image(png, f"all models on {png.stem.removeprefix('overview__')}"))
    for analysis in analyses:
        pngs = [p for p in analysis.figures if p.suffix == ".png"]
        for png in pngs:
            kind = "layer x checkpoint map" if png.stem.startswith("layers__") else "triple-phase figure"
            parts.append(_image(png, f"{kind}: {analysis.curves.model}" + (f" on {analysis.target}" if analysis.target else "")))
    parts.append("<h2>Curves</h2>")
    for analysis in analyses:
        if analysis.target:
            parts += [f"<h3>{html.escape(analysis.curves.model)} on {html.escape(analysis.target)}</h3>", table_html(_curve_table(analysis))]
    parts += ["<h2>Final task scores</h2>", table_html(_final_scores(results))]
    plugins, checkpoints = _provenance(results)
    parts += ["<h2>Provenance</h2>", table_html(plugins), table_html(checkpoints)]
    config = load_config_text(run_dir)
    parts += ["<h2>Config</h2>", f"<pre>{html.escape(config) if config else '(no config.yaml in the run)'}</pre>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run_dir: Path, results: pd.DataFrame, analyses: list, phases: pd.DataFrame,
                 overviews: list[Path] = ()) -> Path:
    """Write ``RUN/report.html`` and return its path."""
    path = Path(run_dir) / REPORT_NAME
    atomic_write_text(path, render_report(run_dir, results, analyses, phases, overviews))
    return path
