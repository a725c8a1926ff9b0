"""The log's line format: one record, one line, whatever a printer name holds.

Printer names come from the printer list and may hold a newline; written as they are,
"evil\\nERROR ..." would forge a log line. The message is escaped once, here, rather than
at every call that logs a name; tracebacks keep their lines.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from exporter.text import escape_controls, valid_text


class EscapingFormatter(logging.Formatter):
    """A Formatter whose message part never spans lines and is valid UTF-8."""

    def format(self, record: logging.LogRecord) -> str:
        msg, args = record.msg, record.args
        record.msg, record.args = escape_controls(valid_text(record.getMessage())), None
        try:
            return super().format(record)
        finally:
            record.msg, record.args = msg, args


def escaping_handler(stream: TextIO, fmt: str) -> logging.Handler:
    """A stream handler writing `fmt` lines through EscapingFormatter."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EscapingFormatter(fmt))
    return handler


def configure(level: str, prefix: str = "") -> None:
    """The process's logging: escaped lines on stderr at `level`; `prefix` names a worker
    process in every line. The library and paho log every connect and retry; our
    sessions log each change once, so theirs are shown only at debug."""
    handler = escaping_handler(sys.stderr, f"%(asctime)s %(levelname)s {prefix}%(name)s: "
                                           "%(message)s")
    logging.basicConfig(level=level.upper(), handlers=[handler])
    noisy = logging.DEBUG if level == "debug" else logging.ERROR
    logging.getLogger("bambulabs_api").setLevel(noisy)
