"""A fleet of simulated printers on one asyncio loop: records, listeners, the clock.

`SimulatedFleet` is the Python API for tests and the demo: `start()` runs the loop in a
background thread and returns once every listener is bound; `PrinterHandle` methods are
marshalled onto that loop so a test thread can change a printer safely.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import errno
import ipaddress
import random
import resource
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from exporter.simulator import certs, inventory_out
from exporter.simulator.faults import Fault, assign_faults
from exporter.simulator.ftps_server import JobFileServer
from exporter.simulator.job_3mf import Plate
from exporter.simulator.job_files import JobFiles
from exporter.simulator.models import MODELS, Model, model_by_name
from exporter.simulator.printer import SimulatedPrinter, SimulatedRecord, wrong_access_code
from exporter.simulator.server import PrinterListener

T = TypeVar("T")

# The clock ticks a tenth of the fleet every 100 ms, so each printer is visited once a
# second and the work is spread evenly instead of arriving in one burst.
TICK = 0.1
BUCKETS = 10
# From this speed on, every printer is visited every tick: a printer's life takes one
# step per visit (one change of state at most, so each state goes out in a report), and
# ten steps a second let tests see dozens of jobs in seconds.
FAST_SPEED = 1000.0


def allow_descriptors(printers: int) -> int:
    """Raise this process's soft limit on open files (up to the hard limit) so that every
    printer's listener and a client connection to each fit: 5000 printers need about
    10000 descriptors, past the usual soft limit of 1024. Returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * printers + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def make_records(count: int, first_address: str, seed: int,
                 models: Sequence[Model]) -> list[SimulatedRecord]:
    """Names, addresses, serials and codes for a fleet; the same seed gives the same fleet."""
    if count < 1:
        raise ValueError("a fleet needs at least one printer")
    try:
        first = ipaddress.IPv4Address(first_address)
    except ValueError:
        raise ValueError(f"not an IPv4 address: {first_address!r}") from None
    if int(first) + count - 1 > int(ipaddress.IPv4Address("255.255.255.254")):
        raise ValueError("the fleet runs past the end of the address space")
    rng = random.Random(f"records-{seed}")
    sequence = [models[i % len(models)] for i in range(count)]
    rng.shuffle(sequence)
    per_model: dict[str, int] = {}
    batch = abs(seed) % 100
    records = []
    for i, model in enumerate(sequence):
        per_model[model.code] = per_model.get(model.code, 0) + 1
        records.append(SimulatedRecord(
            name=f"{model.slug}-{per_model[model.code]:03d}",
            ip=str(first + i),
            serial=f"{model.prefix}09A{batch:02d}{i + 1:07d}",
            access_code=f"{rng.randrange(10**8):08d}",
            model=model.code,
        ))
    return records


class PrinterHandle:
    """A test's grip on one simulated printer; every call runs on the fleet's loop."""

    def __init__(self, fleet: SimulatedFleet, printer: SimulatedPrinter) -> None:
        self._fleet = fleet
        self._printer = printer

    @property
    def record(self) -> SimulatedRecord:
        return self._printer.record

    @property
    def serial(self) -> str:
        return self._printer.record.serial

    def report(self) -> dict[str, Any]:
        """A deep copy of the printer's current full report {"print": {...}}."""
        return self._fleet.call(lambda: copy.deepcopy(self._printer.report))

    def set_state(self, state: str) -> None:
        self._fleet.call(lambda: self._printer.set_state(state))

    def update(self, partial: dict[str, Any]) -> None:
        """Merge fields and send them (full report on X1 class, delta on P1/A1)."""
        self._fleet.call(lambda: self._printer.update(copy.deepcopy(partial)))

    def pushall(self) -> None:
        """Send a full report to the connected clients, as if one had asked for it."""
        self._fleet.call(self._printer.push_full)

    def send_raw(self, payload: bytes) -> None:
        """Publish these bytes on the report topic as they are: what a broken or hostile
        printer might send (not JSON, too large, too deep, not UTF-8)."""
        self._fleet.call(lambda: self._printer._publish(payload))

    def cancel(self) -> None:
        """A user cancels the printer's job (as from its screen)."""
        self._fleet.call(self._printer.cancel)

    @property
    def jobs_ended(self) -> dict[str, int]:
        """Jobs the printer's life ended so far, by result, each once."""
        return self._fleet.call(lambda: self._printer.jobs_ended)

    def inject(self, fault: Fault) -> None:
        self._fleet.call_async(lambda: self._fleet._inject(self._printer, fault))

    def clear(self, fault: Fault) -> None:
        self._fleet.call_async(lambda: self._fleet._clear(self._printer, fault))

    @property
    def faults(self) -> set[Fault]:
        return self._fleet.call(lambda: set(self._printer.faults))

    @property
    def connections(self) -> int:
        """Clients connected and authenticated right now."""
        return self._fleet.call(lambda: len(self._printer.sessions))

    @property
    def accepted(self) -> int:
        """Connections its listener accepted so far (each a TCP connection)."""
        return self._fleet.call(lambda: self._fleet._listener(self._printer).accepted)

    @property
    def connects_received(self) -> int:
        """MQTT CONNECT packets received so far (each carries the access code)."""
        return self._fleet.call(lambda: self._printer.connects_received)

    @property
    def disconnects(self) -> int:
        """MQTT DISCONNECT packets received so far."""
        return self._fleet.call(lambda: self._printer.disconnects)

    @property
    def pings(self) -> int:
        """Keep-alive pings (PINGREQ) answered so far."""
        return self._fleet.call(lambda: self._printer.pings)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Request payloads received so far (pushall, get_version, commands)."""
        return self._fleet.call(lambda: copy.deepcopy(self._printer.requests))

    @property
    def job_plate(self) -> Plate | None:
        """The plate of the job now or last started, as its 3MF describes it (FTPS on)."""
        return self._fleet.call(lambda: self._fleet._job_files[self.serial].plate)

    @property
    def job_mapping(self) -> list[int]:
        """The `mapping` array of the job now or last started."""
        return self._fleet.call(lambda: list(self._fleet._job_files[self.serial].mapping))

    def plan_filaments(self, count: int | None) -> None:
        """How many filaments the next jobs use (None: chosen at random)."""
        def set_count() -> None:
            self._fleet._job_files[self.serial].filament_count = count
        self._fleet.call(set_count)

    @property
    def ftp_connections(self) -> int:
        """FTPS control connections accepted so far."""
        return self._fleet.call(lambda: self._printer.ftp_connections)

    def __repr__(self) -> str:
        return f"PrinterHandle({self._printer.record!r})"


class SimulatedFleet:
    def __init__(self, count: int = 20, first_address: str = "127.0.10.1", seed: int = 1,
                 speed: float = 1.0, models: Sequence[str] | None = None, life: bool = True,
                 faults: Mapping[str, int | float] | None = None, port: int = 8883,
                 drop_after: float = 2.0, ca_dir: str | Path | None = None,
                 ftps: bool = False, ftps_port: int = 990, file_delay: float = 8.0,
                 big_3mf_size: int = 100 * 1000 * 1000) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        chosen = [model_by_name(m) for m in models] if models else list(MODELS.values())
        self.seed = seed
        self.speed = speed
        self.port = port
        self.records: list[SimulatedRecord] = make_records(count, first_address, seed, chosen)
        initial = assign_faults(faults, count, seed)
        self._printers = [
            SimulatedPrinter(r, MODELS[r.model], random.Random(f"printer-{seed}-{i}"),
                             life, initial[i])
            for i, r in enumerate(self.records)]
        self._by_key: dict[str, SimulatedPrinter] = {}
        for p in self._printers:
            self._by_key[p.record.serial] = p
            self._by_key[p.record.name] = p
        self._drop_after = drop_after
        # ca_dir: printers present certificates of a simulator CA (its bundle: ca_file)
        self._ca_dir = ca_dir
        self.ca_file: Path | None = None
        self._listeners: list[PrinterListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._clock: asyncio.Task[None] | None = None
        # ftps: each printer keeps its jobs' 3MF files and serves them on port 990
        self._ftps_port = ftps_port if ftps else None
        self._file_delay = file_delay
        self._big_size = big_3mf_size
        self._storage: Path | None = None
        self._ftps: JobFileServer | None = None
        self._job_files: dict[str, JobFiles] = {}
        self._paused = False   # lives stand still; reports still go out

    # -- lifecycle --------------------------------------------------------------------------

    async def astart(self) -> None:
        """Bind every listener (except offline printers) and start the clock, on the
        running loop. For callers that own a loop (the simulate command)."""
        self._loop = asyncio.get_running_loop()
        allow_descriptors(len(self._printers))
        contexts = await self._loop.run_in_executor(None, self._server_contexts)
        self._listeners = [PrinterListener(p, context, self.port, self._drop_after)
                           for p, context in zip(self._printers, contexts, strict=True)]
        try:
            await asyncio.gather(*(listener.start() for listener in self._listeners
                                   if Fault.OFFLINE not in listener.printer.faults))
        except OSError as exc:
            await self.astop()
            hint = " (raise the open-files limit, ulimit -n)" if exc.errno == errno.EMFILE else ""
            raise OSError(exc.errno, f"cannot listen on the fleet's addresses: "
                                     f"{exc.strerror or exc}{hint}") from exc
        if self._ftps_port is not None:
            await self._start_ftps(self._ftps_port)
        self._clock = asyncio.create_task(self._run_clock())

    async def _start_ftps(self, port: int) -> None:
        self._storage = Path(tempfile.mkdtemp(prefix="bambu-sim-storage-"))
        self._ftps = JobFileServer(self._printers, self._storage, port)
        for printer in self._printers:
            files = JobFiles(printer, self._ftps.storage(printer), self._file_delay,
                             self._big_size)
            self._job_files[printer.record.serial] = files
        assert self._loop is not None
        try:
            await self._loop.run_in_executor(None, self._ftps.start)
        except OSError as exc:
            await self.astop()
            raise OSError(exc.errno, f"cannot serve FTPS on the fleet's addresses: "
                                     f"{exc.strerror or exc}") from exc
        for files in self._job_files.values():   # the storage exists now
            files.first_job()

    def _server_contexts(self) -> list[ssl.SSLContext]:
        """Each printer's TLS context: one self-signed certificate for all, or with a CA
        directory a certificate per printer, CN = its serial (WRONG_CN: another serial;
        SELF_SIGNED: not from the CA)."""
        if self._ca_dir is None:
            return [certs.server_context()] * len(self._printers)
        pki = certs.PrinterPki(self._ca_dir)
        self.ca_file = pki.ca_file
        contexts = []
        for printer in self._printers:
            serial = printer.record.serial
            if Fault.WRONG_CN in printer.faults:
                contexts.append(pki.context(serial[:-1] + ("1" if serial[-1] != "1" else "2")))
            else:
                contexts.append(pki.context(serial, Fault.SELF_SIGNED in printer.faults))
        return contexts

    async def astop(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None
        await asyncio.gather(*(listener.stop() for listener in self._listeners), return_exceptions=True)
        ftps, self._ftps = self._ftps, None
        if ftps is not None:
            ftps.stop()
        storage, self._storage = self._storage, None
        if storage is not None:
            shutil.rmtree(storage, ignore_errors=True)

    def start(self) -> SimulatedFleet:
        """Serve from a background thread; returns once every listener is bound."""
        if self._thread is not None:
            raise RuntimeError("fleet already started")
        loop = asyncio.new_event_loop()
        started: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            asyncio.set_event_loop(loop)

            async def begin() -> None:
                try:
                    await self.astart()
                    started.set_result(None)
                except BaseException as exc:  # hand it to the starting thread
                    started.set_exception(exc)

            loop.create_task(begin())
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="simulated-fleet", daemon=True)
        self._thread.start()
        try:
            started.result(timeout=120)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(10)
            self._thread = None
            raise
        return self

    def stop(self) -> None:
        """Close every listener and connection, stop the loop thread."""
        if self._thread is None or self._loop is None:
            return
        loop = self._loop
        asyncio.run_coroutine_threadsafe(self.astop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(30)
        self._thread = None

    def __enter__(self) -> SimulatedFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the clock --------------------------------------------------------------------------

    async def _run_clock(self) -> None:
        buckets = 1 if self.speed >= FAST_SPEED else BUCKETS
        last = [time.monotonic()] * buckets
        bucket = 0
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            dt = (now - last[bucket]) * self.speed
            last[bucket] = now
            for printer in self._printers[bucket::buckets]:
                try:
                    if not self._paused:
                        printer.tick(dt)
                    printer.flush()
                except Exception as exc:  # one printer's bug must not stop the fleet
                    print(f"simulator: {printer.record.name}: {exc!r}", flush=True)
            bucket = (bucket + 1) % buckets

    def pause(self) -> None:
        """Stop every printer's life where it is (X1-class printers keep reporting): a
        test reads what the printers did while nothing moves."""
        self.call(lambda: setattr(self, "_paused", True))

    def resume(self) -> None:
        self.call(lambda: setattr(self, "_paused", False))

    # -- faults -----------------------------------------------------------------------------

    def _listener(self, printer: SimulatedPrinter) -> PrinterListener:
        return self._listeners[self._printers.index(printer)]

    async def _inject(self, printer: SimulatedPrinter, fault: Fault) -> None:
        printer.inject(fault)
        listener = self._listener(printer)
        if fault is Fault.OFFLINE:
            await listener.stop()
        elif fault in (Fault.HUNG, Fault.TLS13_DEAF) and listener.listening:
            await listener.restart()

    async def _clear(self, printer: SimulatedPrinter, fault: Fault) -> None:
        printer.clear(fault)
        listener = self._listener(printer)
        if fault is Fault.OFFLINE:
            await listener.start()
        elif fault in (Fault.HUNG, Fault.TLS13_DEAF) and listener.listening:
            await listener.restart()

    # -- marshalling ------------------------------------------------------------------------

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the fleet is not started")
        return self._loop

    def call(self, fn: Callable[[], T]) -> T:
        """Run fn on the fleet's loop and return its result."""
        if self._loop is None:
            return fn()  # not started: nothing else touches the printers
        try:
            if asyncio.get_running_loop() is self._loop:
                return fn()
        except RuntimeError:
            pass

        async def run() -> T:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(30)

    def call_async(self, fn: Callable[[], Any]) -> None:
        loop = self._require_loop()
        try:
            if asyncio.get_running_loop() is loop:
                loop.create_task(fn())
                return
        except RuntimeError:
            pass
        asyncio.run_coroutine_threadsafe(fn(), loop).result(30)

    # -- queries ----------------------------------------------------------------------------

    def printer(self, key: str) -> PrinterHandle:
        """The printer with this serial (or name)."""
        try:
            return PrinterHandle(self, self._by_key[key])
        except KeyError:
            raise KeyError(f"no simulated printer {key!r}") from None

    def printers(self) -> list[PrinterHandle]:
        return [PrinterHandle(self, p) for p in self._printers]

    def ftps_sessions(self) -> tuple[int, int]:
        """(FTPS sessions so far, the most open at once) across the fleet; (0, 0) without FTPS."""
        ftps = self._ftps
        return (ftps.sessions, ftps.peak_sessions) if ftps is not None else (0, 0)

    def with_fault(self, fault: Fault) -> list[PrinterHandle]:
        return [h for h in self.printers() if fault in h.faults]

    def inventory_records(self, wrong_code: bool = True) -> list[SimulatedRecord]:
        """Rows as the inventory lists them: with wrong_code, printers with the WRONG_CODE
        fault are listed with a wrong access code (the printer keeps its right one)."""
        faulty = self.call(lambda: [Fault.WRONG_CODE in p.faults for p in self._printers])
        return [_with_code(r, wrong_access_code(r.access_code)) if wrong_code and bad else r
                for r, bad in zip(self.records, faulty, strict=False)]

    def write_inventory_yaml(self, path: str | Path, wrong_code: bool = True) -> None:
        inventory_out.write_yaml(path, self.inventory_records(wrong_code))

    def write_postgres(self, target: str | Mapping[str, Any], wrong_code: bool = True) -> None:
        """Replace the rows of the `printers` table (made if missing). target: a libpq
        DSN or URL, or connect() keyword arguments."""
        inventory_out.write_postgres(target, self.inventory_records(wrong_code))


def _with_code(record: SimulatedRecord, code: str) -> SimulatedRecord:
    return SimulatedRecord(record.name, record.ip, record.serial, code, record.model)
