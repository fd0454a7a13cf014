"""statsd metrics with the original service's names and tags.

Metrics go over UDP in the DogStatsD format (``name:value|type|#tag:v,...``)
under the prefix ``location.``, as the original's markus setup did. Without
``STATSD_HOST`` every call is a cheap no-op. A metric is never allowed to
fail a request.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable

PREFIX = "location"


class Metrics:
    def __init__(self, host: str = "", port: int = 8125, prefix: str = PREFIX) -> None:
        self.prefix = prefix
        self.address = (host, port) if host else None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def _send(self, name: str, value: float, kind: str, tags: Iterable[str] | None) -> None:
        if self.address is None:
            return
        line = f"{self.prefix}.{name}:{value:g}|{kind}"
        tags = [t for t in (tags or ()) if t]
        if tags:
            line += "|#" + ",".join(tags)
        try:
            with self._lock:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._sock.sendto(line.encode(), self.address)
        except OSError:
            pass

    def incr(self, name: str, value: float = 1, tags: Iterable[str] | None = None) -> None:
        self._send(name, value, "c", tags)

    def gauge(self, name: str, value: float, tags: Iterable[str] | None = None) -> None:
        self._send(name, value, "g", tags)

    def timing(self, name: str, ms: float, tags: Iterable[str] | None = None) -> None:
        self._send(name, round(ms, 3), "ms", tags)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


NULL = Metrics()
