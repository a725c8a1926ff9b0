"""merge.py's bounds: what one printer's merged report may hold, and that cuts are counted."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.printer.merge import (
    MAX_AMS_UNITS,
    MAX_HMS_MESSAGES,
    MAX_LIST_ITEMS,
    MAX_TRAYS_PER_AMS,
    MergedReport,
)
from tests.support.reference import deep_merge
from tests.support.report_strategies import REPORT

pytestmark = pytest.mark.tier("unit")


def size(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(size(v) for v in value.values())
    if isinstance(value, list):
        return len(value) + sum(size(v) for v in value)
    return 0


def lists(value: Any, key: str = "") -> list[tuple[str, list[Any]]]:
    found: list[tuple[str, list[Any]]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            found += lists(v, k)
    elif isinstance(value, list):
        found.append((key, value))
        for v in value:
            found += lists(v, key)
    return found


CAPS = {"hms": MAX_HMS_MESSAGES, "ams": MAX_AMS_UNITS, "tray": MAX_TRAYS_PER_AMS}


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(REPORT, min_size=1, max_size=6), st.integers(min_value=0, max_value=80))
def test_any_deltas_keep_the_report_within_its_bounds(deltas: list[dict[str, Any]],
                                                      max_values: int) -> None:
    merged = MergedReport(max_values=max_values)
    for delta in deltas:
        before = copy.deepcopy(delta)
        merged.merge(delta)
        assert delta == before   # the delta is copied, never changed
        assert merged.values == size(merged.report) <= max_values
    for key, items in lists(merged.report):
        assert len(items) <= CAPS.get(key, MAX_LIST_ITEMS)
    unbounded = {}
    for delta in deltas:
        deep_merge(unbounded, delta)
    if size(unbounded) > max_values:
        assert merged.cuts.get("report", 0) > 0   # what did not fit was counted


def test_lists_are_cut_to_their_caps_and_counted() -> None:
    merged = MergedReport()
    merged.merge({"print": {
        "hms": [{"attr": i, "code": 1} for i in range(1000)],
        "ams": {"ams": [{"id": str(i), "tray": [{"id": str(t)} for t in range(40)]}
                        for i in range(40)]},
        "device": {"extruder": {"info": list(range(1000))}},
    }})
    p = merged.report["print"]
    assert len(p["hms"]) == MAX_HMS_MESSAGES
    assert len(p["ams"]["ams"]) == MAX_AMS_UNITS
    assert all(len(unit["tray"]) == MAX_TRAYS_PER_AMS for unit in p["ams"]["ams"])
    assert len(p["device"]["extruder"]["info"]) == MAX_LIST_ITEMS
    assert merged.cuts == {"hms": 1, "ams": 1, "tray": MAX_AMS_UNITS, "list": 1}


def test_new_ids_past_the_cap_are_refused_and_the_index_stays_small() -> None:
    merged = MergedReport()
    merged.merge({"print": {"ams": {"ams": [{"id": "0", "humidity": "4"}]}}})
    for i in range(1, 5000):
        merged.merge({"print": {"ams": {"ams": [{"id": str(i), "humidity": "3"}]}}})
    units = merged.report["print"]["ams"]["ams"]
    assert [u["id"] for u in units] == [str(i) for i in range(MAX_AMS_UNITS)]
    assert merged.cuts == {"ams": 5000 - MAX_AMS_UNITS}
    # Known ids still merge.
    merged.merge({"print": {"ams": {"ams": [{"id": "3", "humidity": "1"}]}}})
    assert units[3]["humidity"] == "1"


def test_a_full_report_makes_room_again() -> None:
    merged = MergedReport(max_values=20)
    merged.merge({"print": {"device": {f"k{i}": i for i in range(15)}}})
    merged.merge({"print": {"bed_temper": 1, "device": {"x": {"a": 1, "b": 2, "c": 3}}}})
    assert merged.cuts == {"report": 1} and "x" not in merged.report["print"]["device"]
    merged.merge({"print": {"device": 0}})   # the printer's own values shrink the report
    merged.merge({"print": {"device": {"x": {"a": 1}}}})
    assert merged.report["print"]["device"] == {"x": {"a": 1}}
    assert merged.values == size(merged.report)


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(REPORT, min_size=1, max_size=6))
def test_a_report_sent_again_changes_nothing(deltas: list[dict[str, Any]]) -> None:
    # X1-class printers resend their full report every second; the merge skips what is
    # unchanged, and must land where merging value by value would.
    merged = MergedReport()
    for delta in deltas:
        merged.merge(delta)
    picture = copy.deepcopy(merged.report)
    merged.merge(copy.deepcopy(deltas[-1]))
    assert merged.report == picture
    assert merged.values == size(merged.report)


def test_one_change_inside_an_unchanged_ams_is_still_taken() -> None:
    unit = {"id": "0", "humidity": "4", "tray": [{"id": "0", "remain": 80},
                                                  {"id": "1", "remain": 50}]}
    merged = MergedReport()
    merged.merge({"print": {"ams": {"ams": [unit]}, "bed_temper": 20.0}})
    changed = copy.deepcopy(unit)
    changed["tray"][1]["remain"] = 49
    merged.merge({"print": {"ams": {"ams": [changed]}, "bed_temper": 20.0}})
    assert merged.report["print"]["ams"]["ams"][0]["tray"][1]["remain"] == 49
    assert merged.report["print"]["ams"]["ams"][0]["tray"][0]["remain"] == 80
