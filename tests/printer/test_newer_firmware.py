"""snapshot.py on newer firmware's report shapes, per model (generated payloads), and
the same values in older firmware's shape reading alike."""

from __future__ import annotations

import pytest

from exporter.printer.snapshot import snapshot
from exporter.printer.vocabulary import MODELS
from tests.support import payloads
from tests.support.payloads import BED, CHAMBER, LEFT_NOZZLE, NOZZLE, START

pytestmark = pytest.mark.tier("unit")


@pytest.mark.parametrize("model", list(MODELS))
def test_each_models_newer_shape(model: str) -> None:
    spec = MODELS[model]
    snap = snapshot(payloads.newer_report(model),
                    model, payloads.newer_version(f"Bambu Lab {model}")["info"])
    temps, targets = dict(snap.temperatures), dict(snap.targets)
    # packed values win over the flat fields (which hold other numbers here)
    assert (temps["bed"], targets["bed"]) == BED
    if spec.nozzles == 2:
        assert (temps["nozzle_right"], targets["nozzle_right"]) == NOZZLE
        assert (temps["nozzle_left"], targets["nozzle_left"]) == LEFT_NOZZLE
        assert "nozzle" not in temps
        assert snap.active_extruder == 1
        assert [(n.nozzle, n.type, n.material, n.flow) for n in snap.nozzles] == [
            ("right", "HS01", "hardened_steel", "standard"),
            ("left", "HH05", "tungsten_carbide", "high_flow")]
    else:
        assert (temps["nozzle"], targets["nozzle"]) == NOZZLE
        assert not {"nozzle_right", "nozzle_left"} & set(temps)
        assert snap.active_extruder is None
        assert [(n.nozzle, n.material) for n in snap.nozzles] == [("0", "hardened_steel")]
    if spec.chamber_sensor:
        assert temps["chamber"] == CHAMBER[0]
        assert targets.get("chamber") == (CHAMBER[1] if spec.chamber_heater else None)
    else:
        assert "chamber" not in temps and "chamber" not in targets
    # door: the H2 family and P2S in `stat`; X1 printers in home_flag (0 here)
    assert snap.door_open == {"stat": True, "home_flag": False, None: None}[spec.door]
    assert snap.lights == (("chamber_light", True), ("work_light", False))
    assert snap.print_start == START
    assert snap.stage == "STAGE_77"
    assert snap.print_error_code == "0300_400C"
    units = {u.ams: u for u in snap.ams}
    assert (units["0"].model, units["0"].drying) == ("AMS_2_PRO", True)
    assert (units["128"].model, units["128"].drying) == ("AMS_HT", False)
    assert units["0"].humidity_ratio == pytest.approx(0.23)
    external = [(t.ams, t.tray, t.material, t.remaining) for t in snap.trays
                if t.ams == "external"]
    assert external == [("external", "254", "PETG", None)]   # slot 255 is empty
    assert ("128", "0") in {(t.ams, t.tray) for t in snap.trays}


@pytest.mark.parametrize("model", ["X1C", "P2S", "H2S", "A1"])
def test_old_and_new_shapes_of_the_same_values_read_alike(model: str) -> None:
    old = snapshot(payloads.flat_report("hardened_steel"), model)
    new = snapshot(payloads.newer_report(model, nozzle_codes=("HS01", "HS01")), model)
    heater = MODELS[model].chamber_heater
    assert old.temperatures == new.temperatures
    assert old.targets == new.targets if not heater else (
        dict(new.targets) == {**dict(old.targets), "chamber": CHAMBER[1]})
    assert [(n.nozzle, n.material, n.diameter) for n in old.nozzles] == \
        [(n.nozzle, n.material, n.diameter) for n in new.nozzles]
    assert [t for t in old.trays if t.ams == "external"] == \
        [t for t in new.trays if t.ams == "external"]
    assert old.print_start == new.print_start == START


def test_old_dual_nozzle_shape_puts_the_flat_reading_on_the_active_nozzle() -> None:
    report = payloads.flat_report()
    report["print"]["device"] = {"extruder": {"state": payloads.extruder_state(2, active=1)}}
    snap = snapshot(report, "H2D")
    assert dict(snap.temperatures)["nozzle_left"] == NOZZLE[0]
    assert "nozzle_right" not in dict(snap.temperatures)
    assert snap.active_extruder == 1


def test_unpacked_extruder_temperature_takes_its_target_from_the_flat_field() -> None:
    report = payloads.flat_report()
    report["print"]["device"] = {"extruder": {"info": [{"id": 0, "temp": 150, "htar": 3}],
                                              "state": 1}}
    snap = snapshot(report, "X1C")
    assert dict(snap.temperatures)["nozzle"] == 150
    assert dict(snap.targets)["nozzle"] == NOZZLE[1]   # htar is a hotend id, not 3 °C


def test_h2d_targets_come_from_the_packed_values_not_the_hotend_ids() -> None:
    report = payloads.newer_report("H2D")
    info = report["print"]["device"]["extruder"]["info"]
    for entry in info:   # left nozzle heating to nothing; hotend ids as H2D firmware sends
        entry.update(htar=entry["id"], hnow=entry["id"], hpre=entry["id"])
    info[1]["temp"] = 35   # 35 °C, target 0 (high 16 bits)
    targets = dict(snapshot(report, "H2D").targets)
    assert targets["nozzle_left"] == 0
    assert targets["nozzle_right"] == NOZZLE[1]


def test_unknown_model_believes_the_report() -> None:
    report = payloads.newer_report("H2D")
    snap = snapshot(report, "FOO_3")
    temps, targets = dict(snap.temperatures), dict(snap.targets)
    assert temps["nozzle_left"] == LEFT_NOZZLE[0]       # two extruders in state
    assert (temps["chamber"], targets["chamber"]) == CHAMBER   # device.ctc is measured
    assert snap.door_open is None                        # which bit? we do not guess


def test_x1_door_in_home_flag_even_as_a_signed_number() -> None:
    report = payloads.flat_report()
    report["print"]["home_flag"] = -1067070064 | 0x00800000   # as X1 firmware sends it
    assert snapshot(report, "X1C").door_open is True
    report["print"]["home_flag"] = -1067070064 & ~0x00800000
    assert snapshot(report, "X1C").door_open is False
    report["print"]["stat"] = "46A58000"     # X1 firmware: stat is not the door
    assert snapshot(report, "X1C").door_open is False


def test_ams_model_from_get_version_where_the_unit_does_not_say() -> None:
    report = payloads.newer_report("H2D")
    for unit in report["print"]["ams"]["ams"]:
        del unit["info"]
    version = payloads.newer_version("Bambu Lab H2D")["info"]
    units = {u.ams: u for u in snapshot(report, "H2D", version).ams}
    assert units["0"].model == "AMS_2_PRO" and units["128"].model == "AMS_HT"
    assert units["0"].drying is None            # nothing said about drying
    assert {u.model for u in snapshot(report, "H2D").ams} == {None}
    lite = payloads.get_version("Bambu Lab A1", "1")["info"]
    lite["module"].append({"name": "ams_f1/0", "product_name": "AMS Lite"})
    assert snapshot(payloads.p1s_idle(), "A1", lite).ams[0].model == "AMS"   # info bits win
    report = payloads.p1s_idle()
    del report["print"]["ams"]["ams"][0]["info"]
    assert snapshot(report, "A1", lite).ams[0].model == "AMS_LITE"


def test_vt_tray_and_vir_slot_are_one_slot_by_id() -> None:
    report = payloads.newer_report("H2D")
    report["print"]["vt_tray"] = {"id": "254", "tray_type": "PLA", "tray_color": "FFFFFFFF"}
    external = [(t.tray, t.material) for t in snapshot(report, "H2D").trays
                if t.ams == "external"]
    assert external == [("254", "PETG")]       # vir_slot's picture wins


@pytest.mark.parametrize("field, value", [
    ("stat", "zz"), ("stat", None), ("home_flag", "x"), ("lights_report", "on"),
    ("lights_report", [{"node": "chamber_light", "mode": "disco"}, 3]),
    ("gcode_start_time", "soon"), ("gcode_start_time", -5), ("vir_slot", {"id": "254"}),
    ("vir_slot", [{"id": "x", "tray_type": "PLA"}, "junk"]),
    ("device", {"extruder": {"info": "x", "state": "y"}, "bed": [], "ctc": {"info": 3},
                "nozzle": {"info": [{"id": "a"}, 5]}}),
    ("ams", {"ams": [{"id": "0", "info": "qq"}, {"id": "1", "info": -3}]}),
])
def test_malformed_newer_fields_are_left_out_not_fatal(field: str, value: object) -> None:
    report = payloads.newer_report("H2D")
    report["print"][field] = value
    snap = snapshot(report, "H2D")     # must not raise
    assert snap.state == "RUNNING"


def test_stage_ids_the_library_lacks_are_named_not_dropped() -> None:
    assert snapshot({"print": {"stg_cur": 36}}, "H2D").stage == "STAGE_36"
    assert snapshot({"print": {"stg_cur": 0}}, "H2D").stage == "PRINTING"


@pytest.mark.parametrize("state", ["FINISH", "IDLE", "FAILED"])
def test_stage_zero_while_resting_after_boot_is_idle(state: str) -> None:
    snap = snapshot(payloads.p1p_after_boot(state), "P1P")
    assert snap.state == state and snap.stage == "IDLE"


def test_stage_zero_with_print_type_idle_is_idle_whatever_the_state_says() -> None:
    report = payloads.p1p_after_boot("UNKNOWN")
    assert snapshot(report, "P1P").stage == "IDLE"
    report["print"]["print_type"] = "local"   # a job's stage 0 is printing
    assert snapshot(report, "P1P").stage == "PRINTING"


def test_stage_zero_while_running_is_printing() -> None:
    report = payloads.p1p_after_boot("RUNNING")
    report["print"]["print_type"] = "cloud"
    assert snapshot(report, "P1P").stage == "PRINTING"


def test_h2c_rack_hotends_are_apart_from_the_mounted_nozzles() -> None:
    snap = snapshot(payloads.h2c_with_rack(), "H2C")
    assert [n.nozzle for n in snap.nozzles] == ["right", "left"]
    assert [(n.nozzle, n.type, n.diameter, n.material, n.flow) for n in snap.rack_hotends] == [
        ("16", "HS01", "0.4", "hardened_steel", "standard"),
        ("17", "HH01", "0.6", "hardened_steel", "high_flow"),
        ("19", "HS00", "0.2", "stainless_steel", "standard")]
    # the hotend ids in extruder info are not temperatures either
    assert dict(snap.temperatures)["nozzle_left"] == payloads.LEFT_NOZZLE[0]
