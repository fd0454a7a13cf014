"""The service's calendar: its days are UTC days, whatever the machine's zone.

Daily statistics, API key limits, the datamap and the exports' dated paths
all count days with :func:`today_utc`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime


def today_utc() -> date:
    """Today's date in UTC."""
    return datetime.now(UTC).date()
