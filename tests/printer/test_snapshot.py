"""merge.py and snapshot.py: deep merge, snapshot mapping from full and delta reports, HMS decoding."""

from __future__ import annotations

import json

import pytest

from exporter.printer.merge import prune_report
from exporter.printer.snapshot import (
    decode_hms,
    firmware_from_version,
    model_from_serial,
    model_from_version,
    snapshot,
)
from tests.support import payloads
from tests.support.reference import deep_merge

pytestmark = pytest.mark.tier("unit")

# ---------------------------------------------------------------------- deep merge

def test_nested_delta_changes_only_its_key() -> None:
    report = payloads.p1s_idle()
    deep_merge(report, {"print": {"ams": {"tray_now": "1"}}})
    assert report["print"]["ams"]["tray_now"] == "1"
    # the library's one-level merge would have replaced `ams` and lost the units
    assert len(report["print"]["ams"]["ams"]) == 1
    assert report["print"]["ams"]["ams"][0]["tray"][0]["tray_type"] == "PLA"


def test_partial_ams_unit_and_tray_merge_by_id() -> None:
    report = payloads.x1c_running()
    deep_merge(report, {"print": {"ams": {"ams": [
        {"id": "1", "humidity": "1", "tray": [{"id": "0", "remain": 12}]}]}}})
    units = report["print"]["ams"]["ams"]
    assert [u["id"] for u in units] == ["0", "1"]
    assert units[1]["humidity"] == "1"
    assert units[1]["humidity_raw"] == "61"          # untouched sibling key
    assert units[1]["tray"][0] == {**payloads.tray("0", "PETG", "00FF00FF", 55), "remain": 12}
    assert units[1]["tray"][1]["tray_type"] == "ABS"  # untouched sibling tray


def test_new_id_is_appended_and_plain_lists_replace() -> None:
    report = payloads.p1s_idle()
    deep_merge(report, {"print": {"ams": {"ams": [payloads.ams_unit("1")]},
                                  "hms": [{"attr": 1, "code": 2}]}})
    assert [u["id"] for u in report["print"]["ams"]["ams"]] == ["0", "1"]
    deep_merge(report, {"print": {"hms": []}})
    assert report["print"]["hms"] == []  # an HMS list is the full current set


def test_merge_does_not_share_structure_with_the_delta() -> None:
    report: dict = {}
    delta = payloads.p1s_idle()
    deep_merge(report, delta)
    delta["print"]["ams"]["ams"][0]["humidity"] = "1"
    assert report["print"]["ams"]["ams"][0]["humidity"] == "5"


def test_delta_stream_gives_the_same_picture_as_a_full_report() -> None:
    """A P1 printer's deltas merged onto its first full report equal a fresh pushall."""
    full = payloads.p1s_idle()
    deltas = [
        {"print": {"gcode_state": "PREPARE", "stg_cur": 2}},
        {"print": {"gcode_state": "RUNNING", "stg_cur": 0, "mc_percent": 5,
                   "nozzle_target_temper": 220, "bed_target_temper": 60}},
        {"print": {"ams": {"tray_now": "0"}}},
        {"print": {"ams": {"ams": [{"id": "0", "tray": [{"id": "0", "remain": 79}]}]}}},
        {"print": {"nozzle_temper": 219.0, "layer_num": 3, "total_layer_num": 200}},
    ]
    for delta in deltas:
        deep_merge(full, delta)
    fresh = payloads.p1s_idle()
    fresh["print"].update({"gcode_state": "RUNNING", "stg_cur": 0, "mc_percent": 5,
                           "nozzle_target_temper": 220, "bed_target_temper": 60,
                           "nozzle_temper": 219.0, "layer_num": 3, "total_layer_num": 200})
    fresh["print"]["ams"]["tray_now"] = "0"
    fresh["print"]["ams"]["ams"][0]["tray"][0]["remain"] = 79
    assert full == fresh
    assert snapshot(full, "P1S") == snapshot(fresh, "P1S")


def test_prune_keeps_only_what_snapshot_reads() -> None:
    pruned = prune_report(payloads.x1c_running())
    assert "command" not in pruned["print"] and "mc_print_stage" in pruned["print"]
    assert "ipcam" in pruned["print"] and "upgrade_state" in pruned["print"]   # health
    assert snapshot(pruned, "X1C") == snapshot(payloads.x1c_running(), "X1C")
    assert prune_report({"info": {"command": "get_version"}}) == {}
    assert prune_report({"print": "nonsense"}) == {}


# ------------------------------------------------------------------------ snapshot

def test_x1c_snapshot() -> None:
    snap = snapshot(payloads.x1c_running(), "X1C")
    assert snap.state == "RUNNING"
    assert snap.stage == "PRINTING"
    assert dict(snap.temperatures) == {"nozzle": 219.5, "bed": 54.9, "chamber": 33.0}
    assert dict(snap.targets) == {"nozzle": 220.0, "bed": 55.0}
    assert dict(snap.fans) == {"part": 1.0, "aux": pytest.approx(10 / 15), "chamber": 0.0,
                               "heatbreak": 1.0}
    assert snap.progress == pytest.approx(0.42)
    assert snap.remaining_seconds == 73 * 60
    assert (snap.layer, snap.layers) == (120, 300)
    assert snap.speed == 1.0
    assert (snap.job_file, snap.job_task) == ("/data/Metadata/plate_1.gcode", "benchy")
    assert snap.print_error == 0
    assert snap.wifi_dbm == -52.0
    assert [(n.nozzle, n.type, n.diameter, n.material, n.flow) for n in snap.nozzles] == [
        ("0", "HS01", "0.4", "hardened_steel", "standard")]


def test_ams_humidity_is_on_studios_scale_and_unknown_remain_is_left_out() -> None:
    snap = snapshot(payloads.x1c_running(), "X1C")
    units = {u.ams: u for u in snap.ams}
    assert units["0"].humidity_index == 2      # firmware 4 -> Studio 2
    assert units["1"].humidity_index == 4      # firmware 2 -> Studio 4 (wetter)
    assert units["1"].humidity_ratio == pytest.approx(0.61)
    assert units["0"].temperature == 24.5
    trays = {(t.ams, t.tray): t for t in snap.trays}
    assert trays[("1", "0")].remaining == pytest.approx(0.55)
    assert trays[("1", "1")].remaining is None       # remain -1: the printer does not know
    assert trays[("1", "1")].material == "ABS"
    assert ("1", "2") not in trays                   # empty slot
    assert not [t for t in snap.trays if t.ams == "external"]   # empty external spool


def test_p1s_has_no_chamber_sensor_and_ams_lite_values_are_left_out() -> None:
    snap = snapshot(payloads.p1s_idle(), "P1S")
    assert "chamber" not in dict(snap.temperatures)  # chamber_temper 5 is a placeholder
    unit = snap.ams[0]
    assert unit.humidity_index == 1 and unit.humidity_ratio is None and unit.temperature is None
    external = [t for t in snap.trays if t.ams == "external"]
    assert [(t.tray, t.material, t.color, t.remaining) for t in external] == [
        ("254", "PETG", "BCBCBCFF", None)]
    assert snap.stage == "IDLE"
    assert [(n.nozzle, n.type, n.material, n.flow) for n in snap.nozzles] == [
        ("0", "stainless_steel", "stainless_steel", "")]
    assert snap.door_open is None and snap.active_extruder is None   # P1S: no such sensor


def test_h2d_two_nozzles_and_packed_temperatures() -> None:
    snap = snapshot(payloads.h2d_running(), "H2D")
    temps, targets = dict(snap.temperatures), dict(snap.targets)
    assert (temps["nozzle_right"], targets["nozzle_right"]) == (218.0, 220.0)
    assert (temps["nozzle_left"], targets["nozzle_left"]) == (247.0, 250.0)
    assert "nozzle" not in temps and "nozzle2" not in temps
    assert temps["chamber"] == 38.0
    assert snap.active_extruder == 1
    assert [(n.nozzle, n.type, n.diameter, n.material, n.flow) for n in snap.nozzles] == [
        ("right", "HS01", "0.4", "hardened_steel", "standard"),
        ("left", "HH01", "0.6", "hardened_steel", "high_flow")]


@pytest.mark.parametrize("field, value", [
    ("nozzle_temper", "hot"), ("mc_percent", None), ("wifi_signal", "n/a"),
    ("hms", "nope"), ("ams", [1, 2]), ("device", []), ("layer_num", 1.5), ("spd_mag", True),
])
def test_malformed_fields_are_left_out_not_fatal(field: str, value: object) -> None:
    report = payloads.x1c_running()
    report["print"][field] = value
    snap = snapshot(report, "X1C")  # must not raise
    assert snap.state == "RUNNING"


def test_unknown_and_missing_states() -> None:
    assert snapshot({"print": {"gcode_state": "SLICING"}}, None).state == "UNKNOWN"
    assert snapshot({}, None).state == "UNKNOWN"
    assert snapshot({"print": {"stg_cur": 999}}, None).stage == "STAGE_999"   # not dropped
    assert snapshot({"print": {"stg_cur": 77}}, None).stage == "STAGE_77"
    assert snapshot({"print": {"stg_cur": 255}}, None).stage == "IDLE"
    assert snapshot({"print": {"stg_cur": -1}}, None).stage == "IDLE"


# ----------------------------------------------------------------------------- HMS

def test_hms_code_severity_and_module() -> None:
    message = decode_hms(0x07008200, 0x00020004)
    assert message is not None
    assert message.code == "0700_8200_0002_0004"
    assert message.severity == "serious"
    assert message.module == "ams"
    assert decode_hms(0x0C004000, 0x00010001).severity == "fatal"
    assert decode_hms(0x0C004000, 0x00010001).module == "xcam"
    assert decode_hms(0x03000000, 0x00030001).severity == "common"
    assert decode_hms(0x05000000, 0x00040001).severity == "info"
    assert decode_hms(0x7F000000, 0x00090001).module == "0x7F"
    assert decode_hms(0x7F000000, 0x00090001).severity == "unknown"
    assert decode_hms("x", 1) is None


def test_duplicate_hms_entries_count_once() -> None:
    report = payloads.x1c_running()
    report["print"]["hms"] = [{"attr": 0x07008200, "code": 0x00020004}] * 2 + ["junk"]
    assert len(snapshot(report, "X1C").hms) == 1


# --------------------------------------------------------------------- model, jobs

def test_models_from_serial_prefix_and_version() -> None:
    assert model_from_serial("00M09A350100001") == "X1C"
    assert model_from_serial("03W00X000000001") == "X1E"
    assert model_from_serial("01S00C000000001") == "P1P"
    assert model_from_serial("01P00A000000001") == "P1S"
    assert model_from_serial("0309DA000000001") == "A1_MINI"
    assert model_from_serial("039000000000001") == "A1"
    assert model_from_serial("0940000000000001") == "H2D"
    assert model_from_serial("22E00A000000001") == "P2S"
    assert model_from_serial("ZZZ") is None
    info = payloads.get_version("Bambu Lab X1-Carbon", "01.09.00.01")["info"]
    assert model_from_version(info) == "X1C"
    assert firmware_from_version(info) == "01.09.00.01"
    assert model_from_version({"module": "junk"}) is None
    assert firmware_from_version(None) is None


def test_snapshot_of_a_json_round_trip_is_stable() -> None:
    report = json.loads(json.dumps(payloads.x1c_running()))
    assert snapshot(report, "X1C") == snapshot(payloads.x1c_running(), "X1C")
