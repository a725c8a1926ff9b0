"""Pure: merge a printer's report messages into one picture of the printer.

P1/A1 printers send deltas; X1 printers send full reports. Either way the merged report
is what the printer would answer to a pushall now.
"""

from __future__ import annotations

from collections.abc import Mapping
from sys import intern
from typing import Any, TypeGuard

from exporter.printer.vocabulary import FAN_FIELDS

# Bounds on one printer's merged report (docs/security.md, "Bounds"). Real printers stay far
# below them: at most 4 AMS units (ids up to 131 with AMS HT), 4 trays each, a handful of
# HMS messages, some 800 values in a full report.
MAX_HMS_MESSAGES = 64
MAX_AMS_UNITS = 16
MAX_TRAYS_PER_AMS = 16
MAX_LIST_ITEMS = 64          # any other list
MAX_REPORT_VALUES = 10_000   # object members and list items in the whole report
# List key -> (bound, cap). A cut is counted under the bound's name.
_LIST_BOUNDS: dict[str, tuple[str, int]] = {
    "hms": ("hms", MAX_HMS_MESSAGES),
    "ams": ("ams", MAX_AMS_UNITS),
    "tray": ("tray", MAX_TRAYS_PER_AMS),
}
_OTHER_LIST = ("list", MAX_LIST_ITEMS)
# Cut by the report's own bound: new keys or ids refused while the report is full.
REPORT_BOUND = "report"


class MergedReport:
    """One printer's merged report, kept within the bounds above; `cuts` counts what
    they cut, by bound.

    Objects merge key by key at every depth (bambulabs_api merges one level, so a partial
    `ams` would wipe the AMS units). Lists of objects that all carry an `id` (AMS units,
    trays) merge element by element on it, since printers send only the changed unit or
    tray; any other list, and any scalar, replaces. Each merge costs time linear in the
    delta (plus the bounded size of the lists it merges into, and of the values it
    replaces, each of which was once counted as added)."""

    def __init__(self, max_values: int = MAX_REPORT_VALUES) -> None:
        self.report: dict[str, Any] = {}
        self.values = 0
        self.cuts: dict[str, int] = {}
        self._merger = _Merger(self, max_values)

    def merge(self, delta: Mapping[str, Any]) -> None:
        self._merger.merge(self.report, delta)


class _Merger:
    def __init__(self, owner: MergedReport, max_values: int) -> None:
        self._owner = owner
        self._max = max_values   # < 0: no bound on the whole report

    def _cut(self, bound: str) -> None:
        cuts = self._owner.cuts
        cuts[bound] = cuts.get(bound, 0) + 1

    def _room(self, added: int) -> bool:
        if self._max < 0 or added <= 0 or self._owner.values + added <= self._max:
            self._owner.values += added
            return True
        self._cut(REPORT_BOUND)
        return False

    def merge(self, base: dict[str, Any], delta: Mapping[str, Any]) -> None:
        # Exact type checks (JSON gives dicts and lists): this runs for every value of
        # every message, and most are a scalar replacing a scalar.
        for key, value in delta.items():
            current = base.get(key, _MISSING)
            kind = type(value)
            if kind is dict:
                if type(current) is dict:
                    # X1-class printers resend everything each second, mostly unchanged:
                    # one comparison in C is cheaper than merging value by value.
                    if value != current:
                        self.merge(current, value)
                    continue
            elif kind is list:
                if value == current:
                    continue
                if _is_id_list(value) and _is_id_list(current):
                    self._merge_id_list(key, current, value)
                    continue
            elif current is not _MISSING and type(current) is not dict \
                    and type(current) is not list:
                base[key] = value   # a scalar over a scalar: the size stays
                continue
            new, size = self._take(key, value)
            old = 0 if current is _MISSING else _size(current)
            if self._room(size - old + (current is _MISSING)):
                base[key] = new

    def _merge_id_list(self, key: str, current: list[Any], delta: list[Any]) -> None:
        bound, cap = _LIST_BOUNDS.get(key, _OTHER_LIST)
        # `current` is within its cap, so this index costs a bounded time per delta.
        by_id = {str(item["id"]): item for item in current}
        refused = False
        for item in delta:
            item_id = str(item["id"])
            existing = by_id.get(item_id)
            if existing is not None:
                self.merge(existing, item)
            elif len(current) >= cap:
                refused = True
            else:
                new, size = self._take(key, item)
                if self._room(size + 1):
                    current.append(new)
                    by_id[item_id] = new
        if refused:
            self._cut(bound)

    def _take(self, key: str, value: Any) -> tuple[Any, int]:
        """A copy of `value` with its lists cut to their bounds, and its size in values.
        (Deltas are fresh json.loads output, but a full report may later be merged into;
        copying keeps the two from sharing structure.)"""
        kind = type(value)
        if kind is dict or (kind is not list and isinstance(value, Mapping)):
            out: dict[str, Any] = {}
            size = len(value)
            for k, v in value.items():
                # One copy of each key for the fleet: a report's ~200 keys are the same
                # for every printer (~5 KiB a printer; json.loads makes new ones for each).
                out[intern(k)], inner = self._take(k, v)
                size += inner
            return out, size
        if kind is list:
            bound, cap = _LIST_BOUNDS.get(key, _OTHER_LIST)
            if len(value) > cap:
                self._cut(bound)
                value = value[:cap]
            items = []
            size = len(value)
            for v in value:
                item, inner = self._take(key, v)
                items.append(item)
                size += inner
            return items, size
        return value, 0


_MISSING: Any = object()


def _size(value: Any) -> int:
    """Object members and list items in `value`, at every depth."""
    size = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            size += len(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            size += len(item)
            stack.extend(item)
    return size


def _is_id_list(value: Any) -> TypeGuard[list[Any]]:
    return (type(value) is list and bool(value)
            and all(type(item) is dict and "id" in item for item in value))


# The parts of `print` that snapshot() reads. Reports carry much more (camera, upgrade,
# network, xcam...); keeping only these bounds the memory and merge cost per printer.
KEPT_PRINT_KEYS = frozenset({
    "gcode_state", "stg_cur", "mc_print_stage", "nozzle_temper", "nozzle_target_temper",
    "bed_temper", "bed_target_temper", "chamber_temper", *FAN_FIELDS, "mc_percent",
    "mc_remaining_time", "layer_num", "total_layer_num", "spd_mag", "spd_lvl", "gcode_file",
    "subtask_name", "print_error", "hms", "wifi_signal", "nozzle_type", "nozzle_diameter",
    "ams", "vt_tray", "device",
    # a job's identity (printer/jobs.py); which tray feeds each of its filaments (job_file/)
    "subtask_id", "task_id", "mapping",
    # newer firmware's data: door, lights, job start, H2 external spools
    "home_flag", "stat", "lights_report", "gcode_start_time", "vir_slot",
    # health: firmware update, camera recording
    "upgrade_state", "ipcam",
})


def prune_report(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a report message worth merging: {"print": {kept keys}} or {}."""
    printed = payload.get("print")
    if not isinstance(printed, Mapping):
        return {}
    kept = {k: v for k, v in printed.items() if k in KEPT_PRINT_KEYS}
    return {"print": kept} if kept else {}
