"""Hung printers (TCP accepted, TLS never completes) hold up neither healthy printers'
connects nor shutdown."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from exporter.fleet.sessions import Fleet
from exporter.inventory.record import PrinterRecord
from exporter.printer.network_loop import NetworkLoop
from exporter.printer.session import PrinterSession, SessionSettings, make_tls_context
from exporter.simulator import Fault, SimulatedFleet
from tests.support.addresses import AddressPool
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("e2e")

HUNG, HEALTHY = 20, 5
# Long enough that one hung printer per connect worker would hold every healthy one up.
CONNECT_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    fleet = SimulatedFleet(count=HUNG + HEALTHY, first_address=addresses.take(HUNG + HEALTHY).first, seed=68,
                           life=False, faults={"hung": HUNG}, models=["P1S", "X1C"])
    fleet.start()
    yield fleet
    fleet.stop()


def _records(fleet: SimulatedFleet, hung: bool) -> list[PrinterRecord]:
    handles = fleet.with_fault(Fault.HUNG)
    serials = {h.serial for h in handles}
    return [PrinterRecord(r.name, r.ip, r.serial, r.access_code) for r in fleet.records
            if (r.serial in serials) == hung]


def test_healthy_printers_come_up_while_hung_handshakes_wait(fleet: SimulatedFleet) -> None:
    settings = SessionSettings(staleness=30, connect_timeout=CONNECT_TIMEOUT,
                               tls_context=make_tls_context())
    network = NetworkLoop()
    network.start()
    hung = [PrinterSession(r, settings, network=network) for r in _records(fleet, True)]
    healthy = [PrinterSession(r, settings, network=network) for r in _records(fleet, False)]
    assert len(hung) == HUNG and len(healthy) == HEALTHY
    try:
        for session in hung:   # the hung ones first: they would take every connect worker
            session.start()
        # At least as many as the old connect pool had workers (8) are mid-handshake.
        wait_until(lambda: _tcp_connected(fleet) >= 8, timeout=10, what="hung handshakes")
        started = time.monotonic()
        for session in healthy:
            session.start()
        wait_until(lambda: all(s.status(time.time()).up for s in healthy), timeout=10,
                   what="the healthy printers up despite 20 hung handshakes")
        # Generous: a few seconds on a busy machine; the old pool took CONNECT_TIMEOUT.
        assert time.monotonic() - started < CONNECT_TIMEOUT / 3
        assert not any(s.status(time.time()).connected for s in hung)
        assert all(not s.status(time.time()).connection_errors for s in hung)  # still waiting
    finally:
        for session in hung + healthy:
            session.close()
        network.stop()


def _tcp_connected(fleet: SimulatedFleet) -> int:
    """TCP connections the hung listeners hold open (TLS never started)."""
    return fleet.call(lambda: sum(len(listener._writers) for listener in fleet._listeners
                                  if listener.hung))


def test_shutdown_with_hung_handshakes_is_quick_and_says_goodbye(
        fleet: SimulatedFleet) -> None:
    settings = SessionSettings(staleness=30, connect_timeout=CONNECT_TIMEOUT,
                               tls_context=make_tls_context())
    network = NetworkLoop()
    network.start()
    sessions = Fleet(lambda record: PrinterSession(record, settings, network=network))
    healthy = [fleet.printer(r.serial) for r in _records(fleet, False)]
    before = {h.serial: h.disconnects for h in healthy}
    try:
        sessions.reconcile(_records(fleet, False))
        wait_until(lambda: all(h.connections == 1 for h in healthy), timeout=15,
                   what="healthy printers connected")
        sessions.reconcile(_records(fleet, False) + _records(fleet, True))
        wait_until(lambda: _tcp_connected(fleet) >= 8, timeout=10, what="hung handshakes")
        started = time.monotonic()
        sessions.close()
        network.stop()
        took = time.monotonic() - started
        assert took < 5.0, f"shutdown took {took:.1f}s with hung handshakes"
        wait_until(lambda: all(h.disconnects == before[h.serial] + 1 for h in healthy),
                   timeout=5, what="one DISCONNECT per connected session")
        wait_until(lambda: _tcp_connected(fleet) == 0, timeout=5,
                   what="hung handshakes dropped")
    finally:
        sessions.close()
        network.stop()
