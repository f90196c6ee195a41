"""The documented configs validate and plan, the links between the docs resolve, and the plugin guide's
worked metric is a working plugin."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.plan.config import parse_config
from harness.plan.planner import build_plugin, make_plan
from harness.plugin.contract import Checkpoint, Metric, MetricContext
from harness.plugin.registry import get_registry
from tests.support.plugin_packages import activate, write_plugin_package
from tests.support.repo import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"


def _yaml_after(path: Path, heading: str) -> str:
    """The first ```yaml block after ``heading`` in ``path``."""
    match = re.search(re.escape(heading) + r".*?```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
    assert match, f"{path.name}: no yaml block after {heading!r}"
    return match.group(1)


def _plan(text: str, source: str):
    config = parse_config(yaml.safe_load(text), source)
    return make_plan(config, get_registry(), source)


def test_full_configuration_reference_validates_and_plans():
    plan = _plan(_yaml_after(DOCS / "configuration.md", "## The config file"), "docs/configuration.md")
    assert {m.family.name for m in plan.models} == {"pythia"}
    assert {t.label for t in plan.targets} == {"lebel2023", "offline", "lm_eval", "intrinsic_dim", "drift"}
    assert len(plan.models[0].checkpoints) == 12  # log:12 over Pythia's 154 checkpoints


def test_polypythia_example_plans_ten_runs_of_one_group():
    plan = _plan(_yaml_after(DOCS / "configuration.md", "Ten runs of Pythia-160m as one group"), "docs/configuration.md PolyPythias")
    assert [m.label for m in plan.models] == [f"pythia-160m-seed{n}" for n in range(10)]
    assert plan.config.model_groups() == {"pythia-160m": [m.label for m in plan.models]}
    assert [m.family.repo() for m in plan.models] == ["EleutherAI/pythia-160m"] + [f"EleutherAI/pythia-160m-seed{n}" for n in range(1, 10)]
    assert all(len(m.checkpoints) == 12 for m in plan.models)


def test_tinylm_group_and_control_examples_validate():
    groups = yaml.safe_load(_yaml_after(DOCS / "configuration.md", "tinylm entries that differ in `seed`"))
    control = yaml.safe_load(_yaml_after(DOCS / "configuration.md", "## Stimulus controls"))
    config = parse_config({**groups, **control}, "docs/configuration.md")
    assert config.model_groups() == {"tinylm": ["tinylm-seed1", "tinylm-seed2", "tinylm-seed3"]}
    assert [b.label or b.default_label() for b in config.brain] == ["simulated", "simulated+shuffled"]


def test_readme_short_configuration_validates_and_plans():
    plan = _plan(_yaml_after(README, "## Configuration"), "README.md")
    assert {m.family.name for m in plan.models} == {"tinylm"}
    assert {t.label for t in plan.targets} == {"simulated", "offline", "intrinsic_dim", "geometry"}


def test_readme_quickstart_config_plans_the_cells_it_announces():
    text = README.read_text(encoding="utf-8")
    plan = _plan(_yaml_after(README, "**3. Write the config**"), "README.md quickstart")
    model = plan.models[0]
    assert model.family.name == "pythia" and len(model.checkpoints) == 12 and len(model.layers) == 13
    assert len(plan.cells) == 480
    assert "480 cells planned" in text and "480 cells: 12 checkpoints × (13 layers × (1 brain dataset + 2 metrics) + 1 task)" in text


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_the_docs_resolve():
    pages = [README, *sorted(DOCS.glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://")):
                continue
            file, _, anchor = target.partition("#")
            linked = (page.parent / file).resolve() if file else page
            assert linked.is_file(), f"{page.name}: link to missing {target}"
            if anchor and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.M)
                assert anchor in {_slug(h) for h in headings}, f"{page.name}: no heading for #{anchor} in {linked.name}"
    linked_from_readme = set(re.findall(r"\(docs/([\w-]+\.md)", README.read_text(encoding="utf-8")))
    assert linked_from_readme >= {"configuration.md", "method.md", "plugins.md", "architecture.md"}


def _block_after(text: str, marker: str, language: str) -> str:
    match = re.search(re.escape(marker) + rf"\s*```{language}\n(.*?)```", text, re.S)
    assert match, f"no {language} block after {marker!r}"
    return match.group(1)


def test_the_plugin_guides_metric_is_a_working_plugin(tmp_path, monkeypatch):
    guide = (DOCS / "plugins.md").read_text(encoding="utf-8")
    section = guide[guide.index("## A metric"):]
    source = _block_after(section, "`harness_rogue/__init__.py`", "python")
    entry = re.search(r'^(\w+) = "(\w+)"$', _block_after(section, "`pyproject.toml`", "toml"), re.M)
    assert entry and entry.group(2) == "harness_rogue"
    activate(write_plugin_package(tmp_path / "site", "harness_rogue", source), monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "harness_rogue")
    usage = yaml.safe_load(_block_after(section, "a config uses it as", "yaml"))["metrics"][0]
    metric = build_plugin(get_registry(), Metric, usage["metric"], usage["options"], "metrics[0]", "docs/plugins.md")
    context = MetricContext(Checkpoint(0, 0), layer=1, seed=0, previous=lambda: None, final=lambda: None)
    rng = np.random.default_rng(0)
    isotropic = rng.standard_normal((4000, 30))
    [score] = metric.compute(isotropic, context)
    assert score.metric == "rogue_share" and score.value == pytest.approx(3 / 30, rel=0.15)
    rogue = isotropic.copy()
    rogue[:, 0] *= 20  # one dimension carries most of the variance
    assert metric.compute(rogue, context)[0].value > 0.9


def test_adaptive_worked_example_plans_its_first_round():
    from harness.plan.selectors import AdaptiveSelector

    plan = _plan(_yaml_after(DOCS / "configuration.md", "## Adaptive checkpoints"), "docs/configuration.md adaptive")
    model = plan.models[0]
    assert model.adaptive == AdaptiveSelector(9, 3) and len(model.published) == 22
    assert [c.step for c in model.checkpoints] == [0, 32, 1500]  # round 0, as the worked example's log says
