"""The rounds of an adaptive sweep: which checkpoints a model with ``checkpoints: adaptive:N/K`` measures.

Round 0 is the ``log:K`` grid of the family's published checkpoints (first and last included).
After each round the interval finder names the token intervals of the transitions found in the
results so far (``DEFAULT_INTERVALS``), and ``refine_checkpoints`` adds ``round_size`` of the
checkpoints still to measure inside the widest of them, until N are measured or no published
checkpoint is left to add. A round's checkpoints are recorded in the run store (table
``rounds``) and logged before they are measured; a resumed sweep goes on from that record, and
each decision reads only the results of the cells planned up to then, so a killed sweep resumes
to the checkpoints (and tables) of an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from harness.analysis.changepoints import MIN_SIZE
from harness.analysis.findings import transition_intervals
from harness.analysis.refine import Choice, Interval, gap_intervals, refine_checkpoints
from harness.analysis.tokens import format_tokens
from harness.plan.planner import ModelPlan, Plan
from harness.store.database import RunStore
from harness.store.logs import SweepLog

# (results, model) -> (lo_tokens, hi_tokens) per transition
IntervalFinder = Callable[[pd.DataFrame, str], list[Interval]]
FEWEST_FOR_A_CHANGE_POINT = 2 * MIN_SIZE


def least_resolved(results: pd.DataFrame, model: str) -> list[Interval]:
    """The 95 % intervals of ``model``'s brain, instruction and accuracy transitions, widest first; with
    fewer checkpoints than a change point needs, the gaps where each curve jumps most stand in."""
    if results.loc[results["model"] == model, "step"].nunique() < FEWEST_FOR_A_CHANGE_POINT:
        return gap_intervals(results, model)
    return transition_intervals(results, model)


DEFAULT_INTERVALS: IntervalFinder = least_resolved
COARSE = "first log grid"


def round_size(remaining: int) -> int:
    """Checkpoints a round adds when ``remaining`` are still to measure: half of them, at least one."""
    return max(1, math.ceil(remaining / 2)) if remaining > 0 else 0


def _steps(steps: list[int]) -> str:
    return ", ".join(map(str, sorted(steps)))


def _why(choice: Choice) -> str:
    return f"{choice.source} {format_tokens(choice.lo)}-{format_tokens(choice.hi)} tokens"


class AdaptiveRounds:
    """Decides, records and logs the rounds of every adaptive model of a sweep."""

    def __init__(self, store: RunStore, log: SweepLog | None = None, intervals: IntervalFinder | None = None,
                 restart: bool = False) -> None:
        self.store, self.log, self.restart = store, log, restart
        self.intervals = intervals or DEFAULT_INTERVALS
        self._round: dict[str, int] = {}
        self._finished: set[str] = set()

    def _say(self, message: str) -> None:
        if self.log is not None:
            self.log.write(message)

    def start(self, plan: Plan) -> Plan:
        """The plan of the rounds recorded so far; round 0 is recorded where nothing (valid) is."""
        steps: dict[str, list[int]] = {}
        for model in plan.models:
            if model.adaptive is None:
                if self.store.checkpoint_rounds(model.label):
                    self.store.clear_rounds(model.label)
                    self._say(
                        f"adaptive {model.label}: no longer adaptive in this config; its record of rounds is dropped"
                    )
                continue
            if self.restart:
                self.store.clear_rounds(model.label)
            steps[model.label] = self._resume(model)
        return plan.with_steps(steps) if steps else plan

    def _resume(self, model: ModelPlan) -> list[int]:
        assert model.adaptive is not None
        label, budget = model.label, model.adaptive.budget
        coarse = [c.step for c in model.checkpoints]
        record = self.store.checkpoint_rounds(label)
        first = sorted(step for step, (round_, _) in record.items() if round_ == 0)
        if record and (first != coarse or not set(record) <= {c.step for c in model.published}):
            self.store.clear_rounds(label)
            self._say(f"adaptive {label}: the recorded rounds started from another grid; starting over "
                      "(finished cells are kept and reused)")
            record = {}
        if not record:
            self.store.record_round(label, 0, dict.fromkeys(coarse, COARSE))
            self._round[label] = 0
            self._say(f"adaptive {label}: round 0, a log grid of {len(coarse)} of the {budget} checkpoints "
                      f"({len(model.published)} published): steps {_steps(coarse)}")
            return coarse
        measured, last = list(coarse), 0
        for round_ in sorted({r for r, _ in record.values() if r > 0}):
            added = [step for step, (r, _) in record.items() if r == round_]
            if len(measured) + len(added) > budget:
                self.store.clear_rounds(label, from_round=round_)
                self._say(f"adaptive {label}: recorded rounds from {round_} on exceed adaptive:{budget}; dropped")
                break
            measured, last = measured + added, round_
        self._round[label] = last
        self._say(f"adaptive {label}: resuming after round {last}: {len(measured)} of {budget} checkpoints "
                  f"chosen, steps {_steps(measured)}")
        return sorted(measured)

    def advance(self, plan: Plan) -> Plan | None:
        """After ``plan``'s cells were measured: the next round's plan, or None when no model adds a checkpoint."""
        steps: dict[str, list[int]] = {}
        results: pd.DataFrame | None = None
        for model in plan.models:
            if model.adaptive is None or model.label in self._finished:
                continue
            measured = [c.step for c in model.checkpoints]
            remaining = model.adaptive.budget - len(measured)
            if remaining > 0:
                results = self.store.results_frame() if results is None else results
                added = self._decide(model, _planned_results(results, plan, model), remaining)
                if added:
                    steps[model.label] = measured + added
                    continue
            self._finished.add(model.label)
            reason = (
                "" if remaining <= 0 else f" (no published checkpoint left to add; adaptive:{model.adaptive.budget})"
            )
            self._say(f"adaptive {model.label}: finished after round {self._round[model.label]}: "
                      f"{len(measured)} checkpoints measured{reason}")
        return plan.with_steps(steps) if steps else None

    def _decide(self, model: ModelPlan, results: pd.DataFrame, remaining: int) -> list[int]:
        """Choose, record and log the next round of ``model``; return its steps (none: nothing left to add)."""
        intervals = self.intervals(results, model.label)
        by_tokens = {c.tokens: c.step for c in model.published}
        choices = refine_checkpoints(
            intervals, [c.tokens for c in model.checkpoints], list(by_tokens), round_size(remaining)
        )
        if not choices:
            return []
        round_ = self._round[model.label] + 1
        reasons = {by_tokens[choice.tokens]: _why(choice) for choice in choices}
        self.store.record_round(model.label, round_, reasons)
        self._round[model.label] = round_
        found = ", ".join(f"{format_tokens(lo)}-{format_tokens(hi)}" for lo, hi in intervals) or "none"
        self._say(f"adaptive {model.label}: round {round_}: transition intervals (tokens) {found}; adding "
                  + ", ".join(f"step {step} ({why})" for step, why in reasons.items()))
        return list(reasons)


def _planned_results(results: pd.DataFrame, plan: Plan, model: ModelPlan) -> pd.DataFrame:
    """The current (not stale) results of the cells ``plan`` holds for ``model``: what a decision may read."""
    steps = {c.step for c in model.checkpoints}
    targets = {t.label for t in plan.targets}
    keep = (results["model"] == model.label) & results["step"].isin(steps) & results["target"].isin(targets)
    keep &= results["layer"].isna() | results["layer"].isin(model.layers)
    keep &= results["stale"].isna()
    return results[keep].reset_index(drop=True)
