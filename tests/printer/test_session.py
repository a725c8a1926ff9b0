"""session.py against simulated printers, over TLS MQTT (the client is set up
as bambulabs_api sets up its own; tests/printer/mqtt/test_bambu.py holds that to the library)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest

from exporter.inventory.record import PrinterRecord
from exporter.printer.offline_reason import OfflineReason
from exporter.printer.session import PrinterSession, SessionSettings
from exporter.printer.snapshot import model_from_serial, snapshot
from exporter.printer.status import PrinterStatus
from exporter.printer.vocabulary import MODELS
from exporter.simulator import Fault, SimulatedFleet
from tests.support.addresses import AddressPool
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("e2e")

FAST = SessionSettings(staleness=3.0, pushall_interval=300.0, connect_timeout=1.0,
                       reconnect_max_delay=1)


@pytest.fixture(scope="module")
def models_fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    """One static printer of every model (life off: values change only when told)."""
    fleet = SimulatedFleet(count=7, first_address=addresses.take(7).first, seed=3, life=False,
                           models=["X1C", "X1E", "H2D", "P1P", "P1S", "A1MINI", "A1"])
    fleet.start()
    yield fleet
    fleet.stop()


@pytest.fixture
def sessions() -> Iterator[list[PrinterSession]]:
    opened: list[PrinterSession] = []
    yield opened
    for session in opened:
        session.close()


def _record(fleet: SimulatedFleet, index: int, code: str | None = None) -> PrinterRecord:
    r = fleet.records[index]
    return PrinterRecord(r.name, r.ip, r.serial, code if code is not None else r.access_code)


def _open(sessions: list[PrinterSession], record: PrinterRecord,
          settings: SessionSettings = FAST) -> PrinterSession:
    session = PrinterSession(record, settings)
    sessions.append(session)
    session.start()
    return session


def _up(session: PrinterSession):  # noqa: ANN202
    status = session.status(time.time())
    return status if status.up else None


@pytest.mark.parametrize("index", range(7))
def test_each_model_reads_the_printers_own_picture(models_fleet: SimulatedFleet,
                                                   sessions: list[PrinterSession],
                                                   index: int) -> None:
    record = _record(models_fleet, index)
    session = _open(sessions, record)
    status = wait_until(lambda: _up(session), what=f"{record.name} up")
    printer = models_fleet.printer(record.serial)
    model = model_from_serial(record.serial)
    assert status.model == model
    assert status.firmware  # from get_version's ota module
    assert status.connects == 1
    # The session's merged picture says exactly what the printer holds.
    assert status.snapshot == snapshot(printer.report(), model)
    assert status.snapshot.state in {"IDLE", "PREPARE", "RUNNING", "PAUSE", "FINISH", "FAILED"}
    temps = dict(status.snapshot.temperatures)
    spec = MODELS[model]
    nozzles = {"nozzle_right", "nozzle_left"} if spec.nozzles == 2 else {"nozzle"}
    assert nozzles <= set(temps) and "bed" in temps
    assert ("chamber" in temps) == spec.chamber_sensor
    assert len(status.snapshot.nozzles) == spec.nozzles


def test_p1_deltas_merge_deeply(models_fleet: SimulatedFleet,
                                sessions: list[PrinterSession]) -> None:
    index = next(i for i, r in enumerate(models_fleet.records) if r.model == "P1S")
    record = _record(models_fleet, index)
    printer = models_fleet.printer(record.serial)
    session = _open(sessions, record)
    wait_until(lambda: _up(session), what="P1S up")
    before = session.status(time.time()).snapshot
    assert before is not None and before.ams, "the P1S should have an AMS to merge into"
    # Partial nested objects, as P1/A1 firmware sends them.
    printer.update({"print": {"ams": {"tray_now": "2"}}})
    # The simulator replaces lists whole (its deltas carry the full AMS list when a tray
    # changes); partial lists merged by id are covered in test_snapshot.py.
    units = printer.report()["print"]["ams"]["ams"]
    units[0]["tray"][1]["remain"] = 7
    printer.update({"print": {"ams": {"ams": units}}})
    printer.update({"print": {"nozzle_temper": 201.5}})
    expected = snapshot(printer.report(), "P1S")
    wait_until(lambda: session.status(time.time()).snapshot == expected, timeout=5,
               what="deltas merged")
    after = session.status(time.time()).snapshot
    assert len(after.ams) == len(before.ams)           # the AMS units survived
    assert dict(after.temperatures)["nozzle"] == 201.5
    assert {(t.ams, t.tray): t.remaining for t in after.trays}[("0", "1")] == pytest.approx(0.07)


def test_job_seen_ending_is_counted(models_fleet: SimulatedFleet,
                                    sessions: list[PrinterSession]) -> None:
    record = _record(models_fleet, 0)
    printer = models_fleet.printer(record.serial)
    session = _open(sessions, record)
    wait_until(lambda: _up(session), what="up")
    printer.set_state("RUNNING")
    wait_until(lambda: session.status(time.time()).snapshot.state == "RUNNING", what="RUNNING")
    printer.set_state("FINISH")
    wait_until(lambda: session.status(time.time()).prints.get("finished") == 1, what="finished")
    printer.set_state("RUNNING")
    wait_until(lambda: session.status(time.time()).snapshot.state == "RUNNING", what="RUNNING")
    printer.set_state("FAILED")
    status = wait_until(lambda: (s := session.status(time.time())).prints.get("failed") == 1 and s,
                        what="failed")
    assert status.prints == {"finished": 1, "failed": 1}


def test_time_seen_running_is_counted(models_fleet: SimulatedFleet,
                                      sessions: list[PrinterSession]) -> None:
    record = _record(models_fleet, 2)
    printer = models_fleet.printer(record.serial)
    session = _open(sessions, record)
    wait_until(lambda: _up(session), what="up")
    printer.set_state("IDLE")
    wait_until(lambda: session.status(time.time()).snapshot.state == "IDLE", what="IDLE")
    idle = session.status(time.time()).printing_seconds
    time.sleep(0.5)
    assert session.status(time.time()).printing_seconds == idle   # idle: nothing counted
    printer.set_state("RUNNING")
    wait_until(lambda: session.status(time.time()).snapshot.state == "RUNNING", what="RUNNING")
    started = time.monotonic()
    before = session.status(time.time()).printing_seconds
    time.sleep(1.0)
    counted = session.status(time.time()).printing_seconds - before
    assert 0.9 <= counted <= time.monotonic() - started + 0.01
    printer.set_state("FINISH")
    wait_until(lambda: session.status(time.time()).snapshot.state == "FINISH", what="FINISH")
    finished = session.status(time.time()).printing_seconds
    time.sleep(0.5)
    assert session.status(time.time()).printing_seconds == finished


def test_wrong_access_code_is_an_auth_error(models_fleet: SimulatedFleet,
                                            sessions: list[PrinterSession],
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "00000000"
    session = _open(sessions, _record(models_fleet, 1, code=wrong))
    status = wait_until(lambda: (s := session.status(time.time())).connection_errors.get(OfflineReason.AUTH)
                        and s, what="auth error")
    assert not status.up and status.connects == 0
    assert wrong not in caplog.text
    assert models_fleet.records[1].access_code not in caplog.text


def test_close_sends_a_disconnect(models_fleet: SimulatedFleet,
                                  sessions: list[PrinterSession]) -> None:
    record = _record(models_fleet, 2)
    printer = models_fleet.printer(record.serial)
    before = printer.disconnects
    session = PrinterSession(record, FAST)
    session.start()
    wait_until(lambda: _up(session), what="up")
    assert printer.connections >= 1
    session.close()
    wait_until(lambda: printer.disconnects == before + 1, timeout=5, what="DISCONNECT received")
    wait_until(lambda: printer.connections == 0, timeout=5, what="connection closed")


def test_reconnect_within_the_interval_sends_no_second_pushall(
        models_fleet: SimulatedFleet, sessions: list[PrinterSession]) -> None:
    record = _record(models_fleet, 3)
    printer = models_fleet.printer(record.serial)

    def pushalls() -> int:
        return sum(1 for r in printer.requests if r.get("pushing", {}).get("command") == "pushall")

    start = pushalls()
    session = _open(sessions, record)
    wait_until(lambda: _up(session), what="up")
    assert pushalls() == start + 1
    printer.inject(Fault.DROP)   # the printer cuts the session; we reconnect
    wait_until(lambda: session.status(time.time()).connection_errors.get(OfflineReason.DROPPED),
               what="drop counted")
    printer.clear(Fault.DROP)
    wait_until(lambda: session.status(time.time()).connects >= 2, what="reconnected")
    session.tick(time.time())
    time.sleep(0.3)
    assert pushalls() == start + 1  # P1 printers lag on pushall: at most one per interval


# ------------------------------------------------------------------------ faults

@pytest.fixture(scope="module")
def faulty_fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    fleet = SimulatedFleet(count=6, first_address=addresses.take(6).first, seed=5, life=False,
                           models=["P1S", "X1C"])
    fleet.start()
    yield fleet
    fleet.stop()


def test_offline_printer_is_refused(faulty_fleet: SimulatedFleet,
                                    sessions: list[PrinterSession]) -> None:
    record = _record(faulty_fleet, 0)
    faulty_fleet.printer(record.serial).inject(Fault.OFFLINE)
    try:
        session = _open(sessions, record)
        status = wait_until(lambda: (s := session.status(time.time())).connection_errors.get(
            OfflineReason.REFUSED) and s, what="refused")
        assert not status.up and status.snapshot is None
    finally:
        faulty_fleet.printer(record.serial).clear(Fault.OFFLINE)


def test_hung_printer_times_out(faulty_fleet: SimulatedFleet,
                                sessions: list[PrinterSession]) -> None:
    record = _record(faulty_fleet, 1)
    faulty_fleet.printer(record.serial).inject(Fault.HUNG)
    try:
        started = time.monotonic()
        session = _open(sessions, record)
        assert time.monotonic() - started < 0.5   # start() never waits on the printer
        status = wait_until(lambda: (s := session.status(time.time())).connection_errors.get(
            OfflineReason.TIMEOUT) and s, what="timeout")
        assert not status.up
        started = time.monotonic()
        session.status(time.time())
        assert time.monotonic() - started < 0.5   # nor does reading it
    finally:
        faulty_fleet.printer(record.serial).clear(Fault.HUNG)


def test_silent_printer_goes_stale(faulty_fleet: SimulatedFleet,
                                   sessions: list[PrinterSession]) -> None:
    record = _record(faulty_fleet, 2)
    printer = faulty_fleet.printer(record.serial)
    session = _open(sessions, record)
    wait_until(lambda: _up(session), what="up")
    printer.inject(Fault.SILENT)
    try:
        status = wait_until(lambda: (s := session.status(time.time())).connected and not s.up and s,
                            timeout=FAST.staleness + 5, what="stale")
        assert status.last_report is not None
        assert time.time() - status.last_report > FAST.staleness
    finally:
        printer.clear(Fault.SILENT)
    # the liveness probe (get_version) brings it back once the printer talks again
    session.tick(time.time())
    wait_until(lambda: _up(session), timeout=FAST.staleness + 5, what="up again")


@pytest.mark.parametrize("fault", [Fault.GARBAGE_TEXT, Fault.GARBAGE_NON_OBJECT])
def test_garbage_is_counted_and_the_printer_stays_up(faulty_fleet: SimulatedFleet,
                                                     sessions: list[PrinterSession],
                                                     fault: Fault) -> None:
    record = _record(faulty_fleet, 3 if fault is Fault.GARBAGE_TEXT else 4)
    printer = faulty_fleet.printer(record.serial)
    session = _open(sessions, record)
    wait_until(lambda: _up(session), what="up")
    printer.inject(fault)
    try:
        # Text that is not JSON (some of it not even UTF-8), or JSON that is no object.
        reasons = {"json", "bad_utf8"} if fault is Fault.GARBAGE_TEXT else {"not_object"}
        wait_until(lambda: sum(session.status(time.time()).message_errors.values()) >= 2,
                   what="errors counted")
        assert set(session.status(time.time()).message_errors) <= reasons
        # the network thread survived: real reports still arrive and merge
        # (wifi: the X1C's bed also comes packed in print.device, which wins over bed_temper)
        printer.update({"print": {"wifi_signal": "-33dBm"}})
        wait_until(lambda: session.status(time.time()).snapshot.wifi_dbm == -33,
                   timeout=5, what="report after garbage")
        assert session.status(time.time()).up
    finally:
        printer.clear(fault)


def test_hms_fault_shows_in_the_snapshot(faulty_fleet: SimulatedFleet,
                                         sessions: list[PrinterSession]) -> None:
    record = _record(faulty_fleet, 5)
    printer = faulty_fleet.printer(record.serial)
    session = _open(sessions, record)
    wait_until(lambda: _up(session), what="up")
    printer.inject(Fault.HMS)
    try:
        status = wait_until(lambda: (s := session.status(time.time())).snapshot.hms and s,
                            timeout=8, what="HMS message")
        assert all(len(m.code) == 19 for m in status.snapshot.hms)
        assert {m.severity for m in status.snapshot.hms} <= {"fatal", "serious", "common", "info"}
    finally:
        printer.clear(Fault.HMS)


def test_status_is_the_same_object_until_something_it_shows_changes() -> None:
    """Scrapes close together find most printers unchanged: status() hands back the
    object it built last time (the render cache then knows it at once), and a new one
    for a message, an error, a rename, staleness or time printing. No network: the
    network loop's callbacks are called as it would call them."""
    clock = [1000.0]
    session = PrinterSession(PrinterRecord("p", "127.0.0.1", "01P00A000000001", "12345678"),
                             SessionSettings(staleness=60), clock=lambda: clock[0],
                             monotonic=lambda: clock[0])
    report = b'{"print": {"gcode_state": "IDLE", "nozzle_temper": 20.0}}'
    session._on_report(report)
    first = session.status(1000.0)
    assert first.snapshot is not None and session.status(1001.0) is first
    session._on_report(report)                       # the same report at the same time
    second = session.status(1001.0)
    assert second is not first and session.status(1002.0) is second
    session._on_report(b"not json")                  # counted: a new status
    third = session.status(1002.0)
    assert third is not second and third.message_errors == {"json": 1}
    session.connect_failed(ConnectionRefusedError())
    fourth = session.status(1002.0)
    assert fourth is not third and fourth.connection_errors == {OfflineReason.REFUSED: 1}
    session.rename("q")
    assert session.status(1002.0).name == "q"
    fifth = session.status(1002.0)
    assert session.status(1000.0 + 61) is not fifth  # stale now
    stale = session.status(1000.0 + 61)
    clock[0] += 1.0                                  # a second on: time in its state
    later = session.status(1000.0 + 61)
    assert later is not stale and sum(later.state_seconds.values()) == 1.0


def _report(**fields: object) -> bytes:
    return json.dumps({"print": fields}).encode()


def test_jobs_and_state_time_from_the_sessions_reports() -> None:
    """The session feeds its job tracker and state clock from what it merges; driven
    through the network loop's callbacks, with clocks the test moves."""
    clock = [5000.0]
    session = PrinterSession(PrinterRecord("p", "127.0.0.1", "00M00A000000001", "12345678"),
                             SessionSettings(staleness=60), clock=lambda: clock[0],
                             monotonic=lambda: clock[0])

    def at(advance: float, payload: bytes | None = None) -> PrinterStatus:
        clock[0] += advance
        if payload is not None:
            session._on_report(payload)
        return session.status(clock[0])

    session._on_connack(0)
    status = at(3.0, _report(gcode_state="FINISH", mc_percent=100, gcode_file="a.gcode"))
    assert status.state_seconds["offline"] == 3.0 and status.state_since == 5003.0
    assert status.prints == {} and status.job is None          # a FINISH found, not seen
    # the project_file echo, then the job: the echo is the job's
    echo = {"print": {"command": "project_file", "param": "Metadata/plate_3.gcode",
                      "subtask_name": "bracket", "url": "ftp://bracket.gcode.3mf",
                      "ams_mapping": [2], "use_ams": True, "result": "success"}}
    at(60.0, json.dumps(echo).encode())
    status = at(2.0, _report(gcode_state="PREPARE", mc_percent=0, layer_num=0))
    assert status.job is not None and status.job.project is not None
    assert status.job.project.plate == 3 and status.job.subtask_name == "bracket"
    assert status.state_since == 5065.0
    status = at(100.0, _report(gcode_state="RUNNING", mc_percent=30, layer_num=6))
    session.lost(OfflineReason.DROPPED, "connection closed")        # a reconnect in the middle of the job
    status = at(30.0)
    assert status.state_seconds["offline"] == 3.0 + 30.0 and not status.up
    session._on_connack(0)
    status = at(1.0, _report(gcode_state="RUNNING", mc_percent=31, layer_num=7))
    assert status.job is not None and status.job.number == 1   # the same job
    status = at(600.0, _report(gcode_state="FAILED", print_error=0x0300400C, mc_percent=0,
                               layer_num=0))
    assert status.prints == {"cancelled": 1}
    assert status.last_job is not None and status.last_job.job.layer == 7
    assert status.print_seconds == {"cancelled": 100.0 + 30.0 + 1.0 + 600.0}
    status = at(10.0)
    assert status.state_seconds == {"offline": 33.0, "plate_waiting": 60.0 + 2.0 + 10.0,
                                    "preparing": 100.0, "printing": 601.0, "paused": 0.0,
                                    "idle": 0.0}
    assert sum(status.state_seconds.values()) == clock[0] - 5000.0   # each second once
