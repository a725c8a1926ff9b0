"""A fleet whose printers' metric lines are rendered in this process: the exporter's
own fleet with --workers 1, and each worker process's slice with more.

The PrinterLines cache keeps every printer's lines until its status changes, so a scrape
re-renders only the printers that reported since the last one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from exporter.fleet.reconcile import Fleet
from exporter.inventory.record import PrinterRecord
from exporter.metrics.printer_lines import FleetLines, PrinterLines
from exporter.printer.status import PrinterStatus


class LocalFleet:
    def __init__(self, fleet: Fleet, logger: logging.Logger | None = None) -> None:
        self.fleet = fleet
        self._log = logger or logging.getLogger(__name__)
        self._lines = PrinterLines(self._printer_failed)
        self._lock = threading.Lock()   # the cache serves one render at a time

    def reconcile(self, records: Iterable[PrinterRecord]) -> None:
        self.fleet.reconcile(records)

    def statuses(self, now: float) -> list[PrinterStatus]:
        return self.fleet.statuses(now)

    def lines(self, now: float) -> list[FleetLines]:
        return [self.lines_and_changes(now)[0]]

    def lines_and_changes(self, now: float) -> tuple[FleetLines, list[PrinterStatus]]:
        """The lines, and the statuses of the printers rendered afresh for them."""
        with self._lock:
            lines = self._lines.render(self.fleet.statuses(now))
            return lines, self._lines.changed

    def __len__(self) -> int:
        return len(self.fleet)

    @property
    def worker_restarts(self) -> int:
        return 0   # one process: no worker to restart

    def _printer_failed(self, status: PrinterStatus, exc: Exception) -> None:
        self._log.error("metrics for printer %s (%s) failed, left out of this scrape: %s: %s",
                        status.name, status.serial, type(exc).__name__, exc)
