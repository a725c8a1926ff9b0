"""Pure: merge a printer's report messages into one picture of the printer.

P1/A1 printers send deltas; X1 printers send full reports. Either way the merged report
is what the printer would answer to a pushall now.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from exporter.printer.vocabulary import FAN_FIELDS


def deep_merge(base: dict[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a P1/A1 delta into the last full report, in place; returns `base`.

    Objects merge key by key at every depth (the library merges one level, so a
    partial `ams` would wipe the AMS units). Lists of objects that all carry an `id`
    (AMS units, trays) merge element by element on that id, because printers send
    only the changed unit or tray. Any other list, and any scalar, replaces.
    """
    for key, value in delta.items():
        current = base.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            deep_merge(current, value)
        elif _is_id_list(value) and _is_id_list(current):
            base[key] = _merge_id_lists(current, value)
        else:
            base[key] = _copy(value)
    return base


def _is_id_list(value: Any) -> TypeGuard[list[Any]]:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(item, Mapping) and "id" in item for item in value))


def _merge_id_lists(current: list[Any], delta: list[Any]) -> list[Any]:
    by_id = {str(item["id"]): item for item in current}
    merged = list(current)
    for item in delta:
        existing = by_id.get(str(item["id"]))
        if existing is None:
            merged.append(_copy(item))
        else:
            deep_merge(existing, item)
    return merged


def _copy(value: Any) -> Any:
    # Deltas are fresh json.loads output, but a full report may later be merged
    # into; copying containers keeps the two from sharing structure.
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# The parts of `print` that snapshot() reads. Reports carry much more (camera, upgrade,
# network, xcam...); keeping only these bounds the memory and merge cost per printer.
KEPT_PRINT_KEYS = frozenset({
    "gcode_state", "stg_cur", "mc_print_stage", "nozzle_temper", "nozzle_target_temper",
    "bed_temper", "bed_target_temper", "chamber_temper", *FAN_FIELDS, "mc_percent",
    "mc_remaining_time", "layer_num", "total_layer_num", "spd_mag", "spd_lvl", "gcode_file",
    "subtask_name", "print_error", "hms", "wifi_signal", "nozzle_type", "nozzle_diameter",
    "ams", "vt_tray", "device",
    # newer data (issue 9): door, lights, job start, H2 external spools
    "home_flag", "stat", "lights_report", "gcode_start_time", "vir_slot",
})


def prune_report(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a report message worth merging: {"print": {kept keys}} or {}."""
    printed = payload.get("print")
    if not isinstance(printed, Mapping):
        return {}
    kept = {k: v for k, v in printed.items() if k in KEPT_PRINT_KEYS}
    return {"print": kept} if kept else {}
