"""PrinterStatus: what the fleet knows about one printer at scrape time.

A plain value handed from the sessions (I/O) to the metric mapping (pure), so that
the metrics can be tested without a network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from exporter.inventory.record import PrinterRecord
from exporter.printer.job_file.book import FilamentStatus
from exporter.printer.jobs import JOB_RESULTS, EndedJob, Job
from exporter.printer.offline_reason import OfflineReason
from exporter.printer.snapshot import PrinterSnapshot, model_from_serial
from exporter.printer.state_time import STATE_LABELS

OFFLINE = "OFFLINE"
RECENT_ERRORS = 5   # connection errors a status keeps, newest last
__all__ = ["JOB_RESULTS", "OFFLINE", "RECENT_ERRORS", "STATE_LABELS",
           "PrinterStatus", "offline_status", "serial_model"]


@dataclass(frozen=True)
class PrinterStatus:
    name: str
    serial: str
    ip: str
    model: str
    firmware: str
    up: bool
    connected: bool
    last_report: float | None          # unix time of the last message, None = never
    snapshot: PrinterSnapshot | None   # None until a report arrived
    connects: int = 0
    connection_errors: Mapping[OfflineReason, int] = field(default_factory=dict)
    message_errors: Mapping[str, int] = field(default_factory=dict)   # by reason
    truncations: Mapping[str, int] = field(default_factory=dict)      # values cut, by bound
    prints: Mapping[str, int] = field(default_factory=dict)
    last_error: str = ""               # human-readable, for logs and the web page; never a secret
    last_error_reason: OfflineReason | None = None   # the last error's reason; None once connected
    printing_seconds: float = 0.0      # seen RUNNING by this session (a counter)
    # Jobs (printer/jobs.py): the one active now, the last that ended (a new end shows as
    # a new last_job.job.number), and seconds of ended jobs by result (JOB_RESULTS).
    job: Job | None = None
    last_job: EndedJob | None = None
    print_seconds: Mapping[str, float] = field(default_factory=dict)
    # Seconds seen in each state of STATE_LABELS, and the unix time the current one began.
    state_seconds: Mapping[str, float] = field(default_factory=dict)
    state_since: float | None = None
    # The current job's filament plan and trays, fetch errors, filament used (job_file/)
    filament: FilamentStatus | None = None
    # the last connection errors, oldest first: (unix time, reason, text); never a secret
    recent_errors: tuple[tuple[float, OfflineReason, str], ...] = ()

    @property
    def state(self) -> str:
        """The gcode state a person should see: OFFLINE unless up (stale data is not news)."""
        return self.snapshot.state if self.up and self.snapshot is not None else OFFLINE


def serial_model(serial: str) -> str:
    """The model a serial's prefix names, until get_version says better."""
    return model_from_serial(serial) or "unknown"


def offline_status(record: PrinterRecord, last_error: str,
                   last_known: PrinterStatus | None = None,
                   reason: OfflineReason | None = None) -> PrinterStatus:
    """A printer nobody can ask now: not up, with what was last known of it (its
    counters and last report time stay), else with what its row says."""
    if last_known is not None:
        # Since when it is offline is not known here: no state_since rather than a wrong one.
        return dataclasses.replace(last_known, name=record.name, ip=record.ip, up=False,
                                   connected=False, snapshot=None, last_error=last_error,
                                   last_error_reason=reason, state_since=None)
    return PrinterStatus(name=record.name, serial=record.serial, ip=record.ip,
                         model=serial_model(record.serial), firmware="", up=False,
                         connected=False, last_report=None, snapshot=None,
                         last_error=last_error, last_error_reason=reason)
