"""A printer list row as the rest of the exporter sees it, and the errors and reasons
that reading a list can give."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# The row shape every source produces: the seed's column names.
COLUMNS = ("printer_name", "printer_ip", "printer_bambu_id", "access_code")

# RejectedRow.reason values; also the label values of a rejection counter.
BLANK_FIELD = "blank_field"
BAD_ADDRESS = "bad_address"
DUPLICATE_SERIAL = "duplicate_serial"
NOT_TEXT = "not_text"
TOO_LONG = "too_long"
BAD_SERIAL = "bad_serial"
UNKNOWN_KEY = "unknown_key"
REJECTION_REASONS = (BLANK_FIELD, BAD_ADDRESS, DUPLICATE_SERIAL, NOT_TEXT, TOO_LONG, BAD_SERIAL,
                     UNKNOWN_KEY)

# The most printers a list may hold: past it the read fails and the last good list stays
# (100 000 entries took 1.2 GB and a 250 MB /metrics: workers were killed). One exporter
# serves ~5000 at its targets; shards split larger tables.
MAX_PRINTERS = 10_000

# Optional keys of a row, set by a source that knows more than the columns:
ROW_PLACE = "_place"                 # where the row is, in the source's words: "entry 3 (line 7)"
ROW_UNKNOWN_KEYS = "_unknown_keys"   # keys the source does not know (a typo of `ip`, ...)


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
    message: str             # "<place> (<hint>): what is wrong"
    place: str = ""          # "row 3", "entry 3 (line 7)": where the message starts


class InventorySource(Protocol):
    def read(self) -> list[dict[str, Any]]: ...


def field_names(source: object) -> dict[str, str]:
    """The source's own name for each column (a YAML file says `ip`, not `printer_ip`):
    its `field_names` attribute where it has one, else the columns' names."""
    names = getattr(source, "field_names", None)
    return dict(names) if isinstance(names, dict) else {c: c for c in COLUMNS}


