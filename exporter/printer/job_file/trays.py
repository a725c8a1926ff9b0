"""Pure: which tray feeds each slicer filament of a job.

In order of trust: the report's `mapping` (one entry per slicer filament, ams_hw_id * 256
+ slot, 65535 unused), the `project_file` echo's `ams_mapping` (ams_id * 4 + slot, -1
unused), and for a one-filament job the tray in use (`ams.tray_now`). Tray names are the
ones the tray metrics use: ams "0".."3" with tray "0".."3", an AMS HT by its id (128..135)
with tray "0", external spools as ams "external" with tray "254" or "255".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.printer.job_file.plan import JobPlan

UNUSED_MAPPING = 65535
AMS_HT_IDS = range(128, 136)
EXTERNAL_IDS = (254, 255)
MAX_ENTRIES = 256


@dataclass(frozen=True)
class TrayRef:
    ams: str
    tray: str


@dataclass(frozen=True)
class TrayAssignment:
    """Each planned filament's tray (None: not known), and how many entries named a tray
    the printer does not have (counted, then ignored)."""

    trays: Mapping[int, TrayRef | None]
    unknown_targets: int


def from_hw_mapping(value: int) -> TrayRef | None:
    """One `mapping` entry: ams_hw_id * 256 + slot."""
    if value == UNUSED_MAPPING or not 0 <= value < 65536:
        return None
    unit, slot = value >> 8, value & 0xFF
    if unit in EXTERNAL_IDS:
        return TrayRef("external", str(unit))
    if unit in AMS_HT_IDS:
        return TrayRef(str(unit), str(slot))
    if unit < 4 and slot < 4:
        return TrayRef(str(unit), str(slot))
    return None


def from_slot_number(value: int) -> TrayRef | None:
    """One `ams_mapping` entry or `tray_now`: ams_id * 4 + slot, an AMS HT by its id,
    254/255 an external spool; anything else (-1, 255 as "none" on older firmware with
    no external spool in use) is None."""
    if value in EXTERNAL_IDS:
        return TrayRef("external", str(value))
    if value in AMS_HT_IDS:
        return TrayRef(str(value), "0")
    if 0 <= value < 16:
        return TrayRef(str(value // 4), str(value % 4))
    return None


def assign_trays(plan: JobPlan, existing: Collection[TrayRef], mapping: Any = None,
                 ams_mapping: Any = None, tray_now: Any = None) -> TrayAssignment:
    """Trays for the plan's filaments. `existing` are the trays the printer reports; an
    entry naming another is not trusted (the filament stays unmapped and is counted)."""
    slots = [f.slot for f in plan.filaments]
    for source, decode in ((mapping, from_hw_mapping), (ams_mapping, from_slot_number)):
        entries = _integers(source)
        if not entries:
            continue
        trays: dict[int, TrayRef | None] = {}
        unknown = 0
        for slot in slots:
            ref = decode(entries[slot - 1]) if slot - 1 < len(entries) else None
            if ref is not None and ref not in existing:
                unknown += 1
                ref = None
            trays[slot] = ref
        return TrayAssignment(trays, unknown)
    now = _integer(tray_now)
    ref = from_slot_number(now) if now is not None and len(slots) == 1 else None
    if ref is not None and ref not in existing:
        return TrayAssignment({slots[0]: None}, 1)
    return TrayAssignment({slot: ref for slot in slots}, 0)


def _integers(value: Any) -> list[int]:
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        return []
    out = []
    for item in value[:MAX_ENTRIES]:
        number = _integer(item)
        out.append(-1 if number is None else number)
    return out


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isascii() \
            and value.strip().lstrip("-").isdigit() and len(value) < 12:
        return int(value.strip())
    return None


def report_trays(printed: Mapping[str, Any]) -> set[TrayRef]:
    """The trays a report's `print` object says are there (AMS units' trays, external
    spools), named as the tray metrics name them."""
    found: set[TrayRef] = set()
    ams = printed.get("ams")
    units = ams.get("ams") if isinstance(ams, Mapping) else None
    for unit in units if isinstance(units, list) else []:
        if not isinstance(unit, Mapping):
            continue
        unit_id = _integer(unit.get("id"))
        trays = unit.get("tray")
        for tray in trays if isinstance(trays, list) and unit_id is not None else []:
            tray_id = _integer(tray.get("id")) if isinstance(tray, Mapping) else None
            if tray_id is not None:
                found.add(TrayRef(str(unit_id), str(tray_id)))
    external = printed.get("vir_slot")
    slots = list(external) if isinstance(external, list) else []
    if isinstance(printed.get("vt_tray"), Mapping):
        slots.append(printed["vt_tray"])
    for slot in slots[:MAX_ENTRIES]:
        slot_id = _integer(slot.get("id")) if isinstance(slot, Mapping) else None
        if slot_id in EXTERNAL_IDS:
            found.add(TrayRef("external", str(slot_id)))
    return found
