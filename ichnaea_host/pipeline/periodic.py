"""The host's periodic jobs: statistics and monitoring.

Registered like a plugin's (:data:`ichnaea_host.plugins.manager.BUILTIN_PLUGINS`), and
triggered by the scheduler through the task ``ichnaea.periodic``. Intervals
are the original's, except the region statistics: hourly instead of daily,
so that a new installation's stats page fills within the hour.
"""

from __future__ import annotations

from typing import Any

from ichnaea_host.core.hookspecs import hookimpl
from ichnaea_host.core.sections import PeriodicJob

DAY = 86400.0


def _update_statcounter(rt: Any, settings: Any = None) -> bool:
    from ichnaea_host.pipeline.stats import update_statcounter

    update_statcounter(rt)
    return False


def _update_statregion(rt: Any, settings: Any = None) -> bool:
    from ichnaea_host.pipeline.stats import update_statregion

    update_statregion(rt)
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
