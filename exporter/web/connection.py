"""One HTTP/1.1 connection on the event loop: read a request within deadlines, answer it
through the render gate, write the answer within a deadline, keep alive or close.

Reading costs no thread: a client that sends half a request, or sends it a byte at a time,
holds a socket and a small buffer until its deadline, then is dropped. Writing goes out in
chunks as the client takes them: a client that never reads pins one chunk, not the whole
exposition, and is dropped at the write deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import struct
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

from exporter.web.basic_auth import credentials
from exporter.web.server_core import ServerCore
from exporter.web.wsgi_call import Reply, call_wsgi, make_environ

log = logging.getLogger(__name__)

MAX_REQUEST_LINE = 8190   # as wsgiref/http.server: longer is 414
WRITE_CHUNK = 32 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


def simple_reply(status: HTTPStatus, text: str = "",
                 headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    body = (text or f"{status.value} {status.phrase}").encode() + b"\n"
    return Reply(f"{status.value} {status.phrase}",
                 (("Content-Type", "text/plain; charset=utf-8"),) + headers, body)


class HttpConnection(asyncio.Protocol):
    def __init__(self, core: ServerCore) -> None:
        self.core = core
        self.limits = core.limits
        self.transport: asyncio.BaseTransport | None = None
        self.loop = asyncio.get_running_loop()
        self._buffer = bytearray()
        self._head: tuple[str, str, str, dict[str, str], int, bool] | None = None
        self._busy = False
        self._served = 0
        self._closed = False
        self._timer: asyncio.TimerHandle | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._client = "?"
        self._scheme = "http"
        self._ready = True   # False while the TLS handshake runs

    # ------------------------------------------------------------------ lifecycle

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if peer else "?"
        if not self.core.admit(self):
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Otherwise the kernel takes megabytes of an answer nobody reads, and our write
            # deadline never sees the client stall.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.limits.send_buffer_bytes)
        self._deadline(self.limits.header_timeout, "header_timeout")
        context = self.core.tls_context()
        if context is not None:
            self._scheme = "https"
            self._ready = False
            assert isinstance(transport, asyncio.Transport)
            transport.pause_reading()   # the handshake reads first, not data_received
            self.loop.create_task(self._start_tls(transport, context))

    async def _start_tls(self, raw: asyncio.Transport, context: ssl.SSLContext) -> None:
        try:
            tls = await self.loop.start_tls(raw, self, context, server_side=True,
                                            ssl_handshake_timeout=self.limits.header_timeout)
        except (OSError, ssl.SSLError, asyncio.TimeoutError, ConnectionError) as exc:
            log.debug("TLS handshake with %s failed: %s", self._client, exc)
            if not self._closed:
                self.core.dropped["tls_handshake"] += 1
            raw.abort()
            self._forget()
            return
        if tls is None or self._closed:
            raw.abort()
            self._forget()
            return
        self.transport = tls
        self._ready = True
        if self._buffer:   # the request came with the handshake's last flight
            self._process()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        self._can_write.set()   # a writer waiting for room stops waiting

    def _forget(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self.core.forget(self)

    def abort(self) -> None:
        self._closed = True
        if self.transport is not None:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                # A reset, not a close: what the kernel still holds for this client is
                # freed now rather than retransmitted to a peer that does not read.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()   # type: ignore[attr-defined]
        self._forget()

    def _abort_if_open(self) -> None:
        if self.core.is_open(self):
            self.abort()

    @property
    def idle(self) -> bool:
        """Between requests on a kept-alive connection: safe to drop when full."""
        return self._served > 0 and not self._busy and not self._buffer

    def _deadline(self, seconds: float, reason: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(seconds, self._timed_out, reason)

    def _timed_out(self, reason: str) -> None:
        log.debug("dropping %s: %s", self._client, reason.replace("_", " "))
        self.core.dropped[reason] += 1
        if reason == "idle_timeout" and self.transport is not None:
            self._closed = True   # nothing is owed: a plain close, as HTTP clients expect
            self.transport.close()
            self._forget()
            return
        self.abort()

    # ------------------------------------------------------------------ flow control

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # ------------------------------------------------------------------ reading

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        if not self._buffer and self._head is None and not self._busy and self._served:
            # kept alive: a request starts
            self._deadline(self.limits.header_timeout, "header_timeout")
        self._buffer += data
        if not self._ready:
            return
        if not self._busy:
            self._process()
        elif len(self._buffer) > self.limits.max_header_bytes:
            self.transport.pause_reading()   # type: ignore[union-attr]

    def _process(self) -> None:
        if self._head is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                first_line = self._buffer.split(b"\r\n", 1)[0]
                if len(first_line) > MAX_REQUEST_LINE:
                    self._refuse(HTTPStatus.REQUEST_URI_TOO_LONG)
                elif len(self._buffer) > self.limits.max_header_bytes:
                    self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
                return
            if end > self.limits.max_header_bytes:
                self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
                return
            head = bytes(self._buffer[:end])
            del self._buffer[:end + 4]
            parsed = self._parse_head(head)
            if parsed is None:
                return
            self._head = parsed
            if parsed[4]:
                self._deadline(self.limits.body_timeout, "body_timeout")
        method, target, version, headers, length, keep_alive = self._head
        if len(self._buffer) < length:
            return
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        self._head = None
        self._dispatch(Request(method, target, version, headers, body, keep_alive))

    def _parse_head(self, head: bytes) -> tuple[str, str, str, dict[str, str], int, bool] | None:
        try:
            text = head.decode("latin-1")
            request_line, *lines = text.split("\r\n")
            method, target, version = request_line.split(" ")
        except ValueError:
            self._refuse(HTTPStatus.BAD_REQUEST, "malformed request line")
            return None
        if version not in ("HTTP/1.0", "HTTP/1.1"):
            self._refuse(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
            return None
        if len(request_line) > MAX_REQUEST_LINE:
            self._refuse(HTTPStatus.REQUEST_URI_TOO_LONG)
            return None
        headers: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                self._refuse(HTTPStatus.BAD_REQUEST, "malformed header line")
                return None
            key = name.lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        if "transfer-encoding" in headers:
            self._refuse(HTTPStatus.NOT_IMPLEMENTED, "request bodies must have a Content-Length")
            return None
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            self._refuse(HTTPStatus.BAD_REQUEST, "bad Content-Length")
            return None
        length = int(length_text)
        if length > self.limits.max_body_bytes:
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return None
        connection = headers.get("connection", "").lower()
        keep_alive = ("close" not in connection if version == "HTTP/1.1"
                      else "keep-alive" in connection)
        return method, target, version, headers, length, keep_alive

    def _refuse(self, status: HTTPStatus, text: str = "") -> None:
        """A request we will not serve: answer and close."""
        self.core.refused["bad_request"] += 1
        self._buffer.clear()
        self._head = None
        self._dispatch(None, simple_reply(status, text))

    # ------------------------------------------------------------------ answering

    def _dispatch(self, request: Request | None, reply: Reply | None = None) -> None:
        self._busy = True
        if self._timer is not None:
            self._timer.cancel()
        self.transport.pause_reading()   # type: ignore[union-attr]
        self.loop.create_task(self._answer(request, reply))

    async def _answer(self, request: Request | None, reply: Reply | None) -> None:
        keep_alive = False
        try:
            if request is not None:
                keep_alive = request.keep_alive
                reply = await self._reply(request)
            assert reply is not None
            head_only = request is not None and request.method == "HEAD"
            await self._write(reply, keep_alive, head_only)
        except Exception:
            log.exception("answering %s failed", self._client)
            self.abort()
            return
        if self._closed:
            return
        self._served += 1
        self._busy = False
        if not keep_alive:
            self.transport.close()   # type: ignore[union-attr]  # the buffer is empty
            # A TLS close waits for the client's close_notify: not for ever.
            self.loop.call_later(self.limits.write_timeout, self._abort_if_open)
            return
        self._deadline(self.limits.idle_timeout, "idle_timeout")
        self.transport.resume_reading()   # type: ignore[union-attr]
        if self._buffer:
            self._deadline(self.limits.header_timeout, "header_timeout")
            self._process()

    async def _reply(self, request: Request) -> Reply:
        auth = self.core.basic_auth()
        if auth is not None:
            given = credentials(request.headers.get("authorization"))
            ok = False
            if given is not None:
                user, password = given
                ok = auth.cached(user, password)
                if not ok:
                    # bcrypt is slow: off the loop, a few at a time, like renders
                    checked = await self.core.auth_gate.run(
                        None, lambda: auth.check(user, password))
                    if checked is None:
                        return self._busy_reply()
                    ok = checked
            if not ok:
                self.core.refused["unauthorized"] += 1
                return simple_reply(HTTPStatus.UNAUTHORIZED, "Unauthorized",
                                    (("WWW-Authenticate", 'Basic realm="bambu-exporter"'),))
        environ = make_environ(request.method, request.target, request.version,
                               request.headers, request.body, self.core.host,
                               self.core.port, self._client, self._scheme)
        key = (request.method, request.target, request.headers.get("accept", ""),
               request.headers.get("accept-encoding", "")) if not request.body else None
        app = self.core.app
        result = await self.core.render_gate.run(key, lambda: call_wsgi(app, environ))
        if result is None:
            return self._busy_reply()
        return result

    @staticmethod
    def _busy_reply() -> Reply:
        return simple_reply(HTTPStatus.SERVICE_UNAVAILABLE,
                            "busy: too many requests at once, try again",
                            (("Retry-After", "1"),))

    async def _write(self, reply: Reply, keep_alive: bool, head_only: bool) -> None:
        headers = [(k, v) for k, v in reply.headers
                   if k.lower() not in ("content-length", "connection", "date")]
        headers += [("Content-Length", str(len(reply.body))), ("Date", formatdate(usegmt=True)),
                    ("Connection", "keep-alive" if keep_alive else "close")]
        head = f"HTTP/1.1 {reply.status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
        body = b"" if head_only else reply.body
        if self._closed:   # the client left while its answer was rendered
            return
        transport = self.transport
        assert isinstance(transport, asyncio.WriteTransport)
        # Pause as soon as more than a byte is left unsent: at most one chunk waits per
        # client. (high=0 would pause a TLS transport even while its buffer is empty.)
        transport.set_write_buffer_limits(high=1, low=0)
        deadline = self.loop.time() + self.limits.write_timeout
        view = memoryview(body)
        # The head goes with the first chunk: one segment for a small answer.
        transport.write(head.encode("latin-1") + b"\r\n" + view[:WRITE_CHUNK])
        for start in range(WRITE_CHUNK, len(view), WRITE_CHUNK):
            if not await self._room(deadline):
                return
            transport.write(view[start:start + WRITE_CHUNK])
        await self._room(deadline, drained=True)

    async def _room(self, deadline: float, drained: bool = False) -> bool:
        """Wait until the client took what was written (all of it when `drained`); drop
        it at the write deadline. Woken by resume_writing; also looks once a second, as
        a TLS transport does not always say when its buffer has emptied."""
        transport = self.transport
        assert isinstance(transport, asyncio.WriteTransport)
        while not self._closed:
            size = transport.get_write_buffer_size()
            if size == 0 or (self._can_write.is_set() and not drained):
                return True
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                log.debug("dropping %s: did not read the answer in time", self._client)
                self.core.dropped["write_timeout"] += 1
                self.abort()
                return False
            self._can_write.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._can_write.wait(), min(remaining, 1.0))
        return False
