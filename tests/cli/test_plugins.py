"""``harness plugins NAME`` (kind, version, origin, options table) and the allow-list warning."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.plugin.describe import option_rows, plain, type_text
from harness.plugin.registry import load_registry
from tests.support.plugin_packages import TOY_PLUGINS, activate, write_plugin_package

DOCUMENTED = '''
from typing import Literal

from pydantic import Field

from harness import hookimpl, Metric, PluginOptions, Score


class Norm(Metric):
    """Mean ``L2`` norm of the activations.

    More detail that the listing leaves out.
    """

    name = "norm"
    version = "2.0"

    class Options(PluginOptions):
        max_points: int | None = Field(default=500, ge=3, description="words sampled; null = all")
        order: Literal["l1", "l2"] = "l2"
        layers: list[int] = Field(default_factory=lambda: [0, 1])
        label: str

    def compute(self, activations, context):
        return [Score("norm", 1.0)]


@hookimpl
def register_metrics(register):
    register(Norm)
'''


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = write_plugin_package(tmp_path / "site", "toyplug", TOY_PLUGINS)
    write_plugin_package(site, "normplug", DOCUMENTED, version="0.3")
    activate(site, monkeypatch)
    monkeypatch.setenv("HARNESS_PLUGINS", "toyplug,normplug")
    monkeypatch.setenv("COLUMNS", "200")
    return site


def test_plugin_detail_prints_kind_version_origin_and_options(site, capsys):
    assert main(["plugins", "norm"]) == 0
    out = capsys.readouterr().out
    assert "norm  metric, version 2.0, from normplug (entry point normplug)" in out
    assert "Mean L2 norm of the activations." in out and "More detail" not in out and "``" not in out
    assert "in a config: metrics: [{metric: norm, options: {...}}]" in out
    options = out.split("options of norm:\n", 1)[1].splitlines()
    assert options == [
        "  max_points  int | None, >= 3; default 500", "      words sampled; null = all",
        "  order  Literal['l1', 'l2']; default l2",
        "  layers  list[int]; default [0, 1]",
        "  label  str; default required",
    ]


def test_plugin_detail_of_a_plugin_without_options(site, capsys):
    assert main(["plugins", "toyfamily"]) == 0
    out = capsys.readouterr().out
    assert "toyfamily  model family, version 1.2, from toyplug" in out
    assert "steps" in out and "[0, 1, 2, 4, 8]" in out  # its options


def test_unknown_plugin_name_is_one_line_with_a_suggestion(site, capsys):
    assert main(["plugins", "toytsk"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no plugin named 'toytsk' (did you mean 'toytask'?)" in err[0]


def test_an_allow_list_that_matches_nothing_warns(site, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_PLUGINS", "nonesuch")
    registry = load_registry()
    assert registry.plugins["model"] == {} and len(registry.warnings) == 1
    assert "'nonesuch' matches no installed plugin; nothing was loaded" in registry.warnings[0]
    assert main(["plugins"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: HARNESS_PLUGINS: 'nonesuch' matches no installed plugin") and "toyplug" in err


def test_a_partly_matching_allow_list_warns_about_the_rest(site, monkeypatch):
    monkeypatch.setenv("HARNESS_PLUGINS", "toyplug,toyplg")
    registry = load_registry()
    assert "toyfamily" in registry.plugins["model"]
    [warning] = registry.warnings
    assert "'toyplg' matches no installed plugin (did you mean 'toyplug'?)" in warning and "nothing was loaded" not in warning
    from harness.util.errors import PluginError

    with pytest.raises(PluginError, match="HARNESS_PLUGINS=toyplg,toyplug limits which plugins load"):
        registry.get("brain", "simulated")


def test_type_and_text_helpers():
    assert type_text(int) == "int" and type_text(int | None) == "int | None"
    assert type_text(list[str]) == "list[str]"
    assert plain("the ``every:K`` form") == "the every:K form"


def test_every_option_of_every_builtin_plugin_is_described_and_listed_whole_at_80_columns(capsys, monkeypatch):
    from harness.plugin import registry
    from harness.plugin.registry import get_registry

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("HARNESS_PLUGINS", raising=False)
    monkeypatch.setattr(registry, "_REGISTRY", None)
    undescribed = [f"{info.name}.{row.name}" for info in get_registry().rows() if info.cls is not None
                   for row in option_rows(info.cls) if not row.description.strip()]
    assert undescribed == [], f"options without a description: {undescribed}"
    for info in get_registry().rows():
        assert main(["plugins", info.name]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
        starts = {line.split()[0] for line in lines if line.startswith("  ") and not line.startswith("   ")}
        assert {row.name for row in option_rows(info.cls)} <= starts, info.name  # each name whole, at a line's start
    assert main(["plugins", "tinylm"]) == 0
    assert not {"refresh", "hub_cache", "trust_remote_code"} & set(capsys.readouterr().out.split())  # a model trained here


def test_every_builtin_plugin_has_an_options_table(capsys, monkeypatch):
    from harness.plugin import registry
    from harness.plugin.registry import get_registry

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("HARNESS_PLUGINS", raising=False)
    monkeypatch.setattr(registry, "_REGISTRY", None)
    for info in get_registry().rows():
        if info.cls is not None:
            for row in option_rows(info.cls):
                assert row.name and row.type and row.default, (info.name, row)
    assert main(["plugins", "simulated"]) == 0
    out = capsys.readouterr().out
    assert "brain dataset" in out and "voxels" in out and "int, >= 4" in out


def test_option_descriptions_come_from_field_the_line_comment_or_the_lines_above(capsys, monkeypatch):
    from pydantic import Field

    from harness import PluginOptions
    from harness.plugin.describe import source_comments

    class Base(PluginOptions):
        root: str = "a#b"  # where the data is
        count: int = Field(3, ge=1)

    class Child(Base):
        count: int = Field(4, ge=1)  # how many, in the child
        plain: bool = False

    assert source_comments(Child) == {"root": "where the data is", "count": "how many, in the child"}

    class Wrapped(PluginOptions):
        # the first line of a long description,
        # and its second line
        limit: int = Field(
            5, ge=1
        )
        # a comment above a field that has its own wins nothing
        named: str = "x"  # its own comment
        x: int = 1  # a one-letter field

        # a comment after the last field describes nothing

    assert source_comments(Wrapped) == {
        "limit": "the first line of a long description, and its second line", "named": "its own comment", "x": "a one-letter field",
    }
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["plugins", "lebel2023"]) == 0
    out = capsys.readouterr().out
    assert "scans dropped at the start of the series" in out and "the ds003020 directory" in out
