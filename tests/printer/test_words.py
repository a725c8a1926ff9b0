"""words.py: every state, stage and model the exporter can show has words."""

from __future__ import annotations

import pytest
from bambulabs_api.states_info import PrintStatus

from exporter.printer.status import OFFLINE
from exporter.printer.vocabulary import AMS_TYPES, GCODE_STATES, MODELS
from exporter.printer.words import (
    STAGE_WORDS,
    ams_words,
    model_words,
    stage_words,
    state_words,
)

pytestmark = pytest.mark.tier("unit")


def test_every_library_stage_has_words() -> None:
    assert {status.name for status in PrintStatus} == set(STAGE_WORDS)
    assert stage_words("PAUSED_FILAMENT_RUNOUT") == "paused: filament ran out"
    assert stage_words("HEATING_HOTEND") == "heating the nozzle"
    assert stage_words("STAGE_77") == "stage 77" and stage_words(None) == ""


def test_every_state_has_words() -> None:
    for state in (*GCODE_STATES, OFFLINE):
        assert state_words(state) and state_words(state) != state
    assert state_words("PAUSE") == "paused"


def test_models_as_people_name_them() -> None:
    assert model_words("H2D_PRO") == "H2D Pro" and model_words("A1_MINI") == "A1 mini"
    assert model_words("X1C") == "X1C" and model_words("FOO_3") == "FOO 3"
    assert model_words("unknown") == "unknown model"
    assert all("_" not in model_words(label) for label in MODELS)
    assert [ams_words(kind) for kind in AMS_TYPES.values()] == [
        "AMS", "AMS lite", "AMS 2 Pro", "AMS HT"]
    assert ams_words(None) == "AMS"
