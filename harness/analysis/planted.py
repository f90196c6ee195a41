"""Planted truth for the phase verdicts: simulated runs whose transitions are known.

A simulated run is a results table as a sweep writes it (``harness.store.schema.RESULT_COLUMNS``): brain
alignment of 3 subjects x 3 layers and its mean over subjects, instruction following and a
4-choice task's accuracy with their item standard errors, on Pythia's checkpoint schedule (steps 0,
1, 2, 4, ..., 512, then every 1,000 to 143,000; 2,097,152 tokens a step) or a log-spaced subset of
it. It is judged by ``analyze_frame``, exactly as a run is. Each planted transition is a logistic
step in log10 tokens at a location drawn per simulation. The noise is what real sweeps have:

* brain: a standard deviation of 0.005-0.01 per checkpoint on each subject's and layer's r, up to
  half of its variance shared by every subject and layer (training noise the subject bootstrap
  cannot see), the rest independent;
* behaviour: proportions over ``items`` items per checkpoint (binomial), with their binomial
  standard errors, as the task plugins report them.

Adversarial cases: a single checkpoint shifted up at the onset of instruction following (a loss
spike, a bad save), behaviour lagging the brain by a decade or more, brain and behaviour transitions
planted independently, brain falls while accuracy rises, and coarse grids of 5 and 12 checkpoints.
``benchmarks/phases.py`` runs many simulations of each case; the tests run a few.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.analysis.findings import analyze_frame
from harness.analysis.phases import PhaseResult, PhaseSettings
from harness.analysis.signals import ACCURACY, BRAIN_BEST, INSTRUCTION
from harness.analysis.tokens import log_tokens
from harness.store.schema import typed_results

TOKENS_PER_STEP = 2_097_152
PYTHIA_STEPS = np.array([0, *[2**i for i in range(10)], *range(1000, 143_001, 1000)])
WIDTH = 0.12  # decades over which a planted transition happens (logistic scale)
BRAIN_SURGE, BRAIN_FALL, BRAIN_REALIGN = 0.04, 0.03, 0.03
LAYER_GAINS = (0.7, 1.0, 0.85)  # the middle layer aligns best, as in real models
SUBJECTS = 3
BRAIN_NOISE = (0.005, 0.01)  # standard deviation per checkpoint of one subject's and layer's r
CHANCE, ACCURACY_GAIN, FOLLOWS = 0.25, 0.5, 0.9
SCENARIOS = ("triple", "surge_only", "none", "lagged", "detach_while_accuracy_rises", "spike", "independent")
TARGET, TASKS = "sim", "tasks"


def pythia_grid(n: int) -> np.ndarray:
    """``n`` of Pythia's 154 checkpoints (as token counts): step 0 and the ones nearest a log-spaced grid.

    Where two grid points pick the same checkpoint, the widest remaining gaps (in log tokens) are
    filled until there are ``n``.
    """
    tokens = PYTHIA_STEPS * TOKENS_PER_STEP
    if n >= len(tokens):
        return tokens
    x = log_tokens(tokens)
    chosen = {0, len(tokens) - 1}
    for target in np.linspace(x[1], x[-1], n - 1):
        chosen.add(int(np.argmin(np.abs(x - target))))
    while len(chosen) < n:
        ordered = sorted(chosen)
        gaps = [(x[b] - x[a], a, b) for a, b in zip(ordered, ordered[1:]) if b - a > 1]
        _, a, b = max(gaps)
        chosen.add(int(np.argmin(np.abs(x[a + 1:b] - (x[a] + x[b]) / 2))) + a + 1)
    return tokens[sorted(chosen)]


def _logistic(x: np.ndarray, centre: float) -> np.ndarray:
    return 1 / (1 + np.exp(-(x - centre) / WIDTH))


@dataclass(frozen=True)
class Case:
    """One cell of the benchmark: a scenario on a grid, behaviour over ``items`` items, a spike's size."""

    scenario: str
    grid: int
    items: int = 100
    spike: float = 0.0

    @property
    def name(self) -> str:
        extra = f" spike+{self.spike:.2f}" if self.spike else ""
        return f"{self.scenario}{extra}"


@dataclass(frozen=True)
class Planted:
    """What one simulation planted: the phases that hold, the surge lag and every transition's location."""

    phases: tuple[str, ...]
    lag: float | None  # brain surge minus instruction rise, decades (None: no such pair)
    transitions: dict[str, tuple[tuple[int, float], ...]] = field(default_factory=dict)  # signal -> (direction, x)


@dataclass(frozen=True)
class _Shape:
    """Noise-free brain (per unit layer gain), instruction following and chance-corrected accuracy."""

    brain: np.ndarray
    follows: np.ndarray
    accuracy: np.ndarray
    planted: Planted


def _shape(case: Case, x: np.ndarray, rng: np.random.Generator) -> _Shape:
    surge_at = rng.uniform(9.3, 9.7)
    fall_at = surge_at + rng.uniform(0.6, 0.8)
    realign_at = fall_at + rng.uniform(0.5, 0.6)
    triple = BRAIN_SURGE * _logistic(x, surge_at) - BRAIN_FALL * _logistic(x, fall_at) \
        + BRAIN_REALIGN * _logistic(x, realign_at)
    triple_at = ((1, surge_at), (-1, fall_at), (1, realign_at))
    surge = BRAIN_SURGE * _logistic(x, surge_at)
    flat = np.zeros_like(x)
    follows, accuracy = FOLLOWS * _logistic(x, surge_at), ACCURACY_GAIN * _logistic(x, realign_at)
    behaviour = {INSTRUCTION: ((1, surge_at),), ACCURACY: ((1, realign_at),)}
    scenario = case.scenario
    if scenario == "triple":
        return _Shape(triple, follows, accuracy, Planted(("surge", "detachment", "realignment"), 0.0,
                                                         {BRAIN_BEST: triple_at, **behaviour}))
    if scenario == "surge_only":
        return _Shape(surge, follows, flat, Planted(("surge",), 0.0, {BRAIN_BEST: ((1, surge_at),),
                                                                     INSTRUCTION: ((1, surge_at),)}))
    if scenario in ("none", "spike"):
        return _Shape(flat, follows, accuracy, Planted((), None, {BRAIN_BEST: (), **behaviour}))
    if scenario == "lagged":
        lag = float(rng.choice([-1, 1]) * rng.uniform(1.0, 1.5))
        return _Shape(surge, FOLLOWS * _logistic(x, surge_at - lag), flat,
                      Planted((), lag, {BRAIN_BEST: ((1, surge_at),), INSTRUCTION: ((1, surge_at - lag),)}))
    if scenario == "detach_while_accuracy_rises":
        return _Shape(triple, follows, ACCURACY_GAIN * _logistic(x, fall_at),
                      Planted(("surge",), 0.0, {BRAIN_BEST: triple_at, INSTRUCTION: ((1, surge_at),),
                                                ACCURACY: ((1, fall_at),)}))
    if scenario == "independent":
        follows_at, accuracy_at = rng.uniform(8.0, 10.6), rng.uniform(9.4, 11.2)
        return _Shape(triple, FOLLOWS * _logistic(x, follows_at), ACCURACY_GAIN * _logistic(x, accuracy_at),
                      Planted((), surge_at - follows_at, {BRAIN_BEST: triple_at, INSTRUCTION: ((1, follows_at),),
                                                          ACCURACY: ((1, accuracy_at),)}))
    raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")


def _rows(model: str, tokens: np.ndarray, kind: str, target: str, layer: object, scope: str, metric: str,
          values: np.ndarray, stderr: np.ndarray | float = np.nan, chance: float = np.nan) -> pd.DataFrame:
    return pd.DataFrame({"model": model, "family": "planted", "step": tokens // TOKENS_PER_STEP, "tokens": tokens,
                         "kind": kind, "target": target, "plugin": "planted", "layer": layer, "scope": scope,
                         "metric": metric, "value": values, "stderr": stderr, "chance": chance, "seed": 0})


def _proportion(p: np.ndarray, items: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    observed = rng.binomial(items, np.clip(p, 0, 1)) / items
    return observed, np.sqrt(observed * (1 - observed) / items)


def _brain_rows(
    model: str, tokens: np.ndarray, shape: _Shape, case: Case, rng: np.random.Generator
) -> list[pd.DataFrame]:
    """Per subject and layer: baseline + gain x shape + noise; and the mean over subjects (scope ``mean``)."""
    noise = rng.uniform(*BRAIN_NOISE)
    shared_share = rng.uniform(0.0, 0.5)  # of the variance, common to every subject and layer
    shared = rng.normal(0, noise * np.sqrt(shared_share), tokens.size)
    own = noise * np.sqrt(1 - shared_share)
    spike = np.zeros(tokens.size)
    if case.spike:
        onset = planted_onset(shape)
        spike[int(np.argmin(np.abs(log_tokens(tokens) - onset)))] = case.spike
    frames = []
    for layer, gain in enumerate(LAYER_GAINS):
        base = 0.05 + 0.003 * layer + gain * shape.brain + shared + spike
        subjects = base + rng.normal(0, 0.01, (SUBJECTS, 1)) + rng.normal(0, own, (SUBJECTS, tokens.size))
        for s, values in enumerate(subjects):
            frames.append(_rows(model, tokens, "brain", TARGET, layer, f"S{s + 1}", "r_mean", values))
        frames.append(_rows(model, tokens, "brain", TARGET, layer, "mean", "r_mean", subjects.mean(axis=0)))
    return frames


def planted_onset(shape: _Shape) -> float:
    """Where instruction following starts rising (its planted location)."""
    return shape.planted.transitions[INSTRUCTION][0][1]


def simulate(case: Case, seed: int, model: str = "sim") -> tuple[pd.DataFrame, Planted]:
    """The results table of one simulated model, and what was planted."""
    rng = np.random.default_rng(seed)
    tokens = pythia_grid(case.grid)
    x = log_tokens(tokens)
    shape = _shape(case, x, rng)
    follows, follows_se = _proportion(shape.follows, case.items, rng)
    accuracy, accuracy_se = _proportion(CHANCE + (1 - CHANCE) * shape.accuracy, case.items, rng)
    frames = _brain_rows(model, tokens, shape, case, rng) + [
        _rows(model, tokens, "task", TASKS, None, "instruction", "follows_format", follows, follows_se),
        _rows(model, tokens, "task", TASKS, None, "quiz", "acc", accuracy, accuracy_se, CHANCE),
    ]
    return typed_results(pd.concat(frames, ignore_index=True)), shape.planted


@dataclass(frozen=True)
class Located:
    """A located transition the analysis reported: its signal, direction, location and 95 % interval."""

    signal: str
    direction: int
    x: float
    lo: float
    hi: float


@dataclass(frozen=True)
class Outcome:
    """One simulation: its case, what was planted and what the analysis concluded."""

    case: Case
    planted: Planted
    pattern: str
    confirmed: tuple[str, ...]
    surge_reason: str
    lag: tuple[float, float, float] | None  # the surge verdict's lag (brain minus instruction), with its interval
    lag_pair: tuple[float, float] | None  # the brain and instruction transitions that lag is between (log10 tokens)
    located: tuple[Located, ...]


def _located(result: PhaseResult) -> tuple[Located, ...]:
    out = []
    for name in (BRAIN_BEST, INSTRUCTION, ACCURACY):
        found = result.signal(name)
        for t in found.transitions if found is not None else []:
            out.append(Located(name, t.direction, t.x, t.x_lo, t.x_hi))
    return tuple(out)


def run_one(case: Case, seed: int, settings: PhaseSettings) -> Outcome:
    """Simulate one model and judge it as a run's analysis would."""
    frame, planted = simulate(case, seed)
    (analysis,) = analyze_frame(frame, None, settings)
    result = analysis.result
    assert result is not None
    surge = result.verdict("surge")
    pair = (surge.brain.x, surge.behaviour.x) if surge.brain is not None and surge.behaviour is not None else None
    return Outcome(case, planted, result.pattern, tuple(result.labels()), surge.reason, surge.lag, pair,
                   _located(result))


def _share(outcomes: Iterable[Outcome], test: Callable[[Outcome], bool]) -> float:
    picked = list(outcomes)
    return float(np.mean([test(o) for o in picked])) if picked else float("nan")


def location_hits(outcome: Outcome) -> list[bool]:
    """For each planted transition the analysis found (same signal and direction, within a decade),
    whether the nearest such transition's 95 % interval holds the planted location."""
    hits = []
    for name, planted in outcome.planted.transitions.items():
        for direction, at in planted:
            near = [
                t for t in outcome.located if t.signal == name and t.direction == direction and abs(t.x - at) <= 1.0
            ]
            if near:
                nearest = min(near, key=lambda t: abs(t.x - at))
                hits.append(bool(nearest.lo <= at <= nearest.hi))
    return hits


def _nearest_planted(outcome: Outcome, signal: str, at: float) -> float | None:
    rises = [x for direction, x in outcome.planted.transitions.get(signal, ()) if direction > 0]
    return min(rises, key=lambda x: abs(x - at)) if rises else None


def lag_hit(outcome: Outcome) -> bool | None:
    """Whether the surge verdict's lag interval holds the planted lag between the two rises it compared
    (the planted brain and instruction rises nearest them); None where no lag was measured or no
    such rises were planted."""
    if outcome.lag is None or outcome.lag_pair is None:
        return None
    brain = _nearest_planted(outcome, BRAIN_BEST, outcome.lag_pair[0])
    follows = _nearest_planted(outcome, INSTRUCTION, outcome.lag_pair[1])
    if brain is None or follows is None:
        return None
    _, lo, hi = outcome.lag
    return bool(lo <= brain - follows <= hi)


@dataclass(frozen=True)
class Rates:
    """The benchmark's figures over many outcomes (see ``benchmarks/phases.py`` for the targets)."""

    spike_false_surge: float  # worst case over spike sizes and grids
    lagged_false_surge: float
    none_false_triple: float
    triple_recall_400: float
    triple_recall_100: float
    lag_coverage: float
    location_coverage: float

    def line(self) -> str:
        return (
            f"phases: spike_false_surge={self.spike_false_surge:.2f} lagged_false_surge={self.lagged_false_surge:.2f} "
            f"none_false_triple={self.none_false_triple:.2f} triple_recall_154_items400={self.triple_recall_400:.2f} "
            f"triple_recall_154_items100={self.triple_recall_100:.2f} lag_coverage={self.lag_coverage:.2f} "
            f"location_coverage={self.location_coverage:.2f}"
        )


def rates(outcomes: list[Outcome]) -> Rates:
    """False surges on spikes (worst spike case) and lagged behaviour, false triples without a brain
    transition, triple recall on 154 checkpoints at 400 and 100 items, and the coverage of the lag
    and location intervals over every simulation that measured one."""
    def of(scenario: str, grid: int | None = None, items: int | None = None) -> list[Outcome]:
        return [o for o in outcomes if o.case.scenario == scenario and (grid is None or o.case.grid == grid)
                and (items is None or o.case.items == items)]

    spikes = {o.case for o in of("spike")}
    spike_rates = [_share((o for o in outcomes if o.case == case), lambda o: "surge" in o.confirmed) for case in spikes]
    lags = [hit for o in outcomes if (hit := lag_hit(o)) is not None]
    locations = [hit for o in outcomes for hit in location_hits(o)]
    return Rates(
        spike_false_surge=max(spike_rates) if spike_rates else float("nan"),
        lagged_false_surge=_share(of("lagged"), lambda o: "surge" in o.confirmed),
        none_false_triple=_share(of("none"), lambda o: o.pattern == "triple-phase"),
        triple_recall_400=_share(of("triple", 154, 400), lambda o: o.pattern == "triple-phase"),
        triple_recall_100=_share(of("triple", 154, 100), lambda o: o.pattern == "triple-phase"),
        lag_coverage=float(np.mean(lags)) if lags else float("nan"),
        location_coverage=float(np.mean(locations)) if locations else float("nan"),
    )
