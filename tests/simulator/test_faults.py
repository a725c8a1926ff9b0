"""Each fault behaves as specified, injected at start (fleet share) or at run time."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from exporter.simulator import Fault, SimulatedFleet, reports
from exporter.simulator.faults import assign_faults, fault_count, parse_amount
from tests.simulator.helpers import Listener, api_printer, tls_handshake, wait_until
from tests.support.addresses import AddressPool

pytestmark = pytest.mark.tier("e2e")


@pytest.fixture(scope="module")
def fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    with SimulatedFleet(count=12, first_address=addresses.take(12).first, seed=3, life=False,
                        models=["P1S", "X1C"], drop_after=1.0,
                        faults={"offline": 1, "hung": 1, "silent": 1, "drop": 1,
                                "garbage": 2, "hms": 1, "fail": 1, "wrong_code": 1}) as f:
        yield f


def only(fleet: SimulatedFleet, fault: Fault):
    (handle,) = fleet.with_fault(fault)
    return handle


def test_faults_from_the_spec_land_on_distinct_printers(fleet: SimulatedFleet) -> None:
    per_printer = [h.faults for h in fleet.printers()]
    assert sum(len(f) for f in per_printer) == 9
    assert all(len(f) <= 1 for f in per_printer)
    garbage = {next(iter(f)) for f in per_printer if f and next(iter(f)).name.startswith("GARB")}
    assert garbage == {Fault.GARBAGE_TEXT, Fault.GARBAGE_NON_OBJECT}


def test_offline_printer_refuses_tcp(fleet: SimulatedFleet) -> None:
    record = only(fleet, Fault.OFFLINE).record
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((record.ip, 8883), timeout=2).close()


def test_hung_printer_accepts_tcp_but_never_completes_tls(fleet: SimulatedFleet) -> None:
    record = only(fleet, Fault.HUNG).record
    socket.create_connection((record.ip, 8883), timeout=2).close()  # TCP is accepted
    with pytest.raises((TimeoutError, socket.timeout)):
        tls_handshake(record.ip, timeout=1.0)


def test_silent_printer_keeps_session_answers_pings_sends_nothing(fleet: SimulatedFleet) -> None:
    handle = only(fleet, Fault.SILENT)
    pings = handle.pings
    with Listener(handle.record, keepalive=1) as client:
        wait_until(lambda: client.connack, what="CONNACK")
        wait_until(lambda: handle.requests, what="pushall received")
        # two keep-alive rounds (a second each) answered, and nothing else sent meanwhile
        wait_until(lambda: handle.pings >= pings + 2, 10, what="two pings answered")
        assert client.connack == ["Success"]
        assert client.messages == []
        assert not client.disconnected.is_set()  # PINGRESPs kept paho happy
        assert handle.connections == 1


def test_drop_cuts_sessions_without_disconnect(fleet: SimulatedFleet) -> None:
    handle = only(fleet, Fault.DROP)
    client = Listener(handle.record)
    client.client.reconnect_delay_set(5, 5)  # keep it from reconnecting during the check
    with client:
        wait_until(lambda: client.prints(), what="first report")
        assert client.disconnected.wait(5), "session was not cut"
        # the client can see the cut before the printer's loop has dropped the session
        wait_until(lambda: handle.connections == 0, what="the session gone on the printer")
        assert handle.disconnects == 0  # the printer cut it; nobody said DISCONNECT


def test_garbage_payloads_between_good_reports(fleet: SimulatedFleet) -> None:
    text = only(fleet, Fault.GARBAGE_TEXT)
    non_object = only(fleet, Fault.GARBAGE_NON_OBJECT)
    with Listener(text.record) as a, Listener(non_object.record) as b:
        wait_until(lambda: len(a.messages) >= 3 and len(b.messages) >= 3, what="messages")
        assert a.prints() and b.prints()  # good reports still arrive
        bad_text = [m for m in a.messages if not _is_json(m)]
        assert bad_text
        non_objects = [json.loads(m) for m in b.messages
                       if _is_json(m) and not isinstance(json.loads(m), dict)]
        assert non_objects


def _is_json(payload: bytes) -> bool:
    try:
        json.loads(payload)
    except ValueError:
        return False
    return True


def test_garbage_does_not_kill_the_library_when_suppressed(fleet: SimulatedFleet) -> None:
    handle = only(fleet, Fault.GARBAGE_TEXT)
    handle.update({"print": {"nozzle_temper": 201.0}})
    with api_printer(handle.record) as printer:
        wait_until(lambda: printer.mqtt_client.ready(), what="report")
        time.sleep(2.5)
        handle.update({"print": {"nozzle_temper": 202.0}})
        wait_until(lambda: printer.get_nozzle_temperature() == 202.0, what="later delta")


def test_hms_fault_reports_warnings_and_clears(fleet: SimulatedFleet) -> None:
    handle = only(fleet, Fault.HMS)
    hms = handle.report()["print"]["hms"]
    assert len(hms) == 2
    for entry in hms:
        assert set(entry) == {"attr", "code"}
        assert 1 <= entry["code"] >> 16 <= 4  # severity
    handle.clear(Fault.HMS)
    assert handle.report()["print"]["hms"] == []
    handle.inject(Fault.HMS)
    assert len(handle.report()["print"]["hms"]) == 2


def test_serious_hms_and_runout_faults_at_run_time(fleet: SimulatedFleet) -> None:
    handle = fleet.printer(next(r.serial for r in fleet.records
                                if not fleet.printer(r.serial).faults))
    handle.inject(Fault.HMS_SERIOUS)
    handle.inject(Fault.RUNOUT)
    try:
        doc = handle.report()["print"]
        assert reports.hms_entry(*reports.SERIOUS) in doc["hms"]
        assert reports.SERIOUS[1] >> 16 == reports.SEVERITY_SERIOUS
        assert (doc["gcode_state"], doc["stg_cur"]) == ("PAUSE", reports.STAGE_FILAMENT_RUNOUT)
        assert doc["subtask_name"] and doc["total_layer_num"] > 0   # a job is paused
    finally:
        handle.clear(Fault.HMS_SERIOUS)
        handle.clear(Fault.RUNOUT)
    doc = handle.report()["print"]
    assert reports.hms_entry(*reports.SERIOUS) not in doc["hms"]
    assert doc["gcode_state"] == "RUNNING"


def test_failed_print_has_error_and_fatal_hms(fleet: SimulatedFleet) -> None:
    doc = only(fleet, Fault.FAIL_PRINT).report()["print"]
    assert doc["gcode_state"] == "FAILED"
    assert doc["print_error"] != 0
    assert any(h["code"] >> 16 == 1 for h in doc["hms"])


def test_wrong_code_only_in_the_inventory(fleet: SimulatedFleet) -> None:
    handle = only(fleet, Fault.WRONG_CODE)
    listed = {r.serial: r for r in fleet.inventory_records()}
    true = {r.serial: r for r in fleet.inventory_records(wrong_code=False)}
    wrong = listed[handle.serial]
    assert wrong.access_code != handle.record.access_code
    assert len(wrong.access_code) == 8 and wrong.access_code.isdigit()
    assert true[handle.serial].access_code == handle.record.access_code
    others = [s for s in listed if s != handle.serial]
    assert all(listed[s].access_code == true[s].access_code for s in others)
    with Listener(wrong) as client:
        wait_until(lambda: client.connack, what="CONNACK")
        assert client.connack == ["Not authorized"]


def test_runtime_offline_then_back(fleet: SimulatedFleet) -> None:
    handle = fleet.printer(next(r.serial for r in fleet.records
                                if not fleet.printer(r.serial).faults))
    with Listener(handle.record) as client:
        wait_until(lambda: client.prints(), what="report")
        handle.inject(Fault.OFFLINE)
        assert client.disconnected.wait(5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((handle.record.ip, 8883), timeout=2).close()
        handle.clear(Fault.OFFLINE)
        tls_handshake(handle.record.ip, timeout=5)


def test_runtime_hung_then_back(fleet: SimulatedFleet) -> None:
    handle = fleet.printer(next(r.serial for r in fleet.records
                                if not fleet.printer(r.serial).faults))
    handle.inject(Fault.HUNG)
    try:
        with pytest.raises((TimeoutError, socket.timeout)):
            tls_handshake(handle.record.ip, timeout=1.0)
    finally:
        handle.clear(Fault.HUNG)
    tls_handshake(handle.record.ip, timeout=5)


def test_health_faults_set_the_report_and_clear(fleet: SimulatedFleet) -> None:
    handle = fleet.printer(next(r.serial for r in fleet.records
                                if r.model == "X1C" and not fleet.printer(r.serial).faults))
    door = handle.report()["print"]["home_flag"] & reports.DOOR_BIT
    for fault in (Fault.SDCARD, Fault.TANGLE, Fault.FIRMWARE_UPDATE):
        handle.inject(fault)
    try:
        p = handle.report()["print"]
        assert p["home_flag"] & reports.SDCARD_ABNORMAL_BIT
        assert p["home_flag"] & reports.TANGLE_BIT
        assert p["home_flag"] & reports.DOOR_BIT == door   # the door bit stays as it was
        assert p["upgrade_state"]["new_version_state"] == 1
        assert p["upgrade_state"]["new_ver_list"][0]["new_ver"] == reports.NEXT_FIRMWARE
        assert p["ipcam"]["ipcam_dev"] == "1"              # the rest of ipcam is kept
    finally:
        for fault in (Fault.SDCARD, Fault.TANGLE, Fault.FIRMWARE_UPDATE):
            handle.clear(fault)
    p = handle.report()["print"]
    assert not p["home_flag"] & (reports.SDCARD_ABNORMAL_BIT | reports.TANGLE_BIT)
    assert p["upgrade_state"]["new_version_state"] == 2


def test_fault_amounts() -> None:
    assert parse_amount("3") == 3
    assert parse_amount("0.25") == 0.25
    assert parse_amount("10%") == 0.1
    for bad in ("-1", "abc", "1.5", "150%"):
        with pytest.raises(ValueError):
            parse_amount(bad)
    assert fault_count(0.1, 300) == 30
    assert fault_count(5, 3) == 3
    spread = assign_faults({"offline": 0.5}, 10, seed=1)
    assert sum(Fault.OFFLINE in f for f in spread) == 5
    assert spread == assign_faults({"offline": 0.5}, 10, seed=1)
    with pytest.raises(ValueError, match="unknown fault"):
        assign_faults({"meltdown": 1}, 10, seed=1)
