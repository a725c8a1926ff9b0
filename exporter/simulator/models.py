"""The printer models the simulator emulates, and how each one reports."""

from __future__ import annotations

from dataclasses import dataclass

# AMS kinds, as `ams[].info` bits 0-3 and get_version module names say them.
AMS = "AMS"              # info type 1, module ams/<id>
AMS_LITE = "AMS_LITE"    # info type 2, module ams_f1/<id>
AMS_2_PRO = "AMS_2_PRO"  # info type 3, module n3f/<id>, humidity_raw, can dry
AMS_HT = "AMS_HT"        # info type 4, module n3s/<id>, ids from 128, one tray, can dry


@dataclass(frozen=True)
class Model:
    code: str            # "X1C": what --models and SimulatedRecord.model use
    slug: str            # "x1c": printer names are "<slug>-001"
    prefix: str          # first three characters of real serial numbers
    product_name: str    # get_version's ota product_name
    firmware: str        # ota sw_ver
    full_reports: bool   # X1 class: a full report each second; else deltas
    chamber_sensor: bool  # measures the chamber (device.ctc.info.temp)
    bogus_chamber: bool  # P1 firmware sends chamber_temper 5 without any sensor
    nozzles: int
    max_ams: int         # AMS units a printer of this model may carry
    ams_kinds: tuple[str, ...]  # the AMS kinds it is sold with (first: the usual one)
    humidity_raw: bool   # newer firmware adds the humidity percentage
    nozzle_codes: bool   # newer firmware reports nozzle_type as codes like "HS01"
    device: bool = False        # sends print.device (bed, ctc, extruder, nozzle)
    packed: bool = False        # device temperatures packed: target << 16 | current
    vir_slot: bool = False      # external spools in vir_slot[] (ids 254, 255), not vt_tray
    door: str = ""              # door sensor: "home_flag" (X1 firmware) or "stat" (newer)
    work_light: bool = False    # lights_report has a work_light besides the chamber_light
    rack_hotends: int = 0       # H2C: hotends parked in its rack, listed in device.nozzle.info


def _newer(code: str, slug: str, prefix: str, product_name: str, firmware: str,
           full_reports: bool, nozzles: int, vir_slot: bool, rack_hotends: int = 0) -> Model:
    """Newer firmware: values in print.device, packed temperatures, nozzle codes, AMS 2 Pro
    and AMS HT units, the door in `stat`, a chamber sensor."""
    return Model(code, slug, prefix, product_name, firmware, full_reports, True, False,
                 nozzles, 4, (AMS_2_PRO, AMS_HT, AMS), True, True, device=True, packed=True,
                 vir_slot=vir_slot, door="stat", work_light=True, rack_hotends=rack_hotends)


MODELS: dict[str, Model] = {m.code: m for m in (
    Model("X1C", "x1c", "00M", "Bambu Lab X1-Carbon", "01.09.00.01", True, True, False,
          1, 4, (AMS,), True, False, device=True, door="home_flag", work_light=True),
    Model("X1E", "x1e", "03W", "Bambu Lab X1E", "01.02.00.00", True, True, False,
          1, 4, (AMS,), True, False, device=True, door="home_flag", work_light=True),
    _newer("H2D", "h2d", "094", "Bambu Lab H2D", "01.01.00.00", True, 2, True),
    Model("P1P", "p1p", "01S", "Bambu Lab P1P", "01.08.02.00", False, False, True,
          1, 1, (AMS,), False, False),
    Model("P1S", "p1s", "01P", "Bambu Lab P1S", "01.08.01.00", False, False, True,
          1, 2, (AMS,), False, False),
    Model("A1MINI", "a1mini", "030", "Bambu Lab A1 mini", "01.04.00.00", False, False, False,
          1, 1, (AMS_LITE,), False, False),
    Model("A1", "a1", "039", "Bambu Lab A1", "01.04.00.00", False, False, False,
          1, 1, (AMS_LITE,), False, False),
    # P2S: deltas like a P1, in the newer shapes; external spool still in vt_tray.
    _newer("P2S", "p2s", "22E", "Bambu Lab P2S", "01.00.00.00", False, 1, False),
    _newer("H2S", "h2s", "093", "Bambu Lab H2S", "01.00.00.00", True, 1, True),
    _newer("H2D_PRO", "h2dpro", "239", "Bambu Lab H2D Pro", "01.00.00.00", True, 2, True),
    # H2C: its rack's parked hotends (ids 16 and up) are listed beside the mounted two.
    _newer("H2C", "h2c", "31B", "Bambu Lab H2C", "01.00.00.00", True, 2, True, rack_hotends=4),
    _newer("X2D", "x2d", "20P", "Bambu Lab X2D", "01.00.00.00", True, 2, True),
    # A2L: an open printer sending deltas; its external spool comes in vir_slot.
    Model("A2L", "a2l", "26A", "Bambu Lab A2L", "01.00.00.00", False, False, False,
          1, 1, (AMS_LITE,), False, True, vir_slot=True),
)}

_ALIASES = {"X1": "X1C", "X1_CARBON": "X1C", "A1_MINI": "A1MINI"}


def model_by_name(name: str) -> Model:
    """'x1c', 'A1_MINI', 'a1mini', 'h2d-pro', 'H2D Pro' ... -> Model; ValueError names the
    choices."""
    key = name.strip().upper().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    for model in MODELS.values():
        if key.replace("_", "") in (model.code.replace("_", ""), model.slug.upper()):
            return model
    choices = ", ".join(m.slug for m in MODELS.values())
    raise ValueError(f"unknown printer model {name!r} (choose from {choices})")


def model_of_serial(serial: str) -> Model | None:
    for m in MODELS.values():
        if serial.startswith(m.prefix):
            return m
    return None
