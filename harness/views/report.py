"""``RUN/report.html``: one self-contained page (figures inlined as base64, no external links).

Top to bottom: the datasets' notices, what failed (said plainly when nothing succeeded), the
findings, each model and brain target at a glance, failures, phases, figures, brain scores
(ceiling-normalised, top voxels, per ROI and per subject, at the best layer), task and metric
curves, final task scores, provenance and the config.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from harness import __version__
from harness.analysis.channels import target_channels
from harness.analysis.comparisons import ABOVE_CONTROL, gain_text
from harness.analysis.curves import BRAIN_METRIC, BRAIN_SCOPE, LAYER_SUMMARY, ModelCurves, Series, model_title
from harness.analysis.data import BrainControl, Failures, load_config_text
from harness.analysis.findings import CurveAnalysis
from harness.analysis.headline import BEHAVIOUR
from harness.analysis.phases import LABELS, PATTERN_WORDS, PhaseSettings, verdict_lines
from harness.analysis.scoreintervals import ITEMS, interval_text, with_intervals
from harness.analysis.tokens import format_tokens
from harness.analysis.transitions import FALL, NET_CHANGE, RISE
from harness.plugin.contract import Channels
from harness.store.logs import CELL_LOGS
from harness.util.files import atomic_write_text
from harness.views.datasets import DatasetInfo
from harness.views.figures import SavedFigure
from harness.views.render import format_cell, html_page, table_html

REPORT_NAME = "report.html"
SECTIONS = (("summary", "Summary"), ("glance", "At a glance"), ("phases", "Phases"), ("failures", "Failures"),
            ("figures", "Figures"), ("transitions", "Transitions"), ("brain", "Brain scores"),
            ("curves", "Task and metric curves"), ("tasks", "Final task scores"), ("provenance", "Provenance"),
            ("config", "Config"))
PHASE_FIGURE = "phases__"  # the stem of the triple-phase figures, shown with the verdicts
SMALL_SHARE = 0.1  # a transition smaller than this share of its signal's largest is folded away
# the brain table's first columns (the partition scores r_joint ... r2_nuisance only with encoding.nuisance), then
# r_roi:* and anything else
BRAIN_ORDER = ("r_mean", "r_mean_norm", "r_top", "frac_significant", "r_joint", "r_nuisance", "r2_unique",
               "r2_unique_top", "r2_joint", "r2_nuisance")
# said once in a note, not a column per checkpoint: n_voxels (n_sensors, ...), then what was left out
COUNT_METRICS = (*(channels.count_metric for channels in Channels), "n_dropped", "n_unselected")


@dataclass
class ReportInputs:
    """Everything the report shows, computed by ``analyze_run``."""

    run_dir: Path
    results: pd.DataFrame
    analyses: list[CurveAnalysis]
    transitions: pd.DataFrame
    phases: pd.DataFrame
    headline: pd.DataFrame
    figures: list[SavedFigure]
    failures: Failures
    datasets: dict[str, DatasetInfo] = field(default_factory=dict)
    figure_notes: list[str] = field(default_factory=list)  # figures not drawn, one line each
    settings: PhaseSettings = field(default_factory=PhaseSettings)
    controls: dict[str, BrainControl] = field(default_factory=dict)  # control target label -> what it controls
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)  # tables/comparisons.csv


def _e(text: object) -> str:
    return html.escape(str(text))


def _heading(anchor: str) -> str:
    return f'<h2 id="{anchor}">{_e(dict(SECTIONS)[anchor])}</h2>'


def _image(figure: SavedFigure) -> str:
    data = base64.b64encode(figure.png.read_bytes()).decode("ascii")
    caption = _e(figure.caption)
    return (
        f'<figure><img alt="{caption}" src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption></figure>'
    )


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# --------------------------------------------------------------------------- top of the page


def _notices(datasets: dict[str, DatasetInfo], controls: dict[str, BrainControl]) -> list[str]:
    notes = [
        f'<div class="notice" role="note"><strong>{_e(info.label)}</strong> ({_e(info.plugin)} dataset): '
        f'{_e(info.notice)}</div>'
        for info in datasets.values()
        if info.notice
    ]
    notes += [
        f'<div class="notice" role="note"><strong>{_e(info.label)}</strong> ({_e(info.plugin)} dataset): left out of '
        'the data '
        f"on disk: {_e(info.left_out)}</div>"
        for info in datasets.values()
        if info.left_out
    ]
    for control in controls.values():
        against = (
            f"the control for {control.baseline}"
            if control.baseline
            else "a control without its original stimulus in this run"
        )
        notes.append(
            f'<div class="notice" role="note"><strong>{_e(control.label)}</strong>: {_e(against)}: the same '
            f"stories with {_e(control.describe())}; alignment above it is more than lexical content alone.</div>"
        )
    return notes


def _status(inputs: ReportInputs) -> list[str]:
    """A plain statement of what failed, at the top: everything, some cells, or stale results."""
    failures = inputs.failures
    if failures.nothing_succeeded:
        errors = Counter(failures.cells["error"])
        common, count = errors.most_common(1)[0]
        which = ("Every cell failed with" if len(errors) == 1 else
                 f"The most common error ({count} of {failures.recorded})" if count > 1 else "The first error")
        return [
            f'<div class="alert" role="alert"><strong>Nothing succeeded.</strong> All {_n(failures.recorded, "cell")} '
            'of this run '
            f"failed, so it has no scores, phases or figures. {which}: <code>{_e(common)}</code>. "
            f'Every failed cell and its traceback log are listed under <a href="#failures">Failures</a>.</div>'
        ]
    if failures.recorded == 0:
        return [
            '<div class="alert" role="alert"><strong>No results.</strong> No cell of this run has finished yet.</div>'
        ]
    parts = []
    if failures.failed:
        parts.append(
            f"{failures.failed} of {_n(failures.recorded, 'cell')} failed; "
            "their results are missing from every table and figure"
        )
    if failures.stale:
        parts.append(f"{_n(failures.stale, 'result')} stale (a recompute failed; the earlier result is shown)")
    if not parts:
        return []
    return [f'<div class="warn" role="alert">{_e("; ".join(parts))}. See <a href="#failures">Failures</a>.</div>']


def _toc(present: set[str]) -> str:
    links = "".join(f'<a href="#{anchor}">{_e(title)}</a>' for anchor, title in SECTIONS if anchor in present)
    return f'<nav class="toc">{links}</nav>'


def _finding(analysis: CurveAnalysis) -> str:
    """The analysis's summary line as an HTML list item, the pattern in bold."""
    if analysis.result is None:
        return f"<li>{_e(analysis.summary_line())}</li>"
    pattern = f'<span class="pattern">{_e(PATTERN_WORDS[analysis.result.pattern])}</span>'
    return f"<li>{_e(analysis.subject)}: {pattern}; {_e('; '.join(verdict_lines(analysis.result)))}</li>"


def _above_controls(comparisons: pd.DataFrame, controls: dict[str, BrainControl]) -> list[str]:
    """'model on target: alignment above lexical content: +0.021 [+0.012, +0.030]', one item per model
    and control at the final checkpoint (paired bootstrap, Holm-corrected p)."""
    if comparisons.empty:
        return []
    rows = comparisons[comparisons["comparison"] == ABOVE_CONTROL]
    items = []
    for (model, target), group in rows.groupby(["model", "target"], sort=False):
        last = group.sort_values("step").iloc[-1]
        control = controls.get(str(last["versus"]))
        what = f" ({control.describe()})" if control is not None else ""
        items.append(
            f"<li>{_e(model)} on {_e(target)}: alignment above lexical content{_e(what)}: "
            f"<strong>{_e(gain_text(last['difference'], last['lo'], last['hi']))}</strong> "
            f"(r_mean at the final checkpoint minus {_e(last['versus'])}, each at its best layer; 95 % interval, "
            f"paired bootstrap over {_e(last['resampled'])}; Holm p = {float(last['p_holm']):.3g}, corrected over the "
            "run's comparisons; the interval is not)</li>"
        )
    return items


# --------------------------------------------------------------------------- at a glance


def _brain_value(results: pd.DataFrame, model: str, target: str, step: int, layer: int, metric: str) -> float:
    rows = results[(results["model"] == model) & (results["kind"] == "brain") & (results["target"] == target)
                   & (results["step"] == step) & (results["layer"] == layer) & (results["scope"] == BRAIN_SCOPE)
                   & (results["metric"] == metric)]
    return float(rows["value"].iloc[0]) if len(rows) else float("nan")


def _value(value: object, digits: int = 3) -> str:
    return format_cell(value, digits=digits) or "n/a"


def _glance_rows(row: pd.Series, results: pd.DataFrame, channels: Channels = Channels.VOXELS) -> list[tuple[str, str]]:
    """label: value pairs for one headline row (one model on one brain target, or a model without one)."""
    out: list[tuple[str, str]] = []
    if row["target"]:
        out.append(("pattern", str(row["pattern"]) or "n/a"))
        out.append(("checkpoints", format_cell(row["checkpoints"], digits=0)))
        if np.isfinite(row["peak_r"]):
            step_rows = results[(results["model"] == row["model"]) & (results["tokens"] == row["peak_tokens"])]
            peak_step = int(step_rows["step"].iloc[0]) if len(step_rows) else -1
            layer = int(row["peak_layer"])
            peak = f"{_value(row['peak_r'])}{_ci(row, 'peak_r')} at {format_tokens(row['peak_tokens'])} tokens"
            out.append(("peak r_mean (best layer)", f"{peak}, layer {layer}"))
            for metric, label in (("r_mean_norm", "at the peak: ceiling-normalised"),
                                  ("r_top", f"at the peak: top {channels}")):
                value = _brain_value(results, row["model"], row["target"], peak_step, layer, metric)
                if np.isfinite(value):
                    out.append((label, f"{metric} {_value(value)}"))
            final = f"{_value(row['final_r'])}{_ci(row, 'final_r')} at {format_tokens(row['final_tokens'])} tokens"
            out.append(("final r_mean (best layer)", final))
            if isinstance(row.get("resampled"), str) and row["resampled"]:
                out.append(("95 % intervals", f"resampling {row['resampled']}"))
            if np.isfinite(row.get("above_control", np.nan)):
                out.append(("alignment above lexical content",
                            gain_text(row["above_control"], row["above_control_lo"], row["above_control_hi"])))
            out.append(("detachment depth", f"{_value(row['detachment_depth'])} (largest fall below the running peak)"))
        starts = [
            f"{label} {format_tokens(row[f'{label}_start'])}" for label in LABELS if np.isfinite(row[f"{label}_start"])
        ]
        out.append(("confirmed phases", ", ".join(starts) if starts else "none"))
    for column, label in (("final_instruction_following", "final instruction following"),
                          ("final_correctness", "final correctness"),
                          ("final_task_accuracy", "final task accuracy (chance-corrected)")):
        if np.isfinite(row[column]):
            below = (
                " (below chance: answers in the wrong format count as wrong)"
                if column == "final_task_accuracy" and row[column] < 0
                else ""
            )
            out.append((label, _value(row[column]) + _ci(row, column) + below))
    if any(np.isfinite(row.get(f"{column}_lo", np.nan)) for column in BEHAVIOUR):
        out.append(("task intervals", f"95 %, resampling {ITEMS} (Wilson's for one task's proportion; "
                                      "+-1.96 standard errors for a mean over tasks)"))
    return out


def _ci(row: pd.Series, column: str) -> str:
    """' [lo, hi]' of a headline score ('' without an interval)."""
    lo, hi = row.get(f"{column}_lo", np.nan), row.get(f"{column}_hi", np.nan)
    return f" [{_value(lo)}, {_value(hi)}]" if np.isfinite(lo) and np.isfinite(hi) else ""


def _glance(headline: pd.DataFrame, results: pd.DataFrame) -> str:
    cards = []
    channels = target_channels(results)
    for _, row in headline.iterrows():
        title = model_title(str(row["model"]), str(row["family"])) + (f" on {row['target']}" if row["target"] else "")
        rows = _glance_rows(row, results, channels.get(str(row["target"]), Channels.VOXELS))
        items = "".join(f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>" for label, value in rows)
        cards.append(f'<section class="card"><h3>{_e(title)}</h3><dl>{items}</dl></section>')
    return f'<div class="glance">{"".join(cards)}</div>'


# --------------------------------------------------------------------------- failures


def _failures(failures: Failures) -> list[str]:
    frame = failures.cells
    table = pd.DataFrame({"cell": frame["cell"], "status": frame["status"], "error": frame["error"],
                          "traceback log": frame["log"].replace("", "(none)")})
    intro = (
        f'<p class="muted">{_n(len(frame), "cell")}: <em>failed</em> cells have no result; <em>stale</em> ones keep an '
        f"earlier result because their recompute failed. Log paths are relative to the run directory "
        f"(<code>{_e(CELL_LOGS)}/</code>); <code>harness show RUN</code> lists the same cells.</p>"
    )
    return [_heading("failures"), intro, table_html(table, path_columns={"traceback log", "cell"})]


# --------------------------------------------------------------------------- phases


def _interval(at: object, lo: object, hi: object) -> str:
    """'6.45k [4.1k, 8.19k]' ('' when there is no location)."""
    if not isinstance(at, float | int) or not np.isfinite(at):
        return ""
    return f"{format_tokens(at)} [{format_tokens(lo)}, {format_tokens(hi)}]"  # type: ignore[arg-type]


def _range(value: object, lo: object, hi: object, digits: int = 3) -> str:
    """'+0.093 [+0.075, +0.102]' ('' for a missing value, no brackets without an interval)."""
    if not isinstance(value, float | int) or not np.isfinite(value):
        return ""
    if not all(isinstance(v, float | int) and np.isfinite(v) for v in (lo, hi)):
        return f"{value:+.{digits}f}"
    return f"{value:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def phases_note(settings: PhaseSettings) -> str:
    """How the verdicts are reached, with the rules and tolerances in force."""
    return (
        '<p class="muted">Each signal is cut into straight segments in log tokens (change points tested against '
        "straight noisy lines); a transition is a stretch that rises or falls significantly (a <em>step</em> when "
        "it happens between two neighbouring checkpoints), located where it has made half its change, with a 95% "
        "bootstrap interval never narrower than the gap between the swept checkpoints around it. A checkpoint "
        "standing apart from both neighbours is set aside as an <em>outlier</em>, so a change is carried by two "
        "checkpoints or more; a change no change point bounds is listed as a <em>net change</em>, without a "
        "location. Verdicts: "
        "<b>surge</b> = a brain rise coinciding with a rise of instruction following; <b>detachment</b> = a later "
        "brain fall over which task accuracy (chance-corrected) is shown flat; <b>realignment</b> = a brain rise "
        "after it coinciding with a rise of task accuracy. Coincide: "
        f"{_e(settings.coincidence_rule())}; flat: {_e(settings.flat_rule())}. Only transitions that at least "
        f"{settings.min_support:.0%} of the bootstrap replicates show are used. Lags are brain minus behaviour, in "
        "decades of tokens.</p>")


def _phases(phases: pd.DataFrame, figures: list[SavedFigure], settings: PhaseSettings) -> list[str]:
    parts = [_heading("phases"), *[_image(figure) for figure in figures], phases_note(settings)]
    if phases.empty:
        parts.append('<p class="muted">(no phase verdicts: no brain alignment curve)</p>')
    for (model, target), group in phases.groupby(["model", "target"], sort=False):
        table = pd.DataFrame(
            {
                "phase": group["phase"],
                "verdict": group["status"],
                "brain [95% CI]": [
                    _interval(*r) for r in zip(group["brain_tokens"], group["brain_lo"], group["brain_hi"])
                ],
                "behaviour [95% CI]": [
                    f"{b}: {_interval(*r)}" if _interval(*r) else b
                    for b, *r in zip(
                        group["behaviour"], group["behaviour_tokens"], group["behaviour_lo"], group["behaviour_hi"]
                    )
                ],
                "lag, decades": [_range(*r, digits=2) for r in zip(group["lag"], group["lag_lo"], group["lag_hi"])],
                "reason": group["reason"],
            }
        )
        parts += [f"<h3>{_e(model)} on {_e(target)}: {_e(group['pattern'].iloc[0])}</h3>", table_html(table)]
    return parts


def _transitions(transitions: pd.DataFrame) -> list[str]:
    """Every signal's transitions, largest first (size relative to the signal's largest); those under
    ``SMALL_SHARE`` of it folded away."""
    parts = [_heading("transitions")]
    if transitions.empty:
        return [*parts, '<p class="muted">(no transitions)</p>']
    size = transitions["size"].abs()
    keys = [transitions["model"], transitions["signal"], transitions["target"]]
    share = size / size.groupby(keys, dropna=False).transform("max")
    transitions = transitions.assign(_share=share.fillna(0.0)).sort_values("_share", ascending=False, kind="stable")
    for label, rows in (("large", transitions[transitions["_share"] >= SMALL_SHARE]),
                        ("small", transitions[transitions["_share"] < SMALL_SHARE])):
        if rows.empty:
            continue
        table = _transition_table(rows)
        if label == "large":
            parts += ['<p class="muted">Largest first, by size relative to the largest transition of the same '
                      "signal.</p>", table_html(table, max_rows=None)]
        else:
            parts += [f"<details><summary>{_n(len(rows), 'small transition')} (under {SMALL_SHARE:.0%} of the "
                      "largest of their signal)</summary>", table_html(table, max_rows=None), "</details>"]
    return parts


def _transition_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The transitions table's columns for ``rows`` of ``transitions.csv``."""
    return pd.DataFrame(
        {
            "model": rows["model"],
            "signal": [f"{s} ({t})" if t else s for s, t in zip(rows["signal"], rows["target"])],
            "kind": [
                k if k in (RISE, FALL) else f"{k} {d}"
                for k, d in zip(rows["kind"], rows["direction"])
            ],
            "at [95% CI]": [
                _interval(at, lo, hi)
                if kind != NET_CHANGE
                else f"not located: {format_tokens(lo)}-{format_tokens(hi)}"
                for kind, at, lo, hi in zip(
                    rows["kind"], rows["tokens"], rows["lo"], rows["hi"]
                )
            ],
            "size [95% CI]": [
                _range(*r) for r in zip(rows["size"], rows["size_lo"], rows["size_hi"])
            ],
            "support": [format_cell(v, digits=2) for v in rows["support"]],
            "intervals from": rows["ci_method"],
        }
    )


# --------------------------------------------------------------------------- figures


def _figures(figures: list[SavedFigure], notes: list[str]) -> list[str]:
    parts = [_heading("figures")]
    sections: dict[str, list[SavedFigure]] = {}
    for figure in figures:
        sections.setdefault(figure.section, []).append(figure)
    for section, members in sections.items():
        if section and len(sections) > 1:
            parts.append(f"<h3>{_e(section)}</h3>")
        parts += [_image(figure) for figure in members]
    if notes:
        parts.append('<ul class="muted">' + "".join(f"<li>{_e(note)}</li>" for note in notes) + "</ul>")
    return parts


# --------------------------------------------------------------------------- brain scores


def _brain_metric_order(metrics: list[str]) -> list[str]:
    known = [m for m in BRAIN_ORDER if m in metrics]
    rois = sorted(m for m in metrics if m.startswith("r_roi:"))
    rest = sorted(m for m in metrics if m not in known and m not in rois and m not in COUNT_METRICS)
    return known + rois + rest


def brain_tables(results: pd.DataFrame, curves: ModelCurves, target: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per checkpoint at its best layer: every score averaged over subjects, and r_mean per subject."""
    curve = curves.brain[target]
    best = pd.DataFrame({"step": curve.steps, "tokens": curve.tokens, "best layer": curve.best_layer})
    rows = results[(results["model"] == curves.model) & (results["kind"] == "brain") & (results["target"] == target)
                   & results["layer"].notna()]
    rows = rows.merge(best, left_on=["step", "layer"], right_on=["step", "best layer"], suffixes=("", "_best"))
    mean = rows[rows["scope"] == BRAIN_SCOPE].pivot_table(
        index="step", columns="metric", values="value", aggfunc="first"
    )
    mean = mean[_brain_metric_order([str(c) for c in mean.columns])]
    subjects = rows[(rows["scope"] != BRAIN_SCOPE) & (rows["metric"] == BRAIN_METRIC)]
    per_subject = subjects.pivot_table(index="step", columns="scope", values="value", aggfunc="first")
    scores = best.merge(mean, left_on="step", right_index=True, how="left")
    by_subject = best.merge(per_subject, left_on="step", right_index=True, how="left")
    return scores, by_subject


def _channel_counts(results: pd.DataFrame, model: str, target: str, channels: Channels) -> str:
    rows = results[(results["model"] == model) & (results["kind"] == "brain") & (results["target"] == target)
                   & (results["scope"] != BRAIN_SCOPE) & results["metric"].isin(COUNT_METRICS)]
    if rows.empty:
        return ""
    counts = rows.groupby(["scope", "metric"])["value"].max().unstack("metric")
    text = ", ".join(f"{subject} {format_cell(r.get(channels.count_metric), digits=0)}"
                     + (f" ({format_cell(r.get('n_dropped'), digits=0)} dropped)" if r.get("n_dropped", 0) else "")
                     + (f" ({format_cell(r.get('n_unselected'), digits=0)} left out by encoding.voxels)"
                        if r.get("n_unselected", 0) > 0 else "")
                     for subject, r in counts.iterrows())
    return f"{channels} scored per subject: {text}"


def _nuisance_note(inputs: ReportInputs) -> str:
    """What r_joint, r_nuisance and r2_unique are, naming the nuisance bands; '' for a run without them."""
    if "r2_unique" not in set(inputs.results.get("metric", pd.Series(dtype=str))):
        return ""
    bands = sorted({name for info in inputs.datasets.values() for name in info.nuisance})
    named = ", ".join(name.replace("_", " ") for name in bands) or "the nuisance bands"
    return (f"With nuisance bands ({named}; encoding.nuisance): r_joint = mean r of the model's features and the "
            "nuisance bands fitted together (banded ridge), r_nuisance = mean r of the nuisance bands alone, "
            "r2_unique = R² of the joint fit minus R² of the nuisance-only fit on the test stories: the variance the "
            f"model explains beyond {named}, mapped per voxel beside r. A surge in r2_unique over training is the "
            "stronger claim: it cannot come from low-level properties of the words alone.")


def _brain(inputs: ReportInputs) -> list[str]:
    by_target = target_channels(inputs.results)
    words = sorted({by_target.get(a.target, Channels.VOXELS) for a in inputs.analyses if a.target},
                   key=list(Channels).index)
    channels = " / ".join(words) if words else Channels.VOXELS
    parts = [
        _heading("brain"),
        '<p class="muted">At the best layer of each checkpoint (chosen on r_mean averaged over subjects): '
        f"r_mean = mean Pearson r over all kept {channels} on the test stories; "
        "r_mean_norm = r_mean / mean noise ceiling "
        f"(where the dataset has test-story repeats); r_top = mean r of the top {channels} chosen on training data; "
        "r_roi:NAME = mean r within a region; then r_mean per subject.</p>",
    ]
    nuisance = _nuisance_note(inputs)
    if nuisance:
        parts.append(f'<p class="muted">{_e(nuisance)}</p>')
    for analysis in inputs.analyses:
        if not analysis.target:
            continue
        model, target = analysis.curves.model, analysis.target
        scores, by_subject = brain_tables(inputs.results, analysis.curves, target)
        counts = _channel_counts(inputs.results, model, target, by_target.get(target, Channels.VOXELS))
        parts += [f"<h3>{_e(model)} on {_e(target)}</h3>", table_html(scores, token_columns={"tokens"}, digits=4)]
        if counts:
            parts.append(f'<p class="muted">{_e(counts)}</p>')
        if by_subject.shape[1] > 3:
            parts += ["<h4>r_mean per subject</h4>", table_html(by_subject, token_columns={"tokens"}, digits=4)]
    problems = [f"{info.label}: {problem}" for info in inputs.datasets.values() for problem in info.problems]
    if problems:
        parts.append('<ul class="muted">' + "".join(f"<li>{_e(p)}</li>" for p in problems) + "</ul>")
    return parts + _paired(inputs.comparisons)


def _paired(comparisons: pd.DataFrame) -> list[str]:
    """The paired differences of ``comparisons.csv`` (each checkpoint vs step 0, original vs control) as a table."""
    if comparisons.empty:
        return []
    units = ", ".join(dict.fromkeys(comparisons["resampled"]))
    shown = comparisons[["comparison", "model", "target", "versus", "step", "tokens", "layer", "versus_layer"]].copy()
    shown["difference [95 % CI]"] = [gain_text(d, lo, hi) for d, lo, hi in
                                     zip(*(comparisons[c].to_numpy(float) for c in ("difference", "lo", "hi")))]
    shown["p"], shown["Holm p"] = comparisons["p"], comparisons["p_holm"]
    note = (f"Paired differences of r_mean (each side at its best layer; both on the same draws, resampling {units}); "
            f"Holm-corrected across the {len(comparisons)} rows (tables/comparisons.csv).")
    return [
        "<h4>Paired differences</h4>",
        f'<p class="muted">{_e(note)}</p>',
        table_html(shown, token_columns={"tokens"}, digits=4),
    ]


# --------------------------------------------------------------------------- curves, tasks, provenance


def _curve_table(named: list[tuple[str, Series | None]]) -> pd.DataFrame:
    """One row per checkpoint, one column per curve (curves missing at a checkpoint left empty), and
    beside a curve with intervals its '<name> 95 %' column ('[lo, hi]')."""
    frame: pd.DataFrame | None = None
    for name, values in named:
        if values is None:
            continue
        part = pd.DataFrame({"step": values.steps, "tokens": values.tokens, name: values.values})
        if values.lo is not None and values.hi is not None:
            part[f"{name} 95 %"] = [interval_text(lo, hi, 4) for lo, hi in zip(values.lo, values.hi)]
        frame = part if frame is None else frame.merge(part, on=["step", "tokens"], how="outer")
    return frame.sort_values("step").reset_index(drop=True) if frame is not None else pd.DataFrame()


def _curves(analyses: list[CurveAnalysis]) -> list[str]:
    parts = [_heading("curves")]
    for curves in {id(a.curves): a.curves for a in analyses}.values():
        parts.append(f"<h3>{_e(curves.model)} ({_e(curves.family)})</h3>")
        tasks = _curve_table([("instruction following", curves.instruction), ("correctness", curves.correctness),
                              ("task accuracy", curves.accuracy)])
        if not tasks.empty:
            parts += ["<h4>Task behaviour</h4>", table_html(tasks, token_columns={"tokens"}, digits=4),
                      f'<p class="muted">95 % intervals resample {ITEMS}: Wilson\'s over the items of one task\'s '
                      "proportion, +-1.96 standard errors for the mean over a task set.</p>"]
        metrics = _curve_table(list(curves.metrics.items()))
        if not metrics.empty:
            parts += [
                f"<h4>Internal metrics ({LAYER_SUMMARY})</h4>",
                table_html(metrics, token_columns={"tokens"}, digits=4),
                f'<p class="muted">Each value is the {LAYER_SUMMARY}: a metric\'s layers can differ by an order of '
                "magnitude (the embedding layer's intrinsic dimension against later layers'), and a mean would be "
                "a value no layer has. Each layer is in the metrics figure and in <code>harness show</code>, with "
                "the 95 % interval of the metrics that report a standard error (gride: Cramér-Rao; probes: over "
                "story folds); the median over layers has none.</p>",
            ]
        if tasks.empty and metrics.empty:
            parts.append('<p class="muted">(no task or metric curves)</p>')
    return parts


def _final_scores(results: pd.DataFrame) -> pd.DataFrame:
    tasks = results[results["kind"] == "task"]
    if tasks.empty:
        return tasks
    last = with_intervals(tasks[tasks["step"] == tasks.groupby("model")["step"].transform("max")])
    last["95 % CI"] = [
        interval_text(lo, hi, 4) for lo, hi in zip(last["lo"].to_numpy(float), last["hi"].to_numpy(float))
    ]
    last["resampled"] = last["interval"]
    return last[["model", "step", "tokens", "target", "scope", "metric", "value", "stderr", "items", "95 % CI",
                 "resampled"]].reset_index(drop=True)


def _provenance(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    plugins = results[
        ["model", "family", "kind", "target", "plugin", "plugin_version", "config_hash", "data_hash", "seed"]
    ]
    checkpoints = results[["model", "step", "tokens", "revision", "commit"]]
    return plugins.drop_duplicates().reset_index(drop=True), checkpoints.drop_duplicates().reset_index(drop=True)


def render_report(inputs: ReportInputs) -> str:
    """The report page as a string."""
    run_dir = Path(inputs.run_dir)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    has_results = not inputs.results.empty
    present = (
        {"summary", "glance", "phases", "figures", "transitions", "brain", "curves", "tasks", "provenance", "config"}
        if has_results
        else {"config"}
    )
    if not inputs.failures.cells.empty:
        present.add("failures")
    parts = [
        f'<p class="muted">generated {now} by harness {_e(__version__)} from <code>{_e(run_dir.resolve())}</code></p>',
        *_notices(inputs.datasets, inputs.controls),
        *_status(inputs),
        _toc(present),
    ]
    if has_results:
        parts += [_heading("summary"), "<ul>", *[_finding(a) for a in inputs.analyses],
                  *_above_controls(inputs.comparisons, inputs.controls), "</ul>"]
        if not inputs.headline.empty:
            parts += [_heading("glance"), _glance(inputs.headline, inputs.results)]
    phase_figures = [f for f in inputs.figures if f.png.name.startswith(PHASE_FIGURE)]
    if has_results:  # the finding, the card, then the phase figure with its verdicts
        parts += _phases(inputs.phases, phase_figures, inputs.settings)
    if "failures" in present:
        parts += _failures(inputs.failures)
    if has_results:
        parts += _figures([f for f in inputs.figures if f not in phase_figures], inputs.figure_notes)
        parts += _transitions(inputs.transitions)
        parts += _brain(inputs)
        parts += _curves(inputs.analyses)
        parts += [_heading("tasks"), table_html(_final_scores(inputs.results), token_columns={"tokens"}, digits=4)]
        plugins, checkpoints = _provenance(inputs.results)
        parts += [_heading("provenance"), table_html(plugins), table_html(checkpoints, token_columns={"tokens"})]
    config = load_config_text(run_dir)
    parts += [_heading("config"), f"<pre>{_e(config) if config else '(no config.yaml in the run)'}</pre>"]
    return html_page(f"harness report: {run_dir.name}", parts)


def write_report(inputs: ReportInputs) -> Path:
    """Write ``RUN/report.html`` and return its path."""
    path = Path(inputs.run_dir) / REPORT_NAME
    atomic_write_text(path, render_report(inputs))
    return path
