"""The printer models the simulator emulates, and how each one reports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Model:
    code: str            # "X1C": what --models and SimulatedRecord.model use
    slug: str            # "x1c": printer names are "<slug>-001"
    prefix: str          # first three characters of real serial numbers
    product_name: str    # get_version's ota product_name
    firmware: str        # ota sw_ver
    full_reports: bool   # X1 class: a full report each second; else deltas
    chamber_sensor: bool  # X1 class measures the chamber (device.ctc.info.temp)
    bogus_chamber: bool  # P1 firmware sends chamber_temper 5 without any sensor
    nozzles: int
    max_ams: int         # AMS units a printer of this model may carry
    ams_trays: int       # trays per unit (AMS lite on A1: 4 as well)
    humidity_raw: bool   # newer firmware adds the humidity percentage
    nozzle_codes: bool   # newer firmware reports nozzle_type as codes like "HS01"


MODELS: dict[str, Model] = {m.code: m for m in (
    Model("X1C", "x1c", "00M", "Bambu Lab X1-Carbon", "01.09.00.01", True, True, False,
          1, 4, 4, True, False),
    Model("X1E", "x1e", "03W", "Bambu Lab X1E", "01.02.00.00", True, True, False,
          1, 4, 4, True, False),
    Model("H2D", "h2d", "094", "Bambu Lab H2D", "01.01.00.00", True, True, False,
          2, 4, 4, True, True),
    Model("P1P", "p1p", "01S", "Bambu Lab P1P", "01.08.02.00", False, False, True,
          1, 1, 4, False, False),
    Model("P1S", "p1s", "01P", "Bambu Lab P1S", "01.08.01.00", False, False, True,
          1, 2, 4, False, False),
    Model("A1MINI", "a1mini", "030", "Bambu Lab A1 mini", "01.04.00.00", False, False, False,
          1, 1, 4, False, False),
    Model("A1", "a1", "039", "Bambu Lab A1", "01.04.00.00", False, False, False,
          1, 1, 4, False, False),
)}

_ALIASES = {"A1-MINI": "A1MINI", "A1_MINI": "A1MINI", "A1 MINI": "A1MINI",
            "X1": "X1C", "X1-CARBON": "X1C"}


def model_by_name(name: str) -> Model:
    """'x1c', 'A1_MINI', 'a1mini' ... -> Model; ValueError names the choices."""
    key = name.strip().upper()
    key = _ALIASES.get(key, key)
    if key not in MODELS:
        choices = ", ".join(m.slug for m in MODELS.values())
        raise ValueError(f"unknown printer model {name!r} (choose from {choices})")
    return MODELS[key]


def model_of_serial(serial: str) -> Model | None:
    for m in MODELS.values():
        if serial.startswith(m.prefix):
            return m
    return None
