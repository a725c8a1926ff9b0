"""Pure: rows with the database's column names -> PrinterRecords and RejectedRows."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping

from exporter.inventory.record import (
    BAD_ADDRESS,
    BAD_SERIAL,
    BLANK_FIELD,
    COLUMNS,
    DUPLICATE_SERIAL,
    NOT_TEXT,
    TOO_LONG,
    PrinterRecord,
    RejectedRow,
)
from exporter.text import LABEL_VALUE_LIMIT, bounded_text, valid_text

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def is_valid_address(text: str) -> bool:
    """An IPv4/IPv6 address or an RFC 1123 host name. All-numeric dotted names
    ('192.168.1', '10.0.0.300') are typos of an IP, not host names."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        pass
    return _is_host_name(text)


def unusable_address(text: str) -> str | None:
    """Why no printer can be reached at this IP address (None: it may be): the
    unspecified address means "any" (0.0.0.0 would reach this very host), broadcast and
    multicast reach many hosts, none of them a session."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.is_unspecified:
        return "the unspecified address"
    if isinstance(address, ipaddress.IPv4Address) and address == _BROADCAST:
        return "the broadcast address"
    if address.is_multicast:
        return "a multicast address"
    return None


_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
# Serials name MQTT topics (device/<serial>/report): no topic separators or wildcards,
# no spaces or control characters.
_BAD_SERIAL = re.compile(r"[/+#\s\x00-\x1f\x7f-\x9f]")


def _is_host_name(text: str) -> bool:
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
            return bounded_text(value.strip(), HINT_LIMIT)
    return f"row {index}"


HINT_LIMIT = 80   # enough to find the row by; a whole overlong name goes nowhere


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
                # Valid UTF-8 (surrogates joined or replaced), so every later use
                # (labels, logs, MQTT) can encode it.
                values[column] = valid_text(value.strip())
        if blank:
            rejected.append(RejectedRow(index, hint, BLANK_FIELD,
                                        f"{where}: blank {', '.join(blank)}"))
            continue
        if not_text:
            rejected.append(RejectedRow(
                index, hint, NOT_TEXT,
                f"{where}: {', '.join(not_text)}, not text (leading zeros may be lost)"))
            continue
        too_long = [column for column in COLUMNS if len(values[column]) > LABEL_VALUE_LIMIT]
        if too_long:
            rejected.append(RejectedRow(
                index, hint, TOO_LONG,
                f"{where}: {', '.join(too_long)} longer than {LABEL_VALUE_LIMIT} characters"))
            continue
        address = values["printer_ip"]
        if not is_valid_address(address):
            rejected.append(RejectedRow(
                index, hint, BAD_ADDRESS,
                f"{where}: printer_ip {address!r} is neither an IP address nor a host name"))
            continue
        unusable = unusable_address(address)
        if unusable:
            rejected.append(RejectedRow(
                index, hint, BAD_ADDRESS,
                f"{where}: printer_ip {address!r} is {unusable}, not a printer's"))
            continue
        # Printers publish on their serial in upper case and MQTT topics are
        # case-sensitive: a serial typed in lower case would subscribe to nothing.
        serial = values["printer_bambu_id"].upper()
        if _BAD_SERIAL.search(serial):
            rejected.append(RejectedRow(
                index, hint, BAD_SERIAL,
                f"{where}: serial {serial!r} holds a space, control character, '/', '+' or "
                "'#' (it names MQTT topics)"))
            continue
        if serial in first_row_of_serial:
            rejected.append(RejectedRow(
                index, hint, DUPLICATE_SERIAL,
                f"{where}: serial {serial} already used by row {first_row_of_serial[serial]}"
                + (" (serials are compared in upper case)"
                   if values["printer_bambu_id"] != serial else "")))
            continue
        first_row_of_serial[serial] = index
        records.append(PrinterRecord(name=values["printer_name"], ip=address, serial=serial,
                                     access_code=values["access_code"]))
    return records, rejected
