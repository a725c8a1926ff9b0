"""The HTTP server: serves a WSGI app from an event loop in a background thread.

On an event loop a client that sends slowly or never reads costs a socket and a small
buffer until its deadline, not a thread; only complete, authorised requests reach the
render gate, which caps concurrent renders and lets identical scrapes share one
(docs/architecture.md says why not wsgiref, cheroot or waitress).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from exporter.http_server.config_watch import WebConfigWatcher
from exporter.http_server.connection import HttpConnection
from exporter.http_server.listeners import bind_listeners, describe_address
from exporter.http_server.server_core import HEALTH_PATHS, ServerCore, ServerLimits
from exporter.http_server.web_config import WebConfig

log = logging.getLogger(__name__)

OUT_OF_RESOURCES = "socket.accept() out of system resource"
OUT_OF_RESOURCES_LOG_EVERY = 60.0   # seconds between the lines saying so


class LoopErrors:
    """The event loop's exception handler. asyncio meets a full descriptor table on
    accept by pausing that listener for a second and logging a traceback each time: one
    line a minute says so instead (the sessions' own shortfall is logged where it arises);
    anything else goes to asyncio's default handler."""

    def __init__(self) -> None:
        self._said = -OUT_OF_RESOURCES_LOG_EVERY

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != OUT_OF_RESOURCES:
            loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if now - self._said >= OUT_OF_RESOURCES_LOG_EVERY:
            self._said = now
            log.warning("the web server cannot accept connections for now: %s (it retries "
                        "every second; raise the open files limit)", context.get("exception"))


class WebServer:
    """Serves `app` on host:port until stop(). `web_config_file`: TLS and basic auth.
    `listeners`: sockets already listening (more --web.listen-address values, or the ones
    systemd handed over), served instead of binding host:port."""

    def __init__(self, app: Callable[..., Iterable[bytes]], host: str = "0.0.0.0",
                 port: int = 0, web_config_file: str | None = None,
                 limits: ServerLimits | None = None,
                 listeners: Sequence[socket.socket] = (),
                 telemetry_path: str = "/metrics") -> None:
        self.limits = limits or ServerLimits()
        watcher = WebConfigWatcher(web_config_file) if web_config_file else None
        self._sockets = list(listeners) or bind_listeners([(host, port)], self.limits.backlog)
        for sock in self._sockets:
            sock.setblocking(False)
        first = self._sockets[0].getsockname()
        self.core = ServerCore(app, first[0], self.port, self.limits, watcher,
                               (telemetry_path, *HEALTH_PATHS))
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(LoopErrors())
        self._servers: list[asyncio.AbstractServer] = []
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="web")

    @property
    def port(self) -> int:
        """The first listener's port (the one tests and the log name)."""
        return int(self._sockets[0].getsockname()[1])

    @property
    def addresses(self) -> list[str]:
        return [describe_address(sock) for sock in self._sockets]

    @property
    def tls(self) -> bool:
        return self.core.tls_context() is not None

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        future.result(timeout=10)
        watcher = self.core.watcher
        if watcher is not None:
            def applied(old: WebConfig, new: WebConfig) -> None:
                # in the watcher's thread: the connections are the event loop's
                self._loop.call_soon_threadsafe(self.core.applied, old, new, watcher.reloads)
            watcher.on_applied = applied
            watcher.start()
        log.info("web: %s, listening on %s", self.describe(), ", ".join(self.addresses))

    def describe(self) -> str:
        """How the server is protected, for the log (never a secret)."""
        config = self.core.watcher.current() if self.core.watcher else None
        if config is None or (config.tls is None and not config.users):
            everywhere = any(sock.getsockname()[0] in ("0.0.0.0", "::", "")
                             for sock in self._sockets)
            where = "on all interfaces " if everywhere else ""
            return (f"plain HTTP without authentication {where}(TLS and basic auth: "
                    "--web.config.file)")
        parts = []
        if config.tls is not None:
            mutual = config.tls.verify_mode == ssl.CERT_REQUIRED
            parts.append("HTTPS" + (", client certificates required" if mutual else ""))
        else:
            parts.append("plain HTTP")
        if config.users:
            parts.append(f"basic auth for {len(config.users)} user(s)")
        return ", ".join(parts)

    async def _serve(self) -> None:
        core = self.core
        for sock in self._sockets:
            self._servers.append(await self._loop.create_server(
                lambda: HttpConnection(core), sock=sock, backlog=self.limits.backlog))

    def stop(self) -> None:
        if self.core.watcher is not None:
            self.core.watcher.stop()
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self._loop.close()
        else:
            for sock in self._sockets:
                sock.close()
        self.core.executor.shutdown(wait=False, cancel_futures=True)
        self.core.telemetry_executor.shutdown(wait=False, cancel_futures=True)
        self.core.auth_executor.shutdown(wait=False, cancel_futures=True)

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for connection in list(self.core.connections):
            connection.abort()
        # Answers still waiting on a render or a slow client end here, not at interpreter exit.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
