"""What every connection of the web server shares: the app, the limits, the render and
auth gates, the web config in force, the set of open connections and a few counters.

Scrapes first: the telemetry path and the health endpoints render in a lane of their
own (their own slots, queue and threads), so page requests, however many, cannot make
Prometheus or a liveness probe wait or get 503. Each client (client_address.client_key:
an IPv4 address, an IPv6 /48) has a bounded share of each lane and of the connection
table, so one client cannot hold all 2048 connections or the whole render queue."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from exporter.http_server.answer_budget import AnswerBudget
from exporter.http_server.auth_gate import AuthGate
from exporter.http_server.basic_auth import BasicAuth
from exporter.http_server.config_watch import WebConfigWatcher
from exporter.http_server.rate_limited_log import RateLimitedLog
from exporter.http_server.render_gate import RenderGate
from exporter.http_server.web_config import WebConfig, raised_transport
from exporter.http_server.wsgi_call import Reply


class Connection(Protocol):
    transport: asyncio.BaseTransport | None
    generation: int   # of the web config it was set up under
    client_key: str   # whose share it counts in

    @property
    def idle(self) -> bool: ...

    def abort(self) -> None: ...


@dataclass(frozen=True)
class ServerLimits:
    """What one client, or many, can hold. docs/security.md, "Web server limits", lists these."""

    max_connections: int = 2048       # open connections; beyond, idle keep-alives are dropped
                                      # first, then new ones get 503
    backlog: int = 1024               # listen queue (the kernel caps it at somaxconn)
    header_timeout: float = 10.0      # connect (and TLS handshake) to the end of the headers
    body_timeout: float = 10.0        # end of headers to the end of the body
    write_timeout: float = 10.0       # to send the whole answer
    idle_timeout: float = 120.0       # a kept-alive connection between requests
    render_slots: int = 2             # renders (and, apart, bcrypt checks) running at once
    render_wait: float = 5.0          # longest a request waits for a render slot, then 503
    render_queue: int = 64            # requests waiting for a slot; beyond, 503 at once
                                      # (each of the two lanes: telemetry, pages)
    renders_per_client: int = 8       # renders one client may have running or waiting
                                      # in a lane; beyond, 503 at once
    connections_per_client: int = 256  # open connections of one client; beyond, its idle
                                       # keep-alives are closed first, then new ones refused
    auth_per_client: int = 2          # bcrypt checks one client address may have running or
                                      # waiting; beyond, 429
    auth_suspect_for: float = 60.0    # an address whose last check failed waits behind
                                      # every other for this long
    max_header_bytes: int = 16384     # request line and headers; beyond, 431
    max_body_bytes: int = 65536       # request body; beyond, 413
    send_buffer_bytes: int = 131072   # kernel send buffer per connection (SO_SNDBUF): what
                                      # a client that stops reading can pin there
    answer_budget_bytes: int = 64 << 20   # answers held for clients being written, all
                                          # together; beyond, stalled ones are dropped
    answer_stall: float = 1.0         # a client that took nothing for this long is stalled


# Probes render in the telemetry lane too: a liveness probe that times out restarts the pod.
HEALTH_PATHS = ("/-/healthy", "/-/ready", "/healthz")


class ServerCore:
    """What every connection shares: the app, the limits, the gates, the web config."""

    def __init__(self, app: Callable[..., Iterable[bytes]], host: str, port: int,
                 limits: ServerLimits, watcher: WebConfigWatcher | None,
                 priority_paths: Iterable[str] = ("/metrics", *HEALTH_PATHS)) -> None:
        self.app = app
        self.priority_paths = frozenset(priority_paths)
        self.host = host
        self.port = port
        self.limits = limits
        self.watcher = watcher
        self.connections: set[Connection] = set()
        self.executor = ThreadPoolExecutor(max_workers=limits.render_slots,
                                           thread_name_prefix="web-render")
        self.auth_executor = ThreadPoolExecutor(max_workers=limits.render_slots,
                                                thread_name_prefix="web-auth")
        self.telemetry_executor = ThreadPoolExecutor(max_workers=limits.render_slots,
                                                     thread_name_prefix="web-telemetry")
        self.render_gate: RenderGate[Reply] = RenderGate(   # pages: /, everything else
            self.executor, limits.render_slots, limits.render_wait, limits.render_queue,
            limits.renders_per_client)
        self.telemetry_gate: RenderGate[Reply] = RenderGate(
            self.telemetry_executor, limits.render_slots, limits.render_wait,
            limits.render_queue, limits.renders_per_client)
        self.connections_by_client: Counter[str] = Counter()
        self.answers = AnswerBudget(limits.answer_budget_bytes, limits.answer_stall)
        self.auth_gate = AuthGate(self.auth_executor, limits.render_slots, limits.render_wait,
                                  limits.render_queue, limits.auth_per_client,
                                  limits.auth_suspect_for)
        self._auth: BasicAuth | None = None
        self._auth_users: dict[str, bytes] = {}
        # connections dropped, by reason: header_timeout, body_timeout, write_timeout,
        # idle_timeout (a kept-alive connection unused: normal), connection_limit,
        # tls_handshake (failed: plain HTTP, no or a wrong client certificate)
        self.dropped: Counter[str] = Counter()
        # requests answered without the app: unauthorized (401), bad_request (400),
        # too_large (413, 414, 431), unsupported (501, 505); busy (503) is the render
        # gate's and the auth gate's `refused`, throttled (429) the auth gate's
        self.refused: Counter[str] = Counter()
        self.bad_clients = RateLimitedLog(logging.getLogger("exporter.http_server.connection"))
        # Connections set up under a config older than this one are below what is asked now
        self._secure_from = 0

    def generation(self) -> int:
        """The web config's generation; read before its TLS context (see config_watch)."""
        return self.watcher.reloads if self.watcher else 0

    def outdated(self, connection: Connection) -> bool:
        """Set up under settings a reload has since raised (plain HTTP before TLS, no client
        certificate before one was required): it must not be served any more."""
        return connection.generation < self._secure_from

    def applied(self, old: WebConfig, new: WebConfig, generation: int) -> None:
        """A reload was applied (event loop thread). One that raised what a connection's
        set-up must meet closes the connections set up before it."""
        raised = raised_transport(old, new)
        if raised is None:
            return
        self._secure_from = max(self._secure_from, generation)
        outdated = [c for c in self.connections if self.outdated(c)]
        for connection in outdated:
            self.dropped["security_reload"] += 1
            connection.abort()
        logging.getLogger(__name__).info(
            "web config %s: closed %d connection(s) set up under the old settings", raised,
            len(outdated))

    @property
    def timeouts(self) -> int:
        """Connections dropped at a read or write deadline (not idle keep-alives)."""
        return sum(self.dropped[r] for r in ("header_timeout", "body_timeout", "write_timeout"))

    def tls_context(self) -> ssl.SSLContext | None:
        return self.watcher.current().tls if self.watcher else None

    def basic_auth(self) -> BasicAuth | None:
        if self.watcher is None:
            return None
        users = self.watcher.current().users
        if not users:
            return None
        if users != self._auth_users:   # keep the cache while the users stay the same
            self._auth, self._auth_users = BasicAuth(users), users
        return self._auth

    def gate_for(self, path: str) -> RenderGate[Reply]:
        """The lane a request renders in: the telemetry path and health endpoints first."""
        return self.telemetry_gate if path in self.priority_paths else self.render_gate

    def admit(self, connection: Connection) -> bool:
        mine = connection.client_key
        if self.connections_by_client[mine] >= self.limits.connections_per_client:
            idle = next((c for c in self.connections if c.idle and c.client_key == mine),
                        None)
            if idle is not None:
                idle.abort()
        if len(self.connections) >= self.limits.max_connections:
            idle = next((c for c in self.connections if c.idle), None)
            if idle is not None:
                idle.abort()
        over_share = self.connections_by_client[mine] >= self.limits.connections_per_client
        if over_share or len(self.connections) >= self.limits.max_connections:
            self.dropped["client_limit" if over_share else "connection_limit"] += 1
            transport = connection.transport
            assert isinstance(transport, asyncio.WriteTransport)
            if self.watcher is None or self.watcher.current().tls is None:
                transport.write(b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                                b"Retry-After: 1\r\nContent-Length: 0\r\n\r\n")
                transport.close()   # a few bytes: they fit the socket's buffer
            else:
                transport.abort()   # no handshake spent on a connection we cannot serve
            return False
        self.connections.add(connection)
        self.connections_by_client[mine] += 1
        return True

    def is_open(self, connection: Connection) -> bool:
        return connection in self.connections

    def forget(self, connection: Connection) -> None:
        if connection in self.connections:
            self.connections.discard(connection)
            key = connection.client_key
            self.connections_by_client[key] -= 1
            if self.connections_by_client[key] <= 0:
                del self.connections_by_client[key]


