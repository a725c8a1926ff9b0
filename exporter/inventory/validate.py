"""Pure: rows with the database's column names -> PrinterRecords and RejectedRows."""

from __future__ import annotations

import difflib
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
    ROW_PLACE,
    ROW_UNKNOWN_KEYS,
    TOO_LONG,
    UNKNOWN_KEY,
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


def _hint(row: Mapping[str, object]) -> str:
    for key in ("printer_name", "printer_bambu_id"):
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return bounded_text(value.strip(), HINT_LIMIT)
    return ""


def _place(row: Mapping[str, object], index: int) -> str:
    """Where the row is: the source's own words when it gave them, else its 1-based
    position ("row 3"), as a person counts rows."""
    place = row.get(ROW_PLACE)
    return place if isinstance(place, str) and place else f"row {index + 1}"


HINT_LIMIT = 80   # enough to find the row by; a whole overlong name goes nowhere


def validate_rows(rows: Iterable[Mapping[str, object]],
                  field_names: Mapping[str, str] | None = None
                  ) -> tuple[list[PrinterRecord], list[RejectedRow]]:
    """Rows with the DB column names -> (records, rejected), both in the original order.
    Messages name fields as `field_names` says (the source's words: `ip` in a YAML file)
    and rows by their ROW_PLACE or 1-based position. A row with ROW_UNKNOWN_KEYS is
    rejected naming them: a misspelt `adress:` must not read as a blank address.

    Whitespace is stripped. A row with a missing/blank field, a value that is not text,
    an address that is neither an IP nor a host name, or a serial already taken by an
    earlier row is rejected; every other row carries on. For a duplicate serial the
    first row keeps the printer, so one stray row cannot take a working printer down.
    """
    records: list[PrinterRecord] = []
    rejected: list[RejectedRow] = []
    first_row_of_serial: dict[str, str] = {}   # serial -> place of its row
    names = {column: column for column in COLUMNS}
    names.update(field_names or {})
    for index, row in enumerate(rows):
        place = _place(row, index)
        hint = _hint(row) or place
        checked = _check(row, names, first_row_of_serial)
        if isinstance(checked, PrinterRecord):
            first_row_of_serial[checked.serial] = place
            records.append(checked)
        else:
            where = f"{place} ({hint})" if hint != place else place
            reason, what = checked
            rejected.append(RejectedRow(index, hint, reason, f"{where}: {what}", place))
    return records, rejected


def _check(row: Mapping[str, object], names: Mapping[str, str],
           first_row_of_serial: Mapping[str, str]) -> PrinterRecord | tuple[str, str]:
    """The row's record, or (reason, what is wrong)."""
    unknown = row.get(ROW_UNKNOWN_KEYS)
    if isinstance(unknown, (list, tuple)) and unknown:
        known = [names[c] for c in COLUMNS]
        return UNKNOWN_KEY, (f"unknown key {', '.join(repr(k) for k in unknown)} (known: "
                             f"{', '.join(known)}){_did_you_mean(unknown, names)}")
    values: dict[str, str] = {}
    blank: list[str] = []
    not_text: list[str] = []
    for column in COLUMNS:
        value = row.get(column)
        if value is None:
            blank.append(column)
        elif not isinstance(value, str):
            # An int access code or serial has lost its leading zeros: never guess.
            not_text.append(f"{names[column]} is {type(value).__name__}")
        elif not value.strip():
            blank.append(column)
        else:
            # Valid UTF-8 (surrogates joined or replaced), so every later use
            # (labels, logs, MQTT) can encode it.
            values[column] = valid_text(value.strip())
    if blank:
        return BLANK_FIELD, f"blank {', '.join(names[c] for c in blank)}"
    if not_text:
        return NOT_TEXT, f"{', '.join(not_text)}, not text (leading zeros may be lost)"
    too_long = [column for column in COLUMNS if len(values[column]) > LABEL_VALUE_LIMIT]
    if too_long:
        return TOO_LONG, (f"{', '.join(names[c] for c in too_long)} longer than "
                          f"{LABEL_VALUE_LIMIT} characters")
    address = values["printer_ip"]
    ip = names["printer_ip"]
    if not is_valid_address(address):
        return BAD_ADDRESS, f"{ip} {address!r} is neither an IP address nor a host name"
    unusable = unusable_address(address)
    if unusable:
        return BAD_ADDRESS, f"{ip} {address!r} is {unusable}, not a printer's"
    # Printers publish on their serial in upper case and MQTT topics are case-sensitive:
    # a serial typed in lower case would subscribe to nothing.
    serial = values["printer_bambu_id"].upper()
    if _BAD_SERIAL.search(serial):
        return BAD_SERIAL, (f"{names['printer_bambu_id']} {serial!r} holds a space, control "
                            "character, '/', '+' or '#' (it names MQTT topics)")
    if serial in first_row_of_serial:
        return DUPLICATE_SERIAL, (f"{names['printer_bambu_id']} {serial} already used by "
                                  f"{first_row_of_serial[serial]}"
                                  + (" (serials are compared in upper case)"
                                     if values["printer_bambu_id"] != serial else ""))
    return PrinterRecord(name=values["printer_name"], ip=address, serial=serial,
                         access_code=values["access_code"])


# Words people write for a column (the database's names among them): the hint points
# from `address:` to `ip:` where spelling alone would not.
_ALIASES = {
    "printer_ip": ("address", "ip_address", "host", "hostname", "printer_ip"),
    "printer_bambu_id": ("serial_number", "sn", "bambu_id", "printer_bambu_id", "device_id"),
    "access_code": ("code", "access-code", "accesscode", "lan_code", "password"),
    "printer_name": ("printer", "printer_name", "title"),
}


def _did_you_mean(unknown: Iterable[object], names: Mapping[str, str]) -> str:
    """'; did you mean 'ip'?' for the first unknown key that resembles a known one."""
    for key in unknown:
        word = str(key).strip().lower()
        candidates = {names[c]: c for c in COLUMNS}
        for column, aliases in _ALIASES.items():
            candidates.update({alias: column for alias in aliases})
        close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
        if close:
            return f"; did you mean {names[candidates[close[0]]]!r}?"
    return ""
