"""Fetching a job's plan over the simulator's implicit FTPS, one firmware mode at a time."""

from __future__ import annotations

import ftplib
import ssl
import time
from collections.abc import Iterator

import pytest

from exporter.printer.job_file import ftps
from exporter.printer.job_file.fetch import FetchResult, FetchTarget, fetch_plan, file_names
from exporter.printer.job_file.plan import JobFileError
from exporter.simulator.faults import Fault
from exporter.simulator.fleet import PrinterHandle, SimulatedFleet
from tests.support.addresses import AddressPool

pytestmark = pytest.mark.tier("e2e")

MODES = ("files_in_cache", "no_storage", "file_late", "big_3mf", "zip_bomb", "xml_bomb",
         "subtask_lag", "ftps_drip", "tls13_deaf", "ftps_a1_data")


@pytest.fixture(scope="module")
def fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    with SimulatedFleet(count=len(MODES) + 1, first_address=addresses.take(len(MODES) + 1).first, life=False,
                        models=["X1C"], ftps=True, file_delay=1.5,
                        faults={mode: 1 for mode in MODES}) as fleet:
        yield fleet


def printer(fleet: SimulatedFleet, mode: str | None) -> PrinterHandle:
    for handle in fleet.printers():
        if (mode is None and not handle.faults) or (mode is not None and Fault(mode) in handle.faults):
            return handle
    raise AssertionError(mode)


def start_job(handle: PrinterHandle, filaments: int = 2) -> FetchTarget:
    handle.plan_filaments(filaments)
    handle.set_state("PREPARE")
    handle.set_state("RUNNING")
    p = handle.report()["print"]
    plate = handle.job_plate
    assert plate is not None
    return FetchTarget(handle.record.ip, handle.record.access_code, p["subtask_name"],
                       p["gcode_file"], plate.index)


def fetch(target: FetchTarget, seconds: float = 10.0) -> FetchResult:
    return fetch_plan(target, time.monotonic() + seconds, timeout=min(seconds, 3.0))


def fetch_error(target: FetchTarget, seconds: float = 10.0) -> JobFileError:
    with pytest.raises(JobFileError) as caught:
        fetch(target, seconds)
    return caught.value


def fetch_when_there(target: FetchTarget, within: float = 30.0) -> FetchResult:
    end = time.monotonic() + within
    while True:
        try:
            return fetch(target)
        except JobFileError as exc:
            if exc.reason != "no_file" or time.monotonic() > end:
                raise
        time.sleep(0.2)


def test_the_plan_is_the_printed_plate(fleet: SimulatedFleet) -> None:
    handle = printer(fleet, None)
    result = fetch(start_job(handle, 3))
    plate = handle.job_plate
    assert plate is not None and result.plan.plate == plate.index
    assert [(f.slot, f.material, f.color, f.grams, f.meters) for f in result.plan.filaments] == \
        [(f.slot, f.material, f.color, f.grams, f.meters) for f in plate.filaments]
    assert result.plan.weight_grams == pytest.approx(plate.weight)
    printed = handle.report()["print"]
    if printed["task_id"] == "0":   # a LAN print: named after the project, in /
        assert result.path == f"/{printed['subtask_name']}.gcode.3mf"
    else:                           # a cloud print: in /cache
        assert result.path == "/cache/" + printed["gcode_file"].replace(".gcode.3mf", ".3mf")


def test_cloud_prints_are_found_in_cache(fleet: SimulatedFleet) -> None:
    result = fetch(start_job(printer(fleet, "files_in_cache")))
    assert result.path.startswith("/cache/") and result.path.endswith(".3mf")


def test_no_storage_is_said(fleet: SimulatedFleet) -> None:
    assert fetch_error(start_job(printer(fleet, "no_storage"))).reason == "no_storage"


def test_a_late_file_is_missing_first_then_read(fleet: SimulatedFleet) -> None:
    target = start_job(printer(fleet, "file_late"))
    assert fetch_error(target).reason == "no_file"
    assert fetch_when_there(target).plan.filaments


def test_a_100_mb_file_costs_under_a_mebibyte(fleet: SimulatedFleet) -> None:
    handle = printer(fleet, "big_3mf")
    result = fetch_when_there(start_job(handle), within=60)
    assert result.plan.plate == handle.job_plate.index   # type: ignore[union-attr]
    assert result.bytes_read < 1024 * 1024


def test_bombs_are_refused(fleet: SimulatedFleet) -> None:
    assert fetch_when_there_error(start_job(printer(fleet, "zip_bomb"))).reason == "too_large"
    assert fetch_error(start_job(printer(fleet, "xml_bomb"))).reason == "bad_file"


def fetch_when_there_error(target: FetchTarget) -> JobFileError:
    with pytest.raises(JobFileError) as caught:
        fetch_when_there(target)
    return caught.value


def test_a_lagging_subtask_name_is_passed_over(fleet: SimulatedFleet) -> None:
    handle = printer(fleet, "subtask_lag")
    start_job(handle)
    handle.set_state("FINISH")
    target = start_job(handle)   # its subtask_name names the first job's file now
    first = file_names(target.subtask_name, "")[0]
    assert target.gcode_file != first
    result = fetch(target)
    assert result.path == "/" + target.gcode_file and result.path != "/" + first
    assert result.plan.plate == handle.job_plate.index   # type: ignore[union-attr]


def test_a_dripping_server_costs_the_deadline_only(fleet: SimulatedFleet) -> None:
    began = time.monotonic()
    assert fetch_error(start_job(printer(fleet, "ftps_drip")), seconds=3.0).reason == "timeout"
    assert time.monotonic() - began < 8


def test_tls13_deaf_firmware_is_met_with_tls12(fleet: SimulatedFleet) -> None:
    handle = printer(fleet, "tls13_deaf")
    assert fetch(start_job(handle)).plan.filaments
    # the mode is real: a client offering TLS 1.3 gets no answer
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with pytest.raises((TimeoutError, OSError)):
        ftps.ImplicitFtps(context, 1.5).connect(handle.record.ip)


def test_a1_data_channel_falls_back_to_clear(fleet: SimulatedFleet) -> None:
    target = start_job(printer(fleet, "ftps_a1_data"))
    error = fetch_error(target, seconds=6)
    assert error.reason == "timeout" and error.data_channel
    fallback = FetchTarget(target.ip, target.access_code, target.subtask_name,
                           target.gcode_file, target.plate, clear_fallback=True)
    result = fetch(fallback, seconds=8)
    assert result.clear_data and result.plan.filaments


def test_a_data_channel_without_session_reuse_gets_522(fleet: SimulatedFleet) -> None:
    handle = printer(fleet, None)
    path = fetch(start_job(handle)).path   # where the job's file is

    class FreshSession(ftps.ImplicitFtps):
        def ntransfercmd(self, cmd: str, rest: int | str | None = None):  # type: ignore[no-untyped-def]
            conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
            return self.context.wrap_socket(conn), size

    client = FreshSession(ftps.client_context(), 3)
    client.connect(handle.record.ip)
    client.login("bblp", handle.record.access_code)
    client.protect(False)
    with pytest.raises((ssl.SSLError, OSError, ftplib.Error)):
        client.retrbinary(f"RETR {path}", lambda _: None)
    if client.lastresp != "522":   # the TLS error came first: the reply is still waiting
        with pytest.raises(ftplib.error_perm, match="^522 .*session reuse required"):
            client.getresp()
    client.close()


def test_a_wrong_access_code_is_refused(fleet: SimulatedFleet) -> None:
    target = start_job(printer(fleet, None))
    wrong = FetchTarget(target.ip, "00000000", target.subtask_name, target.gcode_file, target.plate)
    error = fetch_error(wrong)
    assert error.reason == "refused" and "00000000" not in str(error)
    assert target.access_code not in str(error)


@pytest.mark.parametrize("name", ["../etc/passwd", "a\0b", "x" * 10_000, "..", "a/b", "c\r\nDELE x"])
def test_hostile_names_never_reach_the_printer(name: str) -> None:
    assert file_names(name, "") == []
    assert file_names(name, "/sdcard/" + name) == []
    with pytest.raises(JobFileError) as caught:
        fetch_plan(FetchTarget("127.122.0.254", "x", name, ""), time.monotonic() + 1)
    assert caught.value.reason == "bad_file"
