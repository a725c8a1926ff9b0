"""--workers N end to end: the exporter as a user runs it, worker processes owning the
printers by a hash of the serial, simulated printers over TLS MQTT."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter.fleet.assignment import split, worker_of
from exporter.metrics.catalogue import CATALOGUE
from exporter.simulator import SimulatedFleet
from tests.support.addresses import AddressPool
from tests.support.e2e import (
    ExporterProcess,
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

WORKERS = 3
OPENMETRICS = {"Accept": "application/openmetrics-text; version=1.0.0"}
# Anything in the main process's environment that is not for Python must not reach a worker.
MARKER = ("E_WORKERS_SECRET_MARKER", "do-not-pass-me-on")


@pytest.fixture(scope="module")
def fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    sim = SimulatedFleet(count=9, first_address=addresses.take(9).first, seed=70, life=False,
                         models=["X1C", "P1S", "A1", "H2D"]).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def inventory(fleet: SimulatedFleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("workers") / "printers.yaml"
    fleet.write_inventory_yaml(path, wrong_code=False)
    return path


class Running:
    def __init__(self, proc: ExporterProcess, base: str) -> None:
        self.proc, self.base = proc, base

    def metrics(self, headers: dict[str, str] | None = None) -> str:
        response = http_get(self.base + "/metrics", headers)
        assert response.status == 200
        return response.text

    def workers(self) -> dict[int, int]:
        """worker index -> pid of its running process, from the exporter's log and /proc."""
        started = {int(i): int(pid) for i, pid in
                   re.findall(r"worker (\d+) started \(pid (\d+)\)", self.proc.stderr)}
        children = child_pids(self.proc.proc.pid)
        return {i: pid for i, pid in started.items() if pid in children}


def child_pids(parent: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                out.add(int(entry.name))
    return out


def start_exporter(inventory: Path, *extra: str) -> Running:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env({MARKER[0]: MARKER[1]})
    proc = ExporterProcess(["--printers.file", str(inventory), "--web.listen-address",
                            f"127.0.0.1:{port}", "--printer.staleness", "5s",
                            "--workers", str(WORKERS), *extra], env)
    proc.wait_serving(base)
    return Running(proc, base)


def all_up(running: Running, fleet: SimulatedFleet) -> dict | None:
    samples = parse_samples(running.metrics())
    ok = all(value(samples, "bambu_printer_up", serial=r.serial) == 1.0 for r in fleet.records)
    return samples if ok else None


@pytest.fixture(scope="module")
def running(inventory: Path, fleet: SimulatedFleet) -> Iterator[Running]:
    run = start_exporter(inventory)
    try:
        wait_until(lambda: all_up(run, fleet), 45, what="every printer up")
        wait_until(lambda: len(run.workers()) == WORKERS, 10, what="the worker processes")
        yield run
    finally:
        run.proc.stop()
        run.proc.cleanup()
        assert "Traceback" not in run.proc.stderr, run.proc.stderr[-3000:]


def test_the_hash_splits_stably_and_covers_every_serial() -> None:
    serials = [f"01P00A{i:09d}" for i in range(3000)]
    parts = split(serials, lambda s: s, 3)
    assert sorted(s for part in parts for s in part) == sorted(serials)
    assert all(800 < len(part) < 1200 for part in parts)      # roughly even
    assert worker_of("00M09A350100123", 1) == 0
    # Stable across processes (not Python's salted str hash): another interpreter with
    # another hash seed gives the same indexes.
    here = [worker_of(s, 7) for s in serials[:50]]
    code = ("from exporter.fleet.assignment import worker_of; "
            f"print([worker_of(s, 7) for s in {serials[:50]!r}])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}, check=True).stdout
    assert out.strip() == str(here)
    assert len(set(here)) == 7
    with pytest.raises(ValueError):
        worker_of("x", 0)


def test_every_printer_is_reported_exactly_once_in_catalogue_order(
        running: Running, fleet: SimulatedFleet) -> None:
    text = running.metrics()
    ups = re.findall(r'^bambu_printer_up\{printer="[^"]*",serial="([^"]+)"\} 1\.0$', text, re.M)
    assert sorted(ups) == sorted(r.serial for r in fleet.records)
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE bambu_")]
    catalogue = [spec.name for spec in CATALOGUE]
    assert len(types) == len(set(types))                          # one HELP/TYPE each
    assert [t for t in types if t in catalogue] == catalogue      # in catalogue order
    # (the rest are the web server's own bambu_exporter_web_* families and each worker
    # process's memory and CPU)
    assert all(t.startswith(("bambu_exporter_web_", "bambu_exporter_worker_"))
               for t in types if t not in catalogue)
    assert {"bambu_exporter_worker_resident_memory_bytes",
            "bambu_exporter_worker_cpu_seconds_total"} <= set(types)
    # one session per printer, across all workers
    assert all(h.connections == 1 for h in fleet.printers())
    assert value(parse_samples(text), "bambu_exporter_worker_restarts_total") == 0.0
    assert len(running.workers()) == WORKERS


def test_each_worker_holds_the_printers_its_hash_gives_it(
        running: Running, fleet: SimulatedFleet) -> None:
    # A worker's printers are contiguous under each family, worker 0's first.
    text = running.metrics()
    order = re.findall(r'^bambu_printer_up\{printer="[^"]*",serial="([^"]+)"\}', text, re.M)
    records = {r.serial: r for r in fleet.records}
    expected = [s for part in split([r.serial for r in fleet.records], lambda s: s, WORKERS)
                for s in part]
    assert order == expected
    # and the worker's own process holds their sockets: each printer's address appears
    # among the connections of exactly the worker its hash names
    workers = running.workers()
    for serial in order:
        holders = [i for i, pid in workers.items() if connected_to(pid, records[serial].ip)]
        assert holders == [worker_of(serial, WORKERS)], serial


def connected_to(pid: int, ip: str) -> bool:
    """Whether process `pid` has an established TCP connection to ip:8883."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    want = "".join(f"{int(part):02X}" for part in reversed(ip.split("."))) + ":22B3"
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[2] == want and fields[3] == "01" and fields[9] in inodes:
            return True
    return False


class Parsed:
    def __init__(self, families: list) -> None:
        self.families = families

    def collect(self) -> list:
        return self.families


def test_joined_exposition_is_client_pythons_bytes(running: Running) -> None:
    # Re-render what was served with prometheus_client itself: the same bytes come back.
    for headers, parse, client in ((None, parse_text, generate_latest),
                                   (OPENMETRICS, parse_om, generate_openmetrics)):
        text = running.metrics(headers)
        registry = CollectorRegistry()
        registry.register(Parsed(list(parse(text))))
        assert client(registry).decode() == text


def test_landing_page_lists_every_printer(running: Running, fleet: SimulatedFleet) -> None:
    rows = fleet_table(http_get(running.base + "/").text)
    assert sorted(row["Serial"] for row in rows) == sorted(r.serial for r in fleet.records)


def test_secrets_reach_workers_only_over_the_pipe(running: Running, fleet: SimulatedFleet) -> None:
    codes = [r.access_code for r in fleet.records]
    for pid in running.workers().values():
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        for code in codes:
            assert code not in cmdline and code not in environ
        assert MARKER[1] not in environ
        assert "exporter.fleet.worker_process" in cmdline


def test_a_killed_worker_comes_back_and_its_printers_are_offline_meanwhile(
        running: Running, fleet: SimulatedFleet) -> None:
    workers = running.workers()
    victim = 1
    mine = [r.serial for r in fleet.records if worker_of(r.serial, WORKERS) == victim]
    others = [r.serial for r in fleet.records if worker_of(r.serial, WORKERS) != victim]
    assert mine and others
    os.kill(workers[victim], signal.SIGKILL)
    wait_until(lambda: gone(workers[victim]), 10, what="the worker to die")
    # Right away: every printer still there; the victim's not up, OFFLINE, the rest up.
    samples = parse_samples(running.metrics())
    for serial in mine:
        assert value(samples, "bambu_printer_up", serial=serial) == 0.0
        assert current_state(samples, serial) == "OFFLINE"
        assert value(samples, "bambu_printer_info", serial=serial) == 1.0
    for serial in others:
        assert value(samples, "bambu_printer_up", serial=serial) == 1.0
    # Restarted, counted, and its printers back (each with one session again).
    wait_until(lambda: all_up(running, fleet), 45, what="the victim's printers back up")
    wait_until(lambda: victim in running.workers() and running.workers()[victim] != workers[victim],
               10, what="a new worker process")
    samples = parse_samples(running.metrics())
    assert value(samples, "bambu_exporter_worker_restarts_total") == 1.0
    wait_until(lambda: all(h.connections == 1 for h in fleet.printers()), 10,
               what="one session per printer")
    assert re.search(rf"worker {victim} \(pid {workers[victim]}\) exited", running.proc.stderr)


def test_sigterm_disconnects_every_printer_from_every_worker(
        inventory: Path, fleet: SimulatedFleet) -> None:
    before = {h.serial: h.disconnects for h in fleet.printers()}
    run = start_exporter(inventory)
    try:
        wait_until(lambda: all_up(run, fleet), 45, what="every printer up")
        workers = run.workers()
        assert len(workers) == WORKERS
        assert run.proc.stop() == 0
    finally:
        run.proc.cleanup()
    assert "Traceback" not in run.proc.stderr, run.proc.stderr[-3000:]
    wait_until(lambda: all(h.disconnects > before[h.serial] for h in fleet.printers()), 10,
               what="an MQTT DISCONNECT from every session")
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers.values())
    for index in range(WORKERS):
        assert f"worker-{index} exporter.worker: asked to stop: closing" in run.proc.stderr


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody has reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_workers_close_their_sessions_when_the_main_process_dies(
        inventory: Path, fleet: SimulatedFleet) -> None:
    before = {h.serial: h.disconnects for h in fleet.printers()}
    run = start_exporter(inventory)
    try:
        wait_until(lambda: all_up(run, fleet), 45, what="every printer up")
        wait_until(lambda: len(run.workers()) == WORKERS, 10, what="the worker processes")
        workers = run.workers()
        run.proc.kill()   # SIGKILL: no chance to tell the workers anything
        # Each worker sees its pipe end, closes its sessions with a DISCONNECT and exits.
        wait_until(lambda: all(h.disconnects > before[h.serial] for h in fleet.printers()),
                   20, what="an MQTT DISCONNECT from every session")
        wait_until(lambda: all(gone(pid) for pid in workers.values()), 20,
                   what="every worker process to exit")
    finally:
        run.proc.cleanup()   # keeps the log, the workers' last lines included
    assert run.proc.stderr.count("main process gone: closing") == WORKERS


def test_sigterm_to_the_whole_process_group_stops_cleanly_without_restarts(
        inventory: Path, fleet: SimulatedFleet, tmp_path: Path) -> None:
    # As systemd, `timeout` or a container runtime may do: every process gets SIGTERM.
    before = {h.serial: h.disconnects for h in fleet.printers()}
    port = free_port()
    log = tmp_path / "stderr"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", "--printers.file", str(inventory),
             "--web.listen-address", f"127.0.0.1:{port}", "--printer.staleness", "5s",
             "--workers", str(WORKERS)],
            env=clean_env(), stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
            start_new_session=True)
    try:
        wait_until(lambda: proc.poll() is None and _all_up_at(f"http://127.0.0.1:{port}", fleet),
                   45, what="every printer up")
        wait_until(lambda: len(child_pids(proc.pid)) == WORKERS, 10, what="the workers")
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text()
    assert "Traceback" not in text and "restarting" not in text, text[-3000:]
    assert text.count("exporter.worker: SIGTERM: closing") + \
        text.count("exporter.worker: asked to stop: closing") == WORKERS
    wait_until(lambda: all(h.disconnects > before[h.serial] for h in fleet.printers()), 10,
               what="an MQTT DISCONNECT from every session")


def _all_up_at(base: str, fleet: SimulatedFleet) -> bool:
    try:
        samples = parse_samples(http_get(base + "/metrics").text)
    except OSError:
        return False
    return all(value(samples, "bambu_printer_up", serial=r.serial) == 1.0 for r in fleet.records)


HMS_TEXTS = Path(__file__).parents[1] / "support" / "hms_texts.json"
BED = "Heatbed temperature out of range; the print was stopped."


def hms_description(running: Running, serial: str) -> str | None:
    for line in running.metrics().splitlines():
        if line.startswith("bambu_printer_hms_error_info{") and f'serial="{serial}"' in line:
            match = re.search(r'description="([^"]*)"', line)
            return match.group(1) if match else None
    return None


def test_workers_get_the_parsed_hms_texts_and_survive_a_broken_file(
        inventory: Path, fleet: SimulatedFleet, tmp_path: Path) -> None:
    # Only the main process parses the file. A rewrite that breaks it (too deeply nested
    # for the JSON parser) keeps the last good texts, is logged once, and a worker
    # restarted meanwhile comes back with those texts instead of crash-looping.
    texts = tmp_path / "hms.json"
    texts.write_text(HMS_TEXTS.read_text())
    victim = 2
    serial = next(r.serial for r in fleet.records if worker_of(r.serial, WORKERS) == victim)
    handle = next(h for h in fleet.printers() if h.serial == serial)
    run = start_exporter(inventory, "--hms.text-file", str(texts))
    try:
        wait_until(lambda: all_up(run, fleet), 45, what="every printer up")
        handle.update({"print": {"hms": [{"attr": 0x03000100, "code": 0x00010003}]}})
        wait_until(lambda: hms_description(run, serial) == BED, 10, what="the HMS text")
        for stamp in (1, 2, 3):
            texts.write_text('{"data": ' + "[" * 200_000 + "]" * 200_000 + "}")
            os.utime(texts, ns=(stamp, stamp))
            # scrapes look at the file; a change is read once it has settled
            wait_until(lambda: (run.metrics(), "cannot be used" in run.proc.stderr)[1], 10,
                       what="the warning")
        # A loaded machine may be restarting a worker right now: kill the victim once it runs.
        # One read of the pid table per look: two reads could straddle a restart.
        workers = wait_until(lambda: (lambda w: w if victim in w else None)(run.workers()), 30,
                             what=f"worker {victim} running\n{run.proc.stderr[-3000:]}")
        os.kill(workers[victim], signal.SIGKILL)
        wait_until(lambda: run.workers().get(victim) not in (None, workers[victim]),
                   10, what="a new worker process")
        wait_until(lambda: all_up(run, fleet), 45, what="the victim's printers back up")
        assert hms_description(run, serial) == BED   # the last good texts, handed over
        samples = parse_samples(run.metrics())
        assert value(samples, "bambu_exporter_worker_restarts_total") == 1.0
        assert run.proc.stderr.count("cannot be used") == 1
        # The reload lives on: a good file is loaded and reaches every worker.
        texts.write_text(json.dumps({"0300_0100_0001_0003": "bed, said anew"}))
        os.utime(texts, ns=(10, 10))
        wait_until(lambda: hms_description(run, serial) == "bed, said anew", 10,
                   what="the new text in the worker's lines")
    finally:
        handle.update({"print": {"hms": []}})
        run.proc.stop()
        run.proc.cleanup()
    assert "Traceback" not in run.proc.stderr, run.proc.stderr[-3000:]
