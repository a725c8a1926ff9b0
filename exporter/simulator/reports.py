"""Payload generators: full reports, get_version answers, HMS entries, garbage.

Shaped like real captures (see the design notes), generated from a seeded Random so a
fleet is repeatable. Values use the types printers send: fan speeds and AMS humidity as
strings, temperatures as floats, `mc_remaining_time` in minutes, `wifi_signal` "-52dBm".
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any

from exporter.simulator.models import AMS, AMS_2_PRO, AMS_HT, AMS_LITE, Model

# stg_cur values (bambulabs_api PrintStatus); X1-class firmware says -1 when not in a job,
# P1/A1 say 255 (both seen in real captures).
STAGE_PRINTING = 0
STAGE_BED_LEVELING = 1
STAGE_HEATBED_PREHEATING = 2
STAGE_FILAMENT_RUNOUT = 6
STAGE_HEATING_HOTEND = 7
STAGE_CALIBRATING_EXTRUSION = 8
STAGE_CLEANING_NOZZLE = 14
STAGE_PAUSED_USER = 16
PREPARE_STAGES = (STAGE_HEATBED_PREHEATING, STAGE_BED_LEVELING, STAGE_HEATING_HOTEND,
                  STAGE_CLEANING_NOZZLE, STAGE_CALIBRATING_EXTRUSION)

# HMS severities live in the top 16 bits of `code` (1 fatal, 2 serious, 3 common, 4 info).
SEVERITY_SERIOUS = 2

# Failures a job can end with: print_error and the HMS message shown with it
# (module in attr's top 16 bits: 0x03 motion controller, 0x07 AMS, 0x0C camera/xcam).
FAILURES: tuple[tuple[int, int, int], ...] = (
    (0x0C008005, 0x0C000300, 0x00010005),  # spaghetti detected
    (0x03008012, 0x03000100, 0x00010003),  # heatbed temperature abnormal
    (0x07008011, 0x07000200, 0x00010007),  # filament broken in the AMS
    (0x0300800A, 0x03000400, 0x00010002),  # nozzle clogged
)
# Non-fatal messages for the HMS fault.
WARNINGS: tuple[tuple[int, int], ...] = (
    (0x0C000300, 0x0003000B),  # first layer inspection: possible defects
    (0x07000300, 0x00020011),  # AMS humidity high
    (0x05000100, 0x00040001),  # info: maintenance due
    (0x03000F00, 0x00030004),  # chamber cooling fan slow
)

# The serious message of the HMS_SERIOUS fault: an AMS unit's feeding trouble.
SERIOUS: tuple[int, int] = (0x07002000, 0x00020002)

FILAMENTS = (  # type, sub brand, info idx, nozzle min/max, bed, colours
    ("PLA", "PLA Basic", "GFA00", 190, 230, 55, ("000000FF", "FFFFFFFF", "D32941FF", "0A2CA5FF")),
    ("PLA", "PLA Matte", "GFA01", 190, 230, 55, ("7D6556FF", "4D3324FF", "AE835BFF")),
    ("PETG", "PETG HF", "GFG02", 230, 260, 70, ("BCBCBCFF", "489FDFFF", "FF6A13FF")),
    ("ABS", "ABS", "GFB00", 240, 270, 90, ("87909AFF", "789D4AFF", "FFFFFFFF")),
    ("TPU", "TPU for AMS", "GFU02", 220, 240, 35, ("000000FF",)),
)

JOBS = ("Benchy", "Cable clip", "Gridfinity bin 2x3", "Filament guide", "Phone stand",
        "Hose fitting", "Planter", "Spool holder", "Lithophane", "Gear set",
        "Headphone hook", "Drawer handle", "Calibration cube", "Lamp shade")


def merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    """Deep merge as printers' deltas mean it: objects merge key by key, lists and scalars
    replace. src's values are copied so later changes to src do not leak into dst."""
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            merge(dst[key], value)
        else:
            dst[key] = copy.deepcopy(value)


def hms_entry(attr: int, code: int) -> dict[str, int]:
    return {"attr": attr, "code": code}


def fan_step(ratio: float) -> str:
    """Printers send fan speeds as a string of 0..15 steps."""
    return str(max(0, min(15, round(ratio * 15))))


def wifi(dbm: int) -> str:
    return f"{dbm}dBm"


def _tray(rng: random.Random, tray_id: int) -> dict[str, Any]:
    kind, brand, idx, tmin, tmax, bed, colours = rng.choice(FILAMENTS)
    colour = rng.choice(colours)
    known = rng.random() < 0.85  # third-party spools without RFID: remain -1
    return {
        "id": str(tray_id),
        "bed_temp": str(bed), "bed_temp_type": "0", "cali_idx": -1, "cols": [colour],
        "ctype": 0, "drying_temp": "55" if kind == "PLA" else "80", "drying_time": "8",
        "nozzle_temp_max": str(tmax), "nozzle_temp_min": str(tmin),
        "remain": rng.randint(5, 100) if known else -1,
        "state": 11,
        "tag_uid": f"{rng.getrandbits(32):08X}00000100" if known else "0000000000000000",
        "total_len": 330000, "tray_color": colour, "tray_diameter": "1.75",
        "tray_id_name": f"{idx[2:]}-{colour[0]}{tray_id}" if known else "",
        "tray_info_idx": idx, "tray_sub_brands": brand if known else "", "tray_type": kind,
        "tray_uuid": f"{rng.getrandbits(128):032X}" if known else "0" * 32,
        "tray_weight": "1000", "xcam_info": "000000000000000000000000",
    }


AMS_TYPES = {AMS: 1, AMS_LITE: 2, AMS_2_PRO: 3, AMS_HT: 4}
AMS_KINDS = {number: kind for kind, number in AMS_TYPES.items()}
AMS_MODULES = {AMS: "ams", AMS_LITE: "ams_f1", AMS_2_PRO: "n3f", AMS_HT: "n3s"}
AMS_HT_FIRST_ID = 128  # AMS HT units count from 128; the others from 0
DRYING = 1  # ams[].info bits 4-7 while the unit dries filament (0: not drying)


def ams_info(kind: str, drying: bool = False) -> str:
    """`ams[].info` as printers send it: hex, bits 0-3 the type, bits 4-7 drying."""
    return f"{0x1000 | (DRYING if drying else 0) << 4 | AMS_TYPES[kind]:x}"


def ams_kind(info: Any) -> str:
    """The kind an `info` field names (AMS when it says nothing we know)."""
    try:
        return AMS_KINDS.get(int(str(info), 16) & 0xF, AMS)
    except ValueError:
        return AMS


def ams_drying(info: Any) -> bool:
    try:
        return (int(str(info), 16) >> 4) & 0xF != 0
    except ValueError:
        return False


def tray_slot(unit_id: int, tray_id: int) -> int:
    """A tray's number in tray_now: unit * 4 + tray; an AMS HT's single tray is its id."""
    return unit_id if unit_id >= AMS_HT_FIRST_ID else unit_id * 4 + tray_id


def _ams_unit(rng: random.Random, model: Model, unit: int, kind: str) -> dict[str, Any]:
    trays = []
    for t in range(1 if kind == AMS_HT else 4):
        trays.append(_tray(rng, t) if rng.random() < 0.9 else {"id": str(t), "state": 0})
    drying = kind in (AMS_2_PRO, AMS_HT) and rng.random() < 0.25
    unit_doc: dict[str, Any] = {
        "id": str(unit), "info": ams_info(kind, drying),
        "dry_time": rng.randint(60, 480) if drying else 0,  # minutes left
        "humidity": str(rng.choice((3, 4, 4, 5, 5))),  # firmware: 5 driest .. 1 wettest
        "temp": f"{rng.uniform(22.0, 30.0):.1f}",
        "tray": trays,
    }
    if kind in (AMS_2_PRO, AMS_HT) or (kind == AMS and model.humidity_raw):
        unit_doc["humidity_raw"] = str(rng.randint(8, 45))
    if kind == AMS_LITE:
        unit_doc["temp"] = "0.0"  # no sensor in the AMS lite
    elif drying:
        unit_doc["temp"] = f"{rng.uniform(50.0, 65.0):.1f}"
    return unit_doc


def _ams_units(rng: random.Random, model: Model) -> list[dict[str, Any]]:
    """The units a printer of this model carries: none, its usual kind, on newer models a
    mix with AMS HT units (ids from 128)."""
    if model.max_ams == 1:
        count = 1 if rng.random() < 0.6 else 0
    else:
        count = rng.choice([0] + [1] * 3 + list(range(1, model.max_ams + 1)))
    units = []
    next_id = {False: 0, True: AMS_HT_FIRST_ID}
    for i in range(count):
        kinds = model.ams_kinds
        kind = kinds[0] if i == 0 or len(kinds) == 1 else rng.choice(kinds)
        ht = kind == AMS_HT
        units.append(_ams_unit(rng, model, next_id[ht], kind))
        next_id[ht] += 1
    return units


def ams_block(units: list[dict[str, Any]]) -> dict[str, Any]:
    # the bit fields cover units 0-3 only (AMS HT units, ids from 128, are not in them)
    exist = sum(1 << int(u["id"]) for u in units if int(u["id"]) < 4)
    trays = 0
    for u in units:
        for t in u["tray"]:
            if t.get("state", 0) and int(u["id"]) < 4:
                trays |= 1 << (int(u["id"]) * 4 + int(t["id"]))
    return {
        "ams": units,
        "ams_exist_bits": f"{exist:x}", "tray_exist_bits": f"{trays:x}",
        "tray_is_bbl_bits": f"{trays:x}", "tray_read_done_bits": f"{trays:x}",
        "tray_reading_bits": "0", "tray_tar": "255", "tray_now": "255" if units else "254",
        "tray_pre": "255" if units else "254", "version": 4, "insert_flag": True,
        "power_on_flag": False,
    }


def pack(current: float, target: float) -> int:
    """Newer firmware packs a temperature: target in the high 16 bits, current in the low."""
    return (max(0, round(target)) & 0xFFFF) << 16 | (max(0, round(current)) & 0xFFFF)


def extruder_state(count: int, active: int) -> int:
    """device.extruder.state: the number of extruders in bits 0-3, the active one in 4-7."""
    return (active & 0xF) << 4 | (count & 0xF)


# Door sensor: bit 23 of home_flag (X1 firmware) or of the hex `stat` (newer firmware).
# The same fields carry the SD card (0x100 present, 0x200 abnormal), the wired network
# (0x40000) and a filament tangle (0x100000). The bases below are real printers' values
# with those bits cleared, so Health alone decides them.
DOOR_BIT = 0x00800000
SDCARD_BIT = 0x100
SDCARD_ABNORMAL_BIT = 0x200
WIRED_BIT = 0x40000
TANGLE_BIT = 0x100000
HEALTH_BITS = DOOR_BIT | SDCARD_BIT | SDCARD_ABNORMAL_BIT | WIRED_BIT | TANGLE_BIT
HOME_FLAG = 6292376 & ~HEALTH_BITS  # a real X1C's home_flag
STAT = 0x46258000 & ~HEALTH_BITS    # a real H2D's stat


@dataclass(frozen=True)
class Health:
    """What a printer says about its SD card, network, camera and firmware."""

    sdcard: str = "present"      # absent | present | abnormal
    wired: bool = False
    tangle: bool = False
    recording: bool = True
    update: str = ""             # the firmware version on offer; "" = none


def flag_bits(health: Health, door_open: bool) -> int:
    card = {"absent": 0, "present": SDCARD_BIT, "abnormal": SDCARD_BIT | SDCARD_ABNORMAL_BIT}
    return ((DOOR_BIT if door_open else 0) | card[health.sdcard]
            | (WIRED_BIT if health.wired else 0) | (TANGLE_BIT if health.tangle else 0))


def door_fields(model: Model, is_open: bool, health: Health | None = None) -> dict[str, Any]:
    """The report fields of the door and health bits: home_flag on every model (X1
    firmware keeps the door there), `stat` too where the door moved to it."""
    bits = flag_bits(health or Health(), is_open)
    if model.door == "stat":
        return {"home_flag": HOME_FLAG | (bits & ~DOOR_BIT), "stat": f"{STAT | bits:X}"}
    if model.door == "home_flag":
        return {"home_flag": HOME_FLAG | bits}
    return {"home_flag": HOME_FLAG | (bits & ~DOOR_BIT)}


NEXT_FIRMWARE = "01.99.00.00"   # what the FIRMWARE_UPDATE fault offers


def usual_health(serial: str) -> Health:
    """A printer's own SD card, link and camera, stable per serial (its own random
    stream, so the fleet's other choices do not move): some wired, some not recording,
    a few without a card."""
    rng = random.Random(f"health-{serial}")
    return Health(sdcard="absent" if rng.random() < 0.08 else "present",
                  wired=rng.random() < 0.25, recording=rng.random() < 0.7)


def door_is_open(model: Model, doc: dict[str, Any]) -> bool:
    """Whether the report `doc` ({print}'s body) says the door is open."""
    if model.door == "stat":
        return bool(int(str(doc.get("stat", "0")), 16) & DOOR_BIT)
    if model.door == "home_flag":
        return bool(int(doc.get("home_flag", 0)) & DOOR_BIT)
    return False


def health_fields(model: Model, health: Health, door_open: bool = False) -> dict[str, Any]:
    """Every field that says what `health` holds: flag bits, camera, firmware update."""
    offered = {"new_version_state": 1 if health.update else 2,
               "new_ver_list": [{"name": "ota", "cur_ver": model.firmware,
                                 "new_ver": health.update}] if health.update else []}
    return {**door_fields(model, door_open, health),
            "ipcam": {"ipcam_record": "enable" if health.recording else "disable"},
            "upgrade_state": offered}


def temperature_fields(model: Model, report: dict[str, Any],
                       nozzles: list[tuple[float, float]], bed: tuple[float, float],
                       chamber: float | None = None, active: int = 0) -> dict[str, Any]:
    """An update ({"print": {...}}) that sets temperatures as a printer of this model says
    them: (current, target) per nozzle (extruder id order: 0 right, 1 left), the bed, the
    chamber where measured. Flat fields carry the active nozzle; print.device (packed on
    newer firmware) every one."""
    doc: dict[str, Any] = {"nozzle_temper": float(nozzles[active][0]),
                           "nozzle_target_temper": float(nozzles[active][1]),
                           "bed_temper": float(bed[0]), "bed_target_temper": float(bed[1])}
    if model.device:
        def temp(current: float, target: float) -> int:
            return pack(current, target) if model.packed else round(current)

        extruders = report["print"].get("device", {}).get("extruder", {}).get("info", [])
        device: dict[str, Any] = {
            "bed": {"info": {"temp": temp(*bed)}}, "bed_temp": round(bed[0]),
            "extruder": {"state": extruder_state(len(extruders), active),
                         "info": [dict(e, temp=temp(*nozzles[i]))
                                  for i, e in enumerate(extruders)]}}
        if chamber is not None and model.chamber_sensor:
            device["ctc"] = {"info": {"temp": temp(chamber, 0)}}
        doc["device"] = device
    elif chamber is not None and model.chamber_sensor:
        doc["chamber_temper"] = float(chamber)
    return {"print": doc}


def _external_spool(slot: int, loaded: bool = True) -> dict[str, Any]:
    return {
        "id": str(slot), "tag_uid": "0000000000000000", "tray_id_name": "",
        "tray_info_idx": "GFL99" if loaded else "", "tray_type": "PLA" if loaded else "",
        "tray_sub_brands": "", "tray_color": "FFFFFFFF" if loaded else "00000000",
        "tray_weight": "0", "tray_diameter": "0.00", "tray_temp": "0", "tray_time": "0",
        "bed_temp_type": "0", "bed_temp": "0", "nozzle_temp_max": "240" if loaded else "0",
        "nozzle_temp_min": "190" if loaded else "0", "xcam_info": "000000000000000000000000",
        "tray_uuid": "0" * 32, "remain": 0, "k": 0.02, "n": 1, "cali_idx": -1,
    }


def _vt_tray() -> dict[str, Any]:
    return _external_spool(254)


def vir_slots(model: Model) -> list[dict[str, Any]]:
    """H2-family external spools: one holder per nozzle side (254 right, 255 left); the
    A2L's one holder comes as 255."""
    if model.nozzles == 1 and not model.code.startswith("H2"):
        return [_external_spool(255)]
    return [_external_spool(254), _external_spool(255, loaded=model.nozzles > 1)]


NOZZLE_CODES = ("HS01", "HH01", "HS01", "HS00", "HS05", "HU01")


def _nozzle_type(rng: random.Random, model: Model) -> str:
    if model.nozzle_codes:
        return rng.choice(("HS01", "HH01", "HS01"))
    return rng.choice(("stainless_steel", "hardened_steel") if model.full_reports
                      else ("stainless_steel", "stainless_steel", "hardened_steel"))


# Rack hotends' ids: the second hex digit is 1 (0x10 = 16 and up); mounted ones are 0, 1.
RACK_FIRST_ID = 0x10


def rack_hotends(model: Model, rng: random.Random) -> list[dict[str, Any]]:
    """The H2C's parked hotends as its device.nozzle.info lists them, after the mounted ones."""
    return [{"id": RACK_FIRST_ID + slot, "diameter": rng.choice((0.4, 0.4, 0.6, 0.2)),
             "type": rng.choice(NOZZLE_CODES), "tm": 0, "wear": rng.randint(0, 30)}
            for slot in range(model.rack_hotends)]


def _device(model: Model, rng: random.Random, nozzle_type: str, diameter: float,
            bed: float, nozzle: float, chamber: float) -> dict[str, Any]:
    """The `device` block: chamber (ctc), bed, nozzles and extruders. Newer firmware packs
    each temperature as target << 16 | current (targets are 0 at power-on)."""
    def temp(current: float) -> int:
        return pack(current, 0) if model.packed else round(current)

    types = [nozzle_type] + [rng.choice(NOZZLE_CODES) if model.nozzle_codes else nozzle_type
                             for _ in range(model.nozzles - 1)]
    doc: dict[str, Any] = {
        "bed": {"info": {"temp": temp(bed)}, "state": 0},
        "bed_temp": round(bed),
        "extruder": {"info": [{"id": i, "temp": temp(nozzle if i == 0 else AMBIENT),
                               # hotend ids (H2C's rack), not temperatures
                               "htar": i, "hnow": i, "hpre": i, "info": 8,
                               "snow": 65535, "stat": 0, "filam_bak": []}
                              for i in range(model.nozzles)],
                     "state": extruder_state(model.nozzles, 0)},
        "nozzle": {"exist": (1 << model.nozzles) - 1,
                   "info": [{"id": i, "diameter": diameter, "type": types[i],
                             "tm": 0, "wear": rng.randint(0, 30) if model.packed else 0}
                            for i in range(model.nozzles)] + rack_hotends(model, rng),
                   "state": 0},
        "fan": 0,
        "type": 1,
    }
    if model.chamber_sensor:
        doc["ctc"] = {"info": {"temp": temp(chamber)}, "state": 0}
    return doc


AMBIENT = 24.0


def full_report(model: Model, rng: random.Random) -> dict[str, Any]:
    """A printer's complete `{"print": {...}}` at power-on: idle, cold, an AMS or none."""
    units = _ams_units(rng, model)
    nozzle_type = _nozzle_type(rng, model)
    diameter = rng.choice((0.4, 0.4, 0.4, 0.6, 0.2))
    idle_stage = -1 if model.full_reports else 255
    bed = round(rng.uniform(21.0, 26.0), 1)
    nozzle = round(rng.uniform(22.0, 28.0), 1)
    if model.packed:  # newer firmware's flat fields say what the packed ones say
        bed, nozzle = float(round(bed)), float(round(nozzle))
    doc: dict[str, Any] = {
        "ams": ams_block(units),
        "ams_rfid_status": 0, "ams_status": 0,
        "bed_temper": bed, "bed_target_temper": 0.0,
        "nozzle_temper": nozzle, "nozzle_target_temper": 0.0,
        "big_fan1_speed": "0", "big_fan2_speed": "0", "cooling_fan_speed": "0",
        "heatbreak_fan_speed": "0", "fan_gear": 0,
        "command": "push_status", "msg": 0, "sequence_id": "0",
        "gcode_file": "", "gcode_file_prepare_percent": "0", "gcode_state": "IDLE",
        "gcode_start_time": "0",
        "subtask_name": "", "subtask_id": "0", "task_id": "0", "project_id": "0",
        "profile_id": "0",
        "mc_percent": 0, "mc_print_stage": "1", "mc_print_sub_stage": 0,
        "mc_remaining_time": 0, "mc_print_line_number": "0",
        "layer_num": 0, "total_layer_num": 0,
        "stg": [], "stg_cur": idle_stage, "print_type": "idle", "print_error": 0,
        "spd_lvl": 2, "spd_mag": 100,
        "hms": [], "home_flag": HOME_FLAG, "hw_switch_state": 1, "lifecycle": "product",
        "lights_report": [{"node": "chamber_light", "mode": "on"}],
        "nozzle_diameter": f"{diameter:g}", "nozzle_type": nozzle_type,
        "wifi_signal": wifi(rng.randint(-72, -38)),
        "sdcard": True, "s_obj": [], "filam_bak": [],
        "queue_number": 0, "queue_total": 0, "queue_est": 0, "queue_sts": 0,
        "online": {"ahb": False, "rfid": False, "version": 7},
        "ipcam": {"ipcam_dev": "1", "ipcam_record": "enable", "timelapse": "disable",
                  "resolution": "1080p" if model.full_reports else "",
                  "tutk_server": "disable", "mode_bits": 2},
        "upload": {"status": "idle", "progress": 0, "message": ""},
        "upgrade_state": {"sequence_id": 0, "progress": "100", "status": "UPGRADE_SUCCESS",
                          "consistency_request": False, "dis_state": 3, "err_code": 0,
                          "force_upgrade": False, "message": "", "module": "ota",
                          "new_version_state": 2, "new_ver_list": []},
        "net": {"conf": 0, "info": [{"ip": rng.getrandbits(31), "mask": 16777215}]},
        "k": "0.0200", "cali_version": 0, "force_upgrade": False,
    }
    if model.vir_slot:
        doc["vir_slot"] = vir_slots(model)
    else:
        doc["vt_tray"] = _vt_tray()
    if model.device:
        chamber = round(rng.uniform(23.0, 28.0)) if model.chamber_sensor else AMBIENT
        doc["device"] = _device(model, rng, nozzle_type, diameter, bed, nozzle, chamber)
    if model.work_light:
        doc["lights_report"].append({"node": "work_light", "mode": "off"})
    merge(doc, health_fields(model, Health()))
    if model.full_reports:
        doc["xcam"] = {"first_layer_inspector": True, "print_halt": True,
                       "printing_monitor": True, "spaghetti_detector": True,
                       "halt_print_sensitivity": "medium", "allow_skip_parts": False,
                       "buildplate_marker_detector": True}
        doc["xcam_status"] = "0"
    if model.bogus_chamber:
        doc["chamber_temper"] = 5  # what P1 firmware sends; there is no sensor
    return {"print": doc}


def version_report(model: Model, serial: str, units: list[dict[str, Any]],
                   sequence_id: str) -> dict[str, Any]:
    """The answer to get_version: ota (firmware, product), the AMS units the report holds
    (module names by kind: ams/, ams_f1/, n3f/, n3s/), boards."""
    modules: list[dict[str, Any]] = [{
        "name": "ota", "sw_ver": model.firmware, "hw_ver": "OTA",
        "loader_ver": "00.00.00.00", "sn": serial, "product_name": model.product_name,
        "visible": True, "flag": 3,
    }]
    names = {AMS: "AMS", AMS_LITE: "AMS Lite", AMS_2_PRO: "AMS 2 Pro", AMS_HT: "AMS HT"}
    hardware = {AMS: ("00.01.06.62", "AMS08"), AMS_LITE: ("00.00.07.92", "AMS_F102"),
                AMS_2_PRO: ("00.00.06.40", "N3F05"), AMS_HT: ("00.00.06.40", "N3S05")}
    for number, unit in enumerate(units):
        kind = ams_kind(unit.get("info"))
        unit_id = int(unit["id"])
        sw_ver, hw_ver = hardware[kind]
        modules.append({
            "name": f"{AMS_MODULES[kind]}/{unit_id}", "sw_ver": sw_ver, "hw_ver": hw_ver,
            "loader_ver": "00.00.00.00",
            "sn": f"{serial[:3]}AMS{unit_id % 100:02d}{serial[-6:]}",
            "product_name": f"{names[kind]} ({number + 1})", "visible": True, "flag": 0,
        })
    modules.append({"name": "mc", "sw_ver": "00.00.32.89", "hw_ver": "MC07",
                    "loader_ver": "00.00.00.28", "sn": "", "product_name": "",
                    "visible": False, "flag": 0})
    modules.append({"name": "th", "sw_ver": "00.00.09.95", "hw_ver": "TH09",
                    "loader_ver": "00.00.00.14", "sn": "", "product_name": "",
                    "visible": False, "flag": 0})
    return {"info": {"command": "get_version", "sequence_id": sequence_id,
                     "module": modules, "result": "success", "reason": ""}}


def history_report(sequence_id: str) -> dict[str, Any]:
    return {"upgrade": {"command": "get_history", "sequence_id": sequence_id,
                        "firmware_optional": [], "result": "success", "reason": ""}}


GARBAGE_TEXT = (b"\x00\xffnot json at all", b"{\"print\": {\"gcode_state\": ", b"<html>502</html>")
GARBAGE_NON_OBJECT = (b"[1, 2, 3]", b"\"push_status\"", b"42", b"null")
