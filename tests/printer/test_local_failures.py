"""A connect that fails on the exporter's own side (out of descriptors: EMFILE) is a
failed attempt like any other: counted as `local`, logged once, retried with the back-off,
and the printer comes up once descriptors are free again.
The printer takes its address from the `addresses` fixture."""

from __future__ import annotations

import errno
import logging
import os
import resource
import time

import pytest

from exporter.inventory.record import PrinterRecord
from exporter.printer.mqtt.bambu import make_tls_context
from exporter.printer.network_loop import NetworkLoop
from exporter.printer.offline_reason import OfflineReason
from exporter.printer.session import PrinterSession, SessionSettings
from exporter.simulator import SimulatedFleet
from tests.support.addresses import AddressPool
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("e2e")


def hog_descriptors() -> tuple[list[int], tuple[int, int]]:
    """Take every descriptor this process may still open, under a lowered soft limit."""
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 16, limits[1]))
    held: list[int] = []
    try:
        while True:
            held.append(os.open(os.devnull, os.O_RDONLY))
    except OSError as exc:
        assert exc.errno == errno.EMFILE
    return held, limits


def test_out_of_descriptors_is_a_counted_retried_local_failure(
        caplog: pytest.LogCaptureFixture, addresses: AddressPool) -> None:
    fleet = SimulatedFleet(count=1, first_address=addresses.take().first, seed=5, life=False)
    record = fleet.records[0]
    network = NetworkLoop()
    settings = SessionSettings(staleness=30, connect_timeout=2.0, reconnect_max_delay=1,
                               tls_context=make_tls_context())
    session = PrinterSession(PrinterRecord("starved", record.ip, record.serial,
                                           record.access_code), settings, network=network)
    fleet.start()
    network.start()
    held, limits = hog_descriptors()
    try:
        with caplog.at_level(logging.WARNING):
            session.start()
            status = wait_until(lambda: (s := session.status(time.time())).connection_errors
                                .get(OfflineReason.LOCAL, 0) >= 3 and s, timeout=20,
                                what="three attempts failed for want of descriptors")
            assert not status.connected and status.last_error_reason is OfflineReason.LOCAL
            assert "out of file descriptors" in status.last_error
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
    try:
        # descriptors free again: the next attempt of the back-off connects
        wait_until(lambda: session.status(time.time()).up, timeout=20,
                   what="the printer up once descriptors are free")
    finally:
        session.close()
        network.stop()
        fleet.stop()
    starved = [r for r in caplog.records if "out of file descriptors" in r.getMessage()]
    assert len(starved) == 1, [r.getMessage() for r in starved]   # logged once, not per try
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
