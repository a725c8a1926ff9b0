"""A fleet whose printers' metric lines are rendered in this process: the exporter's
own fleet with --workers 1, and each worker process's slice with more.

The PrinterLines cache keeps every printer's lines until its status changes, so a scrape
re-renders only the printers that reported since the last one.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable

from exporter.fleet.sessions import Fleet
from exporter.inventory.record import PrinterRecord
from exporter.metrics.printer_lines import FleetLines, PrinterLines
from exporter.printer.error_texts import TextLookup
from exporter.printer.status import PrinterStatus


class LocalFleet:
    def __init__(self, fleet: Fleet, logger: logging.Logger | None = None,
                 texts: TextLookup | None = None) -> None:
        self.fleet = fleet
        self._log = logger or logging.getLogger(__name__)
        self._lines = PrinterLines(self._printer_failed, texts)
        self._lock = threading.Lock()   # the cache serves one render at a time
        self._failing: dict[str, str] = {}   # serial -> the failure logged for it
        self._failing_now: dict[str, str] = {}

    def reconcile(self, records: Iterable[PrinterRecord]) -> None:
        self.fleet.reconcile(records)

    def statuses(self, now: float) -> list[PrinterStatus]:
        return self.fleet.statuses(now)

    def lines(self, now: float) -> list[FleetLines]:
        return [self.lines_and_changes(now)[0]]

    def lines_and_changes(self, now: float) -> tuple[FleetLines, list[PrinterStatus]]:
        """The lines, and the statuses of the printers rendered afresh for them."""
        with self._lock:
            self._failing_now = {}
            statuses = self.fleet.statuses(now, self._printer_failed)
            status_failures = len(self._failing_now)
            lines = self._lines.render(statuses)
            self._failing = self._failing_now
            if status_failures:
                lines = dataclasses.replace(lines, failed=lines.failed + status_failures)
            return lines, self._lines.changed

    def __len__(self) -> int:
        return len(self.fleet)

    @property
    def worker_restarts(self) -> int:
        return 0   # one process: no worker to restart

    def _printer_failed(self, printer: PrinterStatus | PrinterRecord, exc: Exception) -> None:
        # Per-printer guard: its status or its lines could not be built. Counted every
        # scrape it fails (FleetLines.failed), logged once while it keeps failing the same way.
        text = f"{type(exc).__name__}: {exc}"
        self._failing_now[printer.serial] = text
        if self._failing.get(printer.serial) != text:
            self._log.error("metrics for printer %s (%s) failed, left out of this scrape: %s",
                            printer.name, printer.serial, text)
