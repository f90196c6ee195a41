"""An adaptive sweep of the tiny tinylm on the simulated dataset: N checkpoints where the curve moves, and a
sweep interrupted after round 0 resumes to the same checkpoints and identical tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness import torch_threads
from harness.analysis.refine import gap_intervals
from harness.plan.config import parse_config
from harness.store.database import RunStore
from harness.sweep.adaptive import AdaptiveRounds
from harness.sweep.driver import run_sweep
from tests.support.tables import read_table

PUBLISHED = [0, 1, 2, 3, 4, 6, 8, 12, 16]  # the tiny preset's 16 steps on tinylm's half-octave grid


def _config(run: Path) -> dict:
    return {
        "run": str(run),
        "models": [{"family": "tinylm", "label": "tiny", "options": {"size": "tiny", "progress": False},
                    "checkpoints": "adaptive:6", "layers": "all"}],
        "brain": [{"dataset": "simulated", "options": {"subjects": 2, "stories": 4, "words_per_story": 150, "voxels": 256},
                   "encoding": {"folds": 3, "alphas": [1, 10, 100, 1000]}}],
        "features": {"context_tokens": 32, "stride": 16},
        "analyze": False,
    }


def _interrupt(self: AdaptiveRounds, plan: object) -> None:
    raise KeyboardInterrupt


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """An uninterrupted adaptive sweep, and one interrupted after round 0 and run again (sharing the caches)."""
    root = tmp_path_factory.mktemp("adaptive")
    with pytest.MonkeyPatch.context() as patch, torch_threads(1):  # a 32-wide model: threads only contend
        patch.setenv("HARNESS_CACHE", str(root / "cache"))
        patch.delenv("HARNESS_PLUGINS", raising=False)
        clean = run_sweep(parse_config(_config(root / "clean")), show_progress=False)
        assert clean.failed == 0, clean.errors
        with pytest.MonkeyPatch.context() as cut:
            cut.setattr(AdaptiveRounds, "advance", _interrupt)
            with pytest.raises(KeyboardInterrupt):
                run_sweep(parse_config(_config(root / "resumed")), show_progress=False)
        resumed = run_sweep(parse_config(_config(root / "resumed")), show_progress=False)
        assert resumed.failed == 0 and resumed.skipped == 3 * 3, resumed  # round 0: 3 checkpoints x 3 layers
    return {"clean": root / "clean", "resumed": root / "resumed"}


def _rounds(run: Path) -> dict[int, tuple[int, str]]:
    with RunStore(run) as store:
        return store.checkpoint_rounds("tiny")


def test_exactly_n_checkpoints_first_and_last_added_inside_the_widest_interval(runs):
    rounds = _rounds(runs["clean"])
    assert len(rounds) == 6 and {0, 16} <= set(rounds) and set(rounds) <= set(PUBLISHED)
    first = sorted(step for step, (r, _) in rounds.items() if r == 0)
    assert first == [0, 3, 16]  # log:3 of the published steps
    with RunStore(runs["clean"]) as store:
        results = store.results_frame()
    assert sorted(set(results["step"])) == sorted(rounds)
    tokens = dict(zip(results["step"], results["tokens"]))
    intervals = gap_intervals(results[results["step"].isin(first)], "tiny")  # what round 1 was decided on
    lo, hi = max(intervals, key=lambda i: i[1] / max(i[0], 64))  # the widest (checkpoint 0 sits at 64 tokens)
    added = [step for step, (r, _) in rounds.items() if r == 1]
    assert added and all(lo < tokens[step] < hi for step in added)
    assert all(why.startswith(("transition ", "gap ")) for r, why in rounds.values() if r > 0)
    log = (runs["clean"] / "logs" / "sweep.log").read_text()
    assert "adaptive tiny: round 0, a log grid of 3 of the 6 checkpoints (9 published): steps 0, 3, 16" in log
    assert "adaptive tiny: finished after round" in log and "6 checkpoints measured" in log


def test_interrupted_after_round_0_resumes_to_identical_tables(runs):
    assert _rounds(runs["resumed"]) == _rounds(runs["clean"])
    tables = sorted(p.name for p in (runs["clean"] / "tables").glob("*.csv"))
    assert tables == sorted(p.name for p in (runs["resumed"] / "tables").glob("*.csv")) == ["tiny__simulated.csv"]
    for name in tables:
        pd.testing.assert_frame_equal(read_table(runs["clean"] / "tables" / name), read_table(runs["resumed"] / "tables" / name))
    log = (runs["resumed"] / "logs" / "sweep.log").read_text()
    assert "sweep interrupted; finished cells are saved" in log and "adaptive tiny: resuming after round 0" in log
