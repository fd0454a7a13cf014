"""What the host derives from a :class:`~ichnaea_host.stations.Radio`: its report
fragment, its station updater (:class:`~.updater.RadioUpdater`) and its
position and region sources. One subclass of each per radio class
(:func:`derive`), carrying the radio's class attributes the host reads; each
object builds its own radio object with the same context and settings.
These are the host's, not the plugins'.
"""

from __future__ import annotations

from typing import Any, ClassVar

import marshmallow
from marshmallow import fields

from ichnaea_host.core.answers import Position, Query, Region
from ichnaea_host.core.plugin_classes import (
    PluginClass,
    PositionSource,
    RegionSource,
    ReportFragment,
    SiteLabels,
)
from ichnaea_host.stations.radio import Radio
from ichnaea_host.stations.updater import RadioUpdater


class RadioFragment(ReportFragment):
    """A radio's list of networks in reports and queries."""

    RADIO: ClassVar[type[Radio]]

    def __init__(self, context: Any, settings: Any = None) -> None:
        super().__init__(context, settings)
        self.radio = self.RADIO(context, self.settings)

    def submit_entry_schema(self) -> marshmallow.Schema:
        return self.RADIO.ENTRY_SCHEMA()

    def query_entry_schema(self) -> marshmallow.Schema:
        return (self.RADIO.QUERY_SCHEMA or self.RADIO.ENTRY_SCHEMA)()

    def clean_report_entries(self, entries: list[dict[str, Any]],
                             report: dict[str, Any]) -> list[dict[str, Any]]:
        return self.radio.clean_report(entries, report)

    def clean_submit(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.radio.clean_report(entries, {})

    def forwarded(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self.radio.forwarded(entries)

    def query_fields(self) -> dict[str, fields.Field]:
        return self.radio.query_fields()

    def parse_query(self, entries: list[dict[str, Any]], body: dict[str, Any]) -> list[Any]:
        return self.radio.parse_query(entries, body)

    def query_json(self, lookups: list[Any]) -> list[dict[str, Any]]:
        return self.radio.query_json(lookups)

    def network_ids(self, lookups: list[Any], query: Query) -> dict[str, set[str]] | None:
        return self.radio.network_ids(lookups, query)


class RadioPositionSource(PositionSource):
    """Geolocate answers from a radio's stations."""

    RADIO: ClassVar[type[Radio]]
    INTERNAL = True

    def __init__(self, context: Any, settings: Any = None) -> None:
        super().__init__(context, settings)
        self.radio = self.RADIO(context, self.settings)

    def should_search(self, query: Query, results: Any) -> bool:
        return bool(query.networks.get(self.PLUGIN_NAME))

    def search(self, query: Query) -> list[Position]:
        return self.radio.positions(query.networks.get(self.PLUGIN_NAME) or [], query)

    def explain(self, query: Query, answer: Position) -> list[dict[str, Any]]:
        return self.radio.explain(query.networks.get(self.PLUGIN_NAME) or [], query, answer)


class RadioRegionSource(RegionSource):
    """``/v1/country`` answers from a radio's stations."""

    RADIO: ClassVar[type[Radio]]
    INTERNAL = True

    def __init__(self, context: Any, settings: Any = None) -> None:
        super().__init__(context, settings)
        self.radio = self.RADIO(context, self.settings)

    def should_search(self, query: Query, results: Any) -> bool:
        return bool(query.networks.get(self.PLUGIN_NAME))

    def search(self, query: Query) -> list[Region]:
        return self.radio.regions(query.networks.get(self.PLUGIN_NAME) or [], query)


def site_labels(radio: type[Radio]) -> SiteLabels:
    """The radio's labels, with the missing ones derived from its name."""
    name, labels = radio.PLUGIN_NAME, radio.LABELS
    title = labels.title or name.capitalize()
    return SiteLabels(title=title, series=labels.series or f"MLS {title}",
                      region_columns=labels.region_columns or ((name, f"{title}s"),),
                      region_total=labels.region_total)


def derive(radio: type[Radio]) -> dict[str, type[PluginClass]]:
    """The host's classes of one radio, by family: ``report_fragments``,
    ``station_updaters`` and, unless the radio says None for their order,
    ``position_sources`` and ``region_sources``."""
    common: dict[str, Any] = {"PLUGIN_NAME": radio.PLUGIN_NAME, "RADIO": radio,
                              "SETTINGS": radio.SETTINGS, "__module__": radio.__module__}

    def make(base: type[PluginClass], suffix: str, **attrs: Any) -> type[PluginClass]:
        cls = type(f"{radio.__name__}{suffix}", (base,),
                   {**common, "__qualname__": f"{radio.__qualname__}.{suffix}", **attrs})
        return cls

    out = {
        "report_fragments": make(
            RadioFragment, "Fragment", FIELD=radio.FIELD, DATA_ACCURACY=radio.DATA_ACCURACY,
            V0_FIELD=radio.V0_FIELD, V0_RENAMES=radio.V0_RENAMES, V1_RENAMES=radio.V1_RENAMES,
            ENUMERABLE=radio.ENUMERABLE),
        "station_updaters": make(
            RadioUpdater, "Updater", FIELD=radio.FIELD, SHARDS=radio.SHARDS,
            BATCH=radio.LIMITS.batch, INTERVAL=radio.LIMITS.interval,
            DATA_TYPE=radio.DATA_TYPE, EXTRA_QUEUES=radio.EXTRA_QUEUES,
            STAT_KEYS=radio.STAT_KEYS, SITE_LABELS=site_labels(radio),
            OWNER_REQUESTS=radio.OWNER_REQUESTS),
    }
    if radio.POSITION_ORDER is not None:
        out["position_sources"] = make(RadioPositionSource, "PositionSource",
                                       DEFAULT_ORDER=radio.POSITION_ORDER,
                                       CONFIDENCE=radio.CONFIDENCE)
    if radio.REGION_ORDER is not None:
        out["region_sources"] = make(RadioRegionSource, "RegionSource",
                                     DEFAULT_ORDER=radio.REGION_ORDER)
    return out
