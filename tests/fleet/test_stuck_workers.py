"""A worker process that stops answering (SIGSTOP: a debugger, a frozen cgroup, a
swapped-out process) never stalls a scrape or the landing page past --workers.timeout:
it is killed and restarted, its printers OFFLINE meanwhile.

Printers' names are long, so that one worker's answer is bigger than a socket buffer
and a worker can be caught in the middle of writing it.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from exporter.fleet.assignment import worker_of
from exporter.fleet.workers import WORKER_STUCK
from exporter.simulator import SimulatedFleet
from tests.fleet.test_workers import Running, gone
from tests.support.addresses import AddressPool
from tests.support.e2e import (
    ExporterProcess,
    Response,
    clean_env,
    current_state,
    fleet_table,
    http_get,
    parse_samples,
    value,
)
from tests.support.postgres import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("e2e")

WORKERS = 2
PRINTERS = 40
BOUND = 3.0   # --workers.timeout's default
# Well past the bound, well before Prometheus' usual 10 s scrape_timeout; today's code
# waits 10 s on a worker stopped between scrapes and forever on one stopped mid-answer.
CLIENT_TIMEOUT = 8.0


@pytest.fixture(scope="module")
def fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    sim = SimulatedFleet(count=PRINTERS, first_address=addresses.take(PRINTERS).first, seed=117, life=False,
                         models=["H2D", "X1C"]).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def running(fleet: SimulatedFleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    path = tmp_path_factory.mktemp("stuck") / "printers.yaml"
    rows = [{"name": f"{r.name}-" + "n" * 240, "ip": r.ip, "serial": r.serial,
             "access_code": r.access_code} for r in fleet.records]
    path.write_text(yaml.safe_dump({"printers": rows}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = ExporterProcess(["--printers.file", str(path), "--web.listen-address",
                            f"127.0.0.1:{port}", "--printer.staleness", "5s",
                            "--workers", str(WORKERS)], clean_env())
    run = Running(proc, base)
    try:
        proc.wait_serving(base)
        wait_until(lambda: all_up(run, fleet), 60, what="every printer up")
        wait_until(lambda: len(run.workers()) == WORKERS, 10, what="the worker processes")
        yield run
    finally:
        for pid in run.workers().values():
            os.kill(pid, signal.SIGCONT)
        proc.stop()
        proc.cleanup()
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def all_up(running: Running, fleet: SimulatedFleet) -> bool:
    samples = parse_samples(http_get(running.base + "/metrics").text)
    return all(value(samples, "bambu_printer_up", serial=r.serial) == 1.0 for r in fleet.records)


def timed_get(url: str) -> tuple[Response, float]:
    started = time.monotonic()
    response = http_get(url, timeout=CLIENT_TIMEOUT)
    return response, time.monotonic() - started


def restarted(running: Running, index: int, old_pid: int) -> bool:
    pid = running.workers().get(index)
    return pid is not None and pid != old_pid


def syscall(pid: int) -> str:
    """The system call pid's main thread is in ("running" when none)."""
    return Path(f"/proc/{pid}/syscall").read_text().split()[0]


def mine(fleet: SimulatedFleet, index: int) -> list[str]:
    return [r.serial for r in fleet.records if worker_of(r.serial, WORKERS) == index]


def restarts(running: Running) -> float:
    total = value(parse_samples(http_get(running.base + "/metrics").text),
                  "bambu_exporter_worker_restarts_total")
    assert total is not None
    return total


def test_a_worker_stopped_between_scrapes_costs_one_bounded_scrape(
        running: Running, fleet: SimulatedFleet) -> None:
    before = restarts(running)
    workers = running.workers()
    victim = 1
    os.kill(workers[victim], signal.SIGSTOP)
    response, took = timed_get(running.base + "/metrics")
    print(f"\nscrape with worker {victim} stopped between scrapes: {took:.2f} s "
          f"(bound {BOUND:g} s)")
    assert response.status == 200
    samples = parse_samples(response.text)
    for serial in mine(fleet, victim):
        assert value(samples, "bambu_printer_up", serial=serial) == 0.0
        assert current_state(samples, serial) == "OFFLINE"
    for serial in mine(fleet, 1 - victim):
        assert value(samples, "bambu_printer_up", serial=serial) == 1.0
    assert re.search(rf"worker {victim} \(pid {workers[victim]}\) did not answer within 3\.0s; "
                     "killing it", running.proc.stderr)
    wait_until(lambda: gone(workers[victim]), 10, what="the stopped worker to be killed")
    wait_until(lambda: restarted(running, victim, workers[victim]), 10, what="a new worker")
    wait_until(lambda: all_up(running, fleet), 45, what="its printers back up")
    assert restarts(running) == before + 1


def test_a_worker_stopped_mid_answer_costs_one_bounded_scrape(
        running: Running, fleet: SimulatedFleet) -> None:
    # Worker 0 pauses a moment, so the exporter waits on it while worker 1 writes an
    # answer bigger than the socket buffer: worker 1 is then blocked in the middle of
    # it, and is stopped there. Worker 0 goes on; worker 1's answer never ends.
    before = restarts(running)
    text = http_get(running.base + "/metrics").text
    part = sum(len(line) + 1 for line in text.splitlines()
               if any(f'serial="{serial}"' in line for serial in mine(fleet, 1)))
    buffer = int(Path("/proc/sys/net/core/wmem_default").read_text())
    assert part > 1.5 * buffer, (part, buffer)   # worker 1 cannot write it all at once
    workers = running.workers()
    slow, victim = workers[0], workers[1]
    os.kill(slow, signal.SIGSTOP)
    result: list[tuple[Response, float]] = []
    scrape = threading.Thread(target=lambda: result.append(timed_get(running.base + "/metrics")))
    scrape.start()
    try:
        wait_until(lambda: syscall(victim) == "1" and syscall(victim) == "1", 5,
                   interval=0.01, what="worker 1 blocked writing its answer")
        os.kill(victim, signal.SIGSTOP)
    finally:
        os.kill(slow, signal.SIGCONT)
    scrape.join(CLIENT_TIMEOUT + 2)
    assert result, "the scrape did not end"
    response, took = result[0]
    print(f"\nscrape with worker 1 stopped mid-answer: {took:.2f} s (bound {BOUND:g} s)")
    assert response.status == 200
    samples = parse_samples(response.text)
    for serial in mine(fleet, 1):
        assert value(samples, "bambu_printer_up", serial=serial) == 0.0
        assert current_state(samples, serial) == "OFFLINE"
    for serial in mine(fleet, 0):
        assert value(samples, "bambu_printer_up", serial=serial) == 1.0
    wait_until(lambda: gone(victim), 10, what="the stopped worker to be killed")
    wait_until(lambda: restarted(running, 1, victim), 10, what="a new worker")
    assert running.workers()[0] == slow   # the one that only paused was not killed
    wait_until(lambda: all_up(running, fleet), 45, what="its printers back up")
    assert restarts(running) == before + 1


def test_the_landing_page_waits_no_longer_on_a_stopped_worker(
        running: Running, fleet: SimulatedFleet) -> None:
    workers = running.workers()
    os.kill(workers[0], signal.SIGSTOP)
    response, took = timed_get(running.base + "/")
    print(f"\nlanding page with worker 0 stopped: {took:.2f} s (bound {BOUND:g} s)")
    assert response.status == 200
    rows = {row["Serial"]: row for row in fleet_table(response.text)}
    assert sorted(rows) == sorted(r.serial for r in fleet.records)
    assert WORKER_STUCK in response.text
    wait_until(lambda: restarted(running, 0, workers[0]), 10, what="a new worker")
    wait_until(lambda: all_up(running, fleet), 45, what="its printers back up")


def test_concurrent_scrapes_are_each_bounded_by_a_stopped_worker(
        running: Running, fleet: SimulatedFleet) -> None:
    # Two Prometheus servers and a browser at once: each waits on the stopped worker
    # at most the bound, none waits for another's wait to end first.
    before = restarts(running)
    workers = running.workers()
    os.kill(workers[1], signal.SIGSTOP)
    results: list[tuple[Response, float]] = []
    threads = [threading.Thread(target=lambda path=path: results.append(
        timed_get(running.base + path))) for path in ("/metrics", "/metrics", "/", "/metrics")]
    for thread in threads:
        thread.start()
        time.sleep(0.3)
    for thread in threads:
        thread.join(CLIENT_TIMEOUT + 2)
    times = ", ".join(f"{took:.2f}" for _, took in results)
    print(f"\n4 concurrent requests, 0.3 s apart, with worker 1 stopped: {times} s "
          f"(bound {BOUND:g} s)")
    assert len(results) == 4
    assert all(response.status == 200 for response, _ in results)
    wait_until(lambda: restarted(running, 1, workers[1]), 10, what="a new worker")
    assert running.workers()[0] == workers[0]
    wait_until(lambda: all_up(running, fleet), 45, what="its printers back up")
    assert restarts(running) == before + 1
