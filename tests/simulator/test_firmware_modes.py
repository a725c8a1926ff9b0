"""Firmware modes of the simulator, seen from a plain TLS client: the behaviours of real
printers the exporter is tested against must be there first.

Printers here live on 127.0.141.x.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from exporter.simulator import Fault, SimulatedFleet


@pytest.fixture(scope="module")
def fleet() -> Iterator[SimulatedFleet]:
    with SimulatedFleet(count=2, first_address="127.0.141.1", seed=141, life=False,
                        models=["P1S"], faults={"tls13_deaf": 1}) as fleet:
        yield fleet


def handshake(ip: str, maximum: ssl.TLSVersion | None) -> str:
    """The TLS version agreed, or raises socket.timeout when the printer never answers."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    if maximum is not None:
        context.maximum_version = maximum
    with socket.create_connection((ip, 8883), timeout=1.5) as raw, \
            context.wrap_socket(raw) as tls:
        return str(tls.version())


def test_a_tls13_deaf_printer_never_answers_a_tls13_client_hello(
        fleet: SimulatedFleet) -> None:
    [deaf] = fleet.with_fault(Fault.TLS13_DEAF)
    with pytest.raises((socket.timeout, TimeoutError)):
        handshake(deaf.record.ip, None)
    assert handshake(deaf.record.ip, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"


def test_other_printers_speak_tls13(fleet: SimulatedFleet) -> None:
    [other] = [h for h in fleet.printers() if not h.faults]
    assert handshake(other.record.ip, None) == "TLSv1.3"
