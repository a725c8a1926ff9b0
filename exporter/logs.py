"""The log's line format: one record, one line, whatever a printer name holds.

Three formats (--log.format): `text` (time, level, logger, message: what a person reads in
a terminal), and as Prometheus exporters write them, `logfmt` (key=value pairs) and `json`
(one object per line). Each carries only the time, level, logger, worker and message (and
a traceback): never a record's arguments or extra attributes on their own, so what the
messages keep out (access codes, passwords) stays out.

Printer names come from the printer list and may hold a newline; written as they are,
"evil\\nERROR ..." would forge a log line. The message is escaped once, here, rather than
at every call that logs a name; tracebacks keep their lines.
"""

from __future__ import annotations

import json
import logging
import sys
import time

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


LOG_FORMATS = ("text", "logfmt", "json")


class _FieldsFormatter(logging.Formatter):
    """Base of the structured formats: the fields of a record, in a fixed order."""

    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self.worker = worker

    def fields(self, record: logging.LogRecord) -> list[tuple[str, str]]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        out = [("ts", f"{stamp}.{int(record.msecs):03d}Z"),
               ("level", record.levelname.lower()), ("logger", record.name)]
        if self.worker is not None:
            out.append(("worker", str(self.worker)))
        out.append(("msg", valid_text(record.getMessage())))
        if record.exc_info:
            out.append(("exc", valid_text(self.formatException(record.exc_info))))
        return out


class LogfmtFormatter(_FieldsFormatter):
    """key=value pairs; a value with a space, quote, '=' or control character is quoted,
    its quotes and backslashes escaped and control characters written as escapes."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_logfmt_value(value)}" for key, value in self.fields(record))


class JsonFormatter(_FieldsFormatter):
    """One JSON object per line. ensure_ascii escapes every control character (C1 and
    U+2028 included, which json.dumps would otherwise pass through)."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(dict(self.fields(record)), ensure_ascii=True)


def _logfmt_value(value: str) -> str:
    if value and not any(c in value for c in ' "=\\') and escape_controls(value) == value:
        return value
    return '"' + escape_controls(value.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def formatter(log_format: str, worker: int | None = None) -> logging.Formatter:
    """The formatter for a --log.format value (one of LOG_FORMATS)."""
    if log_format == "logfmt":
        return LogfmtFormatter(worker)
    if log_format == "json":
        return JsonFormatter(worker)
    prefix = f"worker-{worker} " if worker is not None else ""
    return EscapingFormatter(f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s")


def configure(level: str, worker: int | None = None, log_format: str = "text") -> None:
    """The process's logging: one line per record on stderr at `level`, in `log_format`;
    `worker` names a worker process in every line. Our sessions log each change once;
    bambulabs_api (imported for its enums) shows only at debug."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format, worker))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    noisy = logging.DEBUG if level == "debug" else logging.ERROR
    logging.getLogger("bambulabs_api").setLevel(noisy)
