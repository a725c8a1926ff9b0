"""network_loop.py: the epoll loop's own bounds, against peers the simulator does not play.

The host-name test uses a free port on 127.0.0.1.
"""

from __future__ import annotations

import os
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from exporter.inventory.record import PrinterRecord
from exporter.printer.mqtt.bambu import make_tls_context, printer_session
from exporter.printer.mqtt.client_session import ClientSession
from exporter.printer.network_loop import NetworkLoop, Phase
from exporter.printer.offline_reason import OfflineReason
from exporter.printer.session import PrinterSession, SessionSettings
from exporter.simulator import SimulatedFleet
from exporter.simulator.certs import server_context
from tests.support.addresses import AddressPool
from tests.support.e2e import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("e2e")


class MuteTlsServer:
    """Completes TLS, then reads and never answers: no CONNACK ever comes."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._context = server_context()
        self._listener = socket.create_server((host, 8883))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except OSError:
                continue
            try:
                raw.settimeout(5)
                conn = self._context.wrap_socket(raw, server_side=True)
            except OSError:
                raw.close()
                continue
            self.accepted += 1
            self._conns.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._conns:
            conn.close()
        self._listener.close()


@pytest.fixture
def mute_server(addresses: AddressPool) -> Iterator[MuteTlsServer]:
    server = MuteTlsServer(addresses.take().first)
    yield server
    server.close()


def test_a_session_without_connack_is_bounded_and_counted(mute_server: MuteTlsServer) -> None:
    settings = SessionSettings(staleness=3, connect_timeout=1.0, reconnect_max_delay=1,
                               tls_context=make_tls_context())
    session = PrinterSession(PrinterRecord("mute", mute_server.host, "01P00A000000001", "12345678"),
                             settings)
    session.start()
    try:
        status = wait_until(lambda: (s := session.status(time.time())).connection_errors.get(
            OfflineReason.TIMEOUT, 0) >= 2 and s, timeout=15, what="two CONNACK timeouts")
        assert not status.up and status.connects == 0
        assert "no answer" in status.last_error
        assert mute_server.accepted >= 2   # it tried again, with a bounded wait each time
    finally:
        session.close()


def _fleet_up_then_closed(first_address: str, seed: int, network: NetworkLoop | None,
                          check: Callable[[PrinterSession], None]) -> None:
    """Sessions for a small simulated fleet come up, pass `check`, and on close each
    printer receives exactly one DISCONNECT."""
    fleet = SimulatedFleet(count=3, first_address=first_address, seed=seed, life=False)
    settings = SessionSettings(staleness=5, connect_timeout=2.0, tls_context=make_tls_context())
    sessions: list[PrinterSession] = []
    try:
        fleet.start()
        sessions = [PrinterSession(PrinterRecord(r.name, r.ip, r.serial, r.access_code), settings,
                                   network=network) for r in fleet.records]
        for session in sessions:
            session.start()
        for session in sessions:
            wait_until(lambda s=session: s.status(time.time()).up, what="up")
            check(session)
        for session in sessions:
            session.close()
        for record in fleet.records:
            wait_until(lambda r=record: fleet.printer(r.serial).disconnects == 1, timeout=5,
                       what="DISCONNECT")
    finally:
        for session in sessions:
            session.close()
        fleet.stop()


def test_shared_tls_context_is_used_and_close_disconnects(addresses: AddressPool) -> None:
    def uses_the_shared_context(session: PrinterSession) -> None:
        assert session._connection is not None
        assert session._connection._tls_context is session._settings.tls_context
        sock = session._connection.socket
        assert sock is not None and sock.context is session._settings.tls_context
    _fleet_up_then_closed(addresses.take(3).first, 9, None, uses_the_shared_context)


def test_one_loop_serves_sessions_on_descriptors_past_1024(addresses: AddressPool) -> None:
    """paho's own threaded loop uses select(), which fails for descriptors >= 1024 (the
    exporter stalled at ~340 printers). Hold 1100 descriptors first, then connect."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1300:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    network = NetworkLoop()
    network.start()

    def past_1024(session: PrinterSession) -> None:
        assert session._connection is not None and session._connection.socket is not None
        assert session._connection.socket.fileno() >= 1024

    try:
        _fleet_up_then_closed(addresses.take(3).first, 10, network, past_1024)
    finally:
        network.stop()
        for fd in filler:
            os.close(fd)


# ------------------------------------------------------------------ host names

def test_a_printer_listed_by_host_name_is_looked_up_and_connected() -> None:
    """Names are resolved off the loop, then connected like addresses. (A free port on
    127.0.0.1: `localhost` resolves there, and no fixed port is taken.)"""
    port = free_port()
    fleet = SimulatedFleet(count=1, first_address="127.0.0.1", seed=11, life=False, port=port)
    network = NetworkLoop()
    context = make_tls_context()
    record = fleet.records[0]
    events = Events()
    acks: list[int] = []

    def new_session(now: float) -> ClientSession:
        return printer_session(record.serial, record.access_code, acks.append,
                               lambda _p: None, lambda _s: None, now)

    connection = network.connection("localhost", port, context, 2.0, 1, events, new_session)
    try:
        fleet.start()
        network.start()
        connection.start()
        wait_until(lambda: acks, timeout=10, what="CONNACK through a host name")
        assert acks == [0] and not events.failures
        assert connection.phase is Phase.MQTT
        connection.stop(2.0)
        wait_until(lambda: fleet.printer(record.serial).disconnects == 1, timeout=5,
                   what="DISCONNECT")
    finally:
        connection.stop(2.0)
        network.stop()
        fleet.stop()


class Events:
    def __init__(self) -> None:
        self.failures: list[BaseException] = []
        self.losses: list[tuple[OfflineReason, str]] = []

    def connect_failed(self, exc: BaseException) -> None:
        self.failures.append(exc)

    def lost(self, reason: OfflineReason, detail: str) -> None:
        self.losses.append((reason, detail))


def test_a_name_that_does_not_resolve_is_unreachable_and_counted() -> None:
    settings = SessionSettings(connect_timeout=2.0, reconnect_max_delay=1,
                               tls_context=make_tls_context())
    session = PrinterSession(PrinterRecord("nowhere", "printer.invalid", "01P00A000000002",
                                           "12345678"), settings)
    session.start()
    try:
        status = wait_until(lambda: (s := session.status(time.time())).connection_errors.get(
            OfflineReason.UNREACHABLE, 0) >= 2 and s, timeout=15, what="two failed look-ups")
        assert not status.connected and "unreachable" in status.last_error
    finally:
        session.close()
