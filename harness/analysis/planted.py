"""Planted truth for the phase verdicts: simulated brain and behaviour curves whose transitions are known.

Curves live on Pythia's checkpoint schedule (steps 0, 1, 2, 4, ..., 512, then every 1,000 to
143,000; 2,097,152 tokens a step) or a log-spaced subset of it. Each transition is a logistic
step in log10 tokens. Noise is at the levels seen in the demo's runs, on the generous side:

* brain alignment: Gaussian, ``BRAIN_NOISE`` per checkpoint (5x the demo's bootstrap spread
  relative to its surge), with bootstrap-like replicates drawn at the same level;
* instruction following: a proportion over ``INSTRUCTION_ITEMS`` items (binomial; the demo asks
  24-48 items per task), its standard error the binomial one;
* task accuracy: a proportion over ``ACCURACY_ITEMS`` items at chance 0.25, chance-corrected.

``benchmarks/phases.py`` runs many simulations of each scenario; the tests run a few.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.analysis.phases import PhaseResult, PhaseSettings, judge
from harness.analysis.signals import ACCURACY, BEHAVIOUR, BRAIN, BRAIN_BEST, INSTRUCTION, Signal
from harness.analysis.tokens import log_tokens
from harness.analysis.transitions import analyse_signal

TOKENS_PER_STEP = 2_097_152
PYTHIA_STEPS = np.array([0, *[2**i for i in range(10)], *range(1000, 143_001, 1000)])
SURGE, FALL, REALIGN = 9.6, 10.4, 11.0  # log10 tokens of the planted transitions
WIDTH = 0.12  # decades over which a planted transition happens (logistic scale)
BRAIN_NOISE = 0.004
BRAIN_SURGE, BRAIN_FALL, BRAIN_REALIGN = 0.04, 0.02, 0.03
INSTRUCTION_ITEMS = 48
ACCURACY_ITEMS, ACCURACY_CHANCE, ACCURACY_GAIN = 200, 0.25, 0.5
SCENARIOS = ("triple", "surge_only", "none", "lagged", "detach_while_accuracy_rises")


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
class Truth:
    """What was planted: the phases that hold, and the lag between brain surge and instruction rise."""

    phases: tuple[str, ...]
    lag: float | None  # brain minus instruction following, decades (None: no such pair)


def _curves(scenario: str, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, Truth]:
    """Noise-free brain r, instruction following and chance-corrected accuracy, and the truth."""
    flat = np.zeros_like(x)
    surge = BRAIN_SURGE * _logistic(x, SURGE)
    fall = BRAIN_FALL * _logistic(x, FALL)
    realign = BRAIN_REALIGN * _logistic(x, REALIGN)
    follows = 0.9 * _logistic(x, SURGE)
    if scenario == "triple":
        return 0.05 + surge - fall + realign, follows, ACCURACY_GAIN * _logistic(x, REALIGN), \
            Truth(("surge", "detachment", "realignment"), 0.0)
    if scenario == "surge_only":
        return 0.05 + surge, follows, flat, Truth(("surge",), 0.0)
    if scenario == "none":
        return 0.05 + flat, follows, ACCURACY_GAIN * _logistic(x, REALIGN), Truth((), None)
    if scenario == "lagged":
        lag = float(rng.uniform(1.0, 1.5))
        return 0.05 + surge, 0.9 * _logistic(x, SURGE + lag), flat, Truth((), -lag)
    if scenario == "detach_while_accuracy_rises":
        return 0.05 + surge - fall + realign, follows, ACCURACY_GAIN * _logistic(x, FALL), Truth(("surge",), 0.0)
    raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")


def _proportion(p: np.ndarray, items: int, n_boot: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An observed proportion over ``items`` and replicates drawn from its binomial standard error."""
    observed = rng.binomial(items, np.clip(p, 0, 1)) / items
    stderr = np.sqrt(observed * (1 - observed) / items)
    return observed, observed + rng.standard_normal((n_boot, p.size)) * stderr


def _chance_corrected(accuracy: np.ndarray) -> np.ndarray:
    return (accuracy - ACCURACY_CHANCE) / (1 - ACCURACY_CHANCE)


def simulate(scenario: str, grid: int, seed: int, n_boot: int = 100) -> tuple[list[Signal], Truth]:
    """The brain, instruction and accuracy signals of one simulated model, and what was planted."""
    rng = np.random.default_rng(seed)
    tokens = pythia_grid(grid)
    x = log_tokens(tokens)
    brain, follows, accuracy, truth = _curves(scenario, x, rng)
    brain_obs = brain + rng.normal(0, BRAIN_NOISE, x.size)
    brain_reps = brain_obs + rng.normal(0, BRAIN_NOISE, (n_boot, x.size))
    if_obs, if_reps = _proportion(follows, INSTRUCTION_ITEMS, n_boot, rng)
    raw = ACCURACY_CHANCE + (1 - ACCURACY_CHANCE) * accuracy
    acc_obs, acc_reps = _proportion(raw, ACCURACY_ITEMS, n_boot, rng)
    signals = [
        Signal(BRAIN_BEST, BRAIN, "sim", tokens, brain_obs, (-1.0, 1.0), brain_reps, "planted"),
        Signal(INSTRUCTION, BEHAVIOUR, "", tokens, if_obs, (0.0, 1.0), np.clip(if_reps, 0, 1), "planted"),
        Signal(ACCURACY, BEHAVIOUR, "", tokens, _chance_corrected(acc_obs), (-np.inf, 1.0),
               _chance_corrected(np.clip(acc_reps, 0, 1)), "planted"),
    ]
    return signals, truth


def verdicts(signals: list[Signal], settings: PhaseSettings) -> PhaseResult:
    """The phase verdicts on simulated signals, exactly as a run's analysis reaches them."""
    found = [analyse_signal("sim", "planted", s, max_changes=settings.max_changes, ci=settings.ci,
                            n_boot=settings.n_boot, seed=settings.seed) for s in signals]
    return judge("sim", "planted", "sim", found, settings)


@dataclass(frozen=True)
class Outcome:
    """One simulation: the scenario, grid, what was planted and what the analysis concluded."""

    scenario: str
    grid: int
    truth: Truth
    pattern: str
    confirmed: tuple[str, ...]
    lag: float | None  # the surge verdict's estimated lag (brain minus instruction following)


def run_one(scenario: str, grid: int, seed: int, settings: PhaseSettings) -> Outcome:
    signals, truth = simulate(scenario, grid, seed, settings.n_boot)
    result = verdicts(signals, settings)
    surge = result.verdict("surge")
    return Outcome(scenario, grid, truth, result.pattern, tuple(result.labels()), surge.lag[0] if surge.lag else None)


@dataclass(frozen=True)
class Rates:
    """The benchmark's figures over many outcomes."""

    lagged_false_surge: float
    none_false_triple: float
    triple_recall: dict[int, float]
    lag_error: float

    def line(self) -> str:
        recalls = " ".join(f"triple_recall_{grid}={rate:.2f}" for grid, rate in sorted(self.triple_recall.items())
                           if grid != min(self.triple_recall))
        return (f"phases: lagged_false_surge={self.lagged_false_surge:.2f} "
                f"none_false_triple={self.none_false_triple:.2f} {recalls} lag_error_decades={self.lag_error:.2f}")


def _share(outcomes: list[Outcome], test: Callable[[Outcome], bool]) -> float:
    return float(np.mean([test(o) for o in outcomes])) if outcomes else float("nan")


def rates(outcomes: list[Outcome]) -> Rates:
    """False surges on lagged behaviour, false triples without a brain transition, triple recall per
    grid, and the median absolute error of the estimated lag (wherever a surge verdict measured one)."""
    def of(scenario: str, grid: int | None = None) -> list[Outcome]:
        return [o for o in outcomes if o.scenario == scenario and (grid is None or o.grid == grid)]

    errors = [abs(o.lag - o.truth.lag) for o in outcomes if o.lag is not None and o.truth.lag is not None]
    grids = sorted({o.grid for o in outcomes})
    return Rates(
        lagged_false_surge=_share(of("lagged"), lambda o: "surge" in o.confirmed),
        none_false_triple=_share(of("none"), lambda o: o.pattern == "triple-phase"),
        triple_recall={grid: _share(of("triple", grid), lambda o: o.pattern == "triple-phase") for grid in grids},
        lag_error=float(np.median(errors)) if errors else float("nan"),
    )
