"""The printers' vocabulary: models (serial prefixes, product names, what each one
measures), nozzle and AMS codes, HMS severities and modules, fans, GcodeState names."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bambulabs_api.states_info import GcodeState


@dataclass(frozen=True)
class ModelSpec:
    """What one printer model is and measures (the model table of the design notes)."""

    label: str                        # the `model` label
    prefix: str                       # first three characters of its serial numbers
    product_names: tuple[str, ...]    # get_version's ota product_name(s)
    chamber_sensor: bool = False      # measures the chamber (P1/A1 send a placeholder)
    chamber_heater: bool = False      # has a chamber target temperature worth showing
    nozzles: int = 1                  # 2: right (extruder 0) and left (extruder 1)
    door: str | None = None           # where the door bit is: "home_flag" | "stat" | None

    @property
    def flags(self) -> str | None:
        """Where the health bits (SD card, tangle, network) are: the field that carries
        the door bit; models without one are not read for them."""
        return self.door


MODEL_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("X1C", "00M", ("Bambu Lab X1-Carbon", "Bambu Lab X1 Carbon"),
              chamber_sensor=True, door="home_flag"),
    ModelSpec("X1", "00W", ("Bambu Lab X1",), chamber_sensor=True, door="home_flag"),
    ModelSpec("X1E", "03W", ("Bambu Lab X1E",), chamber_sensor=True, chamber_heater=True,
              door="home_flag"),
    ModelSpec("P1P", "01S", ("Bambu Lab P1P",)),
    ModelSpec("P1S", "01P", ("Bambu Lab P1S",)),
    ModelSpec("P2S", "22E", ("Bambu Lab P2S",), chamber_sensor=True, door="stat"),
    ModelSpec("A1", "039", ("Bambu Lab A1",)),
    ModelSpec("A1_MINI", "030", ("Bambu Lab A1 mini",)),
    ModelSpec("H2D", "094", ("Bambu Lab H2D",), chamber_sensor=True, chamber_heater=True,
              nozzles=2, door="stat"),
    ModelSpec("H2D_PRO", "239", ("Bambu Lab H2D Pro",), chamber_sensor=True,
              chamber_heater=True, nozzles=2, door="stat"),
    ModelSpec("H2S", "093", ("Bambu Lab H2S",), chamber_sensor=True, chamber_heater=True,
              door="stat"),
    ModelSpec("H2C", "31B", ("Bambu Lab H2C",), chamber_sensor=True, chamber_heater=True,
              nozzles=2, door="stat"),
    ModelSpec("X2D", "20P", ("Bambu Lab X2D",), chamber_sensor=True, chamber_heater=True,
              nozzles=2, door="stat"),
    ModelSpec("A2L", "26A", ("Bambu Lab A2L",)),
)
MODELS: dict[str, ModelSpec] = {spec.label: spec for spec in MODEL_SPECS}
SERIAL_PREFIX_MODELS: dict[str, str] = {spec.prefix: spec.label for spec in MODEL_SPECS}
PRODUCT_NAME_MODELS: dict[str, str] = {name.lower(): spec.label
                                       for spec in MODEL_SPECS for name in spec.product_names}

_NOT_LABEL = re.compile(r"[^A-Z0-9]+")


def model_label(product_name: str) -> str | None:
    """get_version's product name -> model label; a name we have never seen still gives
    a readable one ("Bambu Lab Foo 3" -> "FOO_3"), never None when there is a name."""
    name = " ".join(product_name.split())
    if not name:
        return None
    known = PRODUCT_NAME_MODELS.get(name.lower())
    if known:
        return known
    if name.lower().startswith("bambu lab "):
        name = name[len("bambu lab "):]
    label = _NOT_LABEL.sub("_", name.upper()).strip("_")
    return label or None


# A door that is open sets this bit: in `home_flag` on X1 printers, in the hex string
# `stat` on the H2 family and P2S (where home_flag no longer changes with the door).
DOOR_OPEN_BIT = 0x00800000

# Health bits beside the door bit in the same field (home_flag or stat).
SDCARD_PRESENT_BIT = 0x100
SDCARD_ABNORMAL_BIT = 0x200
WIRED_NETWORK_BIT = 0x40000
FILAMENT_TANGLE_BIT = 0x100000
SDCARD_STATES: tuple[str, ...] = ("absent", "present", "abnormal")
NETWORK_LINKS: tuple[str, ...] = ("wired", "wifi")

# lights_report node -> `light` label; modes other than "off" mean the light is lit.
LIGHT_NODES: tuple[str, ...] = ("chamber_light", "work_light")
LIGHT_MODES: dict[str, bool] = {"on": True, "flashing": True, "off": False}

# Nozzle type codes (newer firmware, e.g. "HS01"): second letter the flow, last two
# digits the material. Older firmware names the material in full ("hardened_steel").
NOZZLE_FLOWS: dict[str, str] = {"H": "high_flow", "E": "high_flow", "U": "tpu_high_flow",
                                "S": "standard"}
NOZZLE_MATERIALS: dict[str, str] = {"00": "stainless_steel", "01": "hardened_steel",
                                    "05": "tungsten_carbide"}
NOZZLE_MATERIAL_NAMES = frozenset(NOZZLE_MATERIALS.values())

# ams[].info bits 0-3, and get_version module names ("n3f/2"), -> `model` label.
AMS_TYPES: dict[int, str] = {1: "AMS", 2: "AMS_LITE", 3: "AMS_2_PRO", 4: "AMS_HT"}
AMS_MODULES: dict[str, str] = {"ams": "AMS", "ams_f1": "AMS_LITE", "n3f": "AMS_2_PRO",
                               "n3s": "AMS_HT"}

# External spool slots: vt_tray (older models) is slot 254.
EXTERNAL_SLOT = "254"

# Bambu's wiki documents HMS codes per model family; models it has no section for (P1,
# A2L, new ones) link to its HMS index.
HMS_WIKI_FAMILIES: dict[str, str] = {
    "X1C": "x1", "X1": "x1", "X1E": "x1", "A1": "a1", "A1_MINI": "a1-mini", "P2S": "p2s",
    "H2D": "h2d", "H2D_PRO": "h2d", "H2S": "h2s", "H2C": "h2c", "X2D": "x2d",
}
HMS_WIKI_INDEX = "https://wiki.bambulab.com/en/hms/home"


def hms_wiki_url(model: str, code: str) -> str:
    """The wiki page of an HMS code for this model's family, the HMS index without one."""
    family = HMS_WIKI_FAMILIES.get(model)
    if family is None:
        return HMS_WIKI_INDEX
    return f"https://wiki.bambulab.com/en/{family}/troubleshooting/hmscode/{code}"


HMS_SEVERITIES: dict[int, str] = {1: "fatal", 2: "serious", 3: "common", 4: "info"}
HMS_MODULES: dict[int, str] = {
    0x03: "mc",
    0x05: "mainboard",
    0x07: "ams",
    0x08: "toolhead",
    0x0C: "xcam",
    0x12: "ams_lite",
}

# Report field -> `fan` label. Printers send fan speeds as strings of 0..15 steps.
FAN_FIELDS: dict[str, str] = {
    "cooling_fan_speed": "part",
    "big_fan1_speed": "aux",
    "big_fan2_speed": "chamber",
    "heatbreak_fan_speed": "heatbreak",
}
FAN_STEPS = 15.0

GCODE_STATES: tuple[str, ...] = tuple(s.value for s in GcodeState)
