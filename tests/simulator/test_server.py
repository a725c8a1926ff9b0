"""The unmodified bambulabs_api and paho talk TLS MQTT to simulated printers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from bambulabs_api import GcodeState, PrintStatus

from exporter.simulator import SimulatedFleet
from tests.simulator.helpers import Listener, api_printer, raw_connect, wait_until
from tests.support.addresses import AddressPool

pytestmark = pytest.mark.tier("e2e")

MODELS = ["X1C", "X1E", "H2D", "P1P", "P1S", "A1MINI", "A1"]


@pytest.fixture(scope="module")
def fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    # One printer of every model, still (life=False), so values are exact.
    with SimulatedFleet(count=len(MODELS), first_address=addresses.take(len(MODELS)).first, seed=7,
                        models=MODELS, life=False) as f:
        yield f


def by_model(fleet: SimulatedFleet, model: str):
    record = next(r for r in fleet.records if r.model == model)
    return record, fleet.printer(record.serial)


@pytest.mark.parametrize("model", MODELS)
def test_bambulabs_api_reads_state_temperatures_and_ams(fleet: SimulatedFleet, model: str) -> None:
    record, handle = by_model(fleet, model)
    handle.set_state("RUNNING")
    units = [{"id": "0", "humidity": "2", "temp": "31.5", "dry_time": 0, "info": "1001",
              "tray": [{"id": "0", "state": 11, "tray_type": "PETG", "tray_color": "FF0000FF",
                        "remain": 42}]}]
    handle.update({"print": {"nozzle_temper": 219.5, "nozzle_target_temper": 220.0,
                             "bed_temper": 60.25, "bed_target_temper": 60.0,
                             "ams": {"ams": units, "ams_exist_bits": "1"}}})
    with api_printer(record) as printer:
        wait_until(lambda: printer.mqtt_client.ready()
                   and printer.mqtt_client.dump().get("info"), what="first report")
        assert printer.mqtt_client_connected()
        assert printer.get_state() is GcodeState.RUNNING
        assert printer.get_current_state() is PrintStatus.PRINTING
        assert printer.get_nozzle_temperature() == 219.5
        assert printer.get_bed_temperature() == 60.25
        hub = printer.ams_hub()
        assert hub[0].humidity == 2 and hub[0].temperature == 31.5
        dump = printer.mqtt_client.dump()["print"]
        assert dump["ams"]["ams"][0]["tray"][0]["remain"] == 42
        if model in ("X1C", "X1E", "H2D"):
            assert printer.get_chamber_temperature() == \
                dump["device"]["ctc"]["info"]["temp"] > 0
        elif model in ("P1P", "P1S"):
            assert printer.get_chamber_temperature() == 5.0  # P1 firmware's bogus value
        else:
            assert "chamber_temper" not in dump and "device" not in dump
        modules = printer.mqtt_client.dump()["info"]["module"]
        ota = next(m for m in modules if m["name"] == "ota")
        assert ota["sn"] == record.serial
    wait_until(lambda: handle.connections == 0, what="session closed")
    assert handle.disconnects >= 1


def test_wrong_access_code_is_refused_not_authorized(fleet: SimulatedFleet) -> None:
    record, handle = by_model(fleet, "P1S")
    with Listener(record, code="00000000") as client:
        wait_until(lambda: client.connack, what="CONNACK")
        assert client.connack[0] == "Not authorized"
        assert handle.connections == 0
    # on the wire: CONNACK with MQTT 3.1.1 return code 5
    assert raw_connect(record.ip, "bblp", "00000000") == bytes([0x20, 2, 0, 5])
    assert raw_connect(record.ip, "bblp", None) == bytes([0x20, 2, 0, 5])
    assert raw_connect(record.ip, "bblp", record.access_code) == bytes([0x20, 2, 0, 0])
    with api_printer(record, code="11111111") as printer:
        time.sleep(1.0)
        assert not printer.mqtt_client.ready()
        assert not printer.mqtt_client_connected()


def test_wrong_username_is_refused(fleet: SimulatedFleet) -> None:
    record, _ = by_model(fleet, "X1C")
    client = Listener(record)
    client.client.username_pw_set("admin", record.access_code)
    with client:
        wait_until(lambda: client.connack, what="CONNACK")
        assert client.connack[0] == "Not authorized"


def test_zero_length_client_id_and_requests_recorded(fleet: SimulatedFleet) -> None:
    record, handle = by_model(fleet, "A1")
    before = len(handle.requests)
    with Listener(record, client_id="") as client:
        wait_until(lambda: client.prints(), what="pushall answer")
        assert client.connack == ["Success"]
        assert handle.connections == 1
        full = client.prints()[0]["print"]
        assert full["msg"] == 0 and full["gcode_state"] == handle.report()["print"]["gcode_state"]
        client.request({"info": {"command": "get_version"}})
        wait_until(lambda: any("info" in d for d in client.docs()), what="get_version answer")
    requests = handle.requests[before:]
    assert requests[0] == {"pushing": {"command": "pushall"}}
    assert {"info": {"command": "get_version"}} in requests


def test_x1_sends_full_reports_every_second_p1_sends_deltas(fleet: SimulatedFleet) -> None:
    x1, _ = by_model(fleet, "X1C")
    p1_record, p1 = by_model(fleet, "P1P")
    with Listener(x1) as full, Listener(p1_record) as delta:
        wait_until(lambda: len(full.prints()) >= 3, timeout=6, what="three X1 reports")
        wait_until(lambda: delta.prints(), what="P1 pushall answer")
        p1.update({"print": {"ams": {"tray_now": "1"}, "wifi_signal": "-61dBm"}})
        wait_until(lambda: len(delta.prints()) >= 2, what="P1 delta")
        time.sleep(1.5)  # a still P1 has nothing to say; an X1 keeps talking
        x1_reports = full.prints()
        assert all("ams" in r["print"] and "nozzle_temper" in r["print"] for r in x1_reports)
        p1_msgs = delta.prints()
        assert len(p1_msgs) == 2, p1_msgs
        assert p1_msgs[1]["print"]["ams"] == {"tray_now": "1"}
        assert p1_msgs[1]["print"]["wifi_signal"] == "-61dBm"
        assert p1_msgs[1]["print"]["msg"] == 1
        assert "nozzle_temper" not in p1_msgs[1]["print"]


def test_keepalive_pings_are_answered(fleet: SimulatedFleet) -> None:
    record, handle = by_model(fleet, "P1S")
    # paho closes the session if a PINGRESP does not come within the keepalive
    pings = handle.pings
    with Listener(record, keepalive=1) as client:
        wait_until(lambda: client.connack, what="CONNACK")
        # three keep-alive rounds: a missing PINGRESP would have closed the session
        wait_until(lambda: handle.pings >= pings + 3, 10, what="three pings answered")
        assert not client.disconnected.is_set()
        assert handle.connections == 1
