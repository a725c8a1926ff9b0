"""The custom collector: inventory -> fleet -> metric families, on every scrape.

Fresh families per scrape (client_python's custom-collector pattern), but the printers'
samples arrive as lines already written (metrics.printer_lines, kept per printer until
its status changes, rendered in this process or in worker processes), wrapped in
exposition.RenderedFamily: one per catalogue entry, in catalogue order. The printer list
is re-read on every scrape so rows added, removed or changed take effect at once; the
inventory bounds that read by its own timeout and falls back to the last good list.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from typing import Protocol

from prometheus_client.core import Metric

from exporter import __version__
from exporter.inventory.record import PrinterRecord
from exporter.inventory.shard import Shard
from exporter.metrics.catalogue import (
    CATALOGUE,
    ExporterStatus,
    InventoryStatus,
    described,
    exporter_samples,
    inventory_samples,
)
from exporter.metrics.printer_lines import FleetLines, SampleWriter, rendered_families
from exporter.printer.error_texts import ErrorTexts
from exporter.printer.status import PrinterStatus
from exporter.version import revision


class InventoryLike(Protocol):
    up: bool
    records: list[PrinterRecord]
    errors_total: int
    rejected_total: dict[str, int]
    shard: Shard

    def refresh(self) -> list[PrinterRecord]: ...


class RenderedFleet(Protocol):
    """Printers' sessions somewhere, and their lines: a fleet rendered in this process or
    one spread over worker processes (the CLI wires which)."""

    def reconcile(self, records: Iterable[PrinterRecord]) -> None: ...

    def statuses(self, now: float) -> list[PrinterStatus]: ...

    def lines(self, now: float) -> list[FleetLines]:
        """The printers' lines, in parts rendered apart (one per worker process)."""

    @property
    def worker_restarts(self) -> int: ...


def library_version() -> str:
    try:
        return metadata.version("bambulabs_api")
    except metadata.PackageNotFoundError:
        return "unknown"


class FleetCollector:
    def __init__(self, inventory: InventoryLike, fleet: RenderedFleet,
                 clock: Callable[[], float] = time.time,
                 logger: logging.Logger | None = None,
                 texts: ErrorTexts | None = None) -> None:
        self._inventory = inventory
        self._log = logger or logging.getLogger(__name__)
        self._texts = texts   # --hms.text-file; None: descriptions are empty
        self._fleet = fleet
        self._clock = clock
        self._lock = threading.Lock()   # concurrent scrapes reconcile one at a time
        self._collect_errors = 0
        self._library_version = library_version()
        self._revision = revision()
        self._writer = SampleWriter()

    def describe(self) -> list[Metric]:
        # Lets the registry learn the names without running a scrape at registration.
        return described()

    def _reconcile(self) -> None:
        with self._lock:
            try:
                records = self._inventory.refresh()
            except Exception:  # noqa: BLE001 - a broken source must not break the scrape
                self._log.exception("printer list refresh failed; keeping the sessions as they are")
                return
            self._fleet.reconcile(records)

    def refresh(self) -> list[PrinterStatus]:
        """Re-read the list, reconcile sessions, return every printer's status."""
        self._reconcile()
        return self._fleet.statuses(self._clock())

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        self._reconcile()
        if self._texts is not None:
            self._texts.refresh()   # one stat; a changed file is re-read in the background
        parts = self._fleet.lines(self._clock())
        with self._lock:
            self._collect_errors += sum(part.failed for part in parts)
            collect_errors = self._collect_errors
        samples = inventory_samples(InventoryStatus(
            up=self._inventory.up,
            printers=len(self._inventory.records),
            errors=self._inventory.errors_total,
            rejected=dict(self._inventory.rejected_total),
        ))
        samples += exporter_samples(ExporterStatus(
            version=__version__,
            bambulabs_api_version=self._library_version,
            revision=self._revision,
            collect_errors=collect_errors,
            collect_duration=time.perf_counter() - started,
            worker_restarts=self._fleet.worker_restarts,
            shard_index=self._inventory.shard.index,
            shard_count=self._inventory.shard.count,
            hms_text_rejected=self._texts.rejected_total if self._texts is not None else 0,
        ))
        own = self._writer.lines(samples)
        # Each family's pieces: every part's lines in turn, then this process's own samples.
        yield from rendered_families(
            [*(part.chunks[index] for part in parts), own.get(index, "")]
            for index in range(len(CATALOGUE)))
