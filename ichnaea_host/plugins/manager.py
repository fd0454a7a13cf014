"""The plugin host: loads plugins once per process and keeps their registries.

Plugins are modules named in the entry-point group ``ichnaea``. Loading is
isolated: a plugin that fails to import, or whose registration hooks raise,
is logged and skipped, unless strict mode is on (``ICHNAEA_STRICT_PLUGINS``,
always on in the test suite), where it stops start-up. Operators choose
plugins with ``ICHNAEA_PLUGINS`` (allow-list) and ``ICHNAEA_PLUGINS_DISABLED``.

:class:`PluginHost` is the typed facade the rest of the host uses; views and
tasks never call ``pm.hook`` themselves. Every hook is called through pluggy,
one plugin at a time (``pm.subset_hook_caller`` leaving the others out): what a
plugin returns is checked and kept under its name, and a plugin that raises is
failed alone. With ``ICHNAEA_TRACE_PLUGINS`` each call is logged at DEBUG as a
``hook_call`` line (hook, plugins, duration, outcome).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any, TypeVar

import pluggy

from ichnaea_host.core import hookspecs
from ichnaea_host.core.interfaces import (
    CoverageLayer,
    DownloadSection,
    Exporter,
    FallbackSchema,
    HeartbeatCheck,
    LocationSource,
    MigrationDir,
    PeriodicJob,
    PluginClass,
    ReportFragment,
    StationUpdater,
    StatsSection,
)
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.settings import ConfigError, PluginSettings, Settings, load_plugin_settings

log = get_logger("ichnaea.plugins")

ENTRY_POINT_GROUP = "ichnaea"
#: modules of the host registered as plugins in every process
BUILTIN_PLUGINS = (
    "ichnaea_host.pipeline.builtin",
    "ichnaea_host.pipeline.periodic",
    "ichnaea_host.site.content",
)

C = TypeVar("C", bound=PluginClass)
_Section = TypeVar("_Section", DownloadSection, StatsSection, CoverageLayer)


class PluginLoadError(Exception):
    """A plugin could not be loaded and strict mode is on."""


@dataclasses.dataclass
class PluginInfo:
    """What ``ichnaea plugins list`` shows for one plugin."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    enabled: bool = True
    error: str | None = None
    registers: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    settings: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FAMILIES: dict[str, tuple[str, type[PluginClass]]] = {
    "location_sources": ("ichnaea_register_location_sources", LocationSource),
    "report_fragments": ("ichnaea_register_report_fragments", ReportFragment),
    "station_updaters": ("ichnaea_register_station_updaters", StationUpdater),
    "exporters": ("ichnaea_register_exporters", Exporter),
    "fallback_schemas": ("ichnaea_register_fallback_schemas", FallbackSchema),
    "heartbeat_checks": ("ichnaea_register_heartbeat_checks", HeartbeatCheck),
}


class PluginHost:
    """The loaded plugins and everything they registered."""

    def __init__(self, settings: Settings, *, strict: bool | None = None) -> None:
        self.settings = settings
        self.strict = settings.strict_plugins if strict is None else strict
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.registry: dict[str, dict[str, type[PluginClass]]] = {f: {} for f in FAMILIES}
        self.plugin_settings: dict[str, PluginSettings] = {}
        self.periodic_jobs: dict[str, PeriodicJob] = {}
        self.download_sections: dict[str, DownloadSection] = {}
        self.stats_sections: dict[str, StatsSection] = {}
        self.coverage_layers: dict[str, CoverageLayer] = {}
        self.migration_dirs: list[MigrationDir] = []
        if settings.trace_plugins:
            _trace_hook_calls(self.pm)

    # -- loading
    def _fail(self, name: str, message: str, exc: BaseException | None = None) -> None:
        info = self.infos.get(name)
        if info is not None:
            info.enabled = False
            info.error = message
        log.error("plugin_failed", plugin=name, error=message)
        if self.strict:
            raise PluginLoadError(f"plugin {name!r} failed to load: {message}") from exc

    def _wanted(self, name: str) -> bool:
        allow = self.settings.plugins
        if allow and name not in allow:
            return False
        return name not in self.settings.plugins_disabled

    def load_entry_points(self) -> None:
        seen: set[str] = set()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in seen:  # the same distribution seen twice (editable installs)
                continue
            seen.add(ep.name)
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                name=ep.name,
                module=ep.value,
                distribution=dist.metadata["Name"] if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
            self.infos[ep.name] = info
            if not self._wanted(ep.name):
                info.enabled = False
                continue
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import error is the plugin's
                self._fail(ep.name, f"{type(exc).__name__}: {exc}", exc)
                continue
            self.register(module, ep.name, info=info)

    def register(self, plugin: ModuleType | object, name: str,
                 *, info: PluginInfo | None = None, essential: bool = False) -> None:
        """Register one plugin object (a module or an object with hook methods).

        ``essential`` plugins (the host's built-in one) ignore the allow-list.
        """
        if info is None:
            info = PluginInfo(name=name, module=getattr(plugin, "__name__", repr(plugin)))
            self.infos[name] = info
        if not essential and not self._wanted(name):
            info.enabled = False
            return
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()  # a misspelt hook name fails here, not silently
        except (ValueError, pluggy.PluginValidationError) as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._fail(name, str(exc), exc)
            return
        try:
            self._collect(name, plugin, info)
        except (ConfigError, PluginLoadError):
            self.pm.unregister(name=name)
            raise
        except Exception as exc:  # noqa: BLE001
            self.pm.unregister(name=name)
            self._fail(name, f"{type(exc).__name__}: {exc}", exc)

    def _call_one(self, plugin: object, hook: str, **kwargs: Any) -> list[Any]:
        """Call ``hook`` through pluggy on this one plugin only; the others'
        implementations are left out, so each answer and each failure is this
        plugin's own. Returns what its implementations returned (none: [])."""
        if hook not in {caller.name for caller in self.pm.get_hookcallers(plugin) or ()}:
            return []
        others = [p for p in self.pm.get_plugins() if p is not plugin]
        results: list[Any] = self.pm.subset_hook_caller(hook, remove_plugins=others)(**kwargs)
        return results

    def _collect(self, name: str, plugin: object, info: PluginInfo) -> None:
        """Call the registration hooks of one plugin and validate what it returns."""
        for settings_cls in self._call_one(plugin, "ichnaea_register_settings"):
            if not (isinstance(settings_cls, type) and issubclass(settings_cls, PluginSettings)):
                raise TypeError(_wrong("ichnaea_register_settings", settings_cls,
                                       "a PluginSettings subclass"))
            self.plugin_settings[name] = load_plugin_settings(settings_cls, name)
            info.settings = _describe_settings(settings_cls, name)
        found: dict[str, dict[str, type[PluginClass]]] = {}
        for family, (hook, base) in FAMILIES.items():
            for cls in _flatten(self._call_one(plugin, hook)):
                if not (isinstance(cls, type) and issubclass(cls, base)):
                    raise TypeError(_wrong(hook, cls, f"a {base.__name__} subclass"))
                if not cls.PLUGIN_NAME:
                    raise TypeError(f"{cls.__name__} has no PLUGIN_NAME")
                key = cls.PLUGIN_NAME
                if family == "location_sources":
                    key = f"{cls.KIND}:{cls.PLUGIN_NAME}"  # type: ignore[attr-defined]
                existing = self.registry[family].get(key) or found.get(family, {}).get(key)
                if existing is not None and existing is not cls:
                    raise ValueError(
                        f"{family}: {cls.__module__}.{cls.__name__} and "
                        f"{existing.__module__}.{existing.__name__} both claim {cls.PLUGIN_NAME!r}"
                    )
                found.setdefault(family, {})[key] = cls
        jobs = _flatten(self._call_one(plugin, "ichnaea_register_periodic_jobs"))
        for job in jobs:
            if not isinstance(job, PeriodicJob):
                raise TypeError(_wrong("ichnaea_register_periodic_jobs", job, "a PeriodicJob"))
        sections = self._sections(plugin, "ichnaea_register_download_sections",
                                  DownloadSection, self.download_sections)
        stats_sections = self._sections(plugin, "ichnaea_register_stats_sections",
                                        StatsSection, self.stats_sections)
        layers = self._sections(plugin, "ichnaea_register_coverage_layers",
                                CoverageLayer, self.coverage_layers)
        dirs = _flatten(self._call_one(plugin, "ichnaea_migration_dirs"))
        for folder in dirs:
            if not isinstance(folder, MigrationDir):
                raise TypeError(_wrong("ichnaea_migration_dirs", folder, "a MigrationDir"))
        for family, registered in found.items():
            self.registry[family].update(registered)
            info.registers[family] = sorted(registered)
        for job in jobs:
            self.periodic_jobs[job.name] = job
        if jobs:
            info.registers["periodic_jobs"] = [job.name for job in jobs]
        self.download_sections.update((section.name, section) for section in sections)
        self.stats_sections.update((section.name, section) for section in stats_sections)
        self.coverage_layers.update((layer.name, layer) for layer in layers)
        for family, values in (("download_sections", sections),
                               ("stats_sections", stats_sections),
                               ("coverage_layers", layers)):
            if values:
                info.registers[family] = [section.name for section in values]
        self.migration_dirs.extend(dirs)

    def _sections(self, plugin: object, hook: str, kind: type[_Section],
                  claimed: Mapping[str, Any]) -> list[_Section]:
        """A plugin's sections of a site page: each one a ``kind``, and no
        name another plugin claimed already."""
        sections = _flatten(self._call_one(plugin, hook))
        for section in sections:
            if not isinstance(section, kind):
                raise TypeError(_wrong(hook, section, f"a {kind.__name__}"))
            other = claimed.get(section.name)
            if other is not None and other != section:
                raise ValueError(f"{hook.removeprefix('ichnaea_register_').replace('_', ' ')}: "
                                 f"two claim {section.name!r}")
        return sections

    # -- typed facade
    def settings_for(self, plugin_name: str) -> PluginSettings | None:
        return self.plugin_settings.get(plugin_name)

    def _ordered_sources(self, kind: str, order: Sequence[str]) -> list[type[LocationSource]]:
        sources: dict[str, type[LocationSource]] = {
            cls.PLUGIN_NAME: cls  # type: ignore[misc]
            for key, cls in self.registry["location_sources"].items()
            if key.startswith(kind + ":")
        }
        if order:
            return [sources[name] for name in order if name in sources]
        return sorted(sources.values(), key=lambda c: (c.DEFAULT_ORDER, c.PLUGIN_NAME))

    def position_sources(self) -> list[type[LocationSource]]:
        return self._ordered_sources("position", self.settings.locate_sources)

    def region_sources(self) -> list[type[LocationSource]]:
        return self._ordered_sources("region", self.settings.region_sources)

    def report_fragments(self) -> list[type[ReportFragment]]:
        return sorted(self.registry["report_fragments"].values(),  # type: ignore[arg-type]
                      key=lambda c: c.PLUGIN_NAME)

    def station_updaters(self) -> dict[str, type[StationUpdater]]:
        return dict(self.registry["station_updaters"])  # type: ignore[arg-type]

    def exporters(self) -> dict[str, type[Exporter]]:
        return dict(self.registry["exporters"])  # type: ignore[arg-type]

    def fallback_schemas(self) -> dict[str, type[FallbackSchema]]:
        return dict(self.registry["fallback_schemas"])  # type: ignore[arg-type]

    def heartbeat_checks(self) -> list[type[HeartbeatCheck]]:
        return sorted(self.registry["heartbeat_checks"].values(),  # type: ignore[arg-type]
                      key=lambda c: c.PLUGIN_NAME)

    def register_commands(self, cli: Any) -> None:
        """Let each plugin add its commands; one that raises is reported alone."""
        for name, plugin in list(self.pm.list_name_plugin()):
            try:
                self._call_one(plugin, "ichnaea_register_commands", cli=cli)
            except Exception as exc:  # noqa: BLE001
                self._fail(name, f"commands: {type(exc).__name__}: {exc}", exc)

    def plugin_list(self) -> list[PluginInfo]:
        return [self.infos[name] for name in sorted(self.infos)]

    def check_locate_sources(self) -> None:
        """Stop start-up when ICHNAEA_LOCATE_SOURCES names a source nobody provides."""
        for var, kind, names in (
            ("ICHNAEA_LOCATE_SOURCES", "position", self.settings.locate_sources),
            ("ICHNAEA_REGION_SOURCES", "region", self.settings.region_sources),
        ):
            known = {key.split(":", 1)[1] for key in self.registry["location_sources"]
                     if key.startswith(kind + ":")}
            disabled = {i.name for i in self.infos.values() if not i.enabled}
            for name in names:
                if name not in known and name not in disabled:
                    raise ConfigError(
                        var, f"no installed plugin provides a {kind} source named {name!r} "
                        f"(known: {', '.join(sorted(known)) or 'none'})"
                    )


def _flatten(results: list[Any]) -> list[Any]:
    """The values of a registration hook's results: each result may be one
    value or an iterable of them."""
    values: list[Any] = []
    for value in results:
        if isinstance(value, Iterable) and not isinstance(value, (str, bytes, type)):
            values.extend(value)
        else:
            values.append(value)
    return values


def _wrong(hook: str, value: Any, wanted: str) -> str:
    return f"{hook} returned {value!r}, not {wanted}"


def _trace_hook_calls(pm: pluggy.PluginManager) -> None:
    """Log one ``hook_call`` line at DEBUG for every hook call pluggy makes:
    the hook, the plugins whose implementations ran, the duration and the outcome."""
    started = threading.local()

    def before(hook_name: str, impls: Sequence[pluggy.HookImpl],
               kwargs: Mapping[str, object]) -> None:
        stack = getattr(started, "stack", None)
        if stack is None:
            stack = started.stack = []
        stack.append(time.perf_counter())

    def after(outcome: pluggy.Result[object], hook_name: str,
              impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]) -> None:
        duration_ms = (time.perf_counter() - started.stack.pop()) * 1000.0
        error = outcome.exception
        log.debug("hook_call", hook=hook_name, plugins=[impl.plugin_name for impl in impls],
                  duration_ms=round(duration_ms, 3),
                  outcome="ok" if error is None else f"error: {type(error).__name__}")

    pm.add_hookcall_monitoring(before, after)


def _describe_settings(cls: type[PluginSettings], name: str) -> list[dict[str, Any]]:
    from ichnaea_host.core.settings import plugin_env_prefix

    bound: type[PluginSettings] = type(cls.__name__, (cls,),
                                       {"ENV_PREFIX": plugin_env_prefix(name)})
    return bound.describe()


def build_plugin_host(
    settings: Settings,
    *,
    entry_points: bool = True,
    extra: Sequence[tuple[str, object]] = (),
    strict: bool | None = None,
) -> PluginHost:
    """Build the plugin host of this process.

    ``entry_points=False`` loads no installed plugin (host tests); ``extra``
    registers (name, plugin) pairs given in code.
    """
    import importlib

    host = PluginHost(settings, strict=strict)
    from ichnaea_host import __version__

    for dotted in BUILTIN_PLUGINS:
        name = dotted.rsplit(".", 1)[-1]
        info = PluginInfo(name=name, module=dotted, distribution="ichnaea", version=__version__)
        host.infos[name] = info
        host.register(importlib.import_module(dotted), name, info=info, essential=True)
    if entry_points:
        host.load_entry_points()
    for name, plugin in extra:
        host.register(plugin, name)
    host.pm.check_pending()
    host.check_locate_sources()
    return host
