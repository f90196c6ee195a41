"""The instruction ladder's easy rung can be learned: a small tinylm trained on the quiz mix climbs above chance."""

from __future__ import annotations

from harness_plugins.models.tinylm import TinyLMFamily
from harness_plugins.tasks.offline import OfflineSuite

# the default organism, narrower, on a quiz-heavy mix of fewer documents: the circuit forms in about 30 s
LEARNER = {"size": "default", "steps": 600, "n_embd": 64, "vocab_size": 1024, "qa_fraction": 0.9, "max_train_docs": 300}


def ladder_scores(tmp_path, **options) -> dict[tuple[str, str], tuple[float, float | None]]:
    """(scope, metric) -> (value, chance) of the instruction ladder on the last checkpoint of a small tinylm."""
    family = TinyLMFamily(TinyLMFamily.Options(progress=False, cache=str(tmp_path), **options))
    task = OfflineSuite(OfflineSuite.Options(subtasks=["instruction"], instruction_items=40, num_fewshot=1,
                                             cache_dir=str(tmp_path / "suite")))
    loaded = family.load(family.checkpoints()[-1])
    try:
        scores = task.evaluate(loaded, seed=0, workdir=tmp_path)
    finally:
        family.release(loaded)
    return {(s.scope, s.metric): (s.value, s.chance) for s in scores}


def test_the_ladder_is_scored_per_rung_on_a_briefly_trained_tinylm(tmp_path):
    """The same path as the learning test below, with a budget too small to learn anything."""
    scores = ladder_scores(tmp_path, **{**LEARNER, "steps": 2})
    for scope in ("instruction", "instruction:stated", "instruction:copy", "instruction:complete"):
        assert scores[(scope, "correct")][1] == 0.25 and scores[(scope, "follows_format")][1] is None
        assert 0 <= scores[(scope, "correct")][0] <= scores[(scope, "follows_format")][0] <= 1


def test_the_stated_rung_is_learned_well_above_chance(tmp_path):
    """Copying the letter the prompt states is what a two-layer model learns from the quiz mix (training
    is deterministic; 40 items have a standard error of 0.07 at chance, 0.25)."""
    scores = ladder_scores(tmp_path, **LEARNER)
    assert scores[("instruction:stated", "follows_format")][0] >= 0.9
    assert scores[("instruction:stated", "correct")][0] >= 0.5
