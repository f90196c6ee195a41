"""Plugin discovery through entry points, isolation of broken plugins, strict mode, allow-list."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.errors import PluginError
from harness.registry import load_registry
from tests.support.plugin_packages import BROKEN_AT_IMPORT, BROKEN_AT_REGISTER, TOY_PLUGINS, activate, write_plugin_package


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
