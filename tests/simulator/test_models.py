"""The newer models (P2S, H2S, H2D Pro, H2C, X2D, A2L and the H2D) in their own report
shapes, read by the unmodified bambulabs_api over TLS."""

from __future__ import annotations

import itertools
import json
import random
import resource
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bambulabs_api import GcodeState

from exporter.simulator import SimulatedFleet, reports
from exporter.simulator.fleet import allow_descriptors, make_records
from exporter.simulator.life import Life
from exporter.simulator.models import AMS_2_PRO, AMS_HT, MODELS
from tests.simulator.helpers import Listener, api_printer, wait_until, without_volatile
from tests.simulator.test_printer import merge_from_first_full
from tests.support.addresses import AddressPool

pytestmark = pytest.mark.tier("e2e")

NEW = ["P2S", "H2S", "H2D", "H2D_PRO", "H2C", "X2D", "A2L"]
PRODUCT_NAMES = {"P2S": "Bambu Lab P2S", "H2S": "Bambu Lab H2S", "H2D": "Bambu Lab H2D",
                 "H2D_PRO": "Bambu Lab H2D Pro", "H2C": "Bambu Lab H2C",
                 "X2D": "Bambu Lab X2D", "A2L": "Bambu Lab A2L"}
HMS_TEXTS = Path(__file__).resolve().parents[1] / "support" / "hms_texts.json"


@pytest.fixture(scope="module")
def fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    with SimulatedFleet(count=len(NEW), first_address=addresses.take(len(NEW)).first, seed=8, models=NEW,
                        life=False) as f:
        yield f


def unpack(value: int) -> tuple[int, int]:
    return value & 0xFFFF, value >> 16


def units_for(code: str) -> list[dict]:
    """An AMS 2 Pro drying and an AMS HT (id 128) on newer models; an AMS lite on the A2L."""
    tray = {"id": "0", "state": 11, "tray_type": "PETG", "tray_color": "FF0000FF", "remain": 42}
    if code == "A2L":
        return [{"id": "0", "info": reports.ams_info("AMS_LITE"), "humidity": "4",
                 "temp": "0.0", "dry_time": 0, "tray": [tray]}]
    return [{"id": "0", "info": reports.ams_info(AMS_2_PRO, drying=True), "humidity": "2",
             "humidity_raw": "37", "temp": "55.0", "dry_time": 90, "tray": [tray]},
            {"id": "128", "info": reports.ams_info(AMS_HT), "humidity": "5",
             "humidity_raw": "12", "temp": "28.5", "dry_time": 0, "tray": [dict(tray)]}]


@pytest.mark.parametrize("code", NEW)
def test_bambulabs_api_reads_every_newer_model(fleet: SimulatedFleet, code: str) -> None:
    model = MODELS[code]
    record = next(r for r in fleet.records if r.model == code)
    handle = fleet.printer(record.serial)
    assert record.serial.startswith(model.prefix)
    handle.set_state("RUNNING")
    report = handle.report()
    nozzles = [(219.0, 220.0), (151.0, 160.0)][:model.nozzles]
    active = model.nozzles - 1  # the left nozzle prints on a dual-nozzle printer
    handle.update(reports.temperature_fields(model, report, nozzles, (60.0, 65.0),
                                             chamber=41.0, active=active))
    units = units_for(code)
    handle.update({"print": {"ams": reports.ams_block(units), **reports.door_fields(model, True),
                             "lights_report": [{"node": "chamber_light", "mode": "off"},
                                               {"node": "work_light", "mode": "on"}]}})
    with api_printer(record) as printer:
        wait_until(lambda: printer.mqtt_client.ready()
                   and printer.mqtt_client.dump().get("info"), what="first report")
        assert printer.get_state() is GcodeState.RUNNING
        dump = printer.mqtt_client.dump()
        p = dump["print"]
        # the library holds the printer's own full report
        assert without_volatile({"print": p}) == without_volatile(handle.report())
        modules = {m["name"]: m for m in dump["info"]["module"]}
        assert modules["ota"]["product_name"] == PRODUCT_NAMES[code]
        assert modules["ota"]["sn"] == record.serial
        if code == "A2L":
            assert "ams_f1/0" in modules
        else:
            assert {"n3f/0", "n3s/128"} <= set(modules)
    assert p["nozzle_temper"] == nozzles[active][0]
    assert p["nozzle_target_temper"] == nozzles[active][1]
    assert int(p["gcode_start_time"]) > 1_700_000_000
    assert [u["id"] for u in p["ams"]["ams"]] == [u["id"] for u in units]
    if code != "A2L":
        dry, ht = p["ams"]["ams"]
        assert int(dry["info"], 16) & 0xF == 3 and (int(dry["info"], 16) >> 4) & 0xF != 0
        assert int(ht["info"], 16) & 0xF == 4 and (int(ht["info"], 16) >> 4) & 0xF == 0
        assert dry["humidity_raw"] == "37"
    if model.device:
        device = p["device"]
        assert unpack(device["bed"]["info"]["temp"]) == (60, 65)
        assert unpack(device["ctc"]["info"]["temp"]) == (41, 0)
        state = device["extruder"]["state"]
        assert (state & 0xF, state >> 4) == (model.nozzles, active)
        assert [unpack(e["temp"]) for e in device["extruder"]["info"]] == \
            [(int(c), int(t)) for c, t in nozzles]
        codes = [n["type"] for n in device["nozzle"]["info"] if n["id"] < 16]   # rack: 16+
        assert len(codes) == model.nozzles
        assert all(c[0] == "H" and c[1] in "SHEU" and c[2:] in ("00", "01", "05") for c in codes)
    if model.vir_slot:
        assert "vt_tray" not in p
        ids = [slot["id"] for slot in p["vir_slot"]]
        assert ids == (["255"] if code == "A2L" else ["254", "255"])
    else:
        assert p["vt_tray"]["id"] == "254" and "vir_slot" not in p
    if model.door == "stat":
        assert int(p["stat"], 16) & reports.DOOR_BIT
    assert {light["node"]: light["mode"] for light in p["lights_report"]} == \
        {"chamber_light": "off", "work_light": "on"}


def test_failed_print_and_hms_use_only_codes_with_texts(fleet: SimulatedFleet) -> None:
    table = json.loads(HMS_TEXTS.read_text())["data"]
    hms_texts = {e["ecode"] for e in table["device_hms"]["en"]}
    error_texts = {e["ecode"] for e in table["device_error"]["en"]}
    emitted_hms = {f"{attr:08X}{code:08X}" for _, attr, code in reports.FAILURES} | \
        {f"{attr:08X}{code:08X}" for attr, code in (*reports.WARNINGS, reports.SERIOUS)}
    emitted_errors = {f"{error:08X}" for error, _, _ in reports.FAILURES}
    # the test table holds exactly what the simulator can say
    assert emitted_hms == hms_texts and emitted_errors == error_texts
    record = next(r for r in fleet.records if r.model == "H2C")
    handle = fleet.printer(record.serial)
    seen = set()
    for _ in range(12):
        handle.set_state("FAILED")
        p = handle.report()["print"]
        seen.add(f"{p['print_error']:08X}")
        assert {f"{h['attr']:08X}{h['code']:08X}" for h in p["hms"]} <= hms_texts
    assert seen <= error_texts and len(seen) > 1
    handle.set_state("IDLE")


def test_commands_switch_either_light(fleet: SimulatedFleet) -> None:
    record = next(r for r in fleet.records if r.model == "H2S")
    handle = fleet.printer(record.serial)
    with Listener(record) as client:
        wait_until(lambda: client.prints(), what="full report")
        client.request({"system": {"command": "ledctrl", "led_node": "work_light",
                                   "led_mode": "off"}})
        client.request({"system": {"command": "ledctrl", "led_mode": "on"}})
        wait_until(lambda: {(x["node"], x["mode"]) for x in
                            handle.report()["print"]["lights_report"]} ==
                   {("chamber_light", "on"), ("work_light", "off")}, what="lights switched")


def test_newer_delta_models_merge_to_the_full_report(addresses: AddressPool) -> None:
    # P2S and A2L send deltas in the newer shapes (device.*, packed values, vir_slot); at
    # speed 300 jobs, temperatures, the door and drying all move within seconds.
    with SimulatedFleet(count=4, first_address=addresses.take(4).first, seed=12, speed=300.0,
                        models=["P2S", "A2L"]) as fleet:
        clients = [Listener(r).start() for r in fleet.records]
        try:
            wait_until(lambda: all(len(c.prints()) >= 8 for c in clients), timeout=20,
                       what="a few deltas from every printer")
            for client in clients:
                prints = client.prints()
                assert any(d["print"]["msg"] == 1 and len(d["print"]) < 20 for d in prints)
                count = len(prints)
                client.request({"pushing": {"command": "pushall"}})
                wait_until(lambda c=client, n=count:
                           any(d["print"]["msg"] == 0 for d in c.prints()[n:]),
                           what="fresh full report")
                stream = client.prints()
                fresh_at = next(i for i in range(count, len(stream))
                                if stream[i]["print"]["msg"] == 0)
                merged = merge_from_first_full(stream[:fresh_at])
                assert without_volatile(merged) == without_volatile(stream[fresh_at])
            p2s = next(c for c, r in zip(clients, fleet.records, strict=True) if r.model == "P2S")
            assert any("device" in d["print"] and d["print"]["msg"] == 1 for d in p2s.prints())
        finally:
            for client in clients:
                client.stop()


@pytest.mark.parametrize("code", ["H2D", "X2D", "H2C", "H2D_PRO"])
def test_dual_nozzle_life_heats_the_active_nozzle(code: str) -> None:
    model = MODELS[code]
    rng = random.Random(5)
    report = reports.full_report(model, rng)
    life = Life(model, rng)
    sides = set()
    for _ in range(6000):
        reports.merge(report["print"], life.step(report, 5.0, False))
        p = report["print"]
        if p["gcode_state"] != "RUNNING" or p["nozzle_target_temper"] == 0:
            continue
        state = p["device"]["extruder"]["state"]
        active = state >> 4
        assert state & 0xF == 2
        temps = [unpack(e["temp"]) for e in p["device"]["extruder"]["info"]]
        assert temps[active][1] == p["nozzle_target_temper"]   # the target is the active one's
        assert temps[1 - active][1] == 0                        # the other idles
        assert temps[active][0] == p["nozzle_temper"]
        assert unpack(p["device"]["bed"]["info"]["temp"]) == \
            (p["bed_temper"], p["bed_target_temper"])
        sides.add(active)
    assert sides == {0, 1}, "jobs print on both nozzles"


def test_life_opens_the_door_dries_and_starts_jobs() -> None:
    model = MODELS["H2S"]
    rng = random.Random(2)
    report = reports.full_report(model, rng)
    report["print"]["ams"] = reports.ams_block(units_for("H2S"))
    life = Life(model, rng)
    doors, drying, starts = set(), [], set()
    for _ in range(20000):
        reports.merge(report["print"], life.step(report, 5.0, False))
        p = report["print"]
        door_open = bool(int(p["stat"], 16) & reports.DOOR_BIT)
        doors.add((p["gcode_state"], door_open))
        if door_open:
            assert p["gcode_state"] in ("FINISH", "FAILED")
        unit = p["ams"]["ams"][0]
        drying.append((reports.ams_drying(unit["info"]), unit["dry_time"]))
        if p["gcode_state"] == "RUNNING":
            starts.add(p["gcode_start_time"])
    assert ("FINISH", True) in doors and ("FINISH", False) in doors
    # the AMS 2 Pro dries for its 90 minutes, counting down, then stops
    first_run = list(itertools.takewhile(lambda d: d[0], drying))
    minutes = [left for _, left in first_run]
    assert minutes[0] == 90 and minutes == sorted(minutes, reverse=True)
    assert minutes[-1] <= 1 and drying[len(first_run)] == (False, 0)
    # wall-clock start times (a job spread into the past started before now)
    assert starts and all(1_700_000_000 < int(t) <= time.time() for t in starts)


def test_a_5000_printer_fleet_is_allowed() -> None:
    """bench/ runs 5000 printers: names, serials and addresses stay distinct (the listeners
    are not bound here)."""
    records = make_records(5000, "127.0.62.1", 3, list(MODELS.values()))
    assert len({r.serial for r in records}) == len({r.name for r in records}) == 5000
    assert len({r.ip for r in records}) == 5000 and records[-1].ip == "127.0.81.136"
    assert all(len(r.serial) == 15 for r in records)


def test_the_open_files_limit_is_raised_for_a_big_fleet() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        assert allow_descriptors(5000) == min(10256, hard)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == min(10256, hard)
        assert allow_descriptors(10) == min(10256, hard)  # never lowered
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
