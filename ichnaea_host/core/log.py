"""Structured logging (structlog) for every process of the service.

Log lines are JSON objects on stderr. Nothing that identifies a person is
logged: API keys are shortened with :func:`redact_key` and client addresses
are never passed to a logger.
"""

from __future__ import annotations

import logging
import sys
import time

import structlog

#: libraries whose DEBUG and INFO lines hold URLs, headers or bodies
QUIET_LIBRARIES = ("urllib3", "requests", "botocore", "boto3", "s3transfer")

_configured = False
#: the level configured last (NOTSET: every line is written, as before configuration)
_level = logging.NOTSET


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    global _configured, _level
    numeric = getattr(logging, level.upper(), logging.INFO)
    _level = numeric
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=numeric, force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedisOutageFilter())
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    logging.getLogger("huey").setLevel(max(numeric, logging.WARNING))
    logging.getLogger("peewee").setLevel(logging.WARNING)
    logging.getLogger("peewee_migrate").setLevel(logging.WARNING)
    # HTTP and S3 clients log whole URLs (a provider's key in its query
    # string) and request headers at DEBUG: never below WARNING
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # one write per line (print() makes two): processes sharing a log file
        # never cut into each other's lines
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = True


class RedisOutageFilter(logging.Filter):
    """Huey's consumer logs a whole traceback each time it cannot reach Redis:
    every second while Redis is down. Such a record becomes one structured
    ``redis_unreachable`` line instead, at most one a minute for each of
    huey's messages. Every other record passes untouched."""

    EVERY = 60.0

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("huey") or not record.exc_info:
            return True
        import redis

        error = record.exc_info[1]
        from redis.exceptions import ClusterDownError, RedisClusterException

        if not isinstance(error, (redis.ConnectionError, redis.TimeoutError,
                                  ClusterDownError, RedisClusterException)):
            return True
        during = record.getMessage()
        now = time.monotonic()
        if now - self._last.get(during, -self.EVERY) >= self.EVERY:
            self._last[during] = now
            get_logger(record.name).warning("redis_unreachable", during=during,
                                            error=f"{type(error).__name__}: {error}")
        return False


def enabled_for(level: int) -> bool:
    """Whether lines of this level are written: the request path asks before
    building a line's fields."""
    return level >= _level


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


def redact_key(key: str | None) -> str | None:
    """Show only the first characters of an API key."""
    if not key:
        return key
    return key[:4] + "..." if len(key) > 4 else "..."
