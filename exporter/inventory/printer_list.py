"""The Inventory: the printer list in use, read from a source on every scrape within a
timeout, keeping the last good list when the source fails or hangs.

A read that hangs past its timeout costs later scrapes nothing; once it has hung for
`abandon_after` seconds it is abandoned and the next scrape starts a new one (a source
stuck for good must not freeze the list until restart), up to MAX_ABANDONED reads
hanging at once. A source that knows when its list is unchanged says so with `version`
(the YAML file: a digest of its bytes); other lists are compared row by row, flat
scalars only, never walked deeply."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from exporter.inventory.postgres import describe_params
from exporter.inventory.record import (
    MAX_PRINTERS,
    InventoryError,
    InventorySource,
    PrinterRecord,
    RejectedRow,
    field_names,
)
from exporter.inventory.shard import Shard
from exporter.inventory.validate import validate_rows

log = logging.getLogger(__name__)

# Reads past their deadline still running at once; beyond, no new read starts until one
# of them returns (a dead mount or database costs a few threads, not one per scrape).
MAX_ABANDONED = 4
ABANDON_AFTER = 30.0   # seconds a read may hang before the next scrape starts another


def describe_source(source: object) -> str:
    """Where the list comes from, for logs and the web page; never a password.
    Takes a source, postgres params (dict) or a DSN/URL."""
    describe = getattr(source, "describe", None)
    if callable(describe):
        return str(describe())
    if isinstance(source, (Mapping, str)):
        return describe_params(source)
    return type(source).__name__


# --- the Inventory -----------------------------------------------------------------

class _Read:
    """One read of the source, run in a worker thread."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.done = threading.Event()
        self.timed_out = False  # counted as a failure by refresh() already


class Inventory:
    """The printer list in use, refreshed on every scrape within `timeout` seconds.

    The source is read in a worker thread, one read at a time. A failed or slow read
    leaves the last good list in use; `up` says whether the last read succeeded.

    With a `shard` of several, `records` holds this shard's slice of the valid rows
    (`listed` counts them all), and only the rejected rows whose serial falls to this
    shard are counted and logged here, so each bad row is reported by one exporter.
    """

    def __init__(self, source: InventorySource, timeout: float = 2.0,
                 logger: logging.Logger | None = None, shard: Shard | None = None,
                 abandon_after: float = ABANDON_AFTER) -> None:
        self.source = source
        self.timeout = timeout
        self.abandon_after = abandon_after
        self.log = logger or log
        self.shard = shard or Shard()
        self.up = False
        self.records: list[PrinterRecord] = []  # this shard's
        self.listed = 0  # valid printers in the whole list, every shard's
        self._owned: dict[str, bool] = {}  # serial -> this shard's, from the last read
        self.rejected: list[RejectedRow] = []  # from the last successful read
        self.errors_total = 0
        self.rejected_total: dict[str, int] = {}
        self.last_error: str | None = None  # reason of the last failure, secret-free
        self.last_success_time: float | None = None  # time.time()
        self._lock = threading.Lock()
        self._read: _Read | None = None  # in flight
        self._in_outage = False
        self._failures_in_outage = 0
        self._logged_rejections: set[tuple[str, str, str]] = set()
        self._closed = False
        self._where = describe_source(source)
        self._field_names = field_names(source)   # messages in the source's own words
        # The last rows read and what they gave; only the reading thread touches these
        # (one read at a time).
        self._last_rows: list[dict[str, Any]] | None = None
        self._last_version: object = None
        self._last_result: tuple[list[PrinterRecord], list[RejectedRow], int] = ([], [], 0)
        self._abandoned: list[_Read] = []   # reads past their deadline, maybe still running

    def __repr__(self) -> str:
        return f"Inventory({self._where}, up={self.up}, printers={len(self.records)})"

    def refresh(self) -> list[PrinterRecord]:
        """Read the source and return the list in use, within `timeout` seconds."""
        with self._lock:
            if self._closed:
                return list(self.records)
            read = self._read
            if read is not None and read.timed_out:
                # Stuck since an earlier scrape (counted then): cost this one nothing, or,
                # stuck for long, abandon it and start afresh.
                self._abandoned = [r for r in self._abandoned if not r.done.is_set()]
                if (time.monotonic() - read.deadline < self.abandon_after
                        or len(self._abandoned) >= MAX_ABANDONED):
                    return list(self.records)
                self._abandoned.append(read)
                read = self._read = None
            if read is None:
                read = self._read = _Read(time.monotonic() + self.timeout)
                threading.Thread(target=self._run, args=(read,), daemon=True,
                                 name="inventory-read").start()
        read.done.wait(max(0.0, read.deadline - time.monotonic()))
        with self._lock:
            if not read.done.is_set() and not read.timed_out:
                read.timed_out = True
                self._failed(f"{self._where}: no answer within {self.timeout:g}s")
            return list(self.records)

    def _run(self, read: _Read) -> None:
        try:
            rows = self.source.read()
            version = getattr(self.source, "version", None)
            if len(rows) > MAX_PRINTERS:
                raise InventoryError(f"{self._where}: {len(rows)} printers, more than the "
                                     f"{MAX_PRINTERS} one exporter takes: split the list "
                                     "over shards (--shard.count)")
            with self._lock:
                last_rows, last_version, last = (self._last_rows, self._last_version,
                                                 self._last_result)
            if (version is not None and version == last_version) or (
                    version is None and _same_rows(rows, last_rows)):
                # The list is read on every scrape and seldom changes: knowing it is the
                # same costs a digest or a flat comparison, validating it again ~7 ms.
                records, rejected, listed = last
            else:
                records, rejected = validate_rows(rows, self._field_names)
                listed = len(records)
                records, rejected = self._slice(rows, records, rejected)
                with self._lock:
                    if self._read is read:   # an abandoned read's result is not kept
                        self._last_rows, self._last_version = rows, version
                        self._last_result = (records, rejected, listed)
        except InventoryError as exc:
            self._finish(read, None, None, str(exc))
        except Exception as exc:  # a bug in a source must not kill scrapes
            self._finish(read, None, None, f"{self._where}: unexpected {type(exc).__name__}")
        else:
            self._finish(read, records, rejected, None, listed)

    @property
    def abandoned_reads(self) -> int:
        """Reads given up past their deadline that have not returned yet."""
        with self._lock:
            return sum(1 for r in self._abandoned if not r.done.is_set())

    def _slice(self, rows: list[dict[str, Any]], records: list[PrinterRecord],
               rejected: list[RejectedRow]) -> tuple[list[PrinterRecord], list[RejectedRow]]:
        """This shard's part. After validation: every shard sees the whole table, so a
        duplicate serial is settled the same way everywhere, and both rows hash alike."""
        if not self.shard.sharded:
            return records, rejected
        # The list is read on every scrape: hash each serial once, not once a scrape.
        known, owned = self._owned, {}

        def owns(serial: str) -> bool:
            mine = known.get(serial)
            owned[serial] = mine = self.shard.owns(serial) if mine is None else mine
            return mine

        def serial(row: RejectedRow) -> str:
            value = rows[row.index].get("printer_bambu_id")
            return value.strip() if isinstance(value, str) else ""  # no serial: one shard
        mine = [record for record in records if owns(record.serial)]
        mine_rejected = [row for row in rejected if owns(serial(row))]
        self._owned = owned  # only serials still listed: it cannot grow without bound
        return mine, mine_rejected

    def _finish(self, read: _Read, records: list[PrinterRecord] | None,
                rejected: list[RejectedRow] | None, error: str | None,
                listed: int = 0) -> None:
        with self._lock:
            if self._read is read:
                self._read = None
            read.done.set()
            if self._closed:
                return
            if records is None or rejected is None:
                if read.timed_out:
                    self.last_error = error  # already counted when it timed out
                    self.log.debug("inventory: late failure: %s", error)
                else:
                    self._failed(error or "unknown error")
                return
            self._succeeded(records, rejected, listed)

    def _failed(self, reason: str) -> None:
        self.up = False
        self.errors_total += 1
        self.last_error = reason
        self._failures_in_outage += 1
        if not self._in_outage:
            self._in_outage = True
            self.log.warning(
                "inventory: reading the printer list failed: %s; keeping the last good "
                "list (%d printers) until it recovers", reason, len(self.records))
        else:
            self.log.debug("inventory: still failing: %s", reason)

    def _succeeded(self, records: list[PrinterRecord], rejected: list[RejectedRow],
                   listed: int) -> None:
        if self._in_outage:
            self.log.info("inventory: reading the printer list from %s recovered after %d "
                          "failed reads; %d printers", self._where,
                          self._failures_in_outage, len(records))
        self._in_outage = False
        self._failures_in_outage = 0
        self.up = True
        self.last_error = None
        self.last_success_time = time.time()
        self.records = records
        self.listed = listed
        self.rejected = rejected
        seen: set[tuple[str, str, str]] = set()
        for row in rejected:
            # Keyed without the row's position, so a row moving up is not new.
            key = (row.name_or_serial_hint, row.reason, row.message[len(row.place):])
            seen.add(key)
            if key not in self._logged_rejections:
                # A bad row is counted and logged when it appears, not on every read:
                # the counter says how many bad rows turned up, whatever the scrape rate.
                self.rejected_total[row.reason] = self.rejected_total.get(row.reason, 0) + 1
                self.log.warning("inventory: skipping a printer row: %s", row.message)
        # Only rows still bad stay remembered: one fixed and broken again counts again.
        self._logged_rejections = seen

    def close(self) -> None:
        """Stop reading and close the source, without waiting for a read in flight."""
        with self._lock:
            self._closed = True
        close = getattr(self.source, "close", None)
        if callable(close):
            close()


def _same_rows(rows: list[dict[str, Any]], last: list[dict[str, Any]] | None) -> bool:
    """Whether two reads gave the same rows, comparing scalar values only: a row whose
    value is a container (a source that passed nested data through) counts as changed
    rather than being walked, however deep or shared it is."""
    if last is None or len(rows) != len(last):
        return False
    scalar = (str, int, float, bool, type(None))
    for row, old in zip(rows, last, strict=True):
        if row.keys() != old.keys():
            return False
        for key, value in row.items():
            if not isinstance(value, scalar) or value != old[key]:
                return False
    return True
