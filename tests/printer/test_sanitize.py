"""sanitize.py's fast path: a message whose text shows nothing to normalise skips the walk
over every value. It must decide exactly as the walk would."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.printer.merge import prune_report
from exporter.printer.sanitize import (
    MAX_DEPTH,
    MessageRejected,
    _plainly_clean,
    decode_message,
    normalised,
)
from tests.support.report_strategies import MESSAGE


def walked(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None, int]:
    """What the full walk makes of a decoded document."""
    cuts = [0]
    report = normalised(prune_report(doc), cuts)
    info = doc.get("info")
    version = None
    if isinstance(info, dict) and info.get("command") == "get_version":
        version = normalised(info, cuts)
    return report, version, cuts[0]


@settings(max_examples=400, deadline=None)
@given(MESSAGE, st.booleans())
def test_the_fast_path_decides_as_the_walk(message: Any, ensure_ascii: bool) -> None:
    payload = json.dumps(message, ensure_ascii=ensure_ascii,
                         ).encode("utf-8", "surrogatepass")
    try:
        decoded = decode_message(payload)
    except MessageRejected:
        return   # rejected messages are the walk's and json's business, tested elsewhere
    doc = json.loads(payload.decode("utf-8", "surrogatepass"))
    assert (decoded.report, decoded.version, decoded.truncated) == walked(doc)


@pytest.mark.parametrize("text", [
    '{"print": {"subtask_name": "\\ud800"}}',                  # a lone surrogate, escaped
    '{"print": {"subtask_name": "caf\u00e9"}}',                 # not ASCII
    '{"print": {"gcode_file": "' + "x" * 300 + '"}}',          # past the label cap
    '{"print": {"gcode_file": "' + 'x\\"' * 100 + '"}}',        # long behind escapes
    '{"print": {"bed_temper": NaN}}',
    '{"print": {"bed_temper": -Infinity}}',
    '{"print": {"bed_temper": 1e400}}',
    '{"print": {"bed_temper": -2.5E+999}}',
    '{"print": {"bed_temper": ' + "9" * 400 + '}}',
    '{"print": {"hms": [' + "1" * 20 + ']}}',
])
def test_what_needs_normalising_is_never_taken_for_clean(text: str) -> None:
    assert not _plainly_clean(text)


def test_a_clean_full_report_is_taken_for_clean() -> None:
    # The point of the fast path: real reports take it (a tray_uuid's 32 zeros and a
    # colour such as D7E852FF are text, not numbers).
    report = {"print": {"gcode_state": "RUNNING", "bed_temper": 60.5, "mc_percent": 42,
                        "ams": {"ams": [{"id": "0", "humidity": "4", "tray": [
                            {"id": "0", "tray_type": "PLA", "remain": 80,
                             "tray_uuid": "0" * 32, "tray_color": "D7E852FF"}]}]}}}
    assert _plainly_clean(json.dumps(report))


def test_depth_is_still_checked_on_the_fast_path() -> None:
    deep: Any = 1
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    payload = json.dumps({"print": {"ams": deep}})
    assert _plainly_clean(payload)
    with pytest.raises(MessageRejected) as rejected:
        decode_message(payload.encode())
    assert rejected.value.reason == "too_deep"
