"""Which tray feeds each planned filament."""

from __future__ import annotations

import pytest

from exporter.printer.job_file.plan import JobPlan, PlannedFilament
from exporter.printer.job_file.trays import TrayRef, assign_trays, from_hw_mapping, from_slot_number

pytestmark = pytest.mark.tier("unit")


def plan(*slots: int) -> JobPlan:
    return JobPlan(1, 60.0, 10.0, tuple(PlannedFilament(s, "", "PLA", "", 1.0, 3.0) for s in slots))


TRAYS = {TrayRef("0", "0"), TrayRef("0", "2"), TrayRef("1", "3"), TrayRef("128", "0"),
         TrayRef("external", "254"), TrayRef("external", "255")}


def test_hw_mapping_values() -> None:
    assert from_hw_mapping(0x0102) == TrayRef("1", "2")
    assert from_hw_mapping(128 * 256) == TrayRef("128", "0")
    assert from_hw_mapping(254 * 256) == TrayRef("external", "254")
    assert from_hw_mapping(65535) is None and from_hw_mapping(-1) is None


def test_slot_numbers() -> None:
    assert from_slot_number(7) == TrayRef("1", "3")
    assert from_slot_number(129) == TrayRef("129", "0")
    assert from_slot_number(255) == TrayRef("external", "255")
    assert from_slot_number(-1) is None


def test_mapping_first_then_ams_mapping_then_tray_now() -> None:
    p = plan(1, 3)
    got = assign_trays(p, TRAYS, mapping=[0x0002, 65535, 128 * 256], ams_mapping=[0, -1, 7])
    assert got.trays == {1: TrayRef("0", "2"), 3: TrayRef("128", "0")} and got.unknown_targets == 0
    got = assign_trays(p, TRAYS, ams_mapping=[0, -1, 7])
    assert got.trays == {1: TrayRef("0", "0"), 3: TrayRef("1", "3")}
    assert assign_trays(plan(1), TRAYS, tray_now="254").trays == {1: TrayRef("external", "254")}
    # two filaments and only the tray in use: not guessed
    assert assign_trays(p, TRAYS, tray_now="2").trays == {1: None, 3: None}


def test_entries_naming_missing_trays_are_counted_and_dropped() -> None:
    got = assign_trays(plan(1, 2), TRAYS, mapping=[3 * 256 + 1, "junk"])
    assert got.trays == {1: None, 2: None} and got.unknown_targets == 1
    assert assign_trays(plan(1), TRAYS, tray_now="9").unknown_targets == 1


def test_hostile_shapes_map_nothing() -> None:
    for value in ("0,1", {"a": 1}, [True, None, 1e9], list(range(10_000))):
        got = assign_trays(plan(1), TRAYS, mapping=value)
        assert set(got.trays) == {1}
