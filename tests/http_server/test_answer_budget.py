"""Answers held for clients that ask and never read: each answer counted once however
many connections share it, all of them under a byte budget, the longest stalled dropped
first. The budget's bookkeeping alone, then a real server measured with tracemalloc in
this process. Server on 127.137.50.250 (this file's range)."""

from __future__ import annotations

import socket
import time
import tracemalloc
from collections.abc import Iterable
from typing import Any

import pytest

from exporter.http_server.answer_budget import SMALL, AnswerBudget
from exporter.http_server.server import ServerLimits, WebServer
from tests.support.e2e import wait_until

pytestmark = pytest.mark.tier("e2e")

HOST = "127.137.50.250"
MB = 1 << 20


class Client:
    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


def test_a_shared_answer_counts_once() -> None:
    budget = AnswerBudget(limit=3 * MB)
    body = b"x" * (2 * MB)
    clients = [Client() for _ in range(50)]
    assert all(budget.hold(c, body) for c in clients)
    assert budget.held == 2 * MB
    for c in clients:
        budget.release(c)
        budget.release(c)   # twice: harmless
    assert budget.held == 0


def test_the_longest_stalled_go_first_and_readers_are_kept() -> None:
    now = [0.0]
    budget = AnswerBudget(limit=3 * MB, stall=1.0, clock=lambda: now[0])
    old, reader, new = Client(), Client(), Client()
    # (the writers keep their answers alive, as connections do: ids stay unique)
    bodies = [b"a" * MB, b"b" * MB, b"c" * (2 * MB), b"d" * MB, b"e" * SMALL]
    assert budget.hold(old, bodies[0])
    now[0] = 0.5
    assert budget.hold(reader, bodies[1])
    now[0] = 2.0
    budget.progress(reader)                       # the reader takes its answer
    assert budget.hold(new, bodies[2])            # room made by dropping `old`
    assert old.aborted and not reader.aborted
    assert budget.held == 3 * MB and budget.dropped == 1
    # nobody stalled long enough: refused rather than dropping readers
    assert not budget.hold(Client(), bodies[3])
    assert budget.refused == 1
    assert budget.hold(Client(), bodies[4])       # small answers are not held here


class DistinctBig:
    """A fresh 1 MiB answer for every request, as a landing page with its own ?q= or a
    scrape rendered after the last one ended; counts the answers it made."""

    def __init__(self) -> None:
        self.made = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/shared":
            time.sleep(0.5)   # long enough for every identical request to join the render
        start_response("200 OK", [("Content-Type", "text/plain")])
        self.made += 1
        return [bytes(MB)]



def stall_clients(port: int, paths: list[str]) -> list[socket.socket]:
    clients = []
    for path in paths:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(30)
        sock.connect((HOST, port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        clients.append(sock)
    return clients


def test_clients_that_never_read_hold_at_most_the_budget() -> None:
    """60 clients asking for distinct 1 MiB answers and never reading pinned 60 MiB (300
    of 1.4 MB: 413 MB); under an 8 MiB budget they hold 8 MiB, measured here."""
    app = DistinctBig()
    server = WebServer(app, HOST, 0, limits=ServerLimits(
        answer_budget_bytes=8 * MB, answer_stall=0.2, write_timeout=60,
        renders_per_client=100, render_queue=100))
    server.start()
    tracemalloc.start()
    clients: list[socket.socket] = []
    try:
        base = tracemalloc.get_traced_memory()[0]
        clients = stall_clients(server.port, [f"/big?n={i}" for i in range(60)])
        answers = server.core.answers
        wait_until(lambda: app.made == 60, 60, what="every answer rendered")
        # ... and handed to its connection: held, dropped to make room, or refused
        wait_until(lambda: len(answers._writers) + answers.dropped + answers.refused == 60,
                   10, what="every answer held or turned away")
        held = tracemalloc.get_traced_memory()[0] - base
        print(f"\n  60 stalled clients, 1 MiB answers, 8 MiB budget: {held / MB:.1f} MiB "
              f"traced; dropped {answers.dropped}, refused {answers.refused}")
        assert held < 12 * MB, held
        assert answers.held <= 8 * MB
        assert answers.dropped + answers.refused >= 50
    finally:
        tracemalloc.stop()
        for sock in clients:
            sock.close()
        server.stop()


def test_identical_requests_share_one_answer_in_memory() -> None:
    server = WebServer(DistinctBig(), HOST, 0, limits=ServerLimits(
        answer_budget_bytes=4 * MB, write_timeout=60))
    server.start()
    clients: list[socket.socket] = []
    try:
        clients = stall_clients(server.port, ["/shared"] * 40)
        wait_until(lambda: server.core.render_gate.shared >= 39, 30,
                   what="every request to share the render")
        wait_until(lambda: server.core.answers.held == MB, 30,
                   what="the one answer held for all")
        assert server.core.answers.refused == 0 and server.core.answers.dropped == 0
        assert len(server.core.connections) == 40   # all being served
    finally:
        for sock in clients:
            sock.close()
        server.stop()


def test_the_landing_page_is_held_the_same_way() -> None:
    # the budget is the connection's, whatever the path: pages too
    server = WebServer(DistinctBig(), HOST, 0, limits=ServerLimits(
        answer_budget_bytes=3 * MB, answer_stall=0.1, write_timeout=60,
        renders_per_client=100))
    server.start()
    clients: list[socket.socket] = []
    try:
        clients = stall_clients(server.port, [f"/?q={i}" for i in range(10)])
        wait_until(lambda: server.core.answers.dropped + server.core.answers.refused >= 7,
                   30, what="pages past the budget dropped or refused")
        assert server.core.answers.held <= 3 * MB
    finally:
        for sock in clients:
            sock.close()
        server.stop()


