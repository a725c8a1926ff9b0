"""Pure: read a merged printer report into a typed PrinterSnapshot.

Everything here is a function of its arguments: no network, no clock, no state.
Printers send untyped JSON whose fields vary by model and firmware, so every field
is read defensively: a missing or malformed value becomes None and its series is
left out, rather than an exception that would hide the rest of the printer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bambulabs_api.states_info import GcodeState, PrintStatus

from exporter.printer.sanitize import finite_float
from exporter.printer.vocabulary import (
    CHAMBER_SENSOR_MODELS,
    FAN_FIELDS,
    FAN_STEPS,
    HMS_MODULES,
    HMS_SEVERITIES,
    PRODUCT_NAME_MODELS,
    SERIAL_PREFIX_MODELS,
)
from exporter.text import bounded_text


@dataclass(frozen=True)
class HmsMessage:
    code: str       # AAAA_BBBB_CCCC_DDDD
    severity: str   # fatal | serious | common | info | unknown
    module: str     # mc, mainboard, ams, toolhead, xcam, ... or 0xNN


@dataclass(frozen=True)
class Nozzle:
    nozzle: str     # "0", "1" (H2D has two)
    type: str
    diameter: str


@dataclass(frozen=True)
class Tray:
    ams: str
    tray: str
    material: str
    color: str
    remaining: float | None   # 0..1; None when the printer does not know (-1)


@dataclass(frozen=True)
class AmsUnit:
    ams: str
    humidity_index: int | None      # Bambu Studio's scale: 1 dry .. 5 wet
    humidity_ratio: float | None    # 0..1 where the printer reports a percentage
    temperature: float | None


@dataclass(frozen=True)
class PrinterSnapshot:
    """What one printer's merged report says, typed; None = not reported."""

    state: str                                  # a GcodeState value
    stage: str | None                           # a PrintStatus name
    temperatures: tuple[tuple[str, float], ...]  # (sensor, celsius)
    targets: tuple[tuple[str, float], ...]
    fans: tuple[tuple[str, float], ...]          # (fan, ratio)
    progress: float | None
    remaining_seconds: float | None
    layer: int | None
    layers: int | None
    speed: float | None
    job_file: str
    job_task: str
    print_error: int | None
    hms: tuple[HmsMessage, ...]
    wifi_dbm: float | None
    nozzles: tuple[Nozzle, ...]
    ams: tuple[AmsUnit, ...]
    trays: tuple[Tray, ...]


def model_from_serial(serial: str) -> str | None:
    return SERIAL_PREFIX_MODELS.get(serial[:3])


def model_from_version(version: Mapping[str, Any] | None) -> str | None:
    ota = _ota_module(version)
    if ota is None:
        return None
    product = str(ota.get("product_name", "")).strip().lower()
    return PRODUCT_NAME_MODELS.get(product)


def firmware_from_version(version: Mapping[str, Any] | None) -> str | None:
    ota = _ota_module(version)
    if ota is None:
        return None
    sw_ver = ota.get("sw_ver")
    return (_label(sw_ver) or None) if isinstance(sw_ver, (str, int)) else None


def _ota_module(version: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not isinstance(version, Mapping):
        return None
    modules = version.get("module")
    if not isinstance(modules, list):
        return None
    for module in modules:
        if isinstance(module, Mapping) and module.get("name") == "ota":
            return module
    return None


def decode_hms(attr: Any, code: Any) -> HmsMessage | None:
    """HMS {attr, code} -> code string, severity (code's high half), module (attr's top byte)."""
    a, c = _as_int(attr), _as_int(code)
    if a is None or c is None or a < 0 or c < 0:
        return None
    a &= 0xFFFFFFFF
    c &= 0xFFFFFFFF
    text = f"{a >> 16:04X}_{a & 0xFFFF:04X}_{c >> 16:04X}_{c & 0xFFFF:04X}"
    severity = HMS_SEVERITIES.get(c >> 16, "unknown")
    module_id = a >> 24
    module = HMS_MODULES.get(module_id, f"0x{module_id:02X}")
    return HmsMessage(code=text, severity=severity, module=module)


def job_result(previous: str | None, current: str) -> str | None:
    """'finished' or 'failed' when a job was seen ending between two states."""
    active = {"PREPARE", "RUNNING", "PAUSE"}
    if previous in active and current == "FINISH":
        return "finished"
    if previous in active and current == "FAILED":
        return "failed"
    return None


def snapshot(report: Mapping[str, Any], model: str | None) -> PrinterSnapshot:
    """Read a merged report ({"print": {...}}) into a PrinterSnapshot."""
    p = report.get("print")
    if not isinstance(p, Mapping):
        p = {}
    device = _mapping(p.get("device"))

    temperatures: list[tuple[str, float]] = []
    targets: list[tuple[str, float]] = []
    _add(temperatures, "nozzle", _as_float(p.get("nozzle_temper")))
    _add(targets, "nozzle", _as_float(p.get("nozzle_target_temper")))
    _add(temperatures, "bed", _as_float(p.get("bed_temper")))
    _add(targets, "bed", _as_float(p.get("bed_target_temper")))
    second = _second_extruder(device)
    if second is not None:
        _add(temperatures, "nozzle2", second[0])
        _add(targets, "nozzle2", second[1])
    _add(temperatures, "chamber", _chamber_temperature(p, device, model))

    fans = [(label, min(max(v / FAN_STEPS, 0.0), 1.0))
            for field, label in FAN_FIELDS.items()
            if (v := _as_float(p.get(field))) is not None]

    percent = _as_float(p.get("mc_percent"))
    remaining = _as_float(p.get("mc_remaining_time"))
    speed = _as_float(p.get("spd_mag"))

    return PrinterSnapshot(
        state=_gcode_state(p.get("gcode_state")),
        stage=_stage(p.get("stg_cur")),
        temperatures=tuple(temperatures),
        targets=tuple(targets),
        fans=tuple(fans),
        progress=None if percent is None else min(max(percent / 100.0, 0.0), 1.0),
        remaining_seconds=None if remaining is None or remaining < 0 else remaining * 60.0,
        layer=_as_int(p.get("layer_num")),
        layers=_as_int(p.get("total_layer_num")),
        speed=None if speed is None else speed / 100.0,
        job_file=_as_str(p.get("gcode_file")),
        job_task=_as_str(p.get("subtask_name")),
        print_error=_as_int(p.get("print_error")),
        hms=_hms(p.get("hms")),
        wifi_dbm=_wifi(p.get("wifi_signal")),
        nozzles=_nozzles(p, device),
        ams=_ams_units(p.get("ams")),
        trays=_trays(p),
    )


def _gcode_state(value: Any) -> str:
    if not isinstance(value, str):
        return GcodeState.UNKNOWN.value
    return GcodeState(value.strip().upper()).value  # unknown words -> UNKNOWN


def _stage(value: Any) -> str | None:
    number = _as_int(value)
    if number is None:
        return None
    if number == -1:  # X1 firmware reports -1 where P1/A1 report 255: idle
        return PrintStatus.IDLE.name
    return PrintStatus(number).name  # unknown numbers -> UNKNOWN


def _chamber_temperature(p: Mapping[str, Any], device: Mapping[str, Any],
                         model: str | None) -> float | None:
    ctc = _mapping(_mapping(device.get("ctc")).get("info"))
    if "temp" in ctc:
        return _packed_current(ctc.get("temp"))
    if model in CHAMBER_SENSOR_MODELS:
        return _as_float(p.get("chamber_temper"))
    return None


def _second_extruder(device: Mapping[str, Any]) -> tuple[float | None, float | None] | None:
    info = _mapping(device.get("extruder")).get("info")
    if not isinstance(info, list):
        return None
    for extruder in info:
        if isinstance(extruder, Mapping) and _as_int(extruder.get("id")) == 1:
            packed = _as_int(extruder.get("temp"))
            if packed is None:
                return None
            target = _as_float(extruder.get("htar"))
            if packed > 0xFFFF:  # H2D packs target << 16 | current
                return float(packed & 0xFFFF), float(packed >> 16)
            return float(packed), target
    return None


def _packed_current(value: Any) -> float | None:
    number = _as_float(value)
    if number is None:
        return None
    if number > 0xFFFF and number == int(number):
        return float(int(number) & 0xFFFF)
    return number


def _hms(value: Any) -> tuple[HmsMessage, ...]:
    if not isinstance(value, list):
        return ()
    messages: dict[str, HmsMessage] = {}
    for entry in value:
        if isinstance(entry, Mapping):
            message = decode_hms(entry.get("attr"), entry.get("code"))
            if message is not None:
                messages.setdefault(message.code, message)
    return tuple(messages.values())


def _wifi(value: Any) -> float | None:
    if isinstance(value, str):
        value = value.strip().lower().removesuffix("dbm")
    return _as_float(value)


def _nozzles(p: Mapping[str, Any], device: Mapping[str, Any]) -> tuple[Nozzle, ...]:
    info = _mapping(device.get("nozzle")).get("info")
    nozzles: list[Nozzle] = []
    if isinstance(info, list):
        for entry in info:
            if not isinstance(entry, Mapping):
                continue
            nid = _as_int(entry.get("id"))
            diameter = _as_float(entry.get("diameter"))
            if nid is None:
                continue
            nozzles.append(Nozzle(str(nid), _as_str(entry.get("type")),
                                  _diameter(diameter)))
    if nozzles:
        return tuple(nozzles)
    kind = _as_str(p.get("nozzle_type"))
    diameter = _as_float(p.get("nozzle_diameter"))
    if not kind and diameter is None:
        return ()
    return (Nozzle("0", kind, _diameter(diameter)),)


def _diameter(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _ams_units(value: Any) -> tuple[AmsUnit, ...]:
    units: list[AmsUnit] = []
    for unit in _ams_list(value):
        level = _as_int(unit.get("humidity"))
        raw = _as_float(unit.get("humidity_raw"))
        temp = _as_float(unit.get("temp"))
        units.append(AmsUnit(
            ams=_label(unit.get("id")),
            # Firmware counts 5 = driest; Bambu Studio (and users) 1 = dry .. 5 = wet.
            humidity_index=6 - level if level is not None and 1 <= level <= 5 else None,
            humidity_ratio=raw / 100.0 if raw is not None and 0 <= raw <= 100 else None,
            # AMS lite has no sensor and reports 0.0; no real AMS reads exactly 0.
            temperature=temp if temp else None,
        ))
    return tuple(units)


def _ams_list(value: Any) -> list[Mapping[str, Any]]:
    units = _mapping(value).get("ams")
    if not isinstance(units, list):
        return []
    return [u for u in units if isinstance(u, Mapping) and "id" in u]


def _trays(p: Mapping[str, Any]) -> tuple[Tray, ...]:
    trays: list[Tray] = []
    for unit in _ams_list(p.get("ams")):
        for tray in unit.get("tray") or []:
            if isinstance(tray, Mapping) and "id" in tray:
                _add_tray(trays, _label(unit.get("id")), tray, use_remain=True)
    vt_tray = p.get("vt_tray")
    if isinstance(vt_tray, Mapping):
        # The external spool has no RFID reading: its `remain` is not a measurement.
        _add_tray(trays, "external", {**vt_tray, "id": "0"}, use_remain=False)
    return tuple(trays)


def _add_tray(trays: list[Tray], ams: str, tray: Mapping[str, Any], use_remain: bool) -> None:
    material = _as_str(tray.get("tray_type"))
    if not material:  # empty slot
        return
    remain = _as_float(tray.get("remain")) if use_remain else None
    trays.append(Tray(
        ams=ams,
        tray=_label(tray.get("id")),
        material=material,
        color=_as_str(tray.get("tray_color")).upper(),
        remaining=remain / 100.0 if remain is not None and 0 <= remain <= 100 else None,
    ))


# ---------------------------------------------------------------------- coercion

def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _add(series: list[tuple[str, float]], label: str, value: float | None) -> None:
    if value is not None:
        series.append((label, value))


def _as_float(value: Any) -> float | None:
    # Finite or nothing: NaN, infinities and integers too large for a float are not values.
    return finite_float(value)


def _as_int(value: Any) -> int | None:
    number = _as_float(value)
    return None if number is None or number != int(number) else int(number)


def _label(value: Any) -> str:
    """Any JSON value as label text (ids are numbers or text, but who knows)."""
    if isinstance(value, str):
        return bounded_text(value)
    try:
        return bounded_text(str(value))
    except ValueError:  # an integer past Python's 4300-digit str() limit
        return ""


def _as_str(value: Any) -> str:
    # Valid UTF-8 and at most a label value's length, whoever built the report.
    return bounded_text(value.strip()) if isinstance(value, str) else ""
