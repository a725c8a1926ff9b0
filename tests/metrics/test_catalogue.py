"""catalogue.py: statuses -> families; a golden exposition, linted by the real promtool."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from exporter.metrics.catalogue import (
    CATALOGUE,
    ExporterStatus,
    InventoryStatus,
    described,
    exporter_samples,
    families,
    inventory_samples,
    printer_samples,
)
from exporter.printer.error_texts import ErrorTexts
from exporter.printer.job_file.book import FilamentStatus
from exporter.printer.job_file.plan import JobPlan, PlannedFilament
from exporter.printer.job_file.trays import TrayRef
from exporter.printer.offline_reason import OfflineReason
from exporter.printer.snapshot import snapshot
from exporter.printer.status import PrinterStatus
from tests.support import payloads
from tests.support.reference import fleet_samples

pytestmark = pytest.mark.tier("unit")

GOLDEN = Path(__file__).parent / "golden" / "metrics.prom"
HMS_TEXTS = Path(__file__).parents[1] / "support" / "hms_texts.json"


def _x1c_filament() -> FilamentStatus:
    """A two-filament job on AMS 0 slot 0 (runs short) and AMS 1 slot 0, an unmapped third."""
    pla = PlannedFilament(1, "GFA00", "PLA", "#FF0000", 1500.0, 502.5)
    petg = PlannedFilament(2, "GFG00", "PETG", "#00FF00", 12.5, 4.2)
    odd = PlannedFilament(4, "", "", "", 0.5, 0.17)
    plan = JobPlan(2, 7261.0, 913.0, (pla, petg, odd))
    return FilamentStatus(plan=plan, trays=((pla, TrayRef("0", "0")), (petg, TrayRef("1", "0")),
                                            (odd, None)),
                          job_active=True, fetch_errors={"no_file": 2, "tls": 1},
                          mapping_errors=1, used_grams={"PLA": 1234.5, "PETG": 10.25},
                          used_meters={"PLA": 413.9, "PETG": 3.4},
                          cost={("PLA", "EUR"): 30.86, ("PETG", "EUR"): 0.25})


def _x1c() -> PrinterStatus:
    report = payloads.x1c_running()
    for tray in report["print"]["ams"]["ams"][0]["tray"][:1] + report["print"]["ams"]["ams"][1]["tray"][:1]:
        tray["tray_weight"] = "1000"
    report["print"]["hms"] = [{"attr": 0x07008200, "code": 0x00020004},
                              {"attr": 0x0C004000, "code": 0x00010001}]
    # health: SD card in, Wi-Fi, a tangle; recording; an update on offer
    report["print"]["home_flag"] = 0x00100100
    report["print"]["ipcam"] = {"ipcam_record": "enable"}
    report["print"]["upgrade_state"] = {"new_version_state": 1, "new_ver_list": [
        {"name": "ota", "cur_ver": "01.09.00.01", "new_ver": "01.10.00.00"}]}
    return PrinterStatus(name="farm-x1c-1", serial="00M09A350100001", ip="192.0.2.10",
                         model="X1C", firmware="01.09.00.01", up=True, connected=True,
                         last_report=1764000000.5, snapshot=snapshot(report, "X1C"),
                         connects=2, connection_errors={OfflineReason.DROPPED: 1},
                         message_errors={"json": 2, "too_large": 1}, truncations={"text": 1},
                         prints={"finished": 4, "failed": 1, "cancelled": 2},
                         printing_seconds=3600.5,
                         print_seconds={"finished": 14400.0, "failed": 1800.25,
                                        "cancelled": 600.0},
                         state_seconds={"printing": 3600.5, "paused": 60.0, "preparing": 120.0,
                                        "plate_waiting": 900.0, "idle": 300.0, "offline": 5.5},
                         state_since=1763999000.0, filament=_x1c_filament())


def _p1s() -> PrinterStatus:
    return PrinterStatus(name="p1s \"quoted\" name", serial="01P00A000000002", ip="192.0.2.11",
                         model="P1S", firmware="01.08.02.00", up=True, connected=True,
                         last_report=1764000001.0, snapshot=snapshot(payloads.p1s_idle(), "P1S"),
                         connects=1)


def _h2d() -> PrinterStatus:
    report = payloads.h2d_running()
    report["print"]["print_error"] = 0x0300400C   # a code the text table does not hold
    return PrinterStatus(name="h2d", serial="0940000000000003", ip="192.0.2.12", model="H2D",
                         firmware="01.01.00.00", up=True, connected=True,
                         last_report=1764000002.0, snapshot=snapshot(report, "H2D"),
                         connects=1)


def _p2s() -> PrinterStatus:
    """Newer firmware: packed temperatures, door in stat, lights, AMS 2 Pro drying and an
    AMS HT, vir_slot, an HMS message whose text has quotes, a newline and non-ASCII."""
    report = payloads.newer_report("P2S")
    report["print"]["hms"] = [{"attr": 0x03000400, "code": 0x00010002}]
    report["print"]["print_error"] = 0x0300800A
    report["print"]["stat"] = f"{int(report['print']['stat'], 16) | 0x300:X}"  # card abnormal
    report["print"]["ipcam"] = {"ipcam_record": "disable"}
    report["print"]["upgrade_state"] = {"new_version_state": 2, "new_ver_list": []}
    version = payloads.newer_version("Bambu Lab P2S")["info"]
    return PrinterStatus(name="p2s-newer", serial="22E00A000000005", ip="192.0.2.14",
                         model="P2S", firmware="01.02.00.00", up=True, connected=True,
                         last_report=1764000003.0, snapshot=snapshot(report, "P2S", version),
                         connects=1, printing_seconds=42.0)


def _h2c() -> PrinterStatus:
    """Hotends parked in the rack beside the two mounted ones."""
    return PrinterStatus(name="h2c-rack", serial="31B00A000000006", ip="192.0.2.15",
                         model="H2C", firmware="01.00.00.00", up=True, connected=True,
                         last_report=1764000004.0,
                         snapshot=snapshot(payloads.h2c_with_rack(), "H2C"), connects=1)


def describe(code: str) -> str:
    return ErrorTexts(str(HMS_TEXTS)).describe(code)


def _offline() -> PrinterStatus:
    # Was up once (it has a snapshot), now stale: none of that telemetry may show.
    return PrinterStatus(name="a1-down", serial="039000000000004", ip="192.0.2.13", model="A1",
                         firmware="", up=False, connected=False, last_report=1763990000.0,
                         snapshot=snapshot(payloads.p1s_idle(), "A1"), connects=1,
                         connection_errors={OfflineReason.REFUSED: 7, OfflineReason.TIMEOUT: 2},
                         state_seconds={"idle": 7200.0, "offline": 10000.0},
                         state_since=1763990060.0,
                         # a plan kept from before it went down: no plan series while down
                         filament=dataclasses.replace(_x1c_filament(), fetch_errors={}))


def golden_samples() -> list:  # noqa: ANN201 - list of samples
    texts = ErrorTexts(str(HMS_TEXTS))
    samples = fleet_samples([_x1c(), _p1s(), _h2d(), _p2s(), _h2c(), _offline()], lambda s, e: None,
                            texts.describe)
    samples += inventory_samples(InventoryStatus(up=True, printers=6, errors=1,
                                                 rejected={"bad_address": 2}))
    samples += exporter_samples(ExporterStatus("0.1.0", "2.6.6", 0, 0.012,
                                               hms_text_rejected=3, revision="0123456789ab"))
    return samples


def _exposition() -> str:
    samples = golden_samples()
    registry = CollectorRegistry()

    class Fixed:
        def collect(self):  # noqa: ANN202 - prometheus_client protocol
            return families(samples)

    registry.register(Fixed())
    return generate_latest(registry).decode()


def test_golden_exposition() -> None:
    text = _exposition()
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "exposition changed; UPDATE_GOLDEN=1 after review"


@pytest.mark.tier("e2e")
def test_golden_exposition_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: ./scripts/system-deps installs it"
    result = subprocess.run([promtool, "check", "metrics"], input=_exposition(), text=True,
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


def test_state_is_one_hot_and_offline_printer_shows_no_telemetry() -> None:
    allowed = {"bambu_printer_up", "bambu_printer_info", "bambu_printer_state",
               "bambu_printer_last_report_timestamp_seconds", "bambu_printer_connects_total",
               "bambu_printer_connection_errors_total", "bambu_printer_message_errors_total",
               "bambu_printer_prints_total", "bambu_printer_printing_seconds_total",
               "bambu_printer_print_seconds_total", "bambu_printer_state_seconds_total",
               "bambu_printer_state_since_timestamp_seconds",
               # its counters: filament used, fetch and mapping errors (no plan while down)
               "bambu_filament_used_grams_total", "bambu_filament_used_meters_total",
               "bambu_filament_cost_total",
               "bambu_printer_job_fetch_errors_total",
               "bambu_printer_job_filament_mapping_errors_total"}
    offline = printer_samples(_offline())
    assert {name for name, _, _ in offline} == allowed
    states = {labels[2]: value for name, labels, value in offline if name == "bambu_printer_state"}
    assert states.pop("OFFLINE") == 1 and set(states.values()) == {0}
    running = {labels[2]: value for name, labels, value in printer_samples(_x1c())
               if name == "bambu_printer_state"}
    assert running["RUNNING"] == 1 and sum(running.values()) == 1 and running["OFFLINE"] == 0


def test_hms_counts_by_severity() -> None:
    counts = {labels[2]: value for name, labels, value in printer_samples(_x1c())
              if name == "bambu_printer_hms_errors"}
    assert counts == {"fatal": 1, "serious": 1, "common": 0, "info": 0, "unknown": 0}
    info = sorted(labels[2:] for name, labels, _ in printer_samples(_x1c())
                  if name == "bambu_printer_hms_error_info")
    assert info == [("0700_8200_0002_0004", "serious", "ams", ""),
                    ("0C00_4000_0001_0001", "fatal", "xcam", "")]   # no text table: ""


def test_descriptions_from_the_text_table() -> None:
    samples = printer_samples(_p2s(), describe)
    hms = [labels[2:] for name, labels, _ in samples if name == "bambu_printer_hms_error_info"]
    assert hms == [("0300_0400_0001_0002", "fatal", "mc",
                    'Nozzle "clogged": no extrusion detected.\nCheck the hotend — Düse prüfen.')]
    errors = [labels[2:] for name, labels, _ in samples
              if name == "bambu_printer_print_error_info"]
    assert errors == [("0300_800A", "Nozzle clogged; the job was stopped.")]
    unknown = [labels[2:] for name, labels, _ in printer_samples(_h2d(), describe)
               if name == "bambu_printer_print_error_info"]
    assert unknown == [("0300_400C", "")]
    assert not [1 for name, _, _ in printer_samples(_p1s(), describe)
                if name == "bambu_printer_print_error_info"]   # print_error 0: none


def test_newer_data_series() -> None:
    def of(status: PrinterStatus, family: str) -> dict[tuple[str, ...], float]:
        return {labels[2:]: value for name, labels, value in printer_samples(status)
                if name == family}

    p2s, h2d = _p2s(), _h2d()
    assert of(p2s, "bambu_printer_door_open") == {(): 1.0}
    assert of(p2s, "bambu_printer_light_on") == {("chamber_light",): 1.0, ("work_light",): 0.0}
    assert of(p2s, "bambu_printer_print_start_timestamp_seconds") == {(): payloads.START}
    assert of(p2s, "bambu_ams_info") == {("0", "AMS_2_PRO"): 1.0, ("128", "AMS_HT"): 1.0}
    assert of(p2s, "bambu_ams_drying") == {("0",): 1.0, ("128",): 0.0}
    assert of(p2s, "bambu_printer_printing_seconds_total") == {(): 42.0}
    assert ("external", "254", "PETG", "BCBCBCFF") in of(p2s, "bambu_ams_tray_info")
    assert of(p2s, "bambu_printer_active_extruder") == {}        # one nozzle
    assert of(h2d, "bambu_printer_active_extruder") == {(): 1.0}
    assert set(of(h2d, "bambu_printer_temperature_celsius")) == {
        ("nozzle_right",), ("nozzle_left",), ("bed",), ("chamber",)}
    assert of(h2d, "bambu_printer_nozzle_info") == {
        ("right", "HS01", "0.4", "hardened_steel", "standard"): 1.0,
        ("left", "HH01", "0.6", "hardened_steel", "high_flow"): 1.0}
    assert of(_p1s(), "bambu_printer_door_open") == {}           # P1S: no door sensor


def test_health_series_where_the_model_reports_them() -> None:
    def of(status: PrinterStatus, family: str) -> dict[tuple[str, ...], float]:
        return {labels[2:]: value for name, labels, value in printer_samples(status)
                if name == family}

    x1c, p2s, p1s = _x1c(), _p2s(), _p1s()
    assert of(x1c, "bambu_printer_firmware_update_available") == {(): 1.0}
    assert of(x1c, "bambu_printer_firmware_update_info") == {("01.10.00.00",): 1.0}
    assert of(x1c, "bambu_printer_sdcard_state") == {
        ("absent",): 0.0, ("present",): 1.0, ("abnormal",): 0.0}
    assert of(x1c, "bambu_printer_camera_recording") == {(): 1.0}
    assert of(x1c, "bambu_printer_filament_tangle_detected") == {(): 1.0}
    assert of(x1c, "bambu_printer_network_info") == {("wifi",): 1.0}
    assert of(p2s, "bambu_printer_firmware_update_available") == {(): 0.0}
    assert of(p2s, "bambu_printer_firmware_update_info") == {}
    assert of(p2s, "bambu_printer_sdcard_state")[("abnormal",)] == 1.0
    assert of(p2s, "bambu_printer_camera_recording") == {(): 0.0}
    assert of(p2s, "bambu_printer_filament_tangle_detected") == {(): 0.0}
    assert of(p2s, "bambu_printer_network_info") == {("wired",): 1.0}
    # P1S: its flag bits are not known to mean these; its report says no camera or update
    for family in ("bambu_printer_sdcard_state", "bambu_printer_network_info",
                   "bambu_printer_filament_tangle_detected", "bambu_printer_camera_recording",
                   "bambu_printer_firmware_update_available"):
        assert of(p1s, family) == {}, family
    assert not [1 for name, _, _ in printer_samples(_offline())
                if name.startswith(("bambu_printer_sdcard", "bambu_printer_network"))]


def test_one_printers_failure_leaves_only_it_out() -> None:
    broken = PrinterStatus(name="broken", serial="X", ip="", model="", firmware="", up=True,
                           connected=True, last_report=1.0, snapshot="not a snapshot")  # type: ignore[arg-type]
    failed: list[str] = []
    samples = fleet_samples([broken, _p1s()], lambda status, exc: failed.append(status.name))
    assert failed == ["broken"]
    names = {labels[0] for _, labels, _ in samples}
    assert names == {_p1s().name}   # nothing half-written for the broken one


def test_openmetrics_exposition_parses() -> None:
    registry = CollectorRegistry()

    class Fixed:
        def collect(self):  # noqa: ANN202
            return families(printer_samples(_x1c()))

    registry.register(Fixed())
    text = generate_openmetrics(registry).decode()
    assert text.endswith("# EOF\n")
    assert 'bambu_printer_connects_total{printer="farm-x1c-1",serial="00M09A350100001"} 2.0' in text


def test_describe_names_what_collect_serves() -> None:
    assert [m.name for m in described()] == [m.name for m in families([])]


@pytest.mark.parametrize("status", [_x1c(), _p1s(), _h2d(), _p2s()])
def test_every_sample_label_count_matches_its_spec(status: PrinterStatus) -> None:
    specs = {spec.name: spec for spec in CATALOGUE}
    for name, labels, _ in printer_samples(status):
        assert len(labels) == len(specs[name].label_names), name
