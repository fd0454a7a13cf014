"""The per-beacon fields of Bluetooth observations; MAC addresses and
duplicates are the station kit's (:mod:`ichnaea_host.stations.mac`)."""

from __future__ import annotations

import hashlib
from typing import Any

from ichnaea_host import Ranking, bounded, higher, normalize_mac, younger

AGE_RANGE = (-3_600_000, 3_600_000)
SIGNAL_RANGE = (-127, 0)

#: duplicates of one beacon: stronger signal, then younger age
RANKING: Ranking = (("signal", higher), ("age", younger))

#: the first octet of the key a beacon's announced identity is learnt under
IDENTITY_OCTET = "06"

__all__ = ["IDENTITY_OCTET", "RANKING", "identity_key", "normalize_entry", "normalize_mac"]


def identity_key(entry: dict[str, Any]) -> str | None:
    """The station key of the identity a beacon announces (NeoStumbler's
    ``beaconType`` with ``id1``/``id2``/``id3``: an iBeacon's UUID, major and
    minor, an Eddystone namespace and instance), which stays when its MAC
    address is randomised: ``06`` and 40 bits of a hash of the identity, in
    the form of a MAC address, so that it lives in the ``blue`` table as any
    beacon does. None without an identity (no ``id1``).

    ``06`` is a locally administered unicast first octet; a real beacon
    address with the same six bytes would need the same 40 bits of hash.
    """
    first = entry.get("id1")
    if first is None or not str(first).strip():
        return None
    parts = [entry.get("beaconType"), first, entry.get("id2"), entry.get("id3")]
    text = "|".join("" if part is None else str(part).strip().lower() for part in parts)
    return IDENTITY_OCTET + hashlib.blake2b(text.encode(), digest_size=5).hexdigest()


def normalize_entry(entry: dict[str, Any], identity: bool = False) -> dict[str, Any] | None:
    """One beacon from a query or report in the pipeline's short names;
    None when its MAC is unusable. ``identity``: named by the key of its
    announced identity (:func:`identity_key`) when it has one."""
    mac = identity_key(entry) if identity else None
    mac = mac or normalize_mac(entry.get("macAddress"))
    if mac is None:
        return None
    name = entry.get("name")
    return {
        "mac": mac,
        "age": bounded(entry.get("age"), *AGE_RANGE),
        "signal": bounded(entry.get("signalStrength"), *SIGNAL_RANGE),
        "name": name if isinstance(name, str) else None,
    }
