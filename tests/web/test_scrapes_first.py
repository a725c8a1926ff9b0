"""Scrapes first: one client flooding the pages cannot starve Prometheus, the render queue
or the connection table. Server on 127.137.40.250; the flooding client on 127.137.40.1,
Prometheus and the others on 127.137.40.2-9 (this file's range)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from exporter.http_server.server import ServerLimits, WebServer
from tests.support.e2e import wait_until

pytestmark = pytest.mark.tier("e2e")

HOST = "127.137.40.250"
FLOODER, PROMETHEUS, OTHER = "127.137.40.1", "127.137.40.2", "127.137.40.3"


def slow_pages(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Pages take 0.3 s to render, /metrics 0.05 s."""
    time.sleep(0.05 if environ["PATH_INFO"] == "/metrics" else 0.3)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]


@pytest.fixture
def server() -> Iterator[WebServer]:
    web = WebServer(slow_pages, HOST, 0, limits=ServerLimits(render_wait=10.0))
    web.start()
    yield web
    web.stop()


def connect(port: int, source: str) -> socket.socket:
    return socket.create_connection((HOST, port), timeout=30, source_address=(source, 0))


def ask(sock: socket.socket, target: str) -> int:
    """One request on a kept-alive connection; its status (0: closed)."""
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            return 0
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(4096)
    return int(head.split(b" ", 2)[1])


class PageFlood:
    """70 kept-alive connections from one address asking for distinct pages, each as
    fast as answers come (the landing page with a fresh ?q= every time)."""

    def __init__(self, port: int, connections: int = 70) -> None:
        self.stop = threading.Event()
        self.statuses: list[int] = []
        self._pool = ThreadPoolExecutor(connections)
        self._futures = [self._pool.submit(self._client, port, i) for i in range(connections)]

    def _client(self, port: int, index: int) -> None:
        with connect(port, FLOODER) as sock:
            n = 0
            while not self.stop.is_set():
                n += 1
                status = ask(sock, f"/?q={index}-{n}")
                self.statuses.append(status)
                if status == 0:
                    return

    def end(self) -> None:
        self.stop.set()
        for future in self._futures:
            future.result(timeout=60)
        self._pool.shutdown()


def test_a_page_flood_from_one_client_cannot_starve_scrapes(server: WebServer) -> None:
    """70 connections of page requests kept the render queue full: 11 of 14 scrapes got
    503. The telemetry path has a lane of its own."""
    flood = PageFlood(server.port)
    try:
        wait_until(lambda: len(flood.statuses) >= 20, 60, what="the flood under way")
        with connect(server.port, PROMETHEUS) as sock:
            scrapes = [ask(sock, "/metrics") for _ in range(14)]
        with connect(server.port, PROMETHEUS) as sock:
            probes = [ask(sock, path) for path in ("/-/healthy", "/-/ready", "/healthz")]
    finally:
        flood.end()
    assert scrapes == [200] * 14
    assert probes == [200] * 3   # probes render in the telemetry lane too


def test_one_client_gets_a_share_of_the_page_queue(server: WebServer) -> None:
    """The flood's pages took every place in the queue; another client's page waited or
    got 503. Now the flood has its share (8 running or waiting), beyond it 503 at once."""
    flood = PageFlood(server.port)
    try:
        wait_until(lambda: flood.statuses.count(503) >= 20, 60,
                   what="the flood to be turned away past its share")
        with connect(server.port, OTHER) as sock:
            pages = [ask(sock, f"/?q=other-{i}") for i in range(5)]
    finally:
        flood.end()
    assert pages == [200] * 5
    assert server.core.render_gate.refused_share > 0


def test_one_client_cannot_hold_every_connection() -> None:
    web = WebServer(slow_pages, HOST, 0,
                    limits=ServerLimits(max_connections=60, connections_per_client=20))
    web.start()
    held: list[socket.socket] = []
    try:
        held = [connect(web.port, FLOODER) for _ in range(40)]
        wait_until(lambda: web.core.dropped["client_limit"] >= 20, 10,
                   what="the client's connections past its share refused")
        assert web.core.connections_by_client["127.137.40.1"] == 20
        with connect(web.port, OTHER) as sock:   # there is room for someone else
            assert ask(sock, "/metrics") == 200
    finally:
        for sock in held:
            sock.close()
        web.stop()
