"""The plugin registry: every plugin, built-in or third-party, loads from the ``harness`` entry-point group.

A plugin module that fails to import or to register, misspells a hook, registers a class that
misses a required method, or registers nothing, is recorded with its error and skipped, so the
others keep working. ``HARNESS_STRICT_PLUGINS=1`` makes such a failure fatal;
``HARNESS_PLUGINS=a,b`` loads only the named entry points (or distributions).
"""

from __future__ import annotations

import inspect
import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from harness.plugin import hookspecs
from harness.plugin.contract import KINDS, Kind, KindSpec, Plugin
from harness.util.errors import PluginError, did_you_mean, one_line, unknown_name

GROUP = "harness"
BUILTIN_DISTRIBUTION = "harness"
STRICT_ENV = "HARNESS_STRICT_PLUGINS"
ALLOW_ENV = "HARNESS_PLUGINS"
HOOK_NAMES = {spec.hook: spec for spec in KINDS.values()}


@dataclass(frozen=True)
class PluginInfo:
    """One row of ``harness plugins``."""

    name: str
    kind: Kind | None  # None for an entry point that failed before registering anything
    version: str
    origin: str  # "built-in" or the distribution that provides it
    source: str  # entry point name
    error: str = ""
    cls: type[Plugin[Any]] | None = None

    @property
    def title(self) -> str:
        return KINDS[self.kind].title if self.kind else "?"


@dataclass
class Registry:
    """The loaded plugins by kind and name, and the entry points that failed."""

    plugins: dict[Kind, dict[str, PluginInfo]] = field(default_factory=lambda: {kind: {} for kind in KINDS})
    failures: list[PluginInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. HARNESS_PLUGINS names that match no entry point
    allow: frozenset[str] = frozenset()  # the HARNESS_PLUGINS allow-list it was loaded with (empty: all)

    def info(self, kind: Kind, name: str) -> PluginInfo:
        """The registered plugin of ``kind`` called ``name``; a ``PluginError`` with suggestions if absent."""
        found = self.plugins[kind].get(name)
        if found is None:
            broken = [f for f in self.failures if name in (f.source, f.name)]
            if broken:
                raise PluginError(f"{KINDS[kind].title} {name!r} failed to load: {broken[0].error}")
            limited = f" ({ALLOW_ENV}={','.join(sorted(self.allow))} limits which plugins load)" if self.allow else ""
            raise PluginError(unknown_name(KINDS[kind].title, name, self.plugins[kind]) + limited)
        return found

    def get(self, kind: Kind, name: str) -> type[Plugin[Any]]:
        """The plugin class of ``kind`` called ``name``."""
        cls = self.info(kind, name).cls
        assert cls is not None
        return cls

    def version(self, kind: Kind, name: str) -> str:
        """The version a registered plugin's results are stored under."""
        return self.info(kind, name).version

    def rows(self) -> list[PluginInfo]:
        loaded = [info for kind in self.plugins.values() for info in kind.values()]
        order = list(KINDS)
        return sorted(loaded, key=lambda i: (order.index(i.kind) if i.kind else len(order), i.name)) + self.failures


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _allowed(entry_point: metadata.EntryPoint, names: set[str]) -> bool:
    dist = entry_point.dist.name if entry_point.dist else ""
    return not names or entry_point.name in names or dist in names


def _allow_list() -> set[str]:
    return {n.strip() for n in os.environ.get(ALLOW_ENV, "").split(",") if n.strip()}


def _unmatched_allow_list(allow: set[str], entry_points: list[metadata.EntryPoint]) -> list[str]:
    """A warning for each ``HARNESS_PLUGINS`` name that is neither an entry point nor a distribution."""
    known = {e.name for e in entry_points} | {e.dist.name for e in entry_points if e.dist}
    return [
        f"{ALLOW_ENV}: {name!r} matches no installed plugin{did_you_mean(name, known)}"
        + ("; nothing was loaded" if not allow & known else "")
        + f"; installed: {', '.join(sorted(known)) or 'none'}"
        for name in sorted(allow - known)
    ]


def _origin(entry_point: metadata.EntryPoint) -> tuple[str, str]:
    dist = entry_point.dist
    if dist is None:
        return "unknown", "0"
    name = dist.metadata["Name"] or dist.name
    if name == BUILTIN_DISTRIBUTION:
        return "built-in", dist.version
    return name, dist.version


def _check_class(cls: object, spec: KindSpec) -> type[Plugin[Any]]:
    """``cls`` if it is a complete plugin class of ``spec``'s kind; else a ``TypeError`` saying why."""
    if not (isinstance(cls, type) and issubclass(cls, spec.base)):
        raise TypeError(f"register() expects a subclass of {spec.base.__name__}, got {cls!r}")
    name = cls.__dict__.get("name") or getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} has no 'name'")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise TypeError(f"{cls.__name__} does not implement {spec.base.__name__}'s required method(s): {missing}")
    return cls


class _Collector:
    """The ``register`` callback handed to one hook implementation."""

    def __init__(self, spec: KindSpec, source: str, origin: str, dist_version: str, registry: Registry) -> None:
        self.spec, self.source, self.origin, self.dist_version, self.registry = (
            spec,
            source,
            origin,
            dist_version,
            registry,
        )
        self.count = 0

    def __call__(self, cls: object) -> None:
        plugin = _check_class(cls, self.spec)
        kind = self.spec.kind
        existing = self.registry.plugins[kind].get(plugin.name)
        if existing is not None and existing.source != self.source:
            raise ValueError(f"{self.spec.title} {plugin.name!r} is already registered by {existing.source!r}")
        version = str(plugin.version)
        if version == "0":
            version = self.dist_version
        self.registry.plugins[kind][plugin.name] = PluginInfo(
            plugin.name, kind, version, self.origin, self.source, cls=plugin
        )
        self.count += 1


def _check_hook_names(pm: pluggy.PluginManager, source: str) -> None:
    """A ``@hookimpl`` whose name is no harness hook is an error with a suggestion."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        unknown = [
            impl.function.__name__
            for hook in pm.hook.__dict__.values()
            if isinstance(hook, pluggy.HookCaller) and not hook.has_spec()
            for impl in hook.get_hookimpls()
            if impl.plugin_name == source
        ]
        if not unknown:
            raise
        name = unknown[0]
        raise TypeError(
            f"unknown hook {name!r}{did_you_mean(name, HOOK_NAMES)}; hooks: {', '.join(HOOK_NAMES)}"
        ) from None


def _register_module(
    pm: pluggy.PluginManager, module: ModuleType, source: str, origin: str, version: str, registry: Registry
) -> None:
    pm.register(module, name=source)
    _check_hook_names(pm, source)
    registered = 0
    for hook_name, spec in HOOK_NAMES.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name == source:
                collector = _Collector(spec, source, origin, version, registry)
                impl.function(register=collector)
                registered += collector.count
    if not registered:
        raise TypeError(
            f"module {module.__name__!r} registers no plugin (it needs a @hookimpl named one of "
            f"{', '.join(HOOK_NAMES)})"
        )


def load_registry(strict: bool | None = None) -> Registry:
    """Load every allowed entry point of the ``harness`` group into a fresh ``Registry``."""
    strict = _strict() if strict is None else strict
    allow = _allow_list()
    registry = Registry(allow=frozenset(allow))
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    seen: set[str] = set()
    entry_points = sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name)
    registry.warnings += _unmatched_allow_list(allow, entry_points)
    for entry_point in entry_points:
        if entry_point.name in seen or not _allowed(entry_point, allow):
            continue  # the same distribution can appear twice on sys.path
        seen.add(entry_point.name)
        origin, version = _origin(entry_point)
        before = {kind: dict(plugins) for kind, plugins in registry.plugins.items()}
        try:
            module = entry_point.load()
            _register_module(pm, module, entry_point.name, origin, version, registry)
        except Exception as error:  # noqa: BLE001 - a broken plugin must not break the rest
            registry.plugins = before  # drop a half-registered module
            if entry_point.name in dict(pm.list_name_plugin()):
                pm.unregister(name=entry_point.name)
            message = one_line(error)
            if strict:
                raise PluginError(
                    f"plugin {entry_point.name!r} ({entry_point.value}) failed to load: {message}"
                ) from error
            registry.failures.append(
                PluginInfo(entry_point.name, None, version, origin, entry_point.name, error=message)
            )
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
