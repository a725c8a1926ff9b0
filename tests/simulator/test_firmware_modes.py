"""Firmware modes of the simulator, seen from a plain TLS client: the behaviours of real
printers the exporter is tested against must be there first."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from exporter.printer.mqtt import codec as mqtt
from exporter.simulator import Fault, SimulatedFleet
from exporter.simulator import mqtt_broker as broker
from tests.simulator.helpers import raw_connect
from tests.support.addresses import AddressPool

pytestmark = pytest.mark.tier("e2e")


@pytest.fixture(scope="module")
def fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    with SimulatedFleet(count=4, first_address=addresses.take(4).first, seed=141, life=False,
                        models=["P1S"], faults={"tls13_deaf": 1, "one_client": 1,
                                                "refuse_subscribe": 1}) as fleet:
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


def session(ip: str, code: str) -> ssl.SSLSocket:
    """A TLS MQTT session past CONNACK (accepted)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    tls = context.wrap_socket(socket.create_connection((ip, 8883), timeout=3))
    tls.sendall(mqtt.connect("", "bblp", code))
    assert tls.recv(4) == broker.connack(0)
    return tls


def test_a_one_client_printer_drops_a_second_client(fleet: SimulatedFleet) -> None:
    [printer] = fleet.with_fault(Fault.ONE_CLIENT)
    first = session(printer.record.ip, printer.record.access_code)
    try:
        try:
            answer = raw_connect(printer.record.ip, "bblp", printer.record.access_code)
        except OSError:   # reset rather than closed: dropped all the same
            answer = b""
        assert answer == b""   # no CONNACK: the newcomer is dropped
        assert printer.connections == 1
    finally:
        first.close()


def test_a_refusing_printer_answers_suback_0x80(fleet: SimulatedFleet) -> None:
    [printer] = fleet.with_fault(Fault.REFUSE_SUBSCRIBE)
    with session(printer.record.ip, printer.record.access_code) as tls:
        tls.sendall(mqtt.subscribe(7, f"device/{printer.serial}/report"))
        assert tls.recv(5) == broker.suback(7, [0x80])


def test_boot_stage_zero_rests_with_stage_zero_and_print_type_idle() -> None:
    with SimulatedFleet(count=2, first_address="127.0.141.21", seed=3, life=False,
                        models=["P1P"], faults={"boot_stage_zero": 1}) as fleet:
        [booted] = fleet.with_fault(Fault.BOOT_STAGE_ZERO)
        [other] = [h for h in fleet.printers() if not h.faults]
        p = booted.report()["print"]
        assert p["gcode_state"] in ("IDLE", "FINISH", "FAILED")
        assert (p["stg_cur"], p["print_type"]) == (0, "idle")
        assert other.report()["print"]["stg_cur"] == 255


def test_an_h2c_lists_its_rack_hotends_beside_the_mounted_two() -> None:
    with SimulatedFleet(count=1, first_address="127.0.141.31", seed=3, life=False,
                        models=["H2C"]) as fleet:
        [h2c] = fleet.printers()
        ids = [n["id"] for n in h2c.report()["print"]["device"]["nozzle"]["info"]]
        assert ids[:2] == [0, 1] and ids[2:] and all(i >= 16 for i in ids[2:])
