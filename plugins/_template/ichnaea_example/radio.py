"""The ``example`` radio: transmitters whose positions are known beforehand.

A radio is everything the service knows of one kind of network, in one
class (:class:`ichnaea_host.Radio`; :class:`ichnaea_host.MacRadio` for
networks named by a MAC address, which learns its stations from reports in
a table of its own). From it the host derives the rest: the report and query
schemas, the pipeline's updater and the geolocate and ``/v1/country``
sources. This one is the smallest that answers: the venue's own transmitters
(listed in ``ICHNAEA_EXAMPLE__LANDMARKS`` as ``id=lat,lon;...``) sent by
clients as ``exampleLandmarks`` in geolocate queries; it learns nothing from
reports, so it needs no table and no migration.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields

from ichnaea_host import LenientInteger, Position, Query, Radio, SiteLabels

from .settings import ExampleSettings


class LandmarkEntry(Schema):
    """One entry of the list, in queries and in submitted reports: use the
    lenient fields, so that ``"-70"`` or ``-70.0`` is understood as well."""

    class Meta:
        unknown = EXCLUDE

    id = fields.String(allow_none=True)
    signalStrength = LenientInteger()


class LandmarkRadio(Radio):
    #: the radio's name: its queues, sources and ``used_networks`` kind
    PLUGIN_NAME = "example"
    #: the list it reads in geolocate queries and submitted reports
    FIELD = "exampleLandmarks"
    ENTRY_SCHEMA = LandmarkEntry
    #: the accuracy class a query with a landmark can expect
    DATA_ACCURACY = "high"
    #: the settings the host hands in (those the plugin registers)
    SETTINGS = ExampleSettings
    settings: ExampleSettings
    #: its name on the web site (stats, regions, coverage)
    LABELS = SiteLabels(title="Landmark")
    #: it answers geolocate queries after the WiFi and Bluetooth radios (10)
    #: and before the cells (30); it has no ``/v1/country`` answers
    POSITION_ORDER = 25
    REGION_ORDER = None
    #: how far from its listed position a landmark is heard, in metres
    RANGE = 25.0

    def parse_query(self, entries: list[dict[str, Any]], body: dict[str, Any]) -> list[Any]:
        """The listed landmarks of a query, each once."""
        known = self.settings.landmark_positions
        return sorted({e["id"] for e in entries if e.get("id") in known})

    def query_json(self, lookups: list[Any]) -> list[dict[str, Any]]:
        return [{"id": landmark} for landmark in lookups]

    def positions(self, lookups: list[Any], query: Query) -> list[Position]:
        """The mean position of the landmarks heard: one candidate answer."""
        known = self.settings.landmark_positions
        spots = [known[landmark] for landmark in lookups]
        lat = sum(s[0] for s in spots) / len(spots)
        lon = sum(s[1] for s in spots) / len(spots)
        return [Position(lat, lon, accuracy=self.RANGE, score=float(len(spots)),
                         source=self.PLUGIN_NAME,
                         used_networks=[(self.PLUGIN_NAME, landmark, True)
                                        for landmark in lookups])]

    # -- the pipeline and the site: nothing to learn, no stations to count
    def split(self, report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        return {}

    def region_counts(self) -> dict[str, dict[str, int]]:
        return {}

    def coverage(self, per_degree: int) -> list[Any]:
        return []
