"""The connection module: h11 parsing inside our I/O. Every malformed request gets its
status, a counted reason and no traceback; Expect: 100-continue is answered; pipelined and
kept-alive requests are each checked. Raw sockets against a real WebServer on 127.0.90.x
(this file's range)."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.http_server.server import ServerLimits, WebServer

pytestmark = pytest.mark.tier("e2e")

HOST = "127.0.90.1"


class CountingApp:
    def __init__(self) -> None:
        self.renders = 0
        self.bodies: list[bytes] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.renders += 1
        self.bodies.append(environ["wsgi.input"].read())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok\n"]


@pytest.fixture
def app() -> CountingApp:
    return CountingApp()


@pytest.fixture
def server(app: CountingApp) -> Iterator[WebServer]:
    # The header deadline stays at 10 s: a request the parser waits on, instead of
    # refusing, shows as a read that times out first.
    server = WebServer(app, HOST, 0, limits=ServerLimits())
    server.start()
    yield server
    server.stop()


def exchange(server: WebServer, request: bytes, timeout: float = 5.0) -> bytes:
    """Send `request`, read until the server closes (or `timeout` passes)."""
    with socket.create_connection((HOST, server.port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def statuses(answer: bytes) -> list[int]:
    """The status of each answer in `answer` (our bodies never hold a status line)."""
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


@pytest.mark.parametrize("request_bytes, status, reason", [
    # non-ASCII digits pass str.isdigit() and broke int(): no answer and a traceback
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \xc2\xb2\r\n\r\n", 400, "bad_request"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "bad_request"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
     400, "bad_request"),
    # a bare-LF request was held until the header deadline
    (b"GET / HTTP/1.1\nHost: x\n\n", 400, "bad_request"),
    # a LF inside a header value made one header of two
    (b"GET / HTTP/1.1\r\nHost: x\nX-Evil: 1\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nName : 1\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, "bad_request"),
    (b"GET / HTTP/1.1\r\n\r\n", 400, "bad_request"),   # HTTP/1.1 without Host
    (b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "bad_request"),
    (b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"),
    (b"GARBAGE\r\n\r\n", 400, "bad_request"),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "too_large"),
    (b"GET /" + b"a" * 9000, 414, "too_large"),   # the line not even finished
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n", 431, "too_large"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n", 413, "too_large"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501,
     "unsupported"),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "unsupported"),
])
def test_a_malformed_request_gets_its_status_a_reason_and_no_traceback(
        app: CountingApp, server: WebServer, caplog: pytest.LogCaptureFixture,
        request_bytes: bytes, status: int, reason: str) -> None:
    caplog.set_level(logging.DEBUG)
    answer = exchange(server, request_bytes)
    assert statuses(answer) == [status], answer[:200]
    assert b"Connection: close" in answer
    assert app.renders == 0
    assert server.core.refused[reason] == 1 and sum(server.core.refused.values()) == 1
    assert not tracebacks(caplog)
    assert f"{status} " in caplog.text   # said once, in a line without a traceback


def test_a_refusal_never_quotes_the_request(
        app: CountingApp, server: WebServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    answer = exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n"
                              b"Authorization: Basic c2VjcmV0OnNlY3JldA==\x00\r\n\r\n")
    assert statuses(answer) == [400]
    assert "illegal header line" in caplog.text
    assert b"c2VjcmV0" not in answer and "c2VjcmV0" not in caplog.text


def test_bad_clients_are_logged_at_a_bounded_rate(
        app: CountingApp, server: WebServer, caplog: pytest.LogCaptureFixture) -> None:
    # 300 such requests were 3900 log lines in 0.7 s.
    caplog.set_level(logging.DEBUG)
    for _ in range(100):
        assert statuses(exchange(server, b"POST / HTTP/1.1\r\nHost: x\r\n"
                                         b"Content-Length: \xc2\xb2\r\n\r\n")) == [400]
    assert server.core.refused["bad_request"] == 100
    assert not tracebacks(caplog)
    assert len(caplog.records) <= 10, len(caplog.records)
    assert server.core.bad_clients.suppressed == 90


def test_expect_100_continue_is_answered_before_the_body(
        app: CountingApp, server: WebServer) -> None:
    with socket.create_connection((HOST, server.port), timeout=5) as sock:
        sock.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 "), interim
        sock.sendall(b"hello")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert statuses(answer) == [200] and app.bodies == [b"hello"]


def test_expect_100_continue_with_a_body_too_large_gets_413_and_no_100(
        app: CountingApp, server: WebServer) -> None:
    answer = exchange(server, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n"
                              b"Expect: 100-continue\r\n\r\n")
    assert statuses(answer) == [413] and app.renders == 0


def test_expect_100_continue_without_a_body_gets_only_the_answer(
        app: CountingApp, server: WebServer) -> None:
    answer = exchange(server, b"GET /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                              b"Connection: close\r\n\r\n")
    assert statuses(answer) == [200]


def test_pipelined_requests_are_each_checked(app: CountingApp, server: WebServer) -> None:
    # The second request arrives with the first: the bare-LF check must see it too.
    answer = exchange(server, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                              b"GET /b HTTP/1.1\r\nHost: x\nX-Evil: 1\r\n\r\n")
    assert statuses(answer) == [200, 400] and app.renders == 1
    answer = exchange(server, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                              b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                              b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert statuses(answer) == [200, 200, 200] and app.bodies[-2:] == [b"abc", b""]


def test_a_request_sent_a_byte_at_a_time_is_parsed(app: CountingApp, server: WebServer) -> None:
    request = b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection((HOST, server.port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in request:
            sock.sendall(bytes([byte]))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert statuses(answer) == [200]


def test_http_1_0_needs_no_host_and_is_closed_after_the_answer(
        app: CountingApp, server: WebServer) -> None:
    answer = exchange(server, b"GET / HTTP/1.0\r\n\r\n")
    assert statuses(answer) == [200] and answer.endswith(b"ok\n")


def test_head_gets_the_length_and_no_body(app: CountingApp, server: WebServer) -> None:
    answer = exchange(server, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert statuses(answer) == [200]
    assert b"Content-Length: 3\r\n" in answer and answer.endswith(b"\r\n\r\n")


def test_the_app_sees_headers_joined_and_no_credentials(server: WebServer) -> None:
    seen: list[dict[str, Any]] = []

    def echo(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok\n"]

    other = WebServer(echo, HOST, 0)
    other.start()
    try:
        answer = exchange(other, b"GET /p?q=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-A: 2\r\n"
                                 b"Authorization: Basic eDp5\r\nConnection: close\r\n\r\n")
    finally:
        other.stop()
    assert statuses(answer) == [200]
    environ = seen[0]
    assert (environ["PATH_INFO"], environ["QUERY_STRING"]) == ("/p", "q=1")
    assert environ["HTTP_X_A"] == "1, 2" and "HTTP_AUTHORIZATION" not in environ
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"


class Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


GOOD_HEAD = (b"GET /metrics?x=1 HTTP/1.1\r\nHost: exporter\r\nAccept: text/plain\r\n"
             b"Authorization: Basic eDp5\r\nConnection: close\r\n")


@settings(max_examples=80, deadline=None, database=None)
@given(position=st.integers(0, len(GOOD_HEAD)), junk=st.binary(min_size=1, max_size=12))
def test_any_damage_to_a_request_head_gets_an_answer_and_no_traceback(
        position: int, junk: bytes) -> None:
    """A good head with bytes inserted anywhere: whatever h11 and our checks make of it,
    the client gets a status line (or, for a head the junk left unfinished, the
    connection is dropped at the deadline), and nothing is logged as an error."""
    request = GOOD_HEAD[:position] + junk + GOOD_HEAD[position:] + b"\r\n"
    handler = Tracebacks()
    logging.getLogger("exporter").addHandler(handler)
    logging.getLogger("asyncio").addHandler(handler)
    server = WebServer(CountingApp(), HOST, 0, limits=ServerLimits(header_timeout=1.0,
                                                                   body_timeout=1.0))
    server.start()
    try:
        answer = exchange(server, request, timeout=5)
    finally:
        server.stop()
        logging.getLogger("exporter").removeHandler(handler)
        logging.getLogger("asyncio").removeHandler(handler)
    assert not handler.records, [r.getMessage() for r in handler.records]
    codes = statuses(answer)
    assert codes or server.core.timeouts, (request, answer)
    assert set(codes) <= {200, 400, 413, 414, 431, 501, 505}, codes
