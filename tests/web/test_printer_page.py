"""printer_page.py, pure: one printer's page for an H2D, an X1C with four AMS units, an
A1 mini, an H2C with its rack and an offline printer; words, links and escaping."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from exporter.printer.job_file.book import FilamentStatus
from exporter.printer.job_file.plan import JobPlan, PlannedFilament
from exporter.printer.job_file.trays import TrayRef
from exporter.printer.jobs import EndedJob, Job
from exporter.printer.offline_reason import OfflineReason
from exporter.printer.snapshot import snapshot
from exporter.printer.status import PrinterStatus
from exporter.web.html_parts import check_dashboard_url
from exporter.web.printer_page import not_found_page, printer_page
from tests.support import payloads

pytestmark = pytest.mark.tier("unit")

NOW = 1764000000.0
TEXTS = {"0300_0400_0001_0002": "Nozzle clogged, <b>check</b> it.",
         "0300_800A": "The nozzle is clogged; the job was stopped."}


def describe(code: str) -> str:
    return TEXTS.get(code, "")


def status(report: dict, model: str, serial: str, name: str = "p", **extra: object
           ) -> PrinterStatus:
    base = PrinterStatus(name=name, serial=serial, ip="192.0.2.5", model=model,
                         firmware="01.01.00.00", up=True, connected=True,
                         last_report=NOW - 3, snapshot=snapshot(report, model), connects=2)
    return replace(base, **extra)  # type: ignore[arg-type]


def text_of(page: str, ident: str) -> str:
    """The visible text of the section with this id, tags dropped, spaces folded."""
    found = re.search(rf'<section class="card" id="{ident}">(.*?)</section>', page, re.S)
    assert found, f"no section {ident}"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_h2d_two_nozzles_words_and_the_print_error() -> None:
    report = payloads.h2d_running()
    report["print"].update(gcode_state="PAUSE", stg_cur=6, print_error=0x0300800A)
    report["print"]["hms"] = [{"attr": 0x03000400, "code": 0x00010002}]
    page = printer_page(status(report, "H2D_PRO", "2390000000001", name="h2d-1"), NOW,
                        describe)
    assert "<title>h2d-1 · H2D Pro · bambu-exporter</title>" in page
    now = text_of(page, "summary")
    assert "State paused (PAUSE)" in now and "Stage paused: filament ran out" in now
    nozzles = text_of(page, "nozzles")
    assert "Active: the left nozzle." in nozzles
    assert "right nozzle 0.4 mm hardened steel, standard flow HS01" in nozzles
    assert "left nozzle 0.6 mm hardened steel, high flow HH01" in nozzles
    temps = text_of(page, "temperatures")
    assert "right nozzle 218 °C 220 °C" in temps and "left nozzle 247 °C 250 °C" in temps
    hms = text_of(page, "hms")
    assert "0300_0400_0001_0002 fatal mc Nozzle clogged, <b>check</b> it." in \
        hms.replace("&lt;", "<").replace("&gt;", ">")
    assert "<b>check</b>" not in page            # the service's markup stays text
    assert 'href="https://wiki.bambulab.com/en/h2d/troubleshooting/hmscode/' \
           '0300_0400_0001_0002"' in page
    assert "Print error 0300_800A : The nozzle is clogged; the job was stopped." in hms
    assert "paused: filament ran out (load filament and resume)" in text_of(page, "attention")


def test_x1c_with_four_ams_units_every_tray() -> None:
    report = payloads.x1c_running()
    report["print"]["ams"]["ams"] = [
        payloads.ams_unit(str(unit), humidity=str(5 - unit), humidity_raw=None,
                          trays=[payloads.tray(str(t), ("PLA", "PETG", "ABS", "TPU")[t],
                                               f"{unit * 40:02X}{t * 50:02X}80FF", 90 - t * 20)
                                 for t in range(4)])
        for unit in range(4)]
    report["print"]["upgrade_state"] = {"new_version_state": 1, "new_ver_list": [
        {"name": "ota", "cur_ver": "01.09.00.01", "new_ver": "01.10.00.00"}]}
    report["print"]["home_flag"] = 0x00800100       # door open, SD card in
    page = printer_page(status(report, "X1C", "00M09A350100001"), NOW, describe)
    ams = text_of(page, "ams")
    for unit in range(4):
        assert f"AMS {unit} dryness level {unit + 1} of 5 (1 dry, 5 wet)" in ams
    assert ams.count("slot 4 TPU") == 4 and "slot 1 PLA 90 %" in ams
    assert len(re.findall(r'class="swatch" style="background:#[0-9A-F]{6}"', page)) == 16
    assert 'style="background:#78963280"' not in page   # only RRGGBB reaches the style
    machine = text_of(page, "machine")
    assert "Door open" in machine and "Chamber light on" in machine
    assert "Firmware update 01.10.00.00 on offer" in machine
    assert "Wi-Fi signal -52 dBm" in machine and "SD card present" in machine
    job = text_of(page, "job")
    assert "Job benchy" in job and "42 %" in job and "Layer 120 of 300" in job
    assert "Time left 1 h 13 min" in job


def test_a1_mini_words_and_an_unknown_tray_remaining() -> None:
    report = payloads.p1s_idle()
    report["print"]["ams"]["ams"][0]["info"] = payloads.ams_info(2)
    page = printer_page(status(report, "A1_MINI", "0300000000001", name="mini"), NOW, describe)
    assert "A1 mini · serial 0300000000001" in page
    assert "AMS lite 0" in text_of(page, "ams")
    assert "external spool PETG not known" in text_of(page, "ams")
    assert "No job." in text_of(page, "job")
    assert "State idle (IDLE)" in text_of(page, "summary")
    assert 'id="attention"' not in page
    machine = text_of(page, "machine")
    assert "Wi-Fi signal -61 dBm" in machine
    assert "Door open" not in machine and "Door closed" not in machine   # no door sensor


def test_h2c_rack_hotends_apart() -> None:
    page = printer_page(status(payloads.h2c_with_rack(), "H2C", "31B0000000001"), NOW,
                        describe)
    nozzles = text_of(page, "nozzles")
    assert "rack hotend 16 0.4 mm hardened steel, standard flow HS01" in nozzles
    assert nozzles.count("rack hotend") == 3 and nozzles.count("nozzle 0.") == 2


def test_offline_printer_shows_why_and_its_errors_not_its_telemetry() -> None:
    last = status(payloads.x1c_running(), "P1S", "01P00A000000009", name="down")
    down = replace(last, up=False, connected=False, last_report=NOW - 7200,
                   last_error="connection refused by 192.0.2.5:8883",
                   last_error_reason=OfflineReason.REFUSED,
                   connection_errors={OfflineReason.REFUSED: 4, OfflineReason.TIMEOUT: 1},
                   recent_errors=((NOW - 60, OfflineReason.TIMEOUT, "no answer in 5 s"),
                                  (NOW - 30, OfflineReason.REFUSED,
                                   "connection refused by 192.0.2.5:8883")))
    page = printer_page(down, NOW, describe)
    assert "State offline (OFFLINE)" in text_of(page, "summary")
    assert "Last report 2 h 00 min ago" in text_of(page, "summary")
    assert "offline: the address refuses the connection" in text_of(page, "attention")
    connection = text_of(page, "connection")
    assert "Connection errors refused 4, timeout 1" in connection
    newest_first = re.findall(r"(refused|timeout) (the address|nothing answers)", connection)
    assert [reason for reason, _ in newest_first] == ["refused", "timeout"]
    for absent in ("temperatures", "ams", "nozzles", "job", "hms"):
        assert f'id="{absent}"' not in page      # stale values are not news


def test_escaped_no_script_dashboard_link() -> None:
    evil = status(payloads.x1c_running(), "X1C", "00M1", name='<script>alert(1)</script>"')
    evil_snapshot = replace(evil.snapshot, job_task="<img src=x onerror=alert(1)>")  # type: ignore[arg-type]
    template = check_dashboard_url("https://grafana.example/d/bambu?var-printer={printer}"
                                   "&var-serial={serial}")
    page = printer_page(replace(evil, snapshot=evil_snapshot), NOW, describe, template)
    assert "<script" not in page.lower() and "<img" not in page
    assert ('href="https://grafana.example/d/bambu?var-printer=%3Cscript%3Ealert%281%29'
            '%3C%2Fscript%3E%22&amp;var-serial=00M1"') in page
    assert not re.search(r"<[^>]*\bsrc=|<link\b", page)
    page404 = not_found_page('"><b>x</b>')
    assert "<b>x</b>" not in page404 and "&lt;b&gt;x&lt;/b&gt;" in page404


def test_the_job_card_says_how_long_the_plate_and_the_last_job() -> None:
    plan = JobPlan(plate=2, prediction_seconds=3 * 3600 + 20 * 60, weight_grams=152.4,
                   filaments=(PlannedFilament(1, "GFA00", "PLA", "#101010", 120.5, 40.25),
                              PlannedFilament(2, "GFL99", "PETG", "#FFFFFF", 31.9, 10.5)))
    filament = FilamentStatus(plan=plan, job_active=True,
                              trays=((plan.filaments[0], TrayRef("0", "2")),
                                     (plan.filaments[1], TrayRef("external", "254"))))
    job = Job(number=3, started=NOW - 9000, seen_start=True, subtask_name="bracket",
              gcode_file="", subtask_id="", task_id="", project=None, progress=1.0, layer=90)
    page = printer_page(status(payloads.x1c_running(), "X1C", "00M09A0000009",
                               filament=filament, state_since=NOW - 47 * 60,
                               last_job=EndedJob(job, "cancelled", NOW - 3 * 3600, 1800.0,
                                                 0x0300400C)), NOW, describe)
    assert "For printing for 47 min" in text_of(page, "summary")
    card = text_of(page, "job")
    assert "Sliced time 3 h 20 min" in card and "Sliced weight 152 g" in card
    assert "Last job cancelled, 3 h 00 min ago after 30 min" in card
    assert "PLA 120.5 g 40.25 m AMS 1 slot 3" in card
    assert "PETG 31.9 g 10.50 m external spool" in card
    assert 'style="background:#101010"' in page
    # no plan while no job runs, and an offline printer shows no job card at all
    idle = printer_page(status(payloads.x1c_running(), "X1C", "00M09A0000009",
                               filament=replace(filament, job_active=False)), NOW, describe)
    assert "plate-filaments" not in idle
    offline = printer_page(status(payloads.x1c_running(), "X1C", "00M09A0000009", up=False,
                                  filament=filament), NOW, describe)
    assert 'id="job"' not in offline
