"""One HTTP/1.1 connection on the event loop: h11 parses, we keep the I/O around it: read a
request within deadlines, answer it through the render gate, write the answer within a
deadline, keep alive or close.

Reading costs no thread: a client that sends half a request, or sends it a byte at a time,
holds a socket and a small buffer until its deadline, then is dropped. Writing goes out in
chunks as the client takes them: a client that never reads pins one chunk, not the whole
exposition, and is dropped at the write deadline.

h11 is the parser (Host required for HTTP/1.1, strict header names and Content-Length,
one answer per request). Stricter than h11, we refuse a bare LF anywhere in the request
head (h11 takes it as a line end, a proxy in front may not), a request line over 8 kB,
request bodies in Transfer-Encoding, and HTTP versions other than 1.0 and 1.1. Every
refusal is an answer with its 4xx or 5xx status, a counted reason and a rate-limited
log line, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
import struct
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

import h11

from exporter.http_server.auth_gate import Verdict
from exporter.http_server.basic_auth import MAX_PASSWORD_BYTES, credentials, too_long
from exporter.http_server.client_address import client_key
from exporter.http_server.server_core import ServerCore
from exporter.http_server.wsgi_call import Reply, call_wsgi, make_environ

log = logging.getLogger(__name__)

MAX_REQUEST_LINE = 8190   # as wsgiref/http.server: longer is 414
WRITE_CHUNK = 32 * 1024

# A header line that starts with a space or tab continues the one before (obsolete line
# folding): h11 joins them, a proxy in front may not.
_FOLDED = re.compile(rb"\n[ \t]")

# The reason each refusal is counted under (bambu_exporter_web_refused_requests_total).
REFUSAL_REASONS = {400: "bad_request", 413: "too_large", 414: "too_large", 431: "too_large",
                   501: "unsupported", 505: "unsupported"}


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes


class Refused(Exception):
    """A request we will not serve: its status and why, for the client and the log."""

    def __init__(self, status: HTTPStatus, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


def simple_reply(status: HTTPStatus, text: str = "",
                 headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    body = (text or f"{status.value} {status.phrase}").encode() + b"\n"
    return Reply(f"{status.value} {status.phrase}",
                 (("Content-Type", "text/plain; charset=utf-8"),) + headers, body)


def bare_lf(head: bytes | bytearray, start: int, end: int) -> bool:
    """Whether a LF in head[start:end] is not preceded by a CR."""
    at = head.find(b"\n", start, end)
    while at >= 0:
        if at == 0 or head[at - 1] != 0x0D:
            return True
        at = head.find(b"\n", at + 1, end)
    return False


# h11 quotes the offending line in some messages ("illegal header line: b'...'"): it may
# hold a credential, so the log and the answer get only the words before it.
_QUOTED = re.compile(r":? (?:bytearray\()?b['\"]")


def h11_reason(exc: h11.RemoteProtocolError) -> str:
    return _QUOTED.split(str(exc), maxsplit=1)[0]


def request_from(event: h11.Request, body: bytes) -> Request:
    headers: dict[str, str] = {}
    for raw_name, raw_value in event.headers:
        name, value = raw_name.decode("ascii"), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return Request(event.method.decode("ascii"), event.target.decode("ascii"),
                   "HTTP/" + event.http_version.decode("ascii"), headers, body)


def check_head(event: h11.Request, max_body: int) -> int:
    """The declared body length; raises Refused for what h11 lets through that we refuse."""
    if event.http_version not in (b"1.0", b"1.1"):
        raise Refused(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "HTTP version not supported")
    if len(event.target) > MAX_REQUEST_LINE:
        raise Refused(HTTPStatus.REQUEST_URI_TOO_LONG, "request target too long")
    lengths = [value for name, value in event.headers if name == b"content-length"]
    if any(name == b"transfer-encoding" for name, _ in event.headers):
        raise Refused(HTTPStatus.NOT_IMPLEMENTED, "request bodies must have a Content-Length")
    length = int(lengths[0]) if lengths else 0   # h11 checked: ASCII digits, all equal
    if length > max_body:
        raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
    return length


class HttpConnection(asyncio.Protocol):
    def __init__(self, core: ServerCore) -> None:
        self.core = core
        self.limits = core.limits
        self.transport: asyncio.BaseTransport | None = None
        self.loop = asyncio.get_running_loop()
        self._parser = h11.Connection(h11.SERVER,
                                      max_incomplete_event_size=self.limits.max_header_bytes)
        self._head = bytearray()    # the request head so far, scanned for bare LFs
        self._head_done = False
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._held = bytearray()    # bytes that came while an answer was in progress
        self._busy = False
        self._served = 0
        self._closed = False
        self._timer: asyncio.TimerHandle | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._client = "?"
        self._scheme = "http"
        self._ready = True   # False while the TLS handshake runs
        self.generation = 0   # of the web config this connection was set up under
        self.client_key = "?"   # whose share it counts in (client_address.client_key)

    # ------------------------------------------------------------------ lifecycle

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.generation = self.core.generation()   # before tls_context(): see config_watch
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if peer else "?"
        self.client_key = client_key(self._client)
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
        if self._held:   # the request came with the handshake's last flight
            held, self._held = bytes(self._held), bytearray()
            self._feed(held)

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
        self._can_write.set()   # a write waiting for room ends now
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
        return (self._served > 0 and not self._busy and not self._head
                and self._request is None and not self._held)

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
        if self._busy or not self._ready:
            # h11 takes the next request only once this one is answered: hold it meanwhile
            self._held += data
            if len(self._held) > self.limits.max_header_bytes and self._ready:
                self.transport.pause_reading()   # type: ignore[union-attr]
            return
        if self._served and not self._head and self._request is None:
            self._deadline(self.limits.header_timeout, "header_timeout")   # kept alive
        self._feed(data)

    def _feed(self, data: bytes, known: bytes = b"") -> None:
        """Parse `data`; `known`: bytes h11 holds already that the head scan has not seen."""
        try:
            if not self._head_done:
                self._scan_head(known + data)
            if data:
                self._parser.receive_data(data)
            self._next_events()
        except Refused as refused:
            self._refuse(refused.status, refused.why)
        except h11.RemoteProtocolError as exc:
            status = HTTPStatus(exc.error_status_hint)
            self._refuse(status, h11_reason(exc) or status.phrase)

    def _scan_head(self, data: bytes) -> None:
        """Refuse a bare LF in the head and an overlong request line before h11 sees them
        (h11 takes both; it ends a head at any blank line)."""
        start = max(len(self._head) - 3, 0)
        self._head += data
        end = self._head.find(b"\r\n\r\n", start)
        limit = end + 4 if end >= 0 else len(self._head)
        if bare_lf(self._head, start, limit):
            raise Refused(HTTPStatus.BAD_REQUEST, "bare LF in the request head (lines end "
                                                  "with CRLF)")
        if _FOLDED.search(self._head, start, limit):
            raise Refused(HTTPStatus.BAD_REQUEST, "folded header line")
        if end > self.limits.max_header_bytes:
            raise Refused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large")
        if len(self._head) > MAX_REQUEST_LINE and self._head.find(b"\n", 0, MAX_REQUEST_LINE) < 0:
            raise Refused(HTTPStatus.REQUEST_URI_TOO_LONG, "request line too long")
        if end >= 0:
            self._head_done = True
            self._head.clear()
        elif len(self._head) > self.limits.max_header_bytes:
            raise Refused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large")

    def _next_events(self) -> None:
        while not self._busy and not self._closed:
            event = self._parser.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                length = check_head(event, self.limits.max_body_bytes)
                self._request = event
                self._head_done = True
                self._head.clear()
                if length and self._parser.they_are_waiting_for_100_continue:
                    self._continue()
                self._deadline(self.limits.body_timeout, "body_timeout")
            elif isinstance(event, h11.Data):
                self._body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert self._request is not None
                request = request_from(self._request, bytes(self._body))
                self._request, self._body = None, bytearray()
                self._dispatch(request)
            elif isinstance(event, h11.ConnectionClosed):
                self.abort()

    def _continue(self) -> None:
        """Expect: 100-continue: the body is welcome (its size was checked)."""
        head = self._parser.send(h11.InformationalResponse(status_code=100, headers=[]))
        self.transport.write(head)   # type: ignore[union-attr]

    def _refuse(self, status: HTTPStatus, why: str) -> None:
        """A request we will not serve: answer and close."""
        reason = REFUSAL_REASONS.get(status.value, "bad_request")
        self.core.refused[reason] += 1
        self.core.bad_clients.warning("refused a request from %s: %d %s", self._client,
                                      status.value, why)
        self._held.clear()
        self._dispatch(None, simple_reply(status, why))

    # ------------------------------------------------------------------ answering

    def _dispatch(self, request: Request | None, reply: Reply | None = None) -> None:
        if self.core.outdated(self):   # a reload raised security since it was set up
            self.core.dropped["security_reload"] += 1
            self.abort()
            return
        self._busy = True
        if self._timer is not None:
            self._timer.cancel()
        self.transport.pause_reading()   # type: ignore[union-attr]
        self.loop.create_task(self._answer(request, reply))

    async def _answer(self, request: Request | None, reply: Reply | None) -> None:
        try:
            if request is not None:
                reply = await self._reply(request)
            assert reply is not None
            head_only = request is not None and request.method == "HEAD"
            if not head_only and not self.core.answers.hold(self, reply.body):
                # No room for another answer held for a client that may not read it
                self.core.bad_clients.warning(
                    "refused an answer of %d bytes to %s: answers being written hold "
                    "%d bytes, the budget", len(reply.body), self._client,
                    self.core.answers.held)
                reply = self._busy_reply()
            try:
                keep_alive = await self._write(reply, request is not None, head_only)
            finally:
                self.core.answers.release(self)
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
        self._parser.start_next_cycle()
        self._head_done = False
        self._head.clear()
        self._deadline(self.limits.idle_timeout, "idle_timeout")
        self.transport.resume_reading()   # type: ignore[union-attr]
        # Pipelined requests: what h11 already holds (only the head scan has to see it)
        # and what came while this answer was made.
        known, held = self._parser.trailing_data[0], bytes(self._held)
        self._held.clear()
        if known or held:
            self._deadline(self.limits.header_timeout, "header_timeout")
            self._feed(held, known)

    async def _reply(self, request: Request) -> Reply:
        refusal = await self._authorize(request)
        if refusal is not None:
            return refusal
        environ = make_environ(request.method, request.target, request.version,
                               request.headers, request.body, self.core.host,
                               self.core.port, self._client, self._scheme)
        key = (request.method, request.target, request.headers.get("accept", ""),
               request.headers.get("accept-encoding", "")) if not request.body else None
        app = self.core.app
        gate = self.core.gate_for(environ["PATH_INFO"])
        result = await gate.run(key, lambda: call_wsgi(app, environ), self.client_key)
        if result is None:
            return self._busy_reply()
        return result

    async def _authorize(self, request: Request) -> Reply | None:
        """None when the request may go on, else the answer that refuses it."""
        auth = self.core.basic_auth()
        if auth is None:
            return None
        given = credentials(request.headers.get("authorization"))
        if given is not None:
            user, password = given
            if auth.cached(user, password):
                return None
            gate = self.core.auth_gate
            if too_long(password):
                self.core.bad_clients.warning(
                    "basic auth from %s: password over %d bytes refused (bcrypt reads only "
                    "%d)", self._client, MAX_PASSWORD_BYTES, MAX_PASSWORD_BYTES)
                gate.failed(self._client)
            elif auth.failed_recently(user, password):
                gate.failed(self._client)   # the same wrong password again: no bcrypt
            else:
                # bcrypt is slow: off the loop, a few at a time, fairly across addresses
                verdict = await gate.run(self._client, lambda: auth.check(user, password))
                if verdict is Verdict.OK:
                    return None
                if verdict is Verdict.BUSY:
                    return self._busy_reply()
                if verdict is Verdict.THROTTLED:
                    return simple_reply(HTTPStatus.TOO_MANY_REQUESTS,
                                        "too many password checks from this address at "
                                        "once", (("Retry-After", "1"),))
        self.core.refused["unauthorized"] += 1
        return simple_reply(HTTPStatus.UNAUTHORIZED, "Unauthorized",
                            (("WWW-Authenticate", 'Basic realm="bambu-exporter"'),))

    @staticmethod
    def _busy_reply() -> Reply:
        return simple_reply(HTTPStatus.SERVICE_UNAVAILABLE,
                            "busy: too many requests at once, try again",
                            (("Retry-After", "1"),))

    async def _write(self, reply: Reply, keep_alive: bool, head_only: bool) -> bool:
        """Send `reply`; whether the connection may serve another request."""
        headers = [(k, v) for k, v in reply.headers
                   if k.lower() not in ("content-length", "connection", "date",
                                        "transfer-encoding")]
        headers += [("Content-Length", str(len(reply.body))), ("Date", formatdate(usegmt=True))]
        if not keep_alive:
            headers.append(("Connection", "close"))
        code, _, phrase = reply.status.partition(" ")
        body = b"" if head_only else reply.body
        try:
            head = self._parser.send(h11.Response(status_code=int(code), headers=headers,
                                                  reason=phrase.encode("latin-1")))
            if body:
                self._parser.send_with_data_passthrough(h11.Data(data=body))
            self._parser.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            # h11 will not answer in the state a broken request left it in: answer anyway
            keep_alive = False
            head = (f"HTTP/1.1 {reply.status}\r\n".encode("latin-1")
                    + b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers)
                    + (b"" if any(k == "Connection" for k, _ in headers)
                       else b"Connection: close\r\n") + b"\r\n")
        kept = (keep_alive and self._parser.our_state is h11.DONE
                and self._parser.their_state is h11.DONE)
        if self._closed:   # the client left while its answer was rendered
            return False
        transport = self.transport
        assert isinstance(transport, asyncio.WriteTransport)
        # Pause as soon as more than a byte is left unsent: at most one chunk waits per
        # client. (high=0 would pause a TLS transport even while its buffer is empty.)
        transport.set_write_buffer_limits(high=1, low=0)
        deadline = self.loop.time() + self.limits.write_timeout
        view = memoryview(body)
        # The head goes with the first chunk: one segment for a small answer.
        transport.write(head + view[:WRITE_CHUNK])
        for start in range(WRITE_CHUNK, len(view), WRITE_CHUNK):
            if not await self._room(deadline):
                return False
            self.core.answers.progress(self)
            transport.write(view[start:start + WRITE_CHUNK])
        return await self._room(deadline, drained=True) and kept

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
