"""Report payloads for unit tests, written for this project (shaped like real printers').

Each builder returns a fresh dict so tests can mutate freely.
"""

from __future__ import annotations

from typing import Any


def tray(tray_id: str, material: str = "PLA", color: str = "FF0000FF", remain: int = 80) -> dict[str, Any]:
    return {"id": tray_id, "tray_type": material, "tray_color": color, "remain": remain,
            "tray_sub_brands": material, "nozzle_temp_min": "190", "nozzle_temp_max": "230"}


def ams_unit(unit_id: str, humidity: str = "4", humidity_raw: str | None = "23",
             temp: str = "24.5", trays: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    unit: dict[str, Any] = {"id": unit_id, "humidity": humidity, "temp": temp, "info": "1001",
                            "tray": trays if trays is not None else [tray(str(i)) for i in range(4)]}
    if humidity_raw is not None:
        unit["humidity_raw"] = humidity_raw
    return unit


def x1c_running() -> dict[str, Any]:
    """An X1C mid-print with two AMS units, chamber temperature under device.ctc."""
    return {"print": {
        "command": "push_status",
        "gcode_state": "RUNNING", "stg_cur": 0, "mc_print_stage": "2",
        "mc_percent": 42, "mc_remaining_time": 73, "layer_num": 120, "total_layer_num": 300,
        "nozzle_temper": 219.5, "nozzle_target_temper": 220.0,
        "bed_temper": 54.9, "bed_target_temper": 55.0, "chamber_temper": 31,
        "cooling_fan_speed": "15", "big_fan1_speed": "10", "big_fan2_speed": "0",
        "heatbreak_fan_speed": "15", "spd_lvl": 2, "spd_mag": 100,
        "wifi_signal": "-52dBm", "print_error": 0, "hms": [],
        "gcode_file": "/data/Metadata/plate_1.gcode", "subtask_name": "benchy",
        "nozzle_diameter": "0.4", "nozzle_type": "hardened_steel",
        "lights_report": [{"node": "chamber_light", "mode": "on"}],
        "device": {"ctc": {"info": {"temp": 33}, "state": 0},
                   "nozzle": {"info": [{"id": 0, "type": "HS01", "diameter": 0.4}]}},
        "ams": {"ams": [ams_unit("0"), ams_unit("1", humidity="2", humidity_raw="61",
                                                 trays=[tray("0", "PETG", "00FF00FF", 55),
                                                        tray("1", "ABS", "000000FF", -1),
                                                        {"id": "2"}, {"id": "3"}])],
                "tray_now": "1", "ams_exist_bits": "3"},
        "vt_tray": {"id": "254", "tray_type": "", "tray_color": "00000000", "remain": 0},
        "ipcam": {"rtsp_url": "rtsps://example.invalid/streaming"},
        "upgrade_state": {"status": "IDLE"},
    }}


def p1s_idle() -> dict[str, Any]:
    """A P1S full report (pushall answer): idle, no chamber sensor, one AMS."""
    return {"print": {
        "command": "push_status",
        "gcode_state": "IDLE", "stg_cur": 255, "mc_print_stage": "1",
        "mc_percent": 0, "mc_remaining_time": 0, "layer_num": 0, "total_layer_num": 0,
        "nozzle_temper": 24.0, "nozzle_target_temper": 0, "bed_temper": 22.5,
        "bed_target_temper": 0, "chamber_temper": 5,
        "cooling_fan_speed": "0", "big_fan1_speed": "0", "big_fan2_speed": "0",
        "heatbreak_fan_speed": "0", "spd_lvl": 2, "spd_mag": 100,
        "wifi_signal": "-61dBm", "print_error": 0, "hms": [],
        "gcode_file": "", "subtask_name": "",
        "nozzle_diameter": "0.4", "nozzle_type": "stainless_steel",
        "ams": {"ams": [ams_unit("0", humidity="5", humidity_raw=None, temp="0.0")],
                "tray_now": "255"},
        "vt_tray": {"id": "254", "tray_type": "PETG", "tray_color": "BCBCBCFF", "remain": 0},
    }}


def h2d_running() -> dict[str, Any]:
    """An H2D: two nozzles; extruder temperatures packed as target << 16 | current."""
    report = x1c_running()
    report["print"]["device"] = {
        "ctc": {"info": {"temp": (0 << 16) | 38}},
        "extruder": {"info": [{"id": 0, "temp": (220 << 16) | 218},
                              {"id": 1, "temp": (250 << 16) | 247}],
                     "state": extruder_state(2, active=1)},
        "nozzle": {"info": [{"id": 0, "type": "HS01", "diameter": 0.4},
                            {"id": 1, "type": "HH01", "diameter": 0.6}]},
    }
    return report


# ------------------------------------------------------------ newer firmware shapes

def packed(current: int, target: int = 0) -> int:
    """Newer firmware's packed temperature: target in the high 16 bits, current low."""
    return target << 16 | current


def extruder_state(count: int, active: int = 0) -> int:
    """device.extruder.state: low 4 bits the extruder count, the next 4 the active one."""
    return active << 4 | count


def ams_info(model: int, drying: int = 0) -> str:
    """ams[].info: hex bitfield, bits 0-3 the AMS type, bits 4-7 the drying state."""
    return f"{0x1000 | drying << 4 | model:X}"


# What the generators below put in, so tests compare against the same numbers.
NOZZLE = (218, 220)
LEFT_NOZZLE = (247, 250)
BED = (64, 65)
CHAMBER = (38, 45)
START = 1764000000
EXTERNAL = {"tray_type": "PETG", "tray_color": "BCBCBCFF", "remain": 0}


def flat_report(nozzle_type: str = "hardened_steel") -> dict[str, Any]:
    """Older firmware's shape: flat *_temper fields, flat nozzle_type, vt_tray."""
    return {"print": {
        "gcode_state": "RUNNING", "stg_cur": 0,
        "nozzle_temper": float(NOZZLE[0]), "nozzle_target_temper": float(NOZZLE[1]),
        "bed_temper": float(BED[0]), "bed_target_temper": float(BED[1]),
        "chamber_temper": float(CHAMBER[0]),
        "nozzle_type": nozzle_type, "nozzle_diameter": "0.4",
        "ams": {"ams": [ams_unit("0", humidity="3", humidity_raw="41")]},
        "vt_tray": {"id": "254", **EXTERNAL},
        "gcode_start_time": str(START),
    }}


def newer_report(model: str, *, active: int = 1, door_open: bool = True,
                 nozzle_codes: tuple[str, str] = ("HS01", "HH05")) -> dict[str, Any]:
    """Newer firmware's shape for `model`: values in print.device, packed; extruder and
    nozzle info (two on dual-nozzle models); AMS 2 Pro drying and AMS HT units;
    vir_slot; door in `stat`; lights. The flat fields are there too, with other values,
    to show the packed ones win."""
    dual = model in {"H2D", "H2D_PRO", "H2C", "X2D"}
    extruders = [{"id": 0, "temp": packed(*NOZZLE)}]
    nozzles = [{"id": 0, "type": nozzle_codes[0], "diameter": 0.4, "wear": 3}]
    if dual:
        extruders.append({"id": 1, "temp": packed(*LEFT_NOZZLE)})
        nozzles.append({"id": 1, "type": nozzle_codes[1], "diameter": 0.6, "wear": 0})
    door = 0x46258000 | (0x00800000 if door_open else 0)
    return {"print": {
        "gcode_state": "RUNNING", "stg_cur": 77, "mc_percent": 10,
        "nozzle_temper": 1.0, "nozzle_target_temper": 1.0, "bed_temper": 1.0,
        "bed_target_temper": 1.0, "chamber_temper": 5,
        "nozzle_type": "stainless_steel", "nozzle_diameter": "0.2",
        "device": {
            "bed": {"info": {"temp": packed(*BED)}, "state": 0},
            "ctc": {"info": {"temp": packed(*CHAMBER)}, "state": 0},
            "extruder": {"info": extruders,
                         "state": extruder_state(len(extruders), active if dual else 0)},
            "nozzle": {"exist": 3 if dual else 1, "info": nozzles},
        },
        "ams": {"ams": [
            {**ams_unit("0", humidity="4", humidity_raw="23"), "info": ams_info(3, drying=2),
             "dry_time": 300},
            {**ams_unit("128", humidity="5", humidity_raw="12",
                        trays=[tray("0", "PA-CF", "333333FF", 90)]), "info": ams_info(4)},
        ]},
        "vir_slot": [{"id": "254", **EXTERNAL},
                     {"id": "255", "tray_type": "", "tray_color": "00000000", "remain": 0}],
        "stat": f"{door:X}",
        "home_flag": 0,   # H2/P2S: the door bit no longer moves here
        "lights_report": [{"node": "chamber_light", "mode": "on"},
                          {"node": "work_light", "mode": "off"}],
        "gcode_start_time": str(START),
        "print_error": 0x0300400C, "hms": [],
    }}


def newer_version(product: str, sw_ver: str = "01.02.00.00") -> dict[str, Any]:
    """get_version of a newer printer with an AMS 2 Pro (unit 0) and an AMS HT (128)."""
    version = get_version(product, sw_ver)
    version["info"]["module"] += [
        {"name": "n3f/0", "sw_ver": "02.00.19.68", "product_name": "AMS 2 Pro (1)"},
        {"name": "n3s/128", "sw_ver": "02.00.19.67", "product_name": "AMS HT (1)"},
    ]
    return version


def get_version(product: str, sw_ver: str, serial: str = "X") -> dict[str, Any]:
    return {"info": {"command": "get_version", "sequence_id": "1", "module": [
        {"name": "ota", "sw_ver": sw_ver, "product_name": product, "sn": serial},
        {"name": "mc", "sw_ver": "00.00.32.89", "product_name": ""},
    ]}}


def p1p_after_boot(gcode_state: str = "FINISH") -> dict[str, Any]:
    """A P1P's pushall answer right after boot, in the shape of a published capture: the
    last job's FINISH (or IDLE) kept, print_type "idle", and stg_cur 0, the number the
    library calls PRINTING."""
    report = p1s_idle()
    report["print"].update({"gcode_state": gcode_state, "stg_cur": 0, "print_type": "idle",
                            "mc_print_sub_stage": 0, "stg": [], "mc_percent": 100,
                            "lifecycle": "product"})
    return report


# The H2C's rack: device.nozzle.info lists the parked hotends (ids 16 and up: second hex
# digit 1) after the mounted right (0) and left (1) ones; extruder info's hnow/hpre/htar
# name hotends by the same ids.
H2C_RACK = ({"id": 16, "type": "HS01", "diameter": 0.4, "wear": 2, "tm": 0},
            {"id": 17, "type": "HH01", "diameter": 0.6, "wear": 0, "tm": 0},
            {"id": 19, "type": "HS00", "diameter": 0.2, "wear": 11, "tm": 0})


def h2c_with_rack() -> dict[str, Any]:
    report = newer_report("H2C")
    device = report["print"]["device"]
    device["nozzle"]["info"] += [dict(entry) for entry in H2C_RACK]
    for entry in device["extruder"]["info"]:
        entry.update({"hnow": entry["id"], "hpre": 16, "htar": entry["id"]})
    return report
