"""Plugin discovery through entry points, isolation of broken plugins, strict mode, allow-list."""

from __future__ import annotations

import tomllib

import pytest

from harness import BrainDataset, PluginOptions
from harness.cli import main
from harness.plugin.registry import ALLOW_ENV, STRICT_ENV, load_registry
from harness.util.errors import PluginError
from tests.support.plugin_packages import (
    BROKEN_AT_IMPORT,
    BROKEN_AT_REGISTER,
    MISSING_METHOD,
    MISSPELT_HOOK,
    REGISTERS_NOTHING,
    TOY_PLUGINS,
    activate,
    write_plugin_package,
)
from tests.support.repo import ROOT


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = write_plugin_package(tmp_path / "site", "toyplug", TOY_PLUGINS, version="0.3")
    write_plugin_package(site, "brokenimport", BROKEN_AT_IMPORT)
    write_plugin_package(site, "brokenregister", BROKEN_AT_REGISTER)
    activate(site, monkeypatch)
    return site


def test_third_party_plugin_is_discovered_with_origin_and_version(site):
    registry = load_registry(strict=False)
    info = registry.plugins["model"]["toyfamily"]
    assert info.origin == "toyplug"
    assert info.version == "1.2"  # the class's own version wins
    task = registry.plugins["task"]["toytask"]
    assert task.version == "0.3"  # else the distribution's


def test_broken_plugins_are_listed_and_others_still_load(site):
    registry = load_registry(strict=False)
    errors = {f.name: f.error for f in registry.failures}
    assert "this plugin needs a package" in errors["brokenimport"]
    assert "expects a subclass of Metric" in errors["brokenregister"]
    assert "toyfamily" in registry.plugins["model"]
    with pytest.raises(PluginError, match="failed to load"):
        registry.get("metric", "brokenregister")


def test_strict_mode_makes_a_broken_plugin_fatal(site, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_PLUGINS", "toyplug,brokenimport")
    with pytest.raises(PluginError, match="brokenimport"):
        load_registry(strict=True)
    monkeypatch.setenv("HARNESS_STRICT_PLUGINS", "1")
    assert main(["plugins"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "brokenimport" in err[0]


def test_allow_list_restricts_loading(site, monkeypatch):
    monkeypatch.setenv("HARNESS_PLUGINS", "toyplug")
    registry = load_registry(strict=True)  # the broken ones are not even imported
    assert set(registry.plugins["model"]) == {"toyfamily"}
    assert registry.failures == []


def test_unknown_name_suggests_the_closest(site):
    registry = load_registry(strict=False)
    with pytest.raises(PluginError, match="did you mean 'toyfamily'"):
        registry.get("model", "toyfamly")


def test_plugins_command_lists_name_kind_version_origin_and_error(site, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one row per plugin, no wrapping
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for text in ("toyfamily", "model family", "1.2", "toyplug", "brokenimport", "not installed"):
        assert text in out


@pytest.fixture
def contract_site(tmp_path, monkeypatch):
    site = write_plugin_package(tmp_path / "site", "toyplug", TOY_PLUGINS)
    write_plugin_package(site, "misspelt", MISSPELT_HOOK)
    write_plugin_package(site, "halfdone", MISSING_METHOD)
    write_plugin_package(site, "nothing", REGISTERS_NOTHING)
    activate(site, monkeypatch)
    return site


def test_misspelt_hook_is_a_load_error_with_a_suggestion(contract_site):
    errors = {f.name: f.error for f in load_registry(strict=False).failures}
    assert "unknown hook 'register_brain_dataset'" in errors["misspelt"]
    assert "did you mean 'register_brain_datasets'" in errors["misspelt"]


def test_a_class_missing_a_required_method_is_a_load_error(contract_site, capsys, monkeypatch):
    registry = load_registry(strict=False)
    errors = {f.name: f.error for f in registry.failures}
    assert "HalfDone does not implement BrainDataset's required method(s): load_subject, split" in errors["halfdone"]
    assert "halfdone" not in registry.plugins["brain"]
    assert "toyfamily" in registry.plugins["model"]  # the others still load
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["plugins"]) == 0
    assert "load_subject, split" in capsys.readouterr().out


def test_a_module_that_registers_nothing_is_reported(contract_site):
    errors = {f.name: f.error for f in load_registry(strict=False).failures}
    assert "registers no plugin" in errors["nothing"]


def test_misspelt_hook_is_fatal_in_strict_mode(contract_site, monkeypatch):
    monkeypatch.setenv("HARNESS_PLUGINS", "misspelt")
    with pytest.raises(PluginError, match="unknown hook 'register_brain_dataset'"):
        load_registry(strict=True)


def test_options_come_from_the_generic_parameter():
    class MyOptions(PluginOptions):
        root: str = "here"

    class Mine(BrainDataset[MyOptions]):
        name = "mine"

        def stories(self):
            return {}

        def subjects(self):
            return []

        def load_subject(self, subject):
            raise NotImplementedError

        def split(self):
            return [], []

    assert Mine.Options is MyOptions
    assert Mine().options == MyOptions() and Mine(MyOptions(root="there")).options.root == "there"


def test_every_builtin_plugin_builds_with_default_options_where_it_has_them():
    registry = load_registry(strict=True)
    for kind, plugins in registry.plugins.items():
        for info in plugins.values():
            assert info.cls is not None and info.cls.kind == kind
            assert issubclass(info.cls.Options, PluginOptions)


# every built-in plugin: (kind, name, the entry point of pyproject.toml that registers it)
BUILTIN = [
    ("model", "hf", "hf"), ("model", "pythia", "pythia"), ("model", "olmo", "olmo"), ("model", "olmo2", "olmo"),
    ("model", "amber", "amber"), ("model", "llmjp", "llmjp"), ("model", "tinylm", "tinylm"),
    ("brain", "lebel2023", "lebel2023"), ("brain", "simulated", "simulated"), ("brain", "simulated_meg", "simulated_meg"),
    ("brain", "megmasc", "megmasc"), ("brain", "narratives", "narratives"),
    ("task", "lm_eval", "lm_eval"), ("task", "offline", "offline"),
    ("metric", "intrinsic_dim", "dimension"), ("metric", "linear_dim", "dimension"), ("metric", "gride", "gride"),
    ("metric", "probe", "probe"), ("metric", "geometry", "geometry"), ("metric", "drift", "drift"),
]


@pytest.fixture(scope="module")
def builtin_registry():
    with pytest.MonkeyPatch.context() as patch:  # every entry point, a failure recorded rather than raised
        patch.delenv(ALLOW_ENV, raising=False)
        patch.delenv(STRICT_ENV, raising=False)
        return load_registry(strict=False)


@pytest.mark.parametrize(("kind", "name", "entry_point"), BUILTIN, ids=[f"{kind}-{name}" for kind, name, _ in BUILTIN])
def test_every_builtin_plugin_registers_through_its_entry_point(builtin_registry, kind, name, entry_point):
    info = builtin_registry.plugins[kind].get(name)
    failed = [f.error for f in builtin_registry.failures if f.source == entry_point]
    assert info is not None, f"entry point {entry_point!r} did not register {kind} {name!r}: {failed or 'no error recorded'}"
    assert (info.origin, info.source, info.error) == ("built-in", entry_point, "")
    assert info.cls is not None and info.cls.name == name and info.cls.kind == kind


def test_the_builtin_list_names_every_entry_point_and_every_builtin_plugin(builtin_registry):
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert {entry_point for _, _, entry_point in BUILTIN} == set(pyproject["project"]["entry-points"]["harness"])
    loaded = {(info.kind, info.name) for info in builtin_registry.rows() if info.origin == "built-in" and info.kind}
    assert loaded == {(kind, name) for kind, name, _ in BUILTIN}
