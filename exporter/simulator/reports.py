"""Payload generators: full reports, get_version answers, HMS entries, garbage.

Shaped like real captures (see the design notes), generated from a seeded Random so a
fleet is repeatable. Values use the types printers send: fan speeds and AMS humidity as
strings, temperatures as floats, `mc_remaining_time` in minutes, `wifi_signal` "-52dBm".
"""

from __future__ import annotations

import copy
import random
from typing import Any

from exporter.simulator.models import Model

# stg_cur values (bambulabs_api PrintStatus); X1-class firmware says -1 when not in a job,
# P1/A1 say 255 (both seen in real captures).
STAGE_PRINTING = 0
STAGE_BED_LEVELING = 1
STAGE_HEATBED_PREHEATING = 2
STAGE_FILAMENT_RUNOUT = 6
STAGE_HEATING_HOTEND = 7
STAGE_CALIBRATING_EXTRUSION = 8
STAGE_SCANNING_BED = 9
STAGE_CLEANING_NOZZLE = 14
STAGE_PAUSED_USER = 16
PREPARE_STAGES = (STAGE_HEATBED_PREHEATING, STAGE_BED_LEVELING, STAGE_HEATING_HOTEND,
                  STAGE_CLEANING_NOZZLE, STAGE_CALIBRATING_EXTRUSION)

# HMS severities live in the top 16 bits of `code`.
SEVERITY_FATAL, SEVERITY_SERIOUS, SEVERITY_COMMON, SEVERITY_INFO = 1, 2, 3, 4

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


def _ams_unit(rng: random.Random, model: Model, unit: int) -> dict[str, Any]:
    trays = []
    for t in range(model.ams_trays):
        trays.append(_tray(rng, t) if rng.random() < 0.9 else {"id": str(t), "state": 0})
    unit_doc: dict[str, Any] = {
        "id": str(unit), "info": "1001", "dry_time": 0,
        "humidity": str(rng.choice((3, 4, 4, 5, 5))),  # firmware: 5 driest .. 1 wettest
        "temp": f"{rng.uniform(22.0, 30.0):.1f}",
        "tray": trays,
    }
    if model.humidity_raw:
        unit_doc["humidity_raw"] = str(rng.randint(8, 45))
    return unit_doc


def ams_block(units: list[dict[str, Any]]) -> dict[str, Any]:
    exist = sum(1 << int(u["id"]) for u in units)
    trays = 0
    for u in units:
        for t in u["tray"]:
            if t.get("state", 0):
                trays |= 1 << (int(u["id"]) * 4 + int(t["id"]))
    return {
        "ams": units,
        "ams_exist_bits": f"{exist:x}", "tray_exist_bits": f"{trays:x}",
        "tray_is_bbl_bits": f"{trays:x}", "tray_read_done_bits": f"{trays:x}",
        "tray_reading_bits": "0", "tray_tar": "255", "tray_now": "255" if units else "254",
        "tray_pre": "255" if units else "254", "version": 4, "insert_flag": True,
        "power_on_flag": False,
    }


def _vt_tray() -> dict[str, Any]:
    return {
        "id": "254", "tag_uid": "0000000000000000", "tray_id_name": "", "tray_info_idx": "GFL99",
        "tray_type": "PLA", "tray_sub_brands": "", "tray_color": "FFFFFFFF",
        "tray_weight": "0", "tray_diameter": "0.00", "tray_temp": "0", "tray_time": "0",
        "bed_temp_type": "0", "bed_temp": "0", "nozzle_temp_max": "240",
        "nozzle_temp_min": "190", "xcam_info": "000000000000000000000000",
        "tray_uuid": "0" * 32, "remain": 0, "k": 0.02, "n": 1, "cali_idx": -1,
    }


def _nozzle_type(rng: random.Random, model: Model) -> str:
    if model.nozzle_codes:
        return rng.choice(("HS01", "HH01", "HS01"))
    return rng.choice(("stainless_steel", "hardened_steel") if model.full_reports
                      else ("stainless_steel", "stainless_steel", "hardened_steel"))


def _device(model: Model, nozzle_type: str, diameter: float) -> dict[str, Any]:
    """X1-class `device` block: chamber (ctc), bed, nozzles and extruders."""
    return {
        "bed": {"info": {"temp": 24}, "state": 0},
        "bed_temp": 24,
        "ctc": {"info": {"temp": 25}, "state": 0},
        "extruder": {"info": [{"id": i, "temp": 25, "htar": 0, "hnow": 0, "info": 8,
                               "snow": 65535, "stat": 0, "filam_bak": []}
                              for i in range(model.nozzles)], "state": 1},
        "nozzle": {"exist": (1 << model.nozzles) - 1,
                   "info": [{"id": i, "diameter": diameter, "type": nozzle_type,
                             "tm": 0, "wear": 0} for i in range(model.nozzles)],
                   "state": 0},
        "fan": 0,
        "type": 1,
    }


def full_report(model: Model, rng: random.Random) -> dict[str, Any]:
    """A printer's complete `{"print": {...}}` at power-on: idle, cold, an AMS or none."""
    if model.max_ams == 1:
        ams_count = 1 if rng.random() < 0.6 else 0
    else:
        ams_count = rng.choice([0] + [1] * 3 + list(range(1, model.max_ams + 1)))
    units = [_ams_unit(rng, model, i) for i in range(ams_count)]
    nozzle_type = _nozzle_type(rng, model)
    diameter = rng.choice((0.4, 0.4, 0.4, 0.6, 0.2))
    idle_stage = -1 if model.full_reports else 255
    bed = round(rng.uniform(21.0, 26.0), 1)
    nozzle = round(rng.uniform(22.0, 28.0), 1)
    doc: dict[str, Any] = {
        "ams": ams_block(units),
        "ams_rfid_status": 0, "ams_status": 0,
        "bed_temper": bed, "bed_target_temper": 0.0,
        "nozzle_temper": nozzle, "nozzle_target_temper": 0.0,
        "big_fan1_speed": "0", "big_fan2_speed": "0", "cooling_fan_speed": "0",
        "heatbreak_fan_speed": "0", "fan_gear": 0,
        "command": "push_status", "msg": 0, "sequence_id": "0",
        "gcode_file": "", "gcode_file_prepare_percent": "0", "gcode_state": "IDLE",
        "subtask_name": "", "subtask_id": "0", "task_id": "0", "project_id": "0",
        "profile_id": "0",
        "mc_percent": 0, "mc_print_stage": "1", "mc_print_sub_stage": 0,
        "mc_remaining_time": 0, "mc_print_line_number": "0",
        "layer_num": 0, "total_layer_num": 0,
        "stg": [], "stg_cur": idle_stage, "print_type": "idle", "print_error": 0,
        "spd_lvl": 2, "spd_mag": 100,
        "hms": [], "home_flag": 6292376, "hw_switch_state": 1, "lifecycle": "product",
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
        "vt_tray": _vt_tray(),
        "net": {"conf": 0, "info": [{"ip": rng.getrandbits(31), "mask": 16777215}]},
        "k": "0.0200", "cali_version": 0, "force_upgrade": False,
    }
    if model.full_reports:
        doc["device"] = _device(model, nozzle_type, diameter)
        doc["device"]["ctc"]["info"]["temp"] = round(rng.uniform(23.0, 28.0))
        doc["lights_report"].append({"node": "work_light", "mode": "off"})
        doc["xcam"] = {"first_layer_inspector": True, "print_halt": True,
                       "printing_monitor": True, "spaghetti_detector": True,
                       "halt_print_sensitivity": "medium", "allow_skip_parts": False,
                       "buildplate_marker_detector": True}
        doc["xcam_status"] = "0"
    if model.bogus_chamber:
        doc["chamber_temper"] = 5  # what P1 firmware sends; there is no sensor
    return {"print": doc}


def version_report(model: Model, serial: str, ams_count: int,
                   sequence_id: str) -> dict[str, Any]:
    """The answer to get_version: ota (firmware, product), AMS units, boards."""
    modules: list[dict[str, Any]] = [{
        "name": "ota", "sw_ver": model.firmware, "hw_ver": "OTA",
        "loader_ver": "00.00.00.00", "sn": serial, "product_name": model.product_name,
        "visible": True, "flag": 3,
    }]
    for i in range(ams_count):
        lite = model.code.startswith("A1")
        modules.append({
            "name": f"ams_f1/{i}" if lite else f"ams/{i}",
            "sw_ver": "00.00.07.92" if lite else "00.01.06.62",
            "hw_ver": "AMS_F102" if lite else "AMS08", "loader_ver": "00.00.00.00",
            "sn": f"{serial[:3]}AMS{i:02d}{serial[-6:]}",
            "product_name": f"AMS Lite ({i + 1})" if lite else f"AMS ({i + 1})",
            "visible": True, "flag": 0,
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
