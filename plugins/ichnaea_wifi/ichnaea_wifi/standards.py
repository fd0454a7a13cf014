"""WiFi standards: the ``radioType`` a report names for a network, and how
many learnt observations named each one.

The original documented ``802.11a|b|g|n|ac``; NeoStumbler also sends
``802.11ax`` and ``802.11be``. The counts are a Redis hash per day
(``stats:wifi_standards:YYYYMMDD``, one field per standard), kept
:data:`KEEP_DAYS` days; the site's statistics page shows their sum.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from ichnaea_host import REDIS_ERRORS, HostContext, StatsSection, get_logger, utcnow

log = get_logger("ichnaea.wifi")

#: in the order they came, with the names the Wi-Fi Alliance gave the later ones
STANDARDS: dict[str, str] = {
    "802.11a": "802.11a", "802.11b": "802.11b", "802.11g": "802.11g",
    "802.11n": "802.11n (Wi-Fi 4)", "802.11ac": "802.11ac (Wi-Fi 5)",
    "802.11ax": "802.11ax (Wi-Fi 6)", "802.11be": "802.11be (Wi-Fi 7)",
}
#: the days the statistics page sums
KEEP_DAYS = 30
#: the field of an observation carrying its network's standard
FIELD = "standard"


def wifi_standard(value: Any) -> str | None:
    """``802.11ax`` from ``802.11ax``, ``802.11AX`` or ``ax``; None when unknown."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if not text.startswith("802.11"):
        text = "802.11" + text
    return text if text in STANDARDS else None


def day_key(day: date) -> str:
    return f"stats:wifi_standards:{day:%Y%m%d}"


def count(observations: Iterable[Mapping[str, Any]]) -> Counter[str]:
    """Observations per standard (those naming none are not counted)."""
    return Counter(obs[FIELD] for obs in observations if obs.get(FIELD))


def record(context: HostContext, counts: Mapping[str, int], day: date | None = None) -> None:
    """Add one update run's counts to the day's hash. A Redis outage loses
    these counts (logged), never the run: the stations are written already."""
    if not counts:
        return
    key = day_key(day or utcnow().date())
    try:
        with context.redis.pipeline(transaction=False) as pipe:
            for standard, value in counts.items():
                pipe.hincrby(key, standard, value)
            pipe.expire(key, (KEEP_DAYS + 1) * 86400)
            pipe.execute()
    except REDIS_ERRORS as exc:
        log.warning("wifi_standards_not_counted", error=type(exc).__name__,
                    observations=sum(counts.values()))


def recent(context: HostContext, today: date | None = None) -> list[tuple[str, int]]:
    """``(label, observations)`` per standard seen in the last :data:`KEEP_DAYS` days."""
    today = today or utcnow().date()
    with context.redis.pipeline(transaction=False) as pipe:
        for back in range(KEEP_DAYS):
            pipe.hgetall(day_key(today - timedelta(days=back)))
        days = pipe.execute()
    totals: Counter[str] = Counter()
    for fields in days:
        for name, value in fields.items():
            totals[name.decode() if isinstance(name, bytes) else str(name)] += int(value)
    return [(label, totals[standard]) for standard, label in STANDARDS.items()
            if totals[standard]]


def stats_section() -> StatsSection:
    return StatsSection(
        name="wifi-standards", title="WiFi standards", label="Standard",
        column="Observations",
        text=f"The WiFi standard (radioType) of the networks in the reports the service "
             f"learnt from in the last {KEEP_DAYS} days, as stumbler apps such as "
             f"NeoStumbler name it.",
        empty=f"No report named a WiFi standard in the last {KEEP_DAYS} days.",
        rows=recent)
