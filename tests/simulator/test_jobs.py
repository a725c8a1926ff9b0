"""Jobs as real printers run them, seen from a client over TLS MQTT: the project_file echo
at a job's start, a cancel in both firmware shapes, a flapping FINISH, a plate that waits,
and time acceleration that runs dozens of jobs in seconds.

Printers take their addresses from the `addresses` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exporter.simulator import Fault, SimulatedFleet
from exporter.simulator.fleet import PrinterHandle
from tests.simulator.helpers import Listener, wait_until
from tests.support.addresses import AddressPool

pytestmark = pytest.mark.tier("e2e")

ACTIVE = ("PREPARE", "RUNNING", "PAUSE")


@pytest.fixture(scope="module")
def fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    # speed 20000: a job of up to four hours passes in under a second
    with SimulatedFleet(count=4, first_address=addresses.take(4).first, seed=121, speed=20000.0,
                        models=["X1C", "P1S"],
                        faults={"cancel_to_idle": 1, "flapping": 1, "plate_waiting": 1}) as fleet:
        yield fleet


def states_of(client: Listener) -> list[str]:
    """gcode_state as each report left it (a P1 delta without one keeps the last)."""
    states: list[str] = []
    for doc in client.prints():
        state = doc["print"].get("gcode_state")
        if state is not None and (not states or states[-1] != state):
            states.append(state)
    return states


def test_jobs_start_with_their_project_file_echo(fleet: SimulatedFleet) -> None:
    handle = next(h for h in fleet.printers() if not h.faults)
    with Listener(handle.record) as client:
        wait_until(lambda: len(client.echoes("project_file")) >= 3, timeout=60,
                   what="three jobs started")
        docs = client.docs()
    for index, doc in enumerate(docs):
        command = doc.get("print", {})
        if command.get("command") != "project_file":
            continue
        # the next report that says a state says PREPARE, with this job's name
        after = next((d["print"] for d in docs[index + 1:]
                      if d.get("print", {}).get("gcode_state")), None)
        if after is None:
            continue
        assert after["gcode_state"] == "PREPARE"
        assert after.get("subtask_name", command["subtask_name"]) == command["subtask_name"]
        assert command["param"].startswith("Metadata/plate_")


def test_time_acceleration_runs_dozens_of_jobs_in_seconds(fleet: SimulatedFleet) -> None:
    before = sum(sum(h.jobs_ended.values()) for h in fleet.printers())
    wait_until(lambda: sum(sum(h.jobs_ended.values()) for h in fleet.printers()) >= before + 24,
               timeout=60, what="two dozen jobs ended")


def paused_running(fleet: SimulatedFleet, handle: PrinterHandle) -> bool:
    """Pause the fleet's lives if this printer is RUNNING then (else leave them going)."""
    fleet.pause()
    if handle.report()["print"]["gcode_state"] == "RUNNING":
        return True
    fleet.resume()
    return False


def test_a_cancel_is_failed_with_the_cancel_code_or_idle(fleet: SimulatedFleet) -> None:
    for handle in fleet.printers():
        if Fault.FLAPPING in handle.faults or Fault.PLATE_WAITING in handle.faults:
            continue
        with Listener(handle.record) as client:
            wait_until(client.prints, what="connected")
            wait_until(lambda h=handle: paused_running(fleet, h), timeout=60,
                       what="a job running, its life paused")
            try:
                ended = handle.jobs_ended.get("cancelled", 0)
                client.request({"print": {"command": "stop", "sequence_id": "1"}})
                wait_until(lambda h=handle: h.report()["print"]["gcode_state"] != "RUNNING",
                           what="the cancel")
                doc = handle.report()["print"]
                if Fault.CANCEL_TO_IDLE in handle.faults:
                    assert doc["gcode_state"] == "IDLE"
                else:
                    assert doc["gcode_state"] == "FAILED"
                    assert doc["print_error"] == 0x0300400C and doc["mc_percent"] == 0
                assert handle.jobs_ended.get("cancelled", 0) == ended + 1
            finally:
                fleet.resume()


def test_a_flapping_printer_flaps_at_the_end_of_its_jobs(fleet: SimulatedFleet) -> None:
    [handle] = fleet.with_fault(Fault.FLAPPING)
    with Listener(handle.record) as client:
        def flapped() -> bool:
            states = states_of(client)
            return any(states[i:i + 4] == ["FINISH", "RUNNING", "FINISH", "RUNNING"]
                       for i in range(len(states)))
        wait_until(flapped, timeout=60, what="FINISH, RUNNING, FINISH, RUNNING")


def test_a_waiting_plate_stays_finished_until_cleared(fleet: SimulatedFleet) -> None:
    [handle] = fleet.with_fault(Fault.PLATE_WAITING)
    wait_until(lambda: handle.report()["print"]["gcode_state"] in ("FINISH", "FAILED"),
               timeout=60, what="a job ended")
    ended = handle.jobs_ended
    with Listener(handle.record) as client:
        wait_until(lambda: len(client.prints()) >= 5, what="five reports")
        assert states_of(client) in (["FINISH"], ["FAILED"])   # hours pass meanwhile
    assert handle.jobs_ended == ended
    handle.clear(Fault.PLATE_WAITING)
    wait_until(lambda: handle.report()["print"]["gcode_state"] in ("IDLE", *ACTIVE),
               what="the plate cleared")
