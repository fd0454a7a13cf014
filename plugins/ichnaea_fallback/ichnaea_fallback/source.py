"""The external fallback position source.

For API keys allowed to use a provider, when the query carries network data
and the earlier sources' results do not already answer it well enough, ask
the key's provider in the key's wire format (``api_key.fallback_schema``,
found through the host, so new formats need no change here). Answers are
cached in Redis and provider calls are rate limited per ``fallback_name``.

A provider that is slow, down or answers nonsense costs at most about the
configured timeout and never turns into an error response: the source then
simply has no result.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from ichnaea_host import Position, PositionSource, Query, get_logger, redact_key, satisfies

from .cache import FallbackCache, rate_limit_reached
from .query import cache_ids, has_networks, provider_query
from .settings import FallbackSettings

log = get_logger("ichnaea.fallback")

DEFAULT_SCHEMA = "ichnaea/v1"
SCORE = 10.0
LACF_SCORE = 5.0


class ProviderTimeout(Exception):
    """The provider did not finish its answer within the time budget."""


class ResponseTooLarge(Exception):
    """The provider's answer is larger than the configured limit."""


def safe_url(url: str) -> str:
    """Scheme, host and port only: paths, query strings and fragments may hold secrets."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname or ''}{port}"
    except ValueError:
        return "<invalid url>"


class FallbackPositionSource(PositionSource):
    PLUGIN_NAME = "fallback"
    DEFAULT_ORDER = 90
    SETTINGS = FallbackSettings
    settings: FallbackSettings

    def __init__(self, context: Any, settings: FallbackSettings | None = None) -> None:
        super().__init__(context, settings)
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def session(self) -> Any:
        """One pooled HTTP session per process, built on first use."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    import requests
                    from requests.adapters import HTTPAdapter

                    size = self.settings.pool_size
                    session = requests.Session()
                    adapter = HTTPAdapter(pool_connections=size, pool_maxsize=size,
                                          max_retries=0)
                    session.mount("http://", adapter)
                    session.mount("https://", adapter)
                    session.max_redirects = 1
                    self._session = session
        return self._session

    # -- PositionSource
    def should_search(self, query: Query, results: Sequence[Any]) -> bool:
        if not query.api_key.can_fallback():
            return False
        if not has_networks(provider_query(query)):
            return False
        positions = [r for r in results if isinstance(r, Position)]
        return not satisfies(positions, query)

    def search(self, query: Query) -> list[Position]:
        key = query.api_key
        provider = str(key.fallback_name)
        schema_name = key.fallback_schema or DEFAULT_SCHEMA
        context = {"fallback_name": provider, "schema": schema_name,
                   "api_key": redact_key(key.valid_key)}
        schema = self.context.fallback_schema(schema_name)
        if schema is None:
            log.warning("fallback_unknown_schema", **context)
            return []
        pquery = provider_query(query)
        ids = cache_ids(pquery) if key.fallback_cache_expire else None
        cache = None
        if ids:
            cache = FallbackCache(self.context.redis, schema_name, provider,
                                  int(key.fallback_cache_expire or 0))
            cached = cache.get(ids)
            log.debug("fallback_cache", status=cached.status, **context)
            self._count_cache(provider, cached.status)
            if cached.answered:
                return self._positions(cached.answer)
        else:
            log.debug("fallback_cache", status="bypassed", **context)
            self._count_cache(provider, "bypassed")

        interval = max(int(key.fallback_ratelimit_interval or 1), 1)
        if rate_limit_reached(self.context.redis, provider, key.fallback_ratelimit, interval):
            log.info("fallback_rate_limited", **context)
            return []

        try:
            request = schema.build_request(pquery, str(key.fallback_url))
        except Exception as exc:  # noqa: BLE001 - a misconfigured key must not break locate
            log.warning("fallback_request_invalid", error=str(exc)[:200], **context)
            return []
        if request is None:
            return []
        url, body, headers = request
        status, answer = self._call(schema, url, body, headers, context)
        if status in ("found", "notfound") and cache is not None and ids:
            if not cache.set(ids, answer):
                log.warning("fallback_cache_store_failed", **context)
        return self._positions(answer)

    # -- helpers
    def _positions(self, answer: dict[str, Any] | None) -> list[Position]:
        if not answer:
            return []
        fallback = answer.get("fallback") if answer.get("fallback") == "lacf" else None
        return [Position(lat=float(answer["lat"]), lon=float(answer["lon"]),
                         accuracy=float(answer["accuracy"]),
                         score=LACF_SCORE if fallback == "lacf" else SCORE,
                         source=self.PLUGIN_NAME, fallback=fallback)]

    def _call(self, schema: Any, url: str, body: dict[str, Any], headers: dict[str, str],
              context: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """POST to the provider: ("found", answer), ("notfound", None) or ("error", None)."""
        import requests
        from urllib3.util import Timeout

        settings = self.settings
        start = time.monotonic()
        deadline = start + settings.timeout
        where = {"url": safe_url(url), **context}
        status_code: int | None = None
        try:
            timeout = Timeout(total=settings.timeout, connect=settings.timeout,
                              read=settings.timeout)
            with self.session.post(url, json=body, headers=headers, timeout=timeout,
                                   stream=True) as response:
                status_code = response.status_code
                content = self._read(response, deadline, settings.max_response_bytes)
        except (requests.Timeout, ProviderTimeout):
            self._log_lookup("timeout", "error", start, where)
            return "error", None
        except ResponseTooLarge:
            self._log_lookup(status_code, "error", start, where, error="answer too large")
            return "error", None
        except (requests.RequestException, OSError, ValueError) as exc:
            late = time.monotonic() >= deadline
            self._log_lookup("timeout" if late else status_code, "error", start, where,
                             error=type(exc).__name__)
            return "error", None
        try:
            decoded: Any = json.loads(content) if content else None
        except ValueError:
            decoded = None
        try:
            answer = schema.parse_response(status_code, decoded)
        except Exception as exc:  # noqa: BLE001 - any unusable answer is the provider's error
            self._log_lookup(status_code, "error", start, where, error=str(exc)[:200])
            return "error", None
        outcome = "notfound" if answer is None else "found"
        self._log_lookup(status_code, outcome, start, where)
        return outcome, answer

    @staticmethod
    def _read(response: Any, deadline: float, limit: int) -> bytes:
        chunks = []
        size = 0
        for chunk in response.iter_content(chunk_size=16384):
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge()
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise ProviderTimeout()
        if time.monotonic() > deadline:
            raise ProviderTimeout()
        return b"".join(chunks)

    def _count_cache(self, provider: str, status: str) -> None:
        self.context.metrics.incr("locate.fallback.cache",
                                  tags=[f"fallback_name:{provider}", f"status:{status}"])

    def _log_lookup(self, status: Any, outcome: str, start: float, where: dict[str, Any],
                    **extra: Any) -> None:
        """Log one provider call and count it, as the original did:
        ``locate.fallback.lookup`` and its ``.timing``."""
        took = (time.monotonic() - start) * 1000
        tags = [f"fallback_name:{where['fallback_name']}", f"status:{status or 'error'}"]
        self.context.metrics.incr("locate.fallback.lookup", tags=tags)
        self.context.metrics.timing("locate.fallback.lookup.timing", took, tags=tags)
        duration = round(took, 1)
        method = log.info if outcome != "error" else log.warning
        method("fallback_lookup", status=status, outcome=outcome, duration_ms=duration,
               **where, **extra)
