"""Models and payload generators: serials, report shapes per class, value types."""

from __future__ import annotations

import random
import re

import pytest

from exporter.simulator import SimulatedFleet, model_by_name, model_of_serial, reports
from exporter.simulator.models import MODELS

pytestmark = pytest.mark.tier("unit")

# DESIGN.md's table of models, serial prefixes and product names
PREFIXES = {"X1C": "00M", "X1E": "03W", "P1P": "01S", "P1S": "01P", "A1MINI": "030",
            "A1": "039", "H2D": "094", "P2S": "22E", "H2S": "093", "H2D_PRO": "239",
            "H2C": "31B", "X2D": "20P", "A2L": "26A"}


def test_serial_prefixes_and_names() -> None:
    fleet = SimulatedFleet(count=130, seed=2)
    for record in fleet.records:
        assert record.serial.startswith(PREFIXES[record.model])
        assert len(record.serial) == 15
        assert model_of_serial(record.serial).code == record.model
        assert re.fullmatch(r"\d{8}", record.access_code)
        assert record.access_code not in repr(record)
    assert {r.model for r in fleet.records} == set(PREFIXES)
    assert len({r.serial for r in fleet.records}) == 130
    assert len({r.name for r in fleet.records}) == 130
    assert [r.ip for r in fleet.records[:3]] == ["127.0.10.1", "127.0.10.2", "127.0.10.3"]
    # the same seed, the same fleet
    assert SimulatedFleet(count=130, seed=2).records == fleet.records
    assert SimulatedFleet(count=130, seed=3).records != fleet.records


def test_model_names() -> None:
    assert model_by_name("a1mini").code == "A1MINI"
    assert model_by_name("A1_MINI").code == "A1MINI"
    for name in ("h2d-pro", "H2D Pro", "h2dpro", "H2D_PRO"):
        assert model_by_name(name).code == "H2D_PRO"
    assert model_by_name("p2s").code == "P2S" and model_by_name("X2D").code == "X2D"
    with pytest.raises(ValueError, match="unknown printer model"):
        model_by_name("ender3")


@pytest.mark.parametrize("code", list(MODELS))
def test_full_report_shape(code: str) -> None:
    model = MODELS[code]
    doc = reports.full_report(model, random.Random(1))["print"]
    for fan in ("cooling_fan_speed", "big_fan1_speed", "big_fan2_speed", "heatbreak_fan_speed"):
        assert isinstance(doc[fan], str) and 0 <= int(doc[fan]) <= 15
    assert re.fullmatch(r"-\d+dBm", doc["wifi_signal"])
    assert isinstance(doc["mc_remaining_time"], int)
    assert doc["gcode_state"] == "IDLE" and doc["hms"] == [] and doc["print_error"] == 0
    assert doc["stg_cur"] == (-1 if model.full_reports else 255)
    for unit in doc["ams"]["ams"]:
        assert 1 <= int(unit["humidity"]) <= 5
        assert ("humidity_raw" in unit) == model.humidity_raw
        assert reports.ams_kind(unit["info"]) in model.ams_kinds
        for tray in unit["tray"]:
            if tray["state"]:
                assert tray["remain"] == -1 or 0 <= tray["remain"] <= 100
                assert re.fullmatch(r"[0-9A-F]{8}", tray["tray_color"])
    if model.device:
        assert isinstance(doc["device"]["ctc"]["info"]["temp"], int)
        assert "chamber_temper" not in doc
        mounted = [n for n in doc["device"]["nozzle"]["info"] if n["id"] < 16]
        assert len(mounted) == model.nozzles
        assert len(doc["device"]["nozzle"]["info"]) - len(mounted) == model.rack_hotends
        assert len(doc["device"]["extruder"]["info"]) == model.nozzles
        assert doc["device"]["extruder"]["state"] & 0xF == model.nozzles
    else:
        assert "device" not in doc
        assert ("chamber_temper" in doc) == code.startswith("P1")
    if model.nozzle_codes:
        assert re.fullmatch(r"H[SHEU]0[015]", doc["nozzle_type"])
    assert ("vir_slot" in doc) == model.vir_slot != ("vt_tray" in doc)


def test_version_report_lists_ota_and_ams() -> None:
    model = MODELS["X1C"]
    units = [{"id": "0", "info": "1001"}, {"id": "1", "info": "1001"}]
    info = reports.version_report(model, "00M09A010000001", units, "5")["info"]
    ota = info["module"][0]
    assert ota["name"] == "ota" and ota["sw_ver"] == model.firmware
    assert ota["product_name"] == "Bambu Lab X1-Carbon"
    assert [m["name"] for m in info["module"][1:3]] == ["ams/0", "ams/1"]
