"""One WSGI call, run to completion: environ in, (status, headers, body bytes) out."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

WsgiApp = Callable[..., Iterable[bytes]]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    status: str                      # "200 OK"
    headers: tuple[tuple[str, str], ...]
    body: bytes


def make_environ(method: str, target: str, version: str, headers: Mapping[str, str],
                 body: bytes, server_name: str, server_port: int, client: str,
                 scheme: str) -> dict[str, Any]:
    from urllib.parse import unquote
    path, _, query = target.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": unquote(path, "latin-1"),
        "QUERY_STRING": query, "SERVER_NAME": server_name, "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": version, "REMOTE_ADDR": client,
        "wsgi.version": (1, 0), "wsgi.url_scheme": scheme, "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
        elif name == "content-length":
            environ["CONTENT_LENGTH"] = value
        elif name != "authorization":   # the app needs no credentials: keep them out of reach
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def call_wsgi(app: WsgiApp, environ: dict[str, Any]) -> Reply:
    """The app's answer; a 500 (logged once, shared by every request waiting on it) when
    the app raises."""
    try:
        return _call(app, environ)
    except Exception:
        log.exception("%s %s failed", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
        return Reply("500 Internal Server Error", (("Content-Type", "text/plain; charset=utf-8"),),
                     b"500 Internal Server Error: see the exporter's log\n")


def _call(app: WsgiApp, environ: dict[str, Any]) -> Reply:
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        if started and not exc_info:
            raise AssertionError("start_response called twice without exc_info")
        started[:] = [status, headers]
        return lambda data: None   # the write() callable: our apps never use it

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not started:
        raise RuntimeError("the WSGI app returned without calling start_response")
    return Reply(started[0], tuple(started[1]), body)
