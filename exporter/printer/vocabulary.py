"""The printers' vocabulary: models by serial prefix and product name, which models have
which sensors, HMS severities and modules, fan fields, GcodeState names."""

from __future__ import annotations

from bambulabs_api.states_info import GcodeState

# Serial prefixes real printers carry (the first three characters of the serial).
SERIAL_PREFIX_MODELS: dict[str, str] = {
    "00M": "X1C",
    "03W": "X1E",
    "01S": "P1P",
    "01P": "P1S",
    "030": "A1_MINI",
    "039": "A1",
    "094": "H2D",
}

# get_version's product_name for the `ota` module, mapped to the same vocabulary.
PRODUCT_NAME_MODELS: dict[str, str] = {
    "bambu lab x1-carbon": "X1C",
    "bambu lab x1 carbon": "X1C",
    "bambu lab x1e": "X1E",
    "bambu lab p1p": "P1P",
    "bambu lab p1s": "P1S",
    "bambu lab a1 mini": "A1_MINI",
    "bambu lab a1": "A1",
    "bambu lab h2d": "H2D",
}

# Models with a chamber temperature sensor; P1/A1 report a placeholder chamber_temper.
CHAMBER_SENSOR_MODELS = frozenset({"X1C", "X1E", "H2D"})

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
