"""Plugin discovery: every plugin, built-in or third-party, loads from the ``harness`` entry-point group.

A plugin module that fails to import or to register is recorded with its error and skipped, so
the others keep working. ``HARNESS_STRICT_PLUGINS=1`` makes such a failure fatal;
``HARNESS_PLUGINS=a,b`` loads only the named entry points (or distributions).
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType

import pluggy

from harness import hookspecs
from harness.errors import PluginError, unknown_name
from harness.interfaces import KIND_TITLES, PLUGIN_BASES, Plugin

GROUP = "harness"
BUILTIN_DISTRIBUTION = "harness"
STRICT_ENV = "HARNESS_STRICT_PLUGINS"
ALLOW_ENV = "HARNESS_PLUGINS"


@dataclass(frozen=True)
class PluginInfo:
    """One row of ``harness plugins``."""

    name: str
    kind: str
    version: str
    origin: str  # "built-in" or the distribution that provides it
    source: str  # entry point name
    error: str = ""
    cls: type[Plugin] | None = None


@dataclass
class Registry:
    """The loaded plugins by kind and name, and the entry points that failed."""

    plugins: dict[str, dict[str, PluginInfo]] = field(default_factory=lambda: {k: {} for k in PLUGIN_BASES})
    failures: list[PluginInfo] = field(default_factory=list)

    def get(self, kind: str, name: str) -> type[Plugin]:
        """The plugin class of ``kind`` called ``name``; a ``PluginError`` with suggestions if absent."""
        found = self.plugins[kind].get(name)
        if found is None:
            broken = [f for f in self.failures if f.source == name or f.name == name]
            if broken:
                raise PluginError(f"{KIND_TITLES[kind]} {name!r} failed to load: {broken[0].error}")
            raise PluginError(unknown_name(KIND_TITLES[kind], name, self.plugins[kind]))
        assert found.cls is not None
        return found.cls

    def rows(self) -> list[PluginInfo]:
        loaded = [info for kind in self.plugins.values() for info in kind.values()]
        return sorted(loaded, key=lambda i: (list(PLUGIN_BASES).index(i.kind), i.name)) + self.failures


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _allowed(entry_point: metadata.EntryPoint) -> bool:
    allow = os.environ.get(ALLOW_ENV, "").strip()
    if not allow:
        return True
    names = {n.strip() for n in allow.split(",") if n.strip()}
    dist = entry_point.dist.name if entry_point.dist else ""
    return entry_point.name in names or dist in names


def _origin(entry_point: metadata.EntryPoint) -> tuple[str, str]:
    dist = entry_point.dist
    if dist is None:
        return "unknown", "0"
    name = dist.metadata["Name"] or dist.name
    if name == BUILTIN_DISTRIBUTION:
        return "built-in", dist.version
    return name, dist.version


def _one_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip().splitlines()
    return text[0] if text else type(error).__name__


class _Collector:
    """The ``register`` callback handed to one hook implementation."""

    def __init__(self, kind: str, source: str, origin: str, dist_version: str, registry: Registry) -> None:
        self.kind, self.source, self.origin, self.dist_version, self.registry = kind, source, origin, dist_version, registry

    def __call__(self, cls: type) -> None:
        base = PLUGIN_BASES[self.kind]
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise TypeError(f"register() expects a subclass of {base.__name__}, got {cls!r}")
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{cls.__name__} has no 'name'")
        existing = self.registry.plugins[self.kind].get(name)
        if existing is not None and existing.source != self.source:
            raise ValueError(f"{KIND_TITLES[self.kind]} {name!r} is already registered by {existing.source!r}")
        version = str(getattr(cls, "version", "0"))
        if version == "0":
            version = self.dist_version
        self.registry.plugins[self.kind][name] = PluginInfo(name, self.kind, version, self.origin, self.source, cls=cls)


def _register_module(pm: pluggy.PluginManager, module: ModuleType, source: str, origin: str, version: str, registry: Registry) -> None:
    pm.register(module, name=source)
    for hook_name, kind in hookspecs.HOOK_KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name == source:
                impl.function(register=_Collector(kind, source, origin, version, registry))


def load_registry(strict: bool | None = None) -> Registry:
    """Load every allowed entry point of the ``harness`` group into a fresh ``Registry``."""
    strict = _strict() if strict is None else strict
    registry = Registry()
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    seen: set[str] = set()
    for entry_point in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
        if entry_point.name in seen or not _allowed(entry_point):
            continue  # the same distribution can appear twice on sys.path
        seen.add(entry_point.name)
        origin, version = _origin(entry_point)
        before = {kind: dict(plugins) for kind, plugins in registry.plugins.items()}
        try:
            module = entry_point.load()
            _register_module(pm, module, entry_point.name, origin, version, registry)
        except Exception as error:  # noqa: BLE001 - a broken plugin must not break the rest
            registry.plugins = before  # drop a half-registered module
            if entry_point.name in pm.list_name_plugin():
                pm.unregister(name=entry_point.name)
            message = _one_line(error)
            if strict:
                raise PluginError(f"plugin {entry_point.name!r} ({entry_point.value}) failed to load: {message}") from error
            registry.failures.append(PluginInfo(entry_point.name, "?", version, origin, entry_point.name, error=message))
            if os.environ.get("HARNESS_DEBUG_PLUGINS"):
                traceback.print_exc()
    return registry


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = load_registry()
    return _REGISTRY


def reset_registry() -> None:
    """Forget the loaded plugins (tests, or after installing a plugin at run time)."""
    global _REGISTRY
    _REGISTRY = None
