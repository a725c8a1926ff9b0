"""logs.py: text, logfmt and json lines; one record is one line whatever the message
holds, control characters escaped; nothing but the fixed fields is written."""

from __future__ import annotations

import io
import json
import logging
import re
import shlex

import pytest

from exporter.logs import LOG_FORMATS, formatter

pytestmark = pytest.mark.tier("unit")

EVIL = 'evil\nERROR forged line "quoted" a=b \x00\u2028\x85 back\\slash'


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            import sys
            exc_info = sys.exc_info()
    record = logging.LogRecord("exporter.test", logging.WARNING, __file__, 1, msg, args,
                               exc_info)
    # Attributes a caller passed with `extra=` are not written by the structured formats.
    record.access_code = "12345678"
    return record


def _line(log_format: str, record: logging.LogRecord, worker: int | None = None) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(log_format, worker))
    handler.emit(record)
    return stream.getvalue()


@pytest.mark.parametrize("log_format", LOG_FORMATS)
def test_one_record_is_one_line(log_format: str) -> None:
    # text keeps a traceback's lines (for a person at a terminal); logfmt and json do not
    out = _line(log_format, _record("printer %s down", EVIL, exc=log_format != "text"))
    assert out.count("\n") == 1 and out.endswith("\n")
    for char in ("\x00", "\u2028", "\x85"):
        assert char not in out
    assert "12345678" not in out


def test_json_is_an_object_per_line_with_the_message_intact() -> None:
    record = _record("printer %s down", EVIL, exc=True)
    obj = json.loads(_line("json", record, worker=3))
    assert list(obj) == ["ts", "level", "logger", "worker", "msg", "exc"]
    assert obj["msg"] == f"printer {EVIL} down"
    assert obj["level"] == "warning" and obj["logger"] == "exporter.test"
    assert obj["worker"] == "3"
    assert "ValueError: boom\nsecond line" in obj["exc"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", obj["ts"])


def test_logfmt_pairs_quote_what_needs_quoting() -> None:
    line = _line("logfmt", _record("plain"))
    pairs = dict(part.split("=", 1) for part in line.split())
    assert pairs["level"] == "warning" and pairs["msg"] == "plain"
    line = _line("logfmt", _record("a %s", 'x "y" z=1'), worker=0)
    # shlex reads logfmt's double quotes and backslash escapes as a shell would
    fields = dict(token.split("=", 1) for token in shlex.split(line))
    assert fields["msg"] == 'a x "y" z=1' and fields["worker"] == "0"


def test_logfmt_writes_control_characters_as_escapes() -> None:
    line = _line("logfmt", _record("%s", "a\nb\x00c"))
    assert 'msg="a\\nb\\x00c"' in line


def test_text_is_the_terminal_format() -> None:
    line = _line("text", _record("hello %s", "there"), worker=2)
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING worker-2 exporter.test: "
                    r"hello there\n$", line)
