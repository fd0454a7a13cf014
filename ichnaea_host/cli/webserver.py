"""The web server: waitress, with the limits a public service needs.

Waitress reads requests in one thread (an asyncore loop) and hands complete
ones to its worker threads. Out of the box it lets a slow client hold a
connection for as long as it sends a byte now and then (``channel_timeout``
only counts silence), stops accepting at 100 open connections, reads a body
of up to 1 GB before anyone looks at it, and refuses a larger one in plain
text. This module adds, in small subclasses:

- a deadline for each request: its headers within ``ICHNAEA_WEB_HEADER_TIMEOUT``
  and the whole request within ``ICHNAEA_WEB_REQUEST_TIMEOUT`` seconds of its
  first byte (the first request's clock starts when the connection opens);
  a client past it is disconnected (``Channel.past_deadline``, checked every
  second by ``Server.maintenance``);
- a cap on the open connections of one client (peer) address, checked when a
  connection is accepted (``Server.handle_accept``); behind a reverse proxy
  every connection comes from the proxy, so the cap must be raised or off;
- a body limit of ``MAX_BODY_BYTES``: a declared ``Content-Length`` over it is
  answered at once without reading the body (and without ``100 Continue``), a
  chunked body is read no further than the limit, and either way the answer
  is the API's JSON 413 (``JSONErrorTask``);
- ``connection_limit`` ``ICHNAEA_WEB_CONNECTION_LIMIT`` (poll() instead of
  select(), which stops at 1024 descriptors, and a soft open-file limit raised
  to match).

Every limit holds per web process. Clients cut off are counted, and the
counts logged once a minute as ``web_connections_cut`` (never an address).
"""

from __future__ import annotations

import json
import resource
import socket
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher
from waitress.utilities import RequestEntityTooLarge

from ichnaea_host.api.decode import MAX_BODY_BYTES, too_large
from ichnaea_host.api.errors import CORS_HEADERS
from ichnaea_host.app import SECURITY_HEADERS
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.settings import Settings

log = get_logger("ichnaea.web")

#: seconds between two ``web_connections_cut`` log lines
REPORT_SECONDS = 60
#: open files a web process needs besides its client connections
#: (database and Redis connections, GeoIP files, logs)
OTHER_FILES = 200


@dataclass(frozen=True)
class Limits:
    header_timeout: float
    request_timeout: float
    per_address: int  # 0: no cap


class JSONErrorTask(ErrorTask):
    """Waitress's error answer, but a body over the limit gets the API's JSON
    413 (as the application would answer it) instead of plain text."""

    def execute(self) -> None:
        if not isinstance(self.request.error, RequestEntityTooLarge):
            super().execute()
            return
        error = too_large()
        body = json.dumps(error.json_body()).encode()
        self.status = "413 Request Entity Too Large"
        self.response_headers.extend([("Content-Type", "application/json"),
                                      *CORS_HEADERS.items(), *SECURITY_HEADERS.items()])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class Channel(HTTPChannel):
    """One client connection, with a deadline for each request it sends."""

    error_task_class = JSONErrorTask
    server: Server
    counted = False  # True while this connection counts towards its address's cap

    def __init__(self, server: Server, sock: socket.socket, addr: Any, adj: Adjustments,
                 map: dict[int, Any] | None = None) -> None:
        super().__init__(server, sock, addr, adj, map=map)
        self.peer = str(addr[0])
        server.open_by_address[self.peer] += 1
        self.counted = True
        #: when the request being received began (None: none is); the first
        #: request's clock starts with the connection, so sending nothing is slow too
        self.request_started: float | None = self.creation_time

    def received(self, data: bytes) -> bool:
        before = self.request
        result: bool = super().received(data)
        if self.request is None:
            self.request_started = None  # nothing half received
        elif before is not None and self.request is not before:
            self.request_started = time.time()  # one request ended, the next began
        elif self.request_started is None:
            self.request_started = time.time()  # a new request's first bytes
        return result

    def send_continue(self) -> None:
        # waitress would invite the body of a request it already refused
        # (Content-Length over the limit) and then read it up to the limit
        if self.request is not None and self.request.error is not None:
            return
        super().send_continue()

    def past_deadline(self, now: float, limits: Limits) -> str | None:
        """Which deadline the request being received has passed, if any."""
        if self.requests or self.request_started is None:
            return None  # being answered, or between requests (the idle timeout applies)
        elapsed = now - self.request_started
        headers_done = self.request is not None and self.request.headers_finished
        if not headers_done and elapsed > limits.header_timeout:
            return "header_timeout"
        if elapsed > limits.request_timeout:
            return "request_timeout"
        return None

    def del_channel(self, map: dict[int, Any] | None = None) -> None:
        if self.counted:  # close() may come more than once
            self.counted = False
            self.server.open_by_address[self.peer] -= 1
            if self.server.open_by_address[self.peer] <= 0:
                del self.server.open_by_address[self.peer]
        super().del_channel(map)


class Server(TcpWSGIServer):
    """Waitress's TCP server on a listening socket it is given, with a cap
    per client address and the request deadlines."""

    channel_class = Channel

    def __init__(self, app: Any, sock: socket.socket, adj: Adjustments, limits: Limits,
                 dispatcher: ThreadedTaskDispatcher) -> None:
        self.limits = limits
        self.open_by_address: Counter[str] = Counter()
        self.cut: Counter[str] = Counter()  # since the last log line
        self.next_report = 0.0
        super().__init__(app, map={}, _sock=sock, dispatcher=dispatcher, adj=adj,
                         bind_socket=False,
                         sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()))

    def handle_accept(self) -> None:
        try:
            pair = self.accept()
        except OSError:
            return  # the client left before we took it
        if pair is None:
            return
        conn, addr = pair
        cap = self.limits.per_address
        if cap and self.open_by_address[str(addr[0])] >= cap:
            conn.close()  # at once: no slot, nothing read
            self.cut["address_cap"] += 1
            return
        try:
            self.set_socket_options(conn)
        except OSError:
            conn.close()
            return
        self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)

    def maintenance(self, now: float) -> None:
        """Every ``cleanup_interval`` (1 s): close idle connections (waitress)
        and those whose request is past its deadline; report the cuts."""
        super().maintenance(now)
        for channel in list(self.active_channels.values()):
            reason = channel.past_deadline(now, self.limits)
            if reason and not channel.will_close:
                channel.will_close = True  # the loop closes it on its next turn
                self.cut[reason] += 1
        if self.cut and now >= self.next_report:
            log.warning("web_connections_cut", **self.cut)  # counts since the last line
            self.cut.clear()
            self.next_report = now + REPORT_SECONDS


def _allow_open_files(wanted: int) -> None:
    """Raise the soft open-file limit towards ``wanted`` (up to the hard one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        log.warning("web_open_file_limit", hard_limit=hard, wanted=wanted)
        wanted = hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def create_server(app: Any, sock: socket.socket, settings: Settings, threads: int) -> Server:
    """A waitress server for ``app`` on the listening socket ``sock``."""
    adj = Adjustments(
        threads=threads, ident="ichnaea", clear_untrusted_proxy_headers=False,
        connection_limit=settings.web_connection_limit,
        channel_timeout=settings.web_idle_timeout,
        cleanup_interval=1,  # how often deadlines are checked
        # waitress refuses a Content-Length >= this, and a chunked body once
        # this many bytes (chunk framing included) have come
        max_request_body_size=MAX_BODY_BYTES + 1,
        asyncore_use_poll=True,  # select() cannot watch more than 1024 descriptors
    )
    _allow_open_files(settings.web_connection_limit + OTHER_FILES)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(threads)
    limits = Limits(header_timeout=settings.web_header_timeout,
                    request_timeout=settings.web_request_timeout,
                    per_address=settings.web_connections_per_address)
    return Server(app, sock, adj, limits, dispatcher)
