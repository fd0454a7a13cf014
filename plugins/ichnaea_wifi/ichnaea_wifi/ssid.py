"""The short hash of a network's name (SSID) a wifi station keeps, and the
key of the WiFi dump, computed from an address (BSSID) and a name together.

A station never keeps the name itself: only the first :data:`SSID_HASH_BYTES`
bytes of the SHA-256 of its UTF-8 bytes, as the name was reported (no case
folding, no trimming). So few bytes leave every name among very many others
of the same hash. The dump's key of a network is the SHA-256 of the 6 bytes
of its address followed by those hash bytes, cut to :data:`KEY_BYTES`: whoever
sees the network (its address and its name) can compute it; the address
alone, or the name alone, does not give it.
"""

from __future__ import annotations

import functools
import hashlib

#: bytes of SHA-256(ssid) a station keeps
SSID_HASH_BYTES = 4
#: bytes of the dump's key (written as lowercase hex, twice as many digits)
KEY_BYTES = 16


def hidden(ssid: str | None) -> bool:
    """Whether a name says nothing: missing, empty, or only NUL characters
    (what scans of hidden networks report)."""
    return not ssid or not ssid.strip("\x00")


@functools.lru_cache(maxsize=4096)
def ssid_hash(ssid: str) -> str:
    """The short hash a station keeps of a name, in hex (8 digits)."""
    return hashlib.sha256(ssid.encode("utf-8", "surrogatepass")).digest()[:SSID_HASH_BYTES].hex()


def key_from_hash(mac: str, short_hash: str) -> str:
    """The dump's key of a station: its MAC (12 hex digits) and the short
    hash of its name (8 hex digits), in hex (32 digits)."""
    return hashlib.sha256(bytes.fromhex(mac) + bytes.fromhex(short_hash)).digest()[
        :KEY_BYTES].hex()


def dump_key(bssid: str, ssid: str) -> str:
    """The dump's key of a network seen with this address and this name.

    ``bssid`` in any form :func:`~ichnaea_host.normalize_mac` reads
    (``aa:bb:cc:dd:ee:ff``, ``AA-BB-..``, bare)."""
    mac = bssid.replace(":", "").replace("-", "").replace(".", "").strip().lower()
    if len(mac) != 12:
        raise ValueError("a BSSID has 12 hex digits")
    return key_from_hash(mac, ssid_hash(ssid))
