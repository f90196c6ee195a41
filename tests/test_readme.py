"""The README's configuration reference is a config the harness accepts and can plan."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from harness.config import parse_config
from harness.planner import make_plan
from harness.registry import get_registry

README = Path(__file__).resolve().parents[1] / "README.md"


def test_configuration_reference_validates_and_plans():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Configuration reference.*?```yaml\n(.*?)```", text, re.S).group(1)
    config = parse_config(yaml.safe_load(block), "README.md")
    plan = make_plan(config, get_registry(), "README.md")
    families = {m.family.name for m in plan.models}
    assert families == {"pythia"}
    assert {t.label for t in plan.targets} == {"lebel2023", "offline", "lm_eval", "intrinsic_dim", "drift"}
    assert len(plan.models[0].checkpoints) == 12  # log:12 over Pythia's 154 checkpoints
