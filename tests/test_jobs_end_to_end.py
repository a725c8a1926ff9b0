"""Jobs end to end: simulated printers running jobs as real ones do (time accelerated),
the real exporter process (`python -m exporter`, one process and --workers 2), /metrics.

Every job the printers end is counted once with its result (finished, failed, cancelled
in both firmware shapes, a flapping FINISH once), a restart or a reconnect counts nothing
twice, and the time in each state adds up to the time watched.

Printers take their addresses from the `addresses` fixture.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.simulator import Fault, SimulatedFleet
from tests.support.addresses import AddressPool
from tests.support.e2e import (
    ExporterProcess,
    Samples,
    clean_env,
    free_port,
    http_get,
    parse_samples,
    value,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("e2e")

RESULTS = ("finished", "failed", "cancelled")
STATES = ("printing", "paused", "preparing", "plate_waiting", "idle", "offline")


class Exporter:
    def __init__(self, inventory: Path, *extra: str) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.process = ExporterProcess(["--printers.file", str(inventory),
                                        "--web.listen-address", f"127.0.0.1:{port}", *extra],
                                       clean_env())
        self.process.wait_serving(self.base)

    def samples(self) -> Samples:
        return parse_samples(http_get(self.base + "/metrics").text)

    def stop(self) -> None:
        self.process.stop()
        self.process.cleanup()


def counted(samples: Samples, serial: str) -> dict[str, int]:
    out = {}
    for result in RESULTS:
        number = value(samples, "bambu_printer_prints_total", serial=serial, result=result)
        assert number is not None, f"no prints_total{{result={result}}} for {serial}"
        if number:
            out[result] = int(number)
    return out


def all_up(exporter: Exporter, serials: list[str]) -> Samples | None:
    samples = exporter.samples()
    up = all(value(samples, "bambu_printer_up", serial=s) == 1.0 for s in serials)
    return samples if up else None


@pytest.fixture(scope="module")
def busy_fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    # 20000 simulated seconds a second: jobs of hours end within a second.
    with SimulatedFleet(count=6, first_address=addresses.take(6).first, seed=211, speed=20000.0,
                        models=["X1C", "P1S", "A1", "H2D"],
                        faults={"cancel_to_idle": 1, "flapping": 1}) as fleet:
        fleet.pause()
        yield fleet


def run_jobs(fleet: SimulatedFleet, before: dict[str, dict[str, int]], jobs: int) -> None:
    """Let the printers run until `jobs` more ended, cancelling some as a user would."""
    deadline = time.monotonic() + 60
    target = sum(sum(b.values()) for b in before.values()) + jobs
    handles = fleet.printers()
    rounds = 0
    while sum(sum(h.jobs_ended.values()) for h in handles) < target:
        assert time.monotonic() < deadline, "the printers did not end enough jobs in 60 s"
        rounds += 1
        for index, handle in enumerate(handles):
            if rounds % 7 == index % 7:   # now and then, each printer's job is cancelled
                handle.cancel()
        time.sleep(0.05)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_every_job_counted_once_with_its_result(busy_fleet: SimulatedFleet, tmp_path: Path,
                                                workers: str) -> None:
    fleet = busy_fleet
    inventory = tmp_path / "printers.yaml"
    fleet.write_inventory_yaml(inventory, wrong_code=False)
    serials = [r.serial for r in fleet.records]
    exporter = Exporter(inventory, "--workers", workers)
    try:
        wait_until(lambda: all_up(exporter, serials), 60, what="every printer up")
        before = {h.serial: h.jobs_ended for h in fleet.printers()}
        fleet.resume()
        try:
            run_jobs(fleet, before, 40)
        finally:
            fleet.pause()
        expected = {}
        for handle in fleet.printers():
            ended = handle.jobs_ended
            expected[handle.serial] = {r: ended.get(r, 0) - before[handle.serial].get(r, 0)
                                       for r in RESULTS
                                       if ended.get(r, 0) - before[handle.serial].get(r, 0)}
        assert all(expected[h.serial].get("cancelled") for h in
                   fleet.with_fault(Fault.CANCEL_TO_IDLE)), expected

        def matches() -> bool:
            samples = exporter.samples()
            return all(counted(samples, s) == expected[s] for s in serials)
        try:
            wait_until(matches, 30, what="the exporter's counts to match the printers'")
        except AssertionError:
            samples = exporter.samples()
            seen = {s: counted(samples, s) for s in serials}
            raise AssertionError(f"exporter counted {seen}, printers ended {expected}") from None
        # hours of printing, as many as the jobs took
        samples = exporter.samples()
        for serial in serials:
            for result, number in expected[serial].items():
                seconds = value(samples, "bambu_printer_print_seconds_total", serial=serial,
                                result=result)
                assert seconds is not None and seconds > 0 and number > 0
    finally:
        exporter.stop()


def state_seconds(samples: Samples, serial: str) -> float:
    total = 0.0
    for state in STATES:
        seconds = value(samples, "bambu_printer_state_seconds_total", serial=serial,
                        state=state)
        assert seconds is not None, f"no state_seconds_total{{state={state}}} for {serial}"
        total += seconds
    return total


def test_time_in_states_adds_up_to_the_time_watched(busy_fleet: SimulatedFleet,
                                                    tmp_path: Path) -> None:
    fleet = busy_fleet
    inventory = tmp_path / "printers.yaml"
    fleet.write_inventory_yaml(inventory, wrong_code=False)
    serials = [r.serial for r in fleet.records]
    exporter = Exporter(inventory)
    fleet.resume()
    try:
        first = wait_until(lambda: all_up(exporter, serials), 60, what="every printer up")
        started = time.monotonic()
        wait_until(lambda: time.monotonic() - started >= 4, what="four seconds")
        last = exporter.samples()
        watched = time.monotonic() - started
        for serial in serials:
            added = state_seconds(last, serial) - state_seconds(first, serial)
            # each observation is at most a second old (and a scrape takes some time)
            assert abs(added - watched) <= 1.5, (serial, added, watched)
            printing = (value(last, "bambu_printer_state_seconds_total", serial=serial,
                              state="printing") or 0) - \
                (value(first, "bambu_printer_state_seconds_total", serial=serial,
                       state="printing") or 0)
            assert 0 <= printing <= added + 0.01
            since = value(last, "bambu_printer_state_since_timestamp_seconds", serial=serial)
            assert since is not None and since <= time.time()
    finally:
        fleet.pause()
        exporter.stop()


@pytest.fixture(scope="module")
def still_fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    with SimulatedFleet(count=1, first_address=addresses.take().first, seed=212, life=False,
                        models=["X1C"], drop_after=1.0) as fleet:
        yield fleet


def test_restarts_and_reconnects_count_nothing_twice(still_fleet: SimulatedFleet,
                                                     tmp_path: Path) -> None:
    [handle] = still_fleet.printers()
    serial = handle.serial
    inventory = tmp_path / "printers.yaml"
    still_fleet.write_inventory_yaml(inventory, wrong_code=False)
    handle.set_state("IDLE")
    exporter = Exporter(inventory)
    try:
        wait_until(lambda: all_up(exporter, [serial]), 30, what="up")
        handle.set_state("PREPARE")
        handle.set_state("RUNNING")
        wait_until(lambda: value(exporter.samples(), "bambu_printer_state", serial=serial,
                                 state="RUNNING") == 1.0, what="RUNNING")
        # sessions cut in the middle of the job: it goes on, and its end counts once
        handle.inject(Fault.DROP)
        wait_until(lambda: (value(exporter.samples(), "bambu_printer_connects_total",
                                  serial=serial) or 0) >= 3, 30, what="two reconnects")
        handle.set_state("FINISH")
        wait_until(lambda: counted(exporter.samples(), serial) == {"finished": 1}, 30,
                   what="the job finished")
        connects = value(exporter.samples(), "bambu_printer_connects_total", serial=serial) or 0
        wait_until(lambda: (value(exporter.samples(), "bambu_printer_connects_total",
                                  serial=serial) or 0) >= connects + 2, 30,
                   what="two more reconnects, each finding FINISH")
        handle.clear(Fault.DROP)
        assert counted(exporter.samples(), serial) == {"finished": 1}
    finally:
        exporter.stop()
    # a new exporter process finds the plate waiting: nothing ended while it watched
    exporter = Exporter(inventory)
    try:
        samples = wait_until(lambda: all_up(exporter, [serial]), 30, what="up again")
        assert value(samples, "bambu_printer_state", serial=serial, state="FINISH") == 1.0
        assert counted(samples, serial) == {}
    finally:
        exporter.stop()
