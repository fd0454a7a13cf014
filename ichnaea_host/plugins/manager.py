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
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any, TypeVar

import pluggy

from ichnaea_host.core import hookspecs
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.plugin_classes import (
    CommandContext,
    Exporter,
    FallbackSchema,
    HeartbeatCheck,
    PluginClass,
    PositionSource,
    RegionSource,
    ReportFragment,
    StationUpdater,
)
from ichnaea_host.core.sections import (
    CoverageLayer,
    DownloadSection,
    MigrationDir,
    PeriodicJob,
    StatsSection,
)
from ichnaea_host.core.settings import ConfigError, PluginSettings, Settings, load_plugin_settings
from ichnaea_host.stations.adapters import derive
from ichnaea_host.stations.radio import Radio

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


#: the families of registered classes: (hook, base class); the radios' derived
#: classes join the families ``report_fragments``, ``station_updaters``,
#: ``position_sources`` and ``region_sources``
FAMILIES: dict[str, tuple[str | None, type[PluginClass]]] = {
    "radios": ("ichnaea_register_radios", Radio),
    "position_sources": ("ichnaea_register_position_sources", PositionSource),
    "region_sources": ("ichnaea_register_region_sources", RegionSource),
    "report_fragments": (None, ReportFragment),
    "station_updaters": (None, StationUpdater),
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
        #: the plugin that registered each class (derived ones included) and each job
        self.owners: dict[type[PluginClass], str] = {}
        self.job_owners: dict[str, str] = {}
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
        #: what the plugin registered itself (not what the host derived from its radios)
        direct: dict[str, list[str]] = {}
        settings_cls = type(self.plugin_settings[name]) if name in self.plugin_settings else None
        for family, (hook, base) in FAMILIES.items():
            if hook is None:
                continue
            for cls in _flatten(self._call_one(plugin, hook)):
                if not (isinstance(cls, type) and issubclass(cls, base)):
                    raise TypeError(_wrong(hook, cls, f"a {base.__name__} subclass"))
                if not cls.PLUGIN_NAME:
                    raise TypeError(f"{cls.__name__} has no PLUGIN_NAME")
                if cls.SETTINGS is not None and settings_cls is not None \
                        and not issubclass(settings_cls, cls.SETTINGS):
                    raise TypeError(f"{cls.__name__} expects {cls.SETTINGS.__name__}, but its "
                                    f"plugin registers {settings_cls.__name__}")
                direct.setdefault(family, []).append(cls.PLUGIN_NAME)
                classes: dict[str, type[PluginClass]] = {family: cls}
                if issubclass(cls, Radio):
                    classes.update(derive(cls))
                for kind, member in classes.items():
                    key = member.PLUGIN_NAME
                    existing = self.registry[kind].get(key) or found.get(kind, {}).get(key)
                    if existing is not None and existing is not member:
                        raise ValueError(
                            f"{kind}: {_origin(member)} and {_origin(existing)} "
                            f"both claim {key!r}")
                    found.setdefault(kind, {})[key] = member
        jobs = _flatten(self._call_one(plugin, "ichnaea_register_periodic_jobs"))
        for job in jobs:
            if not isinstance(job, PeriodicJob):
                raise TypeError(_wrong("ichnaea_register_periodic_jobs", job, "a PeriodicJob"))
        sections = self._sections(plugin, "ichnaea_register_download_sections",
                                  DownloadSection, self.download_sections)
        stats_sections = self._sections(plugin, "ichnaea_register_stats_sections",
                                        StatsSection, self.stats_sections)
        settings = self.plugin_settings.get(name)
        layers = [radio_coverage(radio, settings) for radio in found.get("radios", {}).values()
                  if issubclass(radio, Radio)]
        dirs = _flatten(self._call_one(plugin, "ichnaea_migration_dirs"))
        for folder in dirs:
            if not isinstance(folder, MigrationDir):
                raise TypeError(_wrong("ichnaea_migration_dirs", folder, "a MigrationDir"))
        for family, registered in found.items():
            self.registry[family].update(registered)
            self.owners.update((cls, name) for cls in registered.values())
        for family, registered_names in direct.items():
            info.registers[family] = sorted(registered_names)
        for job in jobs:
            self.periodic_jobs[job.name] = job
            self.job_owners[job.name] = name
        if jobs:
            info.registers["periodic_jobs"] = [job.name for job in jobs]
        self.download_sections.update((section.name, section) for section in sections)
        self.stats_sections.update((section.name, section) for section in stats_sections)
        self.coverage_layers.update((layer.name, layer) for layer in layers)
        for family, values in (("download_sections", sections),
                               ("stats_sections", stats_sections)):
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

    def settings_of(self, cls: type) -> PluginSettings | None:
        """The settings of the plugin that registered ``cls`` (None: it has
        none, or ``cls`` was not registered)."""
        owner = self.owners.get(cls)
        return None if owner is None else self.plugin_settings.get(owner)

    def job_settings(self, job: PeriodicJob) -> PluginSettings | None:
        owner = self.job_owners.get(job.name)
        return None if owner is None else self.plugin_settings.get(owner)

    def position_sources(self) -> list[type[PositionSource]]:
        return _ordered(self.registry["position_sources"],  # type: ignore[arg-type]
                        self.settings.locate_sources)

    def region_sources(self) -> list[type[RegionSource]]:
        return _ordered(self.registry["region_sources"],  # type: ignore[arg-type]
                        self.settings.region_sources)

    def radios(self) -> dict[str, type[Radio]]:
        return dict(self.registry["radios"])  # type: ignore[arg-type]

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

    def register_commands(self, cli: Any, runtime: Callable[[], Any],
                          submit: Callable[..., Any] | None = None) -> None:
        """Let each plugin add its commands, handing each its settings,
        ``runtime`` (the command's, built on first use) and ``submit`` (what
        queues reports as a submission); one that raises is reported alone."""
        for name, plugin in list(self.pm.list_name_plugin()):
            context = CommandContext(runtime, _settings_reader(runtime, name), submit)
            try:
                self._call_one(plugin, "ichnaea_register_commands", cli=cli, context=context)
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
            known = set(self.registry[f"{kind}_sources"])
            disabled = {i.name for i in self.infos.values() if not i.enabled}
            for name in names:
                if name not in known and name not in disabled:
                    raise ConfigError(
                        var, f"no installed plugin provides a {kind} source named {name!r} "
                        f"(known: {', '.join(sorted(known)) or 'none'})"
                    )


_S = TypeVar("_S", PositionSource, RegionSource)


def _ordered(sources: Mapping[str, type[_S]], order: Sequence[str]) -> list[type[_S]]:
    """The sources in the configured order, or by their ``DEFAULT_ORDER``."""
    if order:
        return [sources[name] for name in order if name in sources]
    return sorted(sources.values(), key=lambda c: (c.DEFAULT_ORDER, c.PLUGIN_NAME))


def _settings_reader(runtime: Callable[[], Any], name: str) -> Callable[[], Any]:
    """The settings of plugin ``name``, as the command's runtime read them."""
    return lambda: runtime().plugins.settings_for(name)


def radio_coverage(radio: type[Radio], settings: Any) -> CoverageLayer:
    """A radio's layer of the coverage vector tiles (:meth:`Radio.coverage`)."""

    def cells(context: Any, per_degree: int) -> list[Any]:
        return radio(context, settings).coverage(per_degree)

    labels = radio.LABELS
    return CoverageLayer(radio.PLUGIN_NAME, cells,
                         labels.coverage or labels.title or radio.PLUGIN_NAME)


def _origin(cls: type) -> str:
    """``module.Class``; a class derived from a radio reads ``module.Radio.Updater``."""
    return f"{cls.__module__}.{cls.__qualname__}"


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
    from ichnaea_host.core import __version__

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
