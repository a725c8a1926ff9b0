"""The HTTP server: serves a WSGI app from a background thread."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logging.getLogger(__name__).debug("%s " + format, self.client_address[0], *args)


class WebServer:
    """Serves `app` on host:port from a background thread until stop()."""

    def __init__(self, app: Callable[..., Iterable[bytes]], host: str, port: int) -> None:
        server_class = _ThreadingServer
        if ":" in host:  # IPv6 literal
            class _V6(_ThreadingServer):
                address_family = socket.AF_INET6
            server_class = _V6
        self._server = make_server(host, port, app, server_class=server_class,
                                   handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="web")

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
