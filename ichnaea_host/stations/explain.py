"""The ``raw`` list of a geolocate answer (microG's extended response): one
entry per network of the query, with the learnt position of each network
that agrees with the answer, and ``omit: true`` for the others (unknown,
blocked, opted out, or far from the answer: moved or moving), which tells
microG to stop sending them. Only keys with ``allow_raw`` get it: it reveals
single networks' positions.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from ichnaea_host.core.geo import distance
from ichnaea_host.core.interfaces import Position, Query
from ichnaea_host.stations.search import DATABASE_ERRORS, MacPositionSource, load_stations


def colon_mac(mac: str) -> str:
    return ":".join(mac[i:i + 2] for i in range(0, 12, 2))


class ExplainedMacSource(MacPositionSource):
    """A :class:`MacPositionSource` whose networks appear in ``raw`` entries
    under ``RAW_FIELD`` (``wifiAccessPoint``, ``bluetoothBeacon``)."""

    RAW_FIELD: ClassVar[str] = ""

    def explain(self, query: Query, answer: Position) -> list[dict[str, Any]]:
        lookups = query.networks.get(self.PLUGIN_NAME) or []
        if not lookups or not self.RAW_FIELD:
            return []
        try:
            found = load_stations(self.context.db.ro, self.MODEL, [n["mac"] for n in lookups])
        except DATABASE_ERRORS:
            return []
        stations = {s.mac: s for s in found}
        settings = self.settings
        agree = settings.cluster_meters + answer.accuracy
        out = []
        for lookup in lookups:
            entry: dict[str, Any] = {self.RAW_FIELD: {"macAddress": colon_mac(lookup["mac"])}}
            station = stations.get(lookup["mac"])
            if station is not None and distance(station.lat, station.lon, answer.lat,
                                                answer.lon) <= agree:
                samples = max(station.samples or 1, 1)
                accuracy = math.sqrt(float(station.radius or 0) ** 2
                                     + settings.station_range ** 2 / samples)
                entry.update(location={"lat": round(station.lat, 6),
                                       "lng": round(station.lon, 6)},
                             accuracy=round(max(accuracy, settings.min_accuracy), 1),
                             omit=False)
            else:
                entry["omit"] = True
            out.append(entry)
        return out
