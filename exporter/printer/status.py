"""PrinterStatus: what the fleet knows about one printer at scrape time.

A plain value handed from the sessions (I/O) to the metric mapping (pure), so that
metrics.py can be tested without a network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exporter.printer.snapshot import PrinterSnapshot

OFFLINE = "OFFLINE"
CONNECTION_ERROR_REASONS: tuple[str, ...] = ("refused", "auth", "timeout", "dropped", "unreachable")
JOB_RESULTS: tuple[str, ...] = ("finished", "failed")


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
    connection_errors: Mapping[str, int] = field(default_factory=dict)
    message_errors: Mapping[str, int] = field(default_factory=dict)   # by reason
    truncations: Mapping[str, int] = field(default_factory=dict)      # values cut, by bound
    prints: Mapping[str, int] = field(default_factory=dict)
    last_error: str = ""               # human-readable, for logs and the web page; never a secret
    last_error_reason: str = ""        # the last error's reason (auth, refused, ...); "" once connected
    printing_seconds: float = 0.0      # seen RUNNING by this session (a counter)

    @property
    def state(self) -> str:
        """The gcode state a person should see: OFFLINE unless up (stale data is not news)."""
        return self.snapshot.state if self.up and self.snapshot is not None else OFFLINE
