"""The custom collector: inventory -> fleet -> metric families, on every scrape.

Fresh families per scrape (client_python's custom-collector pattern). The printer list
is re-read on every scrape so rows added, removed or changed take effect at once; the
inventory bounds that read by its own timeout and falls back to the last good list.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Protocol

from prometheus_client.core import Metric

from exporter import __version__
from exporter.fleet.reconcile import Fleet
from exporter.inventory.record import PrinterRecord
from exporter.inventory.shard import Shard
from exporter.metrics.catalogue import (
    ExporterStatus,
    InventoryStatus,
    described,
    exporter_samples,
    families,
    fleet_samples,
    inventory_samples,
    no_text,
)
from exporter.printer.error_texts import ErrorTexts
from exporter.printer.status import PrinterStatus


class InventoryLike(Protocol):
    up: bool
    records: list[PrinterRecord]
    errors_total: int
    rejected_total: dict[str, int]
    shard: Shard

    def refresh(self) -> list[PrinterRecord]: ...


def library_version() -> str:
    try:
        return metadata.version("bambulabs_api")
    except metadata.PackageNotFoundError:
        return "unknown"


class FleetCollector:
    def __init__(self, inventory: InventoryLike, fleet: Fleet,
                 clock: Callable[[], float] = time.time,
                 logger: logging.Logger | None = None,
                 texts: ErrorTexts | None = None) -> None:
        self._inventory = inventory
        self._fleet = fleet
        self._clock = clock
        self._log = logger or logging.getLogger(__name__)
        self._lock = threading.Lock()   # concurrent scrapes reconcile one at a time
        self._collect_errors = 0
        self._failing: dict[str, str] = {}   # serial -> the failure logged for it
        self._library_version = library_version()
        self._texts = texts   # --hms.text-file; None: descriptions are empty

    def describe(self) -> list[Metric]:
        # Lets the registry learn the names without running a scrape at registration.
        return described()

    def refresh(self) -> list[PrinterStatus]:
        """Re-read the list, reconcile sessions, return every printer's status."""
        return self._refresh(None)

    def _refresh(self, on_error: Callable[[PrinterRecord, Exception], None] | None
                 ) -> list[PrinterStatus]:
        with self._lock:
            try:
                records = self._inventory.refresh()
            except Exception:  # noqa: BLE001 - a broken source must not break the scrape
                self._log.exception("printer list refresh failed; keeping the sessions as they are")
                records = None
            if records is not None:
                self._fleet.reconcile(records)
        return self._fleet.statuses(self._clock(), on_error)

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        failing: dict[str, str] = {}

        def failed(record: PrinterRecord | PrinterStatus, exc: Exception) -> None:
            # Per-printer guard: status, samples (and their rendering check) of one
            # printer. Counted every scrape it fails, logged once while it keeps failing.
            self._collect_errors += 1
            text = f"{type(exc).__name__}: {exc}"
            failing[record.serial] = text
            if self._failing.get(record.serial) != text:
                self._log.error("metrics for printer %s (%s) failed, left out of this "
                                "scrape: %s", record.name, record.serial, text)

        statuses = self._refresh(failed)
        texts = self._texts
        if texts is not None:
            texts.refresh()   # one stat; a changed file is re-read in the background
        samples = fleet_samples(statuses, failed,
                                texts.describe if texts is not None else no_text)
        self._failing = failing
        samples += inventory_samples(InventoryStatus(
            up=self._inventory.up,
            printers=len(self._inventory.records),
            errors=self._inventory.errors_total,
            rejected=dict(self._inventory.rejected_total),
        ))
        samples += exporter_samples(ExporterStatus(
            version=__version__,
            bambulabs_api_version=self._library_version,
            collect_errors=self._collect_errors,
            collect_duration=time.perf_counter() - started,
            shard_index=self._inventory.shard.index,
            shard_count=self._inventory.shard.count,
            hms_text_rejected=texts.rejected_total if texts is not None else 0,
        ))
        yield from families(samples)
