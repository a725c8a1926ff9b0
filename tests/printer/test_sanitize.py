"""sanitize: decode_message given the merged report (`known`) normalises and hands to the
merge only what changed, and the merged report ends where normalising and merging
everything would have left it; parse_json (orjson first) takes and refuses exactly what
json does."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.printer.merge import MergedReport
from exporter.printer.sanitize import MAX_DEPTH, MessageRejected, decode_message, parse_json
from exporter.text import LABEL_VALUE_LIMIT
from tests.support.report_strategies import ANY_JSON, REPORT

pytestmark = pytest.mark.tier("unit")


def payload(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def merged_by(messages: list[bytes], given_known: bool) -> tuple[dict[str, Any], dict[str, int]]:
    merged = MergedReport()
    for message in messages:
        known = merged.report.get("print") if given_known else None
        try:
            decoded = decode_message(message, known)
        except MessageRejected:
            continue
        if decoded.truncated:
            merged.cuts["text"] = merged.cuts.get("text", 0) + decoded.truncated
        if decoded.report:
            merged.merge(decoded.report)
    return merged.report, merged.cuts


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(REPORT, min_size=1, max_size=6), st.data())
def test_leaving_out_what_is_known_ends_where_merging_everything_does(
        reports: list[dict[str, Any]], data: st.DataObject) -> None:
    # Resend some reports as they were (an X1-class printer's every second) and some
    # with one part changed, so that equal and unequal parts both occur.
    messages = [payload(r) for r in reports]
    for _ in range(data.draw(st.integers(0, 4))):
        messages.append(data.draw(st.sampled_from(messages)))
    report, cuts = merged_by(messages, given_known=True)
    expected_report, expected_cuts = merged_by(messages, given_known=False)
    assert report == expected_report
    assert cuts == expected_cuts


X1_REPORT = {"print": {
    "nozzle_temper": 220.5, "bed_temper": 60.0, "gcode_state": "RUNNING", "mc_percent": 40,
    "ams": {"ams": [{"id": "0", "humidity": "4",
                     "tray": [{"id": "0", "remain": 80, "tray_type": "PLA"},
                              {"id": "1", "remain": 50, "tray_type": "PETG"}]}]},
    "hms": [{"attr": 0x03000100, "code": 0x00010001}],
    "lights_report": [{"node": "chamber_light", "mode": "on"}],
    "ipcam": {"ipcam_dev": "1"},   # not kept
}}


def test_a_report_resent_unchanged_hands_nothing_to_the_merge() -> None:
    merged = MergedReport()
    merged.merge(decode_message(payload(X1_REPORT)).report)
    decoded = decode_message(payload(X1_REPORT), merged.report["print"])
    assert decoded.report == {}


def test_only_the_changed_parts_are_handed_on_at_any_depth() -> None:
    merged = MergedReport()
    merged.merge(decode_message(payload(X1_REPORT)).report)
    resent = copy.deepcopy(X1_REPORT)
    resent["print"]["nozzle_temper"] = 221.0
    resent["print"]["ams"]["ams"][0]["humidity"] = "3"
    decoded = decode_message(payload(resent), merged.report["print"])
    # The AMS units are a list: changed, it is handed on whole (the merge goes by id).
    assert decoded.report == {"print": {"nozzle_temper": 221.0,
                                        "ams": {"ams": resent["print"]["ams"]["ams"]}}}
    merged.merge(decoded.report)
    assert merged.report["print"]["ams"]["ams"][0]["humidity"] == "3"


def test_a_value_of_another_type_is_not_taken_as_unchanged() -> None:
    merged = MergedReport()
    merged.merge(decode_message(payload({"print": {"mc_percent": 1, "stat": 1.0}})).report)
    decoded = decode_message(payload({"print": {"mc_percent": True, "stat": 1}}),
                             merged.report["print"])
    assert decoded.report == {"print": {"mc_percent": True, "stat": 1}}


def test_text_that_was_cut_is_cut_and_counted_again_when_resent() -> None:
    long = {"print": {"subtask_name": "x" * (LABEL_VALUE_LIMIT + 50)}}
    merged = MergedReport()
    first = decode_message(payload(long))
    merged.merge(first.report)
    again = decode_message(payload(long), merged.report["print"])
    assert first.truncated == again.truncated == 1
    assert again.report == first.report


def test_a_too_deep_part_is_refused_even_beside_known_parts() -> None:
    merged = MergedReport()
    merged.merge(decode_message(payload(X1_REPORT)).report)
    deep: Any = 1
    for _ in range(MAX_DEPTH):
        deep = {"device": deep}
    hostile = copy.deepcopy(X1_REPORT)
    hostile["print"]["device"] = deep
    with pytest.raises(MessageRejected) as raised:
        decode_message(payload(hostile), merged.report["print"])
    assert raised.value.reason == "too_deep"


def test_keys_made_one_by_cutting_keep_the_last_value() -> None:
    # A key past the label cap is cut; the cut key may equal another key of the same
    # object. Whichever comes last wins, as without `known`.
    long_key = "k" * (LABEL_VALUE_LIMIT + 5)
    cut_key = next(iter(decode_message(payload({"print": {"device": {long_key: 1}}}))
                        .report["print"]["device"]))
    merged = MergedReport()
    merged.merge({"print": {"device": {cut_key: 1}}})
    message = b'{"print": {"device": {"%s": 2, "%s": 1}}}' % (long_key.encode(),
                                                              cut_key.encode())
    with_known = decode_message(message, merged.report["print"])
    without = decode_message(message)
    assert without.report == {"print": {"device": {cut_key: 1}}}
    assert with_known.report == {}   # the last value is the one already held


def _wide_int(text: str) -> int | float:
    # Integers past 64 bits are read as the nearest float where there is one, whichever
    # parser reads them (orjson does so, json is told to); the exporter makes every number
    # it uses a float, so only a label made of such an integer, a hostile one, differs.
    number = int(text)
    if -2 ** 63 <= number < 2 ** 64 or not math.isfinite(float(text)):
        return number
    return float(text)


def outcome_of_json(payload: bytes) -> tuple[str, str]:
    """What the standard library makes of a message: the reference parse_json keeps to."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return ("rejected", "bad_utf8")
    try:
        return ("parsed", json.dumps(json.loads(text, parse_int=_wide_int)))
    except RecursionError:
        return ("rejected", "too_deep")
    except ValueError:
        return ("rejected", "json")


def outcome(payload: bytes) -> tuple[str, str]:
    try:
        # dumps shows types too: 1 and 1.0, NaN, nested shapes.
        return ("parsed", json.dumps(parse_json(payload)))
    except MessageRejected as rejected:
        return ("rejected", rejected.reason)


JSON_TEXTS = ANY_JSON.map(json.dumps) | ANY_JSON.map(lambda v: json.dumps(v, ensure_ascii=False)
                                                     .encode("utf-8", "surrogatepass")
                                                     .decode("utf-8", "replace"))


@settings(max_examples=300, deadline=None, database=None)
@given(JSON_TEXTS.map(str.encode) | st.binary(max_size=64)
       | st.tuples(JSON_TEXTS, st.integers(0, 40), st.binary(max_size=3)).map(
           lambda t: t[0].encode()[:t[1]] + t[2] + t[0].encode()[t[1]:]))
def test_parsing_takes_and_refuses_what_json_does(message: bytes) -> None:
    assert outcome(message) == outcome_of_json(message)


@pytest.mark.parametrize("message", [
    b'{"a": NaN, "b": -Infinity}', b'{"a": 1e999}', b'{"a": "\\ud800"}',
    b'{"a": %d}' % 10 ** 30, b'{"a": %d}' % -(2 ** 63 + 1), b'{"a": %d}' % -(2 ** 63),
    b'{"a": %d}' % (2 ** 64 - 1), b'{"a": %d}' % 2 ** 64, b'{"a": %d}' % 10 ** 400,
    b'\xef\xbb\xbf{"a": 1}',
    b'{"a": 1, "a": 2}', b"[" * 5000 + b"]" * 5000, b'{"a": "\xff"}', b" {} ", b"",
])
def test_parsing_edge_cases_match_json(message: bytes) -> None:
    assert outcome(message) == outcome_of_json(message)
