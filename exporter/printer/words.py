"""Pure: words for people where the label values are identifiers: states, stages, models,
AMS kinds, nozzle materials. Pages and alert texts show these; metrics keep the
identifiers (`stage="PAUSED_FILAMENT_RUNOUT"` stays what a query matches on)."""

from __future__ import annotations

from exporter.printer.vocabulary import MODELS

STATE_WORDS: dict[str, str] = {
    "IDLE": "idle",
    "PREPARE": "preparing",
    "RUNNING": "printing",
    "PAUSE": "paused",
    "FINISH": "finished",
    "FAILED": "failed",
    "UNKNOWN": "state unknown",
    "OFFLINE": "offline",
}

# bambulabs_api's PrintStatus names (stg_cur) -> words. Pauses say why.
STAGE_WORDS: dict[str, str] = {
    "PRINTING": "printing",
    "AUTO_BED_LEVELING": "levelling the bed",
    "HEATBED_PREHEATING": "heating the bed",
    "SWEEPING_XY_MECH_MODE": "sweeping the XY mechanism",
    "CHANGING_FILAMENT": "changing filament",
    "M400_PAUSE": "paused by the G-code (M400)",
    "PAUSED_FILAMENT_RUNOUT": "paused: filament ran out",
    "HEATING_HOTEND": "heating the nozzle",
    "CALIBRATING_EXTRUSION": "calibrating extrusion",
    "SCANNING_BED_SURFACE": "scanning the bed surface",
    "INSPECTING_FIRST_LAYER": "inspecting the first layer",
    "IDENTIFYING_BUILD_PLATE_TYPE": "identifying the build plate",
    "CALIBRATING_MICRO_LIDAR": "calibrating the micro lidar",
    "HOMING_TOOLHEAD": "homing the toolhead",
    "CLEANING_NOZZLE_TIP": "cleaning the nozzle tip",
    "CHECKING_EXTRUDER_TEMPERATURE": "checking the extruder temperature",
    "PAUSED_USER": "paused by hand",
    "PAUSED_FRONT_COVER_FALLING": "paused: the front cover fell off",
    "CALIBRATING_LIDAR": "calibrating the lidar",
    "CALIBRATING_EXTRUSION_FLOW": "calibrating the extrusion flow",
    "PAUSED_NOZZLE_TEMPERATURE_MALFUNCTION": "paused: nozzle temperature fault",
    "PAUSED_HEAT_BED_TEMPERATURE_MALFUNCTION": "paused: bed temperature fault",
    "FILAMENT_UNLOADING": "unloading filament",
    "PAUSED_SKIPPED_STEP": "paused: a motor skipped steps",
    "FILAMENT_LOADING": "loading filament",
    "CALIBRATING_MOTOR_NOISE": "calibrating motor noise",
    "PAUSED_AMS_LOST": "paused: the AMS is not answering",
    "PAUSED_LOW_FAN_SPEED_HEAT_BREAK": "paused: heatbreak fan too slow",
    "PAUSED_CHAMBER_TEMPERATURE_CONTROL_ERROR": "paused: chamber temperature fault",
    "COOLING_CHAMBER": "cooling the chamber",
    "PAUSED_USER_GCODE": "paused by the G-code",
    "MOTOR_NOISE_SHOWOFF": "playing the motor noise test",
    "PAUSED_NOZZLE_FILAMENT_COVERED_DETECTED": "paused: filament wrapped round the nozzle",
    "PAUSED_CUTTER_ERROR": "paused: filament cutter fault",
    "PAUSED_FIRST_LAYER_ERROR": "paused: first layer defects",
    "PAUSED_NOZZLE_CLOG": "paused: nozzle clogged",
    "UNKNOWN": "stage unknown",
    "IDLE": "idle",
}

# Model labels whose words are not the label with spaces (Bambu's own names).
_MODEL_NAMES: dict[str, str] = {"A1_MINI": "A1 mini", "H2D_PRO": "H2D Pro"}

AMS_WORDS: dict[str, str] = {"AMS": "AMS", "AMS_LITE": "AMS lite", "AMS_2_PRO": "AMS 2 Pro",
                             "AMS_HT": "AMS HT"}

NOZZLE_MATERIAL_WORDS: dict[str, str] = {
    "stainless_steel": "stainless steel", "hardened_steel": "hardened steel",
    "tungsten_carbide": "tungsten carbide", "unknown": "unknown material"}
NOZZLE_FLOW_WORDS: dict[str, str] = {
    "standard": "standard flow", "high_flow": "high flow", "tpu_high_flow": "TPU high flow",
    "unknown": "unknown flow"}

SENSOR_WORDS: dict[str, str] = {"nozzle": "nozzle", "nozzle_right": "right nozzle",
                                "nozzle_left": "left nozzle", "bed": "bed",
                                "chamber": "chamber"}
FAN_WORDS: dict[str, str] = {"part": "part cooling", "aux": "auxiliary", "chamber": "chamber",
                             "heatbreak": "heatbreak"}
LIGHT_WORDS: dict[str, str] = {"chamber_light": "chamber light", "work_light": "work light"}


def state_words(state: str) -> str:
    return STATE_WORDS.get(state, _plain(state))


def stage_words(stage: str | None) -> str:
    """A PrintStatus name, or STAGE_<n> for stages the library lacks, in words."""
    if not stage:
        return ""
    if stage in STAGE_WORDS:
        return STAGE_WORDS[stage]
    if stage.startswith("STAGE_"):
        return f"stage {stage[len('STAGE_'):]}"
    return _plain(stage)


def model_words(model: str) -> str:
    """'H2D_PRO' -> 'H2D Pro', 'A1_MINI' -> 'A1 mini'; a model we do not know keeps its
    label with spaces ('FOO_3' -> 'FOO 3')."""
    if model in _MODEL_NAMES:
        return _MODEL_NAMES[model]
    if model in MODELS or (model and model != "unknown"):
        return model.replace("_", " ")
    return "unknown model"


def ams_words(model: str | None) -> str:
    """'AMS_2_PRO' -> 'AMS 2 Pro'; a unit that does not say its kind is an 'AMS'."""
    if not model:
        return "AMS"
    return AMS_WORDS.get(model, model.replace("_", " "))


def _plain(identifier: str) -> str:
    return identifier.replace("_", " ").lower()
