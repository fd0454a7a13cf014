"""The host's periodic jobs: statistics and monitoring.

Registered like a plugin's (:data:`ichnaea_host.plugins.manager.BUILTIN_PLUGINS`), and
triggered by the scheduler through the task ``ichnaea.periodic``. Intervals
are the original's. The region statistics read every station table whole
(a ``GROUP BY region`` over tens of millions of rows at country scale), so
they are counted once a day, as the original did; the job looks hourly, and
counts at every look while nothing has been counted yet, so that a new
installation's stats page fills within the hour. A restarted scheduler does
not count again: the time of the last count is kept in Redis.
"""

from __future__ import annotations

import time
from typing import Any

from ichnaea_host.core.hookspecs import hookimpl
from ichnaea_host.core.sections import PeriodicJob

DAY = 86400.0
#: "<unix time> <regions found>" of the last count of the region statistics
REGION_STATS_BUILT_KEY = "stats:regions_built"


def _update_statcounter(rt: Any, settings: Any = None) -> bool:
    from ichnaea_host.pipeline.stats import update_statcounter

    update_statcounter(rt)
    return False


def _update_statregion(rt: Any, settings: Any = None, now: float | None = None) -> bool:
    """Count the stations per region once a day (or while none were found)."""
    from ichnaea_host.pipeline.stats import update_statregion

    now = time.time() if now is None else now
    built = rt.redis.get(REGION_STATS_BUILT_KEY)
    if built is not None:
        at, _, regions = (built.decode() if isinstance(built, bytes) else str(built)).partition(" ")
        if now - float(at) < DAY and regions not in ("", "0"):
            return False
    found = update_statregion(rt)
    rt.redis.set(REGION_STATS_BUILT_KEY, f"{now:.0f} {found}")
    return False


def _cleanup_stat(rt: Any, settings: Any = None) -> bool:
    from ichnaea_host.pipeline.stats import cleanup_stat

    cleanup_stat(rt)
    return False


def _monitor_queues(rt: Any, settings: Any = None) -> bool:
    from ichnaea_host.pipeline.monitoring import monitor_queue_size_and_rate_control

    monitor_queue_size_and_rate_control(rt)
    return False


def _monitor_api_key_limits(rt: Any, settings: Any = None) -> bool:
    from ichnaea_host.pipeline.monitoring import monitor_api_key_limits

    monitor_api_key_limits(rt)
    return False


def _monitor_api_users(rt: Any, settings: Any = None) -> bool:
    from ichnaea_host.pipeline.monitoring import monitor_api_users

    monitor_api_users(rt)
    return False


@hookimpl
def ichnaea_register_periodic_jobs() -> list[PeriodicJob]:
    return [
        PeriodicJob("update_statcounter", 600.0, _update_statcounter, drain=True),
        PeriodicJob("update_statregion", 3600.0, _update_statregion),
        PeriodicJob("cleanup_stat", DAY, _cleanup_stat),
        PeriodicJob("monitor_queue_size_and_rate_control", 60.0, _monitor_queues),
        PeriodicJob("monitor_api_key_limits", 600.0, _monitor_api_key_limits),
        PeriodicJob("monitor_api_users", 600.0, _monitor_api_users),
    ]
