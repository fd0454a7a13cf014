"""Network names (SSIDs) that keep a network out of the service's data: its
owner's opt-out, or the name of a network that travels."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

#: owners opt out by a marker in the name: ``_nomap`` (Google's convention, at
#: the end; routers often add a band after it, ``Home_nomap_5G``, so it counts
#: anywhere) and ``_optout`` (Microsoft's, anywhere); any case
OPT_OUT = re.compile(r"_nomap|_optout", re.IGNORECASE)


def opted_out(ssid: str | None) -> bool:
    return isinstance(ssid, str) and OPT_OUT.search(ssid) is not None


@functools.lru_cache(maxsize=8)
def name_matcher(patterns: Sequence[str]) -> Callable[[str], bool]:
    """Whether a name matches one of the patterns: case-insensitive, the
    whole name, ``*`` standing for any text (none else is special)."""
    if not patterns:
        return lambda name: False
    parts = ("".join(".*" if c == "*" else re.escape(c) for c in p) for p in patterns)
    whole = re.compile("(?:" + "|".join(parts) + r")\Z", re.IGNORECASE | re.DOTALL)
    return lambda name: whole.match(name) is not None
