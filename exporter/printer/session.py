"""One printer: a persistent MQTT session, its merged report, its counters.

The session speaks MQTT itself with bambulabs_api's conventions (mqtt/bambu.py) on the
fleet's one network loop, never through the library's client (docs/architecture.md says
why). Report messages are taken raw and decoded here, so a payload that cannot be used is
counted (message_errors), never raised; anything unforeseen is caught and logged by the
network loop, for that printer alone. Commands are queued without waiting for anything.
Nothing here blocks the caller except `close()`, which waits for the network loop (not
for the printer), and which the fleet runs off the scrape path.
"""

from __future__ import annotations

import errno
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exporter.inventory.record import PrinterRecord
from exporter.printer.job_file.book import FilamentBook, FilamentServices
from exporter.printer.jobs import JOB_FIELDS, JobTracker, job_report
from exporter.printer.merge import MergedReport
from exporter.printer.mqtt.bambu import (
    PORT,
    make_tls_context,
    printer_session,
    report_topic,
    request_topic,
)
from exporter.printer.mqtt.certificate import (
    CertificateRejected,
    check_serial,
    describe_verify_error,
)
from exporter.printer.mqtt.client_session import ClientSession
from exporter.printer.network_loop import Connection, LocalFailure, NetworkLoop
from exporter.printer.offline_reason import OfflineReason
from exporter.printer.printing_time import PrintingTime
from exporter.printer.sanitize import MessageRejected, decode_message
from exporter.printer.snapshot import (
    PrinterSnapshot,
    firmware_from_version,
    model_from_version,
    snapshot,
)
from exporter.printer.state_time import StateTime, state_label
from exporter.printer.status import RECENT_ERRORS, PrinterStatus, serial_model

PUSHALL = {"pushing": {"command": "pushall"}}
GET_VERSION = {"info": {"command": "get_version"}}


@dataclass(frozen=True)
class SessionSettings:
    """A printer session's settings: built once from the command line (config.py, whose
    flag table takes these defaults) and handed whole to the fleet, each worker process
    and `probe`."""
    staleness: float = 60.0          # seconds without a message before a printer is not up
    pushall_interval: float = 300.0  # P1 printers lag when asked more often than every 5 min
    connect_timeout: float = 5.0     # TCP connect + TLS handshake; bounds a hung printer
    ca_file: str | None = None       # printers' certificates must chain to it, CN = serial
    ftps: bool = True                # each job's 3MF read over the printer's FTPS
    filament_prices: str | None = None   # price per kg by material or profile (YAML)
    reconnect_max_delay: int = 60    # exponential back-off ceiling between connects
    # Shared by every session, made from ca_file by the fleet; None: one of its own. An
    # SSLContext does not pickle: it stays None on the way to a worker process.
    tls_context: ssl.SSLContext | None = None


# Longest close() waits for the network loop to send the DISCONNECT; the loop never waits
# on a printer, so this is only reached when the loop itself is stuck or stopped.
CLOSE_WAIT = 2.0
# State time is observed at most this often (and by the upkeep tick each second): a
# status then stays the same object between scrapes closer together than this.
STATE_TIME_RESOLUTION = 1.0


def classify_connect_error(exc: BaseException | None) -> OfflineReason:
    """An exception from connecting (look-up, TCP, TLS, CONNACK wait) -> why the printer
    is offline."""
    if isinstance(exc, LocalFailure):
        return OfflineReason.LOCAL
    if isinstance(exc, (CertificateRejected, ssl.SSLCertVerificationError)):
        return OfflineReason.CERTIFICATE
    if isinstance(exc, ConnectionRefusedError):
        return OfflineReason.REFUSED
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return OfflineReason.TIMEOUT
    if isinstance(exc, (ssl.SSLError, ConnectionResetError, ConnectionAbortedError)):
        return OfflineReason.REFUSED  # the peer would not complete a TLS session with us
    return OfflineReason.UNREACHABLE


def _describe_connect_error(reason: OfflineReason, exc: BaseException | None,
                            timeout: float) -> str:
    """A short, actionable line for logs and the landing page."""
    if isinstance(exc, CertificateRejected):
        return str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return describe_verify_error(exc)
    if reason is OfflineReason.REFUSED and isinstance(exc, ConnectionRefusedError):
        return "connection refused on port 8883: is the printer on, in LAN mode?"
    if reason is OfflineReason.TIMEOUT:
        return f"no answer within {timeout:g}s (connect or TLS handshake)"
    if isinstance(exc, LocalFailure):
        return describe_local(exc)
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    what = "TLS session refused" if reason is OfflineReason.REFUSED else reason.label
    return f"{what}: {detail}"


def describe_local(exc: LocalFailure) -> str:
    """The exporter's own resources ran short: say which, and what to do."""
    if isinstance(exc.cause, OSError) and exc.cause.errno in (errno.EMFILE, errno.ENFILE):
        return (f"the exporter is out of file descriptors ({exc}): retrying; raise its "
                "limit (LimitNOFILE, ulimit -n) or split the printers (--workers, shards)")
    return f"the exporter could not connect on its side ({exc}): retrying"


def describe_loss(reason: OfflineReason, detail: str, was_connected: bool) -> str:
    """How an MQTT session ended (the network loop's reason and detail) -> a line for
    logs and the landing page."""
    if reason is OfflineReason.REFUSED:   # only the subscription is refused mid-session
        return f"{detail}: check the serial"
    if reason is OfflineReason.PROTOCOL:
        return f"the printer broke MQTT 3.1.1: {detail}"
    if reason is OfflineReason.LOCAL:
        return f"session ended on the exporter's side: {detail}"
    if not was_connected:
        return f"session lost before CONNACK ({detail})"
    return f"session lost ({detail})"


class PrinterSession:
    """A persistent MQTT session to one printer. Thread-safe."""

    def __init__(self, record: PrinterRecord, settings: SessionSettings,
                 clock: Callable[[], float] = time.time,
                 logger: logging.Logger | None = None,
                 network: NetworkLoop | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 filament: FilamentServices | None = None) -> None:
        self.record = record
        self._settings = settings
        self._clock = clock
        self._monotonic = monotonic
        self._log = logger or logging.getLogger(__name__)
        self._network = network           # shared by the fleet; None: a loop of our own
        self._own_network: NetworkLoop | None = None
        self._connection: Connection | None = None
        self._command_topic = request_topic(record.serial)
        self._lock = threading.Lock()

        self._report = MergedReport()   # bounded; counts what its bounds cut
        self._version: dict[str, Any] | None = None
        self._model_of_serial = serial_model(record.serial)
        self._model = self._model_of_serial   # until get_version says
        self._firmware = ""
        self._snapshot: PrinterSnapshot | None = None
        self._dirty = False
        self._last_message: float | None = None
        self._last_pushall: float | None = None
        self._last_probe: float | None = None
        self._connected = False
        self._connected_at: float | None = None   # this session's CONNACK, for "silent"
        self._heard = False          # anything on the report topic since that CONNACK
        self._silent_counted = False
        self._closing = False
        self._started = False
        self._connects = 0
        self._connection_errors: dict[OfflineReason, int] = {}
        self._message_errors: dict[str, int] = {}   # by reason
        self._jobs = JobTracker()
        # each job's filament plan, read from its 3MF over FTPS (None: --no-printer.ftps)
        self._filament = FilamentBook(record.serial, filament.fetcher, filament.prices) \
            if filament is not None else None
        self._state_time = StateTime(clock(), monotonic())   # offline until a report
        self._last_error = ""
        self._last_reason: OfflineReason | None = None
        # the last few connection errors, for the printer's page: (unix time, reason, text)
        self._recent_errors: tuple[tuple[float, OfflineReason, str], ...] = ()
        self._printing = PrintingTime()   # seconds seen RUNNING
        self._changes = 0   # bumped by whatever a status shows, under the lock
        self._status: PrinterStatus | None = None   # the last one built, and its key
        self._status_key: tuple[object, ...] = ()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Begin connecting on the network loop; returns at once (no I/O here, and about
        0.1 ms of CPU: no CA store is loaded, see mqtt/bambu.py)."""
        tls_context = self._settings.tls_context or make_tls_context()
        network = self._network
        if network is None:  # a session on its own (tests)
            network = self._own_network = NetworkLoop(resolver_workers=1)
            network.start()
        verifies = tls_context.verify_mode == ssl.CERT_REQUIRED
        connection = network.connection(self.record.ip, PORT, tls_context,
                                        self._settings.connect_timeout,
                                        self._settings.reconnect_max_delay, self,
                                        self._new_client_session,
                                        self._check_certificate if verifies else None)
        with self._lock:
            if self._closing:  # closed before it got going
                if self._own_network is not None:
                    self._own_network.stop()
                return
            self._connection = connection
            self._started = True
        connection.start()

    def _check_certificate(self, sock: ssl.SSLSocket) -> None:
        check_serial(sock, self.record.serial)

    def _new_client_session(self, now: float) -> ClientSession:
        return printer_session(self.record.serial, self.record.access_code, self._on_connack,
                               self._on_report, self._on_oversized, now)

    def close(self) -> None:
        """Send an MQTT DISCONNECT and forget the connection.

        Waits for the network loop to do it, which never waits on the printer (a
        handshake in progress is just dropped): bounded by CLOSE_WAIT whatever the printer
        does. The fleet still runs it off the scrape path.
        """
        if self._filament is not None:
            self._filament.close()
        with self._lock:
            if self._closing or not self._started:
                self._closing = True
                return
            self._closing = True
            connection = self._connection
        assert connection is not None
        connection.stop(CLOSE_WAIT)
        if self._own_network is not None:
            self._own_network.stop()

    def rename(self, name: str) -> None:
        """A renamed printer keeps its session; only the label changes."""
        with self._lock:
            self.record = PrinterRecord(name, self.record.ip, self.record.serial,
                                        self.record.access_code)
            self._dirty = True
            self._changes += 1

    # --------------------------------------- network loop callbacks (its thread)

    def _on_connack(self, code: int) -> None:
        now = self._clock()
        if code:
            # MQTT 3.1.1 CONNACK 4 = bad user name or password, 5 = not authorized
            if code in (4, 5):
                self._count_error(OfflineReason.AUTH,
                                  "access code rejected: check it on the printer's screen")
            else:
                self._count_error(OfflineReason.REFUSED,
                                  f"printer refused the session (CONNACK {code})")
            return
        with self._lock:
            self._connected = True
            self._connected_at = now
            self._heard = self._silent_counted = False
            self._connects += 1
            self._changes += 1
            self._jobs.reconnected()
            self._observe_state(now, self._monotonic())
            pushall_due = (self._last_pushall is None
                           or now - self._last_pushall >= self._settings.pushall_interval)
            if pushall_due:
                self._last_pushall = now
        self._publish(GET_VERSION)
        if pushall_due:
            self._publish(PUSHALL)

    def connect_failed(self, exc: BaseException) -> None:
        reason = classify_connect_error(exc)
        self._count_error(reason, _describe_connect_error(reason, exc,
                                                          self._settings.connect_timeout))

    def lost(self, reason: OfflineReason, detail: str) -> None:
        """The MQTT session ended (network loop thread), before or after CONNACK."""
        now = self._clock()
        with self._lock:
            was_connected, self._connected = self._connected, False
            closing = self._closing
            self._changes += 1
            self._observe_state(now, self._monotonic())
        if closing:
            return
        self._count_error(reason, describe_loss(reason, detail, was_connected))

    def _on_oversized(self, size: int) -> None:
        with self._lock:
            self._message_errors["too_large"] = self._message_errors.get("too_large", 0) + 1
            self._changes += 1
            self._heard = True   # talking, just not sense: not a fresh report either
        self._log.debug("printer %s: report not used: larger than %d bytes",
                        self.record.name, size)

    def _on_report(self, payload: bytes) -> None:
        now = self._clock()
        # Read without the lock: only this thread (the network loop's) changes the report.
        known = self._report.report.get("print")
        try:
            decoded = decode_message(payload, known)
        except MessageRejected as rejected:
            with self._lock:
                self._message_errors[rejected.reason] = \
                    self._message_errors.get(rejected.reason, 0) + 1
                self._heard = True  # talking, just not sense: not a fresh report either
                self._changes += 1
            self._log.debug("printer %s: report not used: %s", self.record.name, rejected)
            return
        connection = self._connection
        if connection is not None:
            connection.report_usable()
        with self._lock:
            self._last_message = now
            self._heard = True
            self._changes += 1
            # Recovered once a report is usable, not at CONNACK: a printer that fails
            # right after every CONNACK is then logged once, not twice per attempt.
            recovered, self._last_error = self._last_error, ""
            self._last_reason = None
            if decoded.truncated:
                cuts = self._report.cuts
                cuts["text"] = cuts.get("text", 0) + decoded.truncated
            if decoded.version is not None:
                self._version = decoded.version
                # Read once here, not on every status (a walk of the version's modules).
                self._model = model_from_version(self._version) or self._model_of_serial
                self._firmware = firmware_from_version(self._version) or ""
                self._dirty = True
            if decoded.report:
                self._report.merge(decoded.report)
                self._dirty = True
            changed = decoded.report.get("print", ())
            if decoded.project_file is not None or not JOB_FIELDS.isdisjoint(changed):
                printed = self._report.report.get("print", {})
                mono = self._monotonic()
                if self._jobs.observe(job_report(printed), now, mono, decoded.project_file) \
                        and self._filament is not None:
                    self._filament.follow(self._jobs.jobs, printed, self.record, self._model)
                if "gcode_state" in changed:   # stamp a new state when it arrives
                    self._observe_state(now, mono)
        if recovered:
            self._log.info("printer %s (%s): reports arriving", self.record.name,
                           self.record.serial)

    # ------------------------------------------------------------------ upkeep

    def tick(self, now: float) -> None:
        """Periodic upkeep, off the scrape path: the rate-limited pushall, and a cheap
        get_version when a printer has been quiet (P1/A1 send nothing while nothing
        changes), so that silence within the staleness window means trouble."""
        self._observe_printing(now)
        with self._lock:
            if not self._connected or self._closing or self._connection is None:
                return
            pushall = (self._last_pushall is None
                       or now - self._last_pushall >= self._settings.pushall_interval)
            if pushall:
                self._last_pushall = now
            half = self._settings.staleness / 2
            quiet = self._last_message is None or now - self._last_message >= half
            probe = quiet and (self._last_probe is None or now - self._last_probe >= half)
            if probe:
                self._last_probe = now
            silent = (not self._heard and not self._silent_counted
                      and self._connected_at is not None
                      and now - self._connected_at >= self._settings.staleness)
            if silent:
                self._silent_counted = True
        if silent:
            # Once per session, and the session stays: the printer's few client slots
            # are not churned for a printer that is probably just listed wrong.
            self._count_error(OfflineReason.SILENT,
                              f"connected, but nothing arrives on "
                              f"{report_topic(self.record.serial)}: check the serial")
        if pushall:
            self._publish(PUSHALL)
        elif probe:
            self._publish(GET_VERSION)

    def _publish(self, payload: dict[str, Any]) -> None:
        # Queued: the session's own thread sends it (never wait on the network here).
        if self._connection is not None:
            self._connection.publish(self._command_topic, json.dumps(payload))

    def _count_error(self, reason: OfflineReason, detail: str) -> None:
        with self._lock:
            if self._closing:
                return
            self._connection_errors[reason] = self._connection_errors.get(reason, 0) + 1
            self._changes += 1
            message = detail
            changed = message != self._last_error
            self._last_error = message
            self._last_reason = reason
            self._recent_errors = (*self._recent_errors,
                                   (time.time(), reason, message))[-RECENT_ERRORS:]
        if changed:  # once per kind of failure, not once per retry
            self._log.warning("printer %s (%s at %s): %s: %s", self.record.name,
                              self.record.serial, self.record.ip, reason.label, message)

    # ------------------------------------------------------------------ reading

    @property
    def model(self) -> str:
        return self._model

    def _observe_printing(self, now: float) -> float:
        """Feed PrintingTime: RUNNING as long as the session is up and the report says so;
        the upkeep tick (every second) and each status() observe. StateTime too, at most
        every STATE_TIME_RESOLUTION."""
        mono = self._monotonic()
        with self._lock:
            fresh = (self._last_message is not None
                     and now - self._last_message <= self._settings.staleness)
            state = self._report.report.get("print", {}).get("gcode_state")
            running = (self._connected and fresh and isinstance(state, str)
                       and state.strip().upper() == "RUNNING")
            if mono - self._state_time.observed >= STATE_TIME_RESOLUTION:
                self._observe_state(now, mono)
        return self._printing.observe(running)

    def _observe_state(self, now: float, mono: float) -> None:
        """Feed StateTime with what the session shows now (under the lock)."""
        fresh = (self._last_message is not None
                 and now - self._last_message <= self._settings.staleness)
        up = self._connected and fresh and bool(self._report.report)
        state = self._report.report.get("print", {}).get("gcode_state")
        gcode = state.strip().upper() if isinstance(state, str) else None
        self._state_time.observe(state_label(gcode, up), now, mono)

    def status(self, now: float) -> PrinterStatus:
        """A consistent copy of what the session holds; never touches the network. The
        same object as last time while nothing it shows changed: most printers between
        two scrapes close together, which the render cache then finds at once."""
        printing_seconds = self._observe_printing(now)
        with self._lock:
            fresh = (self._last_message is not None
                     and now - self._last_message <= self._settings.staleness)
            filament = self._filament.status() if self._filament is not None else None
            key = (self._changes, fresh, printing_seconds, self._state_time.observed, filament)
            if not self._dirty and self._status is not None and key == self._status_key:
                return self._status
            model = self.model
            jobs = self._jobs.jobs
            if self._dirty:
                # May raise on data nothing foresaw: the fleet's per-printer guard
                # catches it, and the next read tries again.
                report = self._report.report
                self._snapshot = snapshot(report, model, self._version) if report else None
                self._dirty = False
            self._status_key = key
            self._status = PrinterStatus(
                name=self.record.name,
                serial=self.record.serial,
                ip=self.record.ip,
                model=model,
                firmware=self._firmware,
                up=self._connected and fresh and self._snapshot is not None,
                connected=self._connected,
                last_report=self._last_message,
                snapshot=self._snapshot,
                connects=self._connects,
                connection_errors=dict(self._connection_errors),
                message_errors=dict(self._message_errors),
                truncations=dict(self._report.cuts),
                prints=jobs.prints,
                last_error=self._last_error,
                last_error_reason=self._last_reason,
                recent_errors=self._recent_errors,
                printing_seconds=printing_seconds,
                job=jobs.current,
                last_job=jobs.last_ended,
                print_seconds=jobs.print_seconds,
                state_seconds=self._state_time.totals(),
                state_since=self._state_time.since,
                filament=filament,
            )
            return self._status
