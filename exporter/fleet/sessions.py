"""The fleet: reconciles the printer list with live sessions, one per serial.

Called on every scrape, so nothing here waits on a printer: new sessions are started by
one starter thread and live on the network loop, replaced and removed ones close in
background threads.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from exporter.fleet.open_files import OpenFilesCheck
from exporter.inventory.record import PrinterRecord
from exporter.printer.job_file.book import FilamentServices
from exporter.printer.job_file.pool import JobFileFetcher
from exporter.printer.job_file.prices import PriceFile
from exporter.printer.mqtt.bambu import make_tls_context
from exporter.printer.network_loop import NetworkLoop
from exporter.printer.session import PrinterSession, SessionSettings
from exporter.printer.status import PrinterStatus

SessionFactory = Callable[[PrinterRecord], PrinterSession]


def session_fleet(settings: SessionSettings, network: NetworkLoop) -> Fleet:
    """Sessions on `network`, all sharing one TLS context (verifying against
    `settings.ca_file` when given) and, with `settings.ftps`, one bounded pool fetching job
    files: the exporter's own fleet with --workers 1, and each worker process's."""
    settings = dataclasses.replace(settings, tls_context=make_tls_context(settings.ca_file))
    filament = None
    if settings.ftps:
        prices = (PriceFile(settings.filament_prices) if settings.filament_prices is not None
                  else None)
        filament = FilamentServices(JobFileFetcher(), prices)
    return Fleet(lambda record: PrinterSession(record, settings, network=network,
                                               filament=filament))


class Fleet:
    def __init__(self, session_factory: SessionFactory,
                 logger: logging.Logger | None = None) -> None:
        self._factory = session_factory
        self._log = logger or logging.getLogger(__name__)
        self._lock = threading.Lock()
        self._sessions: dict[str, PrinterSession] = {}   # by serial, in list order
        self._open_files = OpenFilesCheck(self._log)
        self._closers: list[threading.Thread] = []
        # Sessions start off the scrape path: a start is cheap now (~0.1 ms, no CA store
        # per printer), but a reconcile of thousands of new rows should not hold a scrape.
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-start")

    def reconcile(self, records: Iterable[PrinterRecord]) -> None:
        """Make the sessions match the list: add, drop, re-create, rename."""
        to_close: list[PrinterSession] = []
        to_start: list[PrinterSession] = []
        with self._lock:
            wanted = {record.serial: record for record in records}
            self._open_files.check(len(wanted))
            kept: dict[str, PrinterSession] = {}
            for serial, record in wanted.items():
                session = self._sessions.get(serial)
                if session is not None and (session.record.ip != record.ip
                                            or session.record.access_code != record.access_code):
                    self._log.info("printer %s (%s): address or access code changed, reconnecting",
                                   record.name, serial)
                    to_close.append(session)
                    session = None
                if session is None:
                    session = self._factory(record)
                    to_start.append(session)
                elif session.record.name != record.name:
                    self._log.info("printer %s renamed to %s", session.record.name, record.name)
                    session.rename(record.name)
                kept[serial] = session
            for serial, session in self._sessions.items():
                if serial not in wanted:
                    self._log.info("printer %s (%s) left the list, closing its session",
                                   session.record.name, serial)
                    to_close.append(session)
            self._sessions = kept
            self._closers = [t for t in self._closers if t.is_alive()]
            self._closers.extend(_close_in_background(session) for session in to_close)
        for session in to_start:
            self._starter.submit(session.start).add_done_callback(self._start_failed)

    def _start_failed(self, future: Future[None]) -> None:
        exc = None if future.cancelled() else future.exception()
        if exc is not None:
            self._log.error("starting a printer session failed: %s: %s", type(exc).__name__, exc)

    def statuses(self, now: float,
                 on_error: Callable[[PrinterRecord, Exception], None] | None = None
                 ) -> list[PrinterStatus]:
        """Every session's status. One whose status cannot be built (data nothing
        foresaw) is left out and handed to `on_error`, never raised: the worst one
        printer can do is miss this read."""
        with self._lock:
            sessions = list(self._sessions.values())
        out = []
        for session in sessions:
            try:
                out.append(session.status(now))
            except Exception as exc:  # noqa: BLE001 - isolate one printer's bad data
                if on_error is not None:
                    on_error(session.record, exc)
        return out

    def tick(self, now: float) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.tick(now)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def close(self, timeout: float = 10.0) -> None:
        """Close every session in parallel (each sends a DISCONNECT); bounded wait."""
        self._starter.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions = {}
            closers = list(self._closers)
        closers.extend(_close_in_background(session) for session in sessions)
        deadline = time.monotonic() + timeout
        for closer in closers:
            closer.join(max(0.0, deadline - time.monotonic()))


def _close_in_background(session: PrinterSession) -> threading.Thread:
    """close() may wait out a hung handshake: never on the caller's thread."""
    closer = threading.Thread(target=session.close, daemon=True,
                              name=f"close-{session.record.serial}")
    closer.start()
    return closer


class FleetUpkeep:
    """One thread for the whole fleet: pushall schedule and liveness probes."""

    def __init__(self, fleet: Fleet, interval: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._fleet = fleet
        self._interval = interval
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fleet-upkeep")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._fleet.tick(self._clock())
            except Exception:  # noqa: BLE001 - upkeep must outlive one bad printer
                logging.getLogger(__name__).exception("fleet upkeep failed")
