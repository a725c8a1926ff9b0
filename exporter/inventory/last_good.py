"""The printer list: PrinterRecord, row validation, and the Inventory that keeps the
last good list when its source fails or hangs.

The sources live beside this module, one idea each: `inventory_postgres.py`
(PostgresSource, postgres_params) and `inventory_yaml.py` (YamlSource). Their names are
also importable from here.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol

log = logging.getLogger(__name__)

# The row shape every source produces: the seed's column names.
COLUMNS = ("printer_name", "printer_ip", "printer_bambu_id", "access_code")

# RejectedRow.reason values; also the label values of a rejection counter.
BLANK_FIELD = "blank_field"
BAD_ADDRESS = "bad_address"
DUPLICATE_SERIAL = "duplicate_serial"
NOT_TEXT = "not_text"
REJECTION_REASONS = (BLANK_FIELD, BAD_ADDRESS, DUPLICATE_SERIAL, NOT_TEXT)


@dataclass(frozen=True)
class PrinterRecord:
    """One row of the printer list. The access code is kept out of repr and logs."""

    name: str
    ip: str
    serial: str
    access_code: str = field(repr=False)


class InventoryError(Exception):
    """The printer list could not be read. The message never contains a secret."""


@dataclass(frozen=True)
class RejectedRow:
    """A row left out of the list, and why. Holds no access code."""

    index: int               # position in what the source returned, from 0
    name_or_serial_hint: str  # what a person finds the row by
    reason: str              # one of REJECTION_REASONS
    message: str


class InventorySource(Protocol):
    def read(self) -> list[dict[str, Any]]: ...


# --- validation --------------------------------------------------------------------

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def is_valid_address(text: str) -> bool:
    """An IPv4/IPv6 address or an RFC 1123 host name. All-numeric dotted names
    ('192.168.1', '10.0.0.300') are typos of an IP, not host names."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        pass
    name = text[:-1] if text.endswith(".") else text
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    if not all(_HOST_LABEL.match(label) for label in labels):
        return False
    return not all(label.isdigit() for label in labels)


def _hint(row: Mapping[str, object], index: int) -> str:
    for key in ("printer_name", "printer_bambu_id"):
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return f"row {index}"


def validate_rows(rows: Iterable[Mapping[str, object]]
                  ) -> tuple[list[PrinterRecord], list[RejectedRow]]:
    """Rows with the DB column names -> (records, rejected), both in the original order.

    Whitespace is stripped. A row with a missing/blank field, a value that is not text,
    an address that is neither an IP nor a host name, or a serial already taken by an
    earlier row is rejected; every other row carries on. For a duplicate serial the
    first row keeps the printer, so one stray row cannot take a working printer down.
    """
    records: list[PrinterRecord] = []
    rejected: list[RejectedRow] = []
    first_row_of_serial: dict[str, int] = {}
    for index, row in enumerate(rows):
        hint = _hint(row, index)
        where = f"row {index} ({hint})" if hint != f"row {index}" else f"row {index}"
        values: dict[str, str] = {}
        blank: list[str] = []
        not_text: list[str] = []
        for column in COLUMNS:
            value = row.get(column)
            if value is None:
                blank.append(column)
            elif not isinstance(value, str):
                # An int access code or serial has lost its leading zeros: never guess.
                not_text.append(f"{column} is {type(value).__name__}")
            elif not value.strip():
                blank.append(column)
            else:
                values[column] = value.strip()
        if blank:
            rejected.append(RejectedRow(index, hint, BLANK_FIELD,
                                        f"{where}: blank {', '.join(blank)}"))
            continue
        if not_text:
            rejected.append(RejectedRow(
                index, hint, NOT_TEXT,
                f"{where}: {', '.join(not_text)}, not text (leading zeros may be lost)"))
            continue
        address = values["printer_ip"]
        if not is_valid_address(address):
            rejected.append(RejectedRow(
                index, hint, BAD_ADDRESS,
                f"{where}: printer_ip {address!r} is neither an IP address nor a host name"))
            continue
        serial = values["printer_bambu_id"]
        if serial in first_row_of_serial:
            rejected.append(RejectedRow(
                index, hint, DUPLICATE_SERIAL,
                f"{where}: serial {serial} already used by row {first_row_of_serial[serial]}"))
            continue
        first_row_of_serial[serial] = index
        records.append(PrinterRecord(name=values["printer_name"], ip=address, serial=serial,
                                     access_code=values["access_code"]))
    return records, rejected


# --- secrets -----------------------------------------------------------------------

_SECRET_PATTERNS = (
    re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE),
    re.compile(r"(://[^:/@\s]*:)([^@\s]*)(@)"),
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each secret and anything shaped like a password in a DSN or URL
    replaced by '***'. For messages from libraries that may echo connection strings."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _SECRET_PATTERNS[0].sub(r"\1***", text)
    return _SECRET_PATTERNS[1].sub(r"\1***\3", text)


def describe_source(source: object) -> str:
    """Where the list comes from, for logs and the web page; never a password.
    Takes a source, postgres params (dict) or a DSN/URL."""
    describe = getattr(source, "describe", None)
    if callable(describe):
        return str(describe())
    if isinstance(source, (Mapping, str)):
        from exporter.inventory_postgres import describe_params
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
    """

    def __init__(self, source: InventorySource, timeout: float = 2.0,
                 logger: logging.Logger | None = None) -> None:
        self.source = source
        self.timeout = timeout
        self.log = logger or log
        self.up = False
        self.records: list[PrinterRecord] = []
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

    def __repr__(self) -> str:
        return f"Inventory({self._where}, up={self.up}, printers={len(self.records)})"

    def refresh(self) -> list[PrinterRecord]:
        """Read the source and return the list in use, within `timeout` seconds."""
        with self._lock:
            if self._closed:
                return list(self.records)
            read = self._read
            if read is None:
                read = self._read = _Read(time.monotonic() + self.timeout)
                threading.Thread(target=self._run, args=(read,), daemon=True,
                                 name="inventory-read").start()
            elif read.timed_out:
                # Still stuck from an earlier scrape, already counted: cost this one nothing.
                return list(self.records)
        read.done.wait(max(0.0, read.deadline - time.monotonic()))
        with self._lock:
            if not read.done.is_set() and not read.timed_out:
                read.timed_out = True
                self._failed(f"{self._where}: no answer within {self.timeout:g}s")
            return list(self.records)

    def _run(self, read: _Read) -> None:
        try:
            rows = self.source.read()
            records, rejected = validate_rows(rows)
        except InventoryError as exc:
            self._finish(read, None, None, str(exc))
        except Exception as exc:  # a bug in a source must not kill scrapes
            self._finish(read, None, None, f"{self._where}: unexpected {type(exc).__name__}")
        else:
            self._finish(read, records, rejected, None)

    def _finish(self, read: _Read, records: list[PrinterRecord] | None,
                rejected: list[RejectedRow] | None, error: str | None) -> None:
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
            self._succeeded(records, rejected)

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

    def _succeeded(self, records: list[PrinterRecord], rejected: list[RejectedRow]) -> None:
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
        self.rejected = rejected
        seen: set[tuple[str, str, str]] = set()
        for row in rejected:
            self.rejected_total[row.reason] = self.rejected_total.get(row.reason, 0) + 1
            # Keyed without the row's position, so a row moving up does not log again.
            key = (row.name_or_serial_hint, row.reason,
                   row.message[len(f"row {row.index}"):])
            seen.add(key)
            if key not in self._logged_rejections:
                self.log.warning("inventory: skipping a printer row: %s", row.message)
        # Only rows still bad stay remembered: one fixed and broken again logs again.
        self._logged_rejections = seen

    def close(self) -> None:
        """Stop reading and close the source, without waiting for a read in flight."""
        with self._lock:
            self._closed = True
        close = getattr(self.source, "close", None)
        if callable(close):
            close()


_SOURCE_NAMES = {
    "PostgresSource": "exporter.inventory_postgres",
    "postgres_params": "exporter.inventory_postgres",
    "YamlSource": "exporter.inventory_yaml",
}


def __getattr__(name: str) -> Any:
    # The sources import this module; re-exporting them lazily avoids an import cycle.
    module = _SOURCE_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
