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
                              {"id": 1, "temp": (250 << 16) | 247}], "state": 1},
        "nozzle": {"info": [{"id": 0, "type": "HS01", "diameter": 0.4},
                            {"id": 1, "type": "HH01", "diameter": 0.6}]},
    }
    return report


def get_version(product: str, sw_ver: str, serial: str = "X") -> dict[str, Any]:
    return {"info": {"command": "get_version", "sequence_id": "1", "module": [
        {"name": "ota", "sw_ver": sw_ver, "product_name": product, "sn": serial},
        {"name": "mc", "sw_ver": "00.00.32.89", "product_name": ""},
    ]}}
