"""The printer list: PrinterRecord, and where records come from."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PrinterRecord:
    """One row of the printer list. The access code is kept out of repr and logs."""

    name: str
    ip: str
    serial: str
    access_code: str = field(repr=False)
