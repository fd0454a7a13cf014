"""What every radio whose networks are named by a MAC address shares (WiFi
access points, Bluetooth beacons): the address's normal form, its work
partition in the pipeline, the
range check of an entry's numbers, and the choice among duplicate entries.

Duplicates of one network in a query or report keep the *better* entry
(spec/api.md §2.3): fields are compared in the radio's order, and the first
field both entries carry with different ranks decides; when none does, the
later entry wins. Ages compare by magnitude (:func:`younger`): an age is how
far from the moment of the query or of the position the network was seen, on
either side, and observations and locate weights use ``|age|`` too
(spec/pipeline.md §3, spec/api.md §3.3). The original compared signed ages
here, so an entry of age -3 600 000 beat one of age 0.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

import peewee

from ichnaea_host.core.db import MacField
from ichnaea_host.stations.columns import station_model

INVALID_MACS = frozenset({"000000000000", "ffffffffffff", "01005e901000"})
HEX12 = re.compile(r"^[0-9a-f]{12}$")
#: the work partitions of MAC stations (queues ``update_<radio>_<p>``): the
#: fifth hex digit of the address
MAC_SHARDS = tuple("0123456789abcdef")
#: fewer unique valid networks than this in a query and the whole list is ignored
MIN_MAC_NETWORKS = 2


def normalize_mac(value: Any) -> str | None:
    """12 lowercase hex digits, from ``aa:bb:..``, ``AA-BB-..``, ``aabb.ccdd..`` or bare;
    None for anything else and for the reserved addresses."""
    if not isinstance(value, str):
        return None
    mac = value.replace(":", "").replace("-", "").replace(".", "").strip().lower()
    if not HEX12.match(mac) or mac in INVALID_MACS:
        return None
    return mac


def mac_shard(mac: str) -> str:
    """The work partition of a normalised MAC: its fifth hex digit."""
    return mac[4]


def mac_station_model(table: str,
                      extra: dict[str, peewee.Field] | None = None) -> type[peewee.Model]:
    """The model of a MAC radio's station table (``wifi``, ``blue``), keyed by
    ``mac``, with the radio's ``extra`` columns (:func:`station_model`)."""
    return station_model(table, "mac", MacField(primary_key=True), extra=extra)


def bounded(value: Any, low: float, high: float) -> Any:
    """A number within ``low`` .. ``high`` as it is; None for anything else
    (booleans, text, NaN, out of range)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if low <= value <= high else None


# ---------------------------------------------------------------------------
# duplicates


def higher(value: Any) -> Any:
    """Rank of a field where the higher value is the better (signals)."""
    return value


def lower(value: Any) -> Any:
    """Rank of a field where the lower value is the better (timing advance)."""
    return -value


def younger(age: Any) -> Any:
    """Rank of an age: the nearer to the moment (either side), the better."""
    return -abs(age)


#: (field, rank) pairs, compared in order
Ranking = tuple[tuple[str, Callable[[Any], Any]], ...]

#: the ranking of MAC networks: stronger signal, then younger age
MAC_RANKING: Ranking = (("signal", higher), ("age", younger))


def better(kept: Mapping[str, Any], new: Mapping[str, Any],
           ranking: Ranking = MAC_RANKING) -> bool:
    """Whether ``kept`` beats ``new``: the first field both carry with
    different ranks decides; False when none does."""
    for name, rank in ranking:
        a, b = kept.get(name), new.get(name)
        if a is None or b is None:
            continue
        ra, rb = rank(a), rank(b)
        if ra != rb:
            return bool(ra > rb)
    return False


def dedupe(entries: Iterable[dict[str, Any]], ranking: Ranking = MAC_RANKING,
           key: Callable[[dict[str, Any]], Hashable] | None = None) -> list[dict[str, Any]]:
    """One entry per key (by default the ``mac``), in the order keys first
    appear: a later entry replaces the kept one unless the kept one is
    :func:`better`."""
    kept: dict[Hashable, dict[str, Any]] = {}
    for entry in entries:
        k = entry["mac"] if key is None else key(entry)
        current = kept.get(k)
        if current is None or not better(current, entry, ranking):
            kept[k] = entry
    return list(kept.values())


def unique_networks(entries: Iterable[dict[str, Any]],
                    normalize: Callable[[dict[str, Any]], dict[str, Any] | None],
                    ranking: Ranking = MAC_RANKING,
                    minimum: int = MIN_MAC_NETWORKS) -> list[dict[str, Any]]:
    """A query's networks: the valid ones (``normalize`` gives None for the
    others), de-duplicated; none at all when fewer than ``minimum`` remain."""
    valid = [n for n in (normalize(e) for e in entries) if n is not None]
    unique = dedupe(valid, ranking)
    return unique if len(unique) >= minimum else []
