"""Pure: read a merged printer report into a typed PrinterSnapshot.

Everything here is a function of its arguments: no network, no clock, no state.
Printers send untyped JSON whose fields vary by model and firmware, so every field
is read defensively: a missing or malformed value becomes None and its series is
left out, rather than an exception that would hide the rest of the printer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from bambulabs_api.states_info import GcodeState, PrintStatus

from exporter.printer.sanitize import finite_float
from exporter.printer.vocabulary import (
    AMS_MODULES,
    AMS_TYPES,
    DOOR_OPEN_BIT,
    EXTERNAL_SLOT,
    FAN_FIELDS,
    FAN_STEPS,
    FILAMENT_TANGLE_BIT,
    HMS_MODULES,
    HMS_SEVERITIES,
    LIGHT_MODES,
    LIGHT_NODES,
    MODELS,
    NOZZLE_FLOWS,
    NOZZLE_MATERIAL_NAMES,
    NOZZLE_MATERIALS,
    SDCARD_ABNORMAL_BIT,
    SDCARD_PRESENT_BIT,
    SERIAL_PREFIX_MODELS,
    WIRED_NETWORK_BIT,
    ModelSpec,
    model_label,
)
from exporter.text import bounded_text


@dataclass(frozen=True)
class HmsMessage:
    code: str       # AAAA_BBBB_CCCC_DDDD
    severity: str   # fatal | serious | common | info | unknown
    module: str     # mc, mainboard, ams, toolhead, xcam, ... or 0xNN


@dataclass(frozen=True)
class Nozzle:
    nozzle: str     # "0" on single-nozzle printers; "right", "left" on dual ones
    type: str       # as the printer says it: "HS01", "hardened_steel"
    diameter: str
    material: str = ""   # stainless_steel, hardened_steel, tungsten_carbide, unknown
    flow: str = ""       # standard, high_flow, tpu_high_flow, unknown ("" = not said)


@dataclass(frozen=True)
class Tray:
    ams: str
    tray: str
    material: str
    color: str
    remaining: float | None   # 0..1; None when the printer does not know (-1)
    weight: float | None = None   # the spool's nominal grams (tray_weight); None: not said


@dataclass(frozen=True)
class AmsUnit:
    ams: str
    humidity_index: int | None      # Bambu Studio's scale: 1 dry .. 5 wet
    humidity_ratio: float | None    # 0..1 where the printer reports a percentage
    temperature: float | None
    model: str | None = None        # AMS, AMS_LITE, AMS_2_PRO, AMS_HT
    drying: bool | None = None      # None: the unit does not say


@dataclass(frozen=True)
class PrinterSnapshot:
    """What one printer's merged report says, typed; None = not reported."""

    state: str                                  # a GcodeState value
    stage: str | None                           # a PrintStatus name, or STAGE_<n>
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
    nozzles: tuple[Nozzle, ...]                  # mounted
    ams: tuple[AmsUnit, ...]
    trays: tuple[Tray, ...]
    active_extruder: int | None = None           # dual-nozzle printers: 0 right, 1 left
    door_open: bool | None = None
    lights: tuple[tuple[str, bool], ...] = ()    # (light, on)
    print_start: float | None = None             # unix time the current or last job began
    firmware_update: bool | None = None          # upgrade_state.new_version_state == 1
    firmware_new_version: str = ""               # the ota module's new_ver, when offered
    sdcard: str | None = None                    # absent | present | abnormal
    camera_recording: bool | None = None
    filament_tangle: bool | None = None
    network_link: str | None = None              # wired | wifi
    rack_hotends: tuple[Nozzle, ...] = ()        # H2C: parked in the rack, by id (16 and up)

    @property
    def print_error_code(self) -> str | None:
        """print_error as XXXX_XXXX (Bambu's wiki and HMS texts), None when there is none."""
        return format_print_error(self.print_error) if self.print_error else None


def format_print_error(code: int) -> str:
    code &= 0xFFFFFFFF
    return f"{code >> 16:04X}_{code & 0xFFFF:04X}"


def model_from_serial(serial: str) -> str | None:
    return SERIAL_PREFIX_MODELS.get(serial[:3])


def model_from_version(version: Mapping[str, Any] | None) -> str | None:
    ota = _module(version, "ota")
    if ota is None:
        return None
    product = ota.get("product_name")
    return model_label(bounded_text(product)) if isinstance(product, str) else None


def firmware_from_version(version: Mapping[str, Any] | None) -> str | None:
    ota = _module(version, "ota")
    if ota is None:
        return None
    sw_ver = ota.get("sw_ver")
    return (_label(sw_ver) or None) if isinstance(sw_ver, (str, int)) else None


def ams_models_from_version(version: Mapping[str, Any] | None) -> dict[str, str]:
    """AMS unit id -> model from get_version's module names ("n3f/2" -> {"2": "AMS_2_PRO"})."""
    models: dict[str, str] = {}
    for module in _modules(version):
        kind, sep, unit = str(module.get("name", "")).partition("/")
        if sep and unit and kind in AMS_MODULES:
            models[unit] = AMS_MODULES[kind]
    return models


def _modules(version: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not _is_mapping(version):
        return []
    modules = version.get("module")
    if not isinstance(modules, list):
        return []
    return [m for m in modules if _is_mapping(m)]


def _module(version: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    for module in _modules(version):
        if module.get("name") == name:
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


def decode_nozzle_type(kind: str) -> tuple[str, str]:
    """A nozzle type as printers send it -> (material, flow); ("", "") when not said.

    Newer firmware sends codes ("HS01": flow from the second letter, material from the
    last two digits); older firmware the material's name ("hardened_steel")."""
    if not kind:
        return "", ""
    if kind.lower() in NOZZLE_MATERIAL_NAMES:
        return kind.lower(), ""
    code = kind.upper()
    if len(code) == 4 and code[:2].isalpha() and code[2:].isdigit():
        return NOZZLE_MATERIALS.get(code[2:], "unknown"), NOZZLE_FLOWS.get(code[1], "unknown")
    return "unknown", "unknown"


def snapshot(report: Mapping[str, Any], model: str | None,
             version: Mapping[str, Any] | None = None) -> PrinterSnapshot:
    """Read a merged report ({"print": {...}}) into a PrinterSnapshot.

    `model` decides what the printer can measure (MODELS); `version`, the get_version
    answer, names AMS models where the units' own info bits do not."""
    p = report.get("print")
    if not _is_mapping(p):
        p = {}
    device = _mapping(p.get("device"))
    spec = MODELS.get(model) if model else None
    extruder = _mapping(device.get("extruder"))
    extruder_state = _as_int(extruder.get("state"))
    dual = _is_dual(spec, extruder_state, extruder.get("info"))

    temperatures: list[tuple[str, float]] = []
    targets: list[tuple[str, float]] = []

    def add(sensor: str, reading: tuple[float | None, float | None]) -> None:
        _add(temperatures, sensor, reading[0])
        _add(targets, sensor, reading[1])

    flat_nozzle = (_as_float(p.get("nozzle_temper")), _as_float(p.get("nozzle_target_temper")))
    # One nozzle: the flat target is that nozzle's, for firmware whose packed value holds
    # the current reading only. Two: the packed target is each nozzle's own, 0 = none.
    extruders = _extruders(extruder.get("info"), None if dual else flat_nozzle[1])
    active = None if extruder_state is None else (extruder_state >> 4) & 0xF
    if dual:
        for extruder_id, sensor in ((0, "nozzle_right"), (1, "nozzle_left")):
            if extruder_id in extruders:
                add(sensor, extruders[extruder_id])
            elif not extruders and extruder_id == (active or 0):
                add(sensor, flat_nozzle)  # older shape: the flat field is the active nozzle
    else:
        add("nozzle", extruders.get(0, flat_nozzle))
    add("bed", _packed_or(_mapping(device.get("bed")).get("info"),
                          (_as_float(p.get("bed_temper")), _as_float(p.get("bed_target_temper")))))
    chamber = _chamber(p, device, spec)
    if chamber is not None:
        add("chamber", chamber)

    fans = [(label, min(max(v / FAN_STEPS, 0.0), 1.0))
            for field, label in FAN_FIELDS.items()
            if (v := _as_float(p.get(field))) is not None]

    percent = _as_float(p.get("mc_percent"))
    remaining = _as_float(p.get("mc_remaining_time"))
    speed = _as_float(p.get("spd_mag"))

    state = _gcode_state(p.get("gcode_state"))
    nozzles, rack = _nozzles(p, device, dual)
    return PrinterSnapshot(
        state=state,
        stage=_stage(p.get("stg_cur"), _as_str(p.get("print_type")), state),
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
        nozzles=nozzles,
        rack_hotends=rack,
        ams=_ams_units(p.get("ams"), ams_models_from_version(version)),
        trays=_trays(p),
        active_extruder=active if dual and active in (0, 1) else None,
        door_open=_door_open(p, spec),
        **_health(p, spec),
        lights=_lights(p.get("lights_report")),
        print_start=_timestamp(p.get("gcode_start_time")),
    )


def _gcode_state(value: Any) -> str:
    if not isinstance(value, str):
        return GcodeState.UNKNOWN.value
    return GcodeState(value.strip().upper()).value  # unknown words -> UNKNOWN


# gcode_states in which no job moves: a stage 0 ("printing") there is the boot value.
RESTING_STATES = frozenset({"IDLE", "FINISH", "FAILED"})


def _stage(value: Any, print_type: str = "", state: str = "") -> str | None:
    number = _as_int(value)
    if number is None:
        return None
    if number == -1:  # X1 firmware reports -1 where P1/A1 report 255: idle
        return PrintStatus.IDLE.name
    if number == 0 and (print_type == "idle" or state in RESTING_STATES):
        # After boot an idle printer reports stage 0 with print_type "idle".
        return PrintStatus.IDLE.name
    known = PrintStatus._value2member_map_.get(number)
    # Newer firmware adds stages the library lacks: name them, never drop them.
    return known.name if isinstance(known, PrintStatus) else f"STAGE_{number}"


def _is_dual(spec: ModelSpec | None, state: int | None, info: Any) -> bool:
    if spec is not None:
        return spec.nozzles == 2
    # A model we do not know: believe the report (extruder count in state's low 4 bits).
    if state is not None and state & 0xF:
        return state & 0xF >= 2
    return len(_extruders(info)) >= 2


Reading = tuple[float | None, float | None]   # (current, target)


def _unpack(value: Any, fallback_target: float | None = None) -> Reading | None:
    """Newer firmware packs a temperature as target << 16 | current."""
    number = _as_float(value)
    if number is None or number < 0:
        return None
    if number != int(number):  # a plain reading, not a packed one
        return number, fallback_target
    packed = int(number)
    target = packed >> 16 & 0xFFFF
    # 0 means no target, unless the firmware keeps the target in a flat field instead.
    return float(packed & 0xFFFF), float(target) if target else (fallback_target or 0.0)


def _packed_or(info: Any, flat: Reading) -> Reading:
    # X1 firmware sends device.*.info.temp unpacked (current only, no high bits): its
    # target is then the flat field's.
    packed = _unpack(_mapping(info).get("temp"), flat[1])
    return packed if packed is not None else flat


def _extruders(info: Any, fallback_target: float | None = None) -> dict[int, Reading]:
    """device.extruder.info by extruder id. Its htar/hnow/hpre are hotend ids (which
    hotend of a rack is on), not temperatures: the target is in the packed temp."""
    extruders: dict[int, Reading] = {}
    if not isinstance(info, list):
        return extruders
    for entry in info:
        if not _is_mapping(entry):
            continue
        extruder_id = _as_int(entry.get("id"))
        reading = _unpack(entry.get("temp"), fallback_target)
        if extruder_id is not None and reading is not None:
            extruders.setdefault(extruder_id, reading)
    return extruders


def _chamber(p: Mapping[str, Any], device: Mapping[str, Any],
             spec: ModelSpec | None) -> Reading | None:
    packed = _unpack(_mapping(_mapping(device.get("ctc")).get("info")).get("temp"))
    if spec is None:  # unknown model: newer firmware sends device.ctc only where measured
        return None if packed is None else (packed[0], packed[1] or None)
    if not spec.chamber_sensor:  # P1/A1 send a placeholder chamber_temper
        return None
    current = packed[0] if packed is not None else _as_float(p.get("chamber_temper"))
    target = packed[1] if packed is not None and spec.chamber_heater else None
    return current, target


def _flag_bits(p: Mapping[str, Any], spec: ModelSpec | None) -> int | None:
    """The model's home_flag (int, may be negative) or stat (hex string) as 32 bits."""
    if spec is None or spec.flags is None:
        return None
    value = p.get(spec.flags)
    if spec.flags == "stat" and isinstance(value, str):
        try:
            bits: int | None = int(value.strip(), 16)
        except ValueError:
            bits = None
    else:
        bits = _as_int(value)
    return None if bits is None else bits & 0xFFFFFFFF


def _door_open(p: Mapping[str, Any], spec: ModelSpec | None) -> bool | None:
    bits = _flag_bits(p, spec)
    return None if bits is None else bool(bits & DOOR_OPEN_BIT)


def _health(p: Mapping[str, Any], spec: ModelSpec | None) -> dict[str, Any]:
    """SD card, tangle and network from the flag bits (models whose bits we know), the
    camera from ipcam, a firmware update from upgrade_state: None where not reported."""
    out: dict[str, Any] = {}
    bits = _flag_bits(p, spec)
    if bits is not None:
        out["sdcard"] = ("abnormal" if bits & SDCARD_ABNORMAL_BIT
                         else "present" if bits & SDCARD_PRESENT_BIT else "absent")
        out["filament_tangle"] = bool(bits & FILAMENT_TANGLE_BIT)
        out["network_link"] = "wired" if bits & WIRED_NETWORK_BIT else "wifi"
    record = _as_str(_mapping(p.get("ipcam")).get("ipcam_record")).lower()
    if record in ("enable", "disable"):
        out["camera_recording"] = record == "enable"
    upgrade = _mapping(p.get("upgrade_state"))
    offered = _as_int(upgrade.get("new_version_state"))
    if offered is not None:
        out["firmware_update"] = offered == 1
        if offered == 1:
            out["firmware_new_version"] = _new_firmware(upgrade.get("new_ver_list"))
    return out


def _new_firmware(value: Any) -> str:
    """new_ver_list's ota entry's new_ver ("" when the list does not name one)."""
    if isinstance(value, list):
        for entry in value:
            if _is_mapping(entry) and entry.get("name") == "ota":
                return _as_str(entry.get("new_ver"))
    return ""


def _lights(value: Any) -> tuple[tuple[str, bool], ...]:
    if not isinstance(value, list):
        return ()
    lights: dict[str, bool] = {}
    for entry in value:
        if _is_mapping(entry):
            node, mode = entry.get("node"), _as_str(entry.get("mode")).lower()
            if node in LIGHT_NODES and mode in LIGHT_MODES:
                lights.setdefault(str(node), LIGHT_MODES[mode])
    return tuple(sorted(lights.items(), key=lambda item: LIGHT_NODES.index(item[0])))


def _timestamp(value: Any) -> float | None:
    seconds = _as_float(value)
    if seconds is None or seconds <= 0:
        return None
    return seconds / 1000.0 if seconds > 1e12 else seconds  # some firmware sends ms


def _hms(value: Any) -> tuple[HmsMessage, ...]:
    if not isinstance(value, list):
        return ()
    messages: dict[str, HmsMessage] = {}
    for entry in value:
        if _is_mapping(entry):
            message = decode_hms(entry.get("attr"), entry.get("code"))
            if message is not None:
                messages.setdefault(message.code, message)
    return tuple(messages.values())


def _wifi(value: Any) -> float | None:
    if isinstance(value, str):
        value = value.strip().lower().removesuffix("dbm")
    return _as_float(value)


def _nozzle_label(nozzle_id: int, dual: bool) -> str:
    if dual:
        return {0: "right", 1: "left"}.get(nozzle_id, str(nozzle_id))
    return str(nozzle_id)


def is_rack_hotend(nozzle_id: int) -> bool:
    """The H2C lists the hotends parked in its rack with ids whose second hex digit is 1
    (16 and up); the mounted ones are 0 (right) and 1 (left)."""
    return nozzle_id >> 4 & 0xF == 1


def _nozzles(p: Mapping[str, Any], device: Mapping[str, Any],
             dual: bool) -> tuple[tuple[Nozzle, ...], tuple[Nozzle, ...]]:
    """(mounted nozzles, rack hotends)."""
    info = _mapping(device.get("nozzle")).get("info")
    nozzles: list[Nozzle] = []
    rack: list[Nozzle] = []
    if isinstance(info, list):
        for entry in info:
            if not _is_mapping(entry):
                continue
            nid = _as_int(entry.get("id"))
            if nid is None:
                continue
            kind = _as_str(entry.get("type"))
            diameter = _diameter(_as_float(entry.get("diameter")))
            if is_rack_hotend(nid):
                rack.append(Nozzle(str(nid), kind, diameter, *decode_nozzle_type(kind)))
            else:
                nozzles.append(Nozzle(_nozzle_label(nid, dual), kind, diameter,
                                      *decode_nozzle_type(kind)))
    if nozzles:
        return tuple(nozzles), tuple(rack)
    kind = _as_str(p.get("nozzle_type"))
    flat_diameter = _as_float(p.get("nozzle_diameter"))
    if not kind and flat_diameter is None:
        return (), tuple(rack)
    return ((Nozzle(_nozzle_label(0, dual), kind, _diameter(flat_diameter),
                    *decode_nozzle_type(kind)),), tuple(rack))


def _diameter(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _ams_units(value: Any, version_models: Mapping[str, str]) -> tuple[AmsUnit, ...]:
    units: list[AmsUnit] = []
    for unit in _ams_list(value):
        unit_id = _label(unit.get("id"))
        level = _as_int(unit.get("humidity"))
        raw = _as_float(unit.get("humidity_raw"))
        temp = _as_float(unit.get("temp"))
        bits = _hex_bits(unit.get("info"))
        model = AMS_TYPES.get(bits & 0xF) if bits is not None else None
        units.append(AmsUnit(
            ams=unit_id,
            # Firmware counts 5 = driest; Bambu Studio (and users) 1 = dry .. 5 = wet.
            humidity_index=6 - level if level is not None and 1 <= level <= 5 else None,
            humidity_ratio=raw / 100.0 if raw is not None and 0 <= raw <= 100 else None,
            # AMS lite has no sensor and reports 0.0; no real AMS reads exactly 0.
            temperature=temp if temp else None,
            model=model or version_models.get(unit_id),
            drying=None if bits is None else bool(bits >> 4 & 0xF),
        ))
    return tuple(units)


def _hex_bits(value: Any) -> int | None:
    """ams[].info: a hex string ("1001"); an int is taken as the bits themselves."""
    if isinstance(value, str):
        try:
            return int(value.strip(), 16)
        except ValueError:
            return None
    number = _as_int(value)
    return number if number is not None and number >= 0 else None


def _ams_list(value: Any) -> list[Mapping[str, Any]]:
    units = _mapping(value).get("ams")
    if not isinstance(units, list):
        return []
    return [u for u in units if _is_mapping(u) and "id" in u]


def _trays(p: Mapping[str, Any]) -> tuple[Tray, ...]:
    trays: list[Tray] = []
    for unit in _ams_list(p.get("ams")):
        for tray in unit.get("tray") or []:
            if _is_mapping(tray) and "id" in tray:
                _add_tray(trays, _label(unit.get("id")), tray, use_remain=True)
    # External spools: vt_tray (one, slot 254) on older models, vir_slot[] (254, 255) on
    # the H2 family; by slot id, vir_slot winning where a printer sends both.
    external: dict[str, Mapping[str, Any]] = {}
    vir_slot = p.get("vir_slot")
    for slot in vir_slot if isinstance(vir_slot, list) else []:
        if _is_mapping(slot) and _slot_id(slot):
            external.setdefault(_slot_id(slot), slot)
    vt_tray = p.get("vt_tray")
    if _is_mapping(vt_tray):
        external.setdefault(_slot_id(vt_tray) or EXTERNAL_SLOT, vt_tray)
    for slot_id, slot in sorted(external.items()):
        # An external spool has no RFID reading: its `remain` is not a measurement.
        _add_tray(trays, "external", {**slot, "id": slot_id}, use_remain=False)
    return tuple(trays)


def _slot_id(slot: Mapping[str, Any]) -> str:
    number = _as_int(slot.get("id"))
    return str(number) if number is not None else ""


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
        weight=_spool_weight(tray.get("tray_weight")),
    ))


def _spool_weight(value: Any) -> float | None:
    grams = _as_float(value)
    return grams if grams is not None and 0 < grams <= 100_000 else None


# ---------------------------------------------------------------------- coercion

def _mapping(value: Any) -> Mapping[str, Any]:
    return value if _is_mapping(value) else {}


def _is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    # Reports are dicts (JSON, merged): the exact check first, the ABC's slow one after.
    return type(value) is dict or isinstance(value, Mapping)


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
