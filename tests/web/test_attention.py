"""attention.py: who needs a hand, why in words, and the order a farm looks in."""

from __future__ import annotations

from dataclasses import replace

import pytest

from exporter.printer.jobs import EndedJob, Job
from exporter.printer.offline_reason import OfflineReason
from exporter.printer.snapshot import snapshot
from exporter.printer.status import PrinterStatus
from exporter.web.attention import (
    RANK_FAILED,
    RANK_FATAL,
    RANK_OFFLINE,
    RANK_PAUSED,
    RANK_PLATE_WAITING,
    ordered,
    troubles,
)
from tests.support import payloads

pytestmark = pytest.mark.tier("unit")

TEXTS = {"0300_0400_0001_0002": "Nozzle clogged.", "0300_800A": "Nozzle clogged; stopped."}


def describe(code: str) -> str:
    return TEXTS.get(code, "")


def status(name: str, report: dict | None = None, model: str = "X1C", up: bool = True,
           **fields: object) -> PrinterStatus:
    snap = snapshot(report or payloads.x1c_running(), model) if up or report else None
    base = PrinterStatus(name=name, serial=f"SN-{name}", ip="192.0.2.1", model=model,
                         firmware="", up=up, connected=up, last_report=1.0, snapshot=snap)
    return replace(base, **fields)  # type: ignore[arg-type]


def with_print(**fields: object) -> dict:
    report = payloads.x1c_running()
    report["print"].update(fields)
    return report


def test_a_healthy_printer_needs_nobody() -> None:
    assert troubles(status("ok"), describe) == []


def test_offline_says_the_reason_and_its_fix() -> None:
    (trouble,) = troubles(status("down", up=False, last_error_reason=OfflineReason.AUTH,
                                 last_error="not authorised"), describe)
    assert trouble.rank == RANK_OFFLINE
    assert trouble.text == "offline: the printer refuses the access code"
    assert "printer's screen" in trouble.fix
    (silent,) = troubles(status("quiet", up=False, connected=True), describe)
    assert "no report arrives" in silent.text and "serial" in silent.fix
    (never,) = troubles(status("new", up=False), describe)
    assert never.text == "offline"
    (restarting,) = troubles(status("w", up=False, last_error_reason=OfflineReason.WORKER), describe)
    assert restarting.text == "offline: the exporter's worker process for it is restarting"


def test_hms_messages_in_words_with_the_model_familys_wiki_page() -> None:
    report = with_print(hms=[{"attr": 0x03000400, "code": 0x00010002}])
    (x1c,) = troubles(status("x", report), describe)
    assert x1c.rank == RANK_FATAL
    assert x1c.text == "HMS 0300_0400_0001_0002 (fatal, mc): Nozzle clogged."
    assert x1c.link.endswith("/en/x1/troubleshooting/hmscode/0300_0400_0001_0002")
    (p1s,) = troubles(status("p", report, model="P1S"), describe)
    assert p1s.link == "https://wiki.bambulab.com/en/hms/home"


def test_failed_job_with_its_print_error_and_a_runout_pause_with_its_stage() -> None:
    failed = troubles(status("f", with_print(gcode_state="FAILED", print_error=0x0300800A)),
                      describe)
    assert [t.rank for t in failed] == [RANK_FAILED, RANK_FAILED]
    assert failed[0].text == "print error 0300_800A: Nozzle clogged; stopped."
    assert failed[1].text == "the job failed"
    (paused,) = troubles(status("r", with_print(gcode_state="PAUSE", stg_cur=6)), describe)
    assert (paused.rank, paused.text) == (RANK_PAUSED, "paused: filament ran out")
    assert paused.fix == "load filament and resume"


def test_health_troubles_from_the_flag_bits() -> None:
    report = with_print(home_flag=0x00100200 | 0x00800000)   # card abnormal, tangle, door
    texts = [t.text for t in troubles(status("h", report), describe)]
    assert texts == ["SD card abnormal", "filament tangle detected",
                     "door open while printing"]


def test_order_attention_first_most_urgent_then_busy_before_idle() -> None:
    idle = payloads.x1c_running()
    idle["print"]["gcode_state"] = "IDLE"
    fleet = [
        status("b-idle", idle),
        status("a-running"),
        status("z-offline", up=False, last_error_reason=OfflineReason.TIMEOUT),
        status("c-fatal", with_print(hms=[{"attr": 0x03000400, "code": 0x00010002}])),
        status("d-paused", with_print(gcode_state="PAUSE", stg_cur=16)),
        status("e-failed", with_print(gcode_state="FAILED", print_error=1)),
    ]
    names = [entry.status.name for entry in ordered(fleet, describe)]
    assert names == ["c-fatal", "e-failed", "z-offline", "d-paused", "a-running", "b-idle"]
    assert [e.needs_attention for e in ordered(fleet, describe)] == [True] * 4 + [False] * 2


def filament_status(grams: float, remain: int, ams: str = "0", tray: str = "2") -> PrinterStatus:
    from exporter.printer.job_file.book import FilamentStatus
    from exporter.printer.job_file.plan import JobPlan, PlannedFilament
    from exporter.printer.job_file.trays import TrayRef

    report = payloads.x1c_running()   # 42 % done
    spool = report["print"]["ams"]["ams"][int(ams)]["tray"][int(tray)]
    spool.update(remain=remain, tray_weight="1000", tray_type="PLA", tray_color="161616FF")
    black = PlannedFilament(1, "GFA01", "PLA", "#161616", grams, grams / 3)
    plan = JobPlan(1, 3600.0, grams, (black,))
    filament = FilamentStatus(plan=plan, trays=((black, TrayRef(ams, tray)),), job_active=True)
    return status("x1", report, filament=filament)


def test_a_spool_that_runs_out_before_the_job_ends_is_said_in_words() -> None:
    # 4 % of 1000 g left; 163.8 g planned, 58 % of it still to print: 95 g
    got = troubles(filament_status(163.8, 4), describe)
    assert [t.text for t in got] == [
        "AMS 1 slot 3, PLA black: about 40 g left, the job needs about 95 g more"]
    assert "spool" in got[0].fix
    # enough left: nobody is needed
    assert troubles(filament_status(163.8, 50), describe) == []


def test_tray_and_colour_words() -> None:
    from exporter.web.attention import color_name, tray_words
    assert tray_words("external", "254") == "external spool"
    assert tray_words("128", "0") == "AMS HT 1"
    assert tray_words("3", "0") == "AMS 4 slot 1"
    assert (color_name("#FFFFFF"), color_name("FF0000FF"), color_name("nope")) == ("white", "red", "")


def test_the_landing_page_shows_the_jobs_filaments_on_its_row() -> None:
    from exporter.web.landing_page import landing_page
    page = landing_page([filament_status(163.8, 50)], "test", 2.0, describe=describe)
    assert '<span class="swatch" style="background:#161616"></span>PLA 164 g · AMS 1 slot 3' in page


def finished(name: str, ended_ago: float, now: float, **fields: object) -> PrinterStatus:
    """A printer whose job finished `ended_ago` seconds before `now`, its plate waiting."""
    job = Job(number=3, started=now - ended_ago - 3600, seen_start=True, subtask_name="part",
              gcode_file="part.3mf", subtask_id="", task_id="", project=None, progress=1.0,
              layer=80)
    return status(name, with_print(gcode_state="FINISH", mc_percent=100),
                  last_job=EndedJob(job, "finished", now - ended_ago, 3600.0, 0),
                  state_since=now - ended_ago, **fields)


def test_a_plate_waiting_too_long_needs_a_hand_after_errors() -> None:
    now = 1_765_000_000.0
    waiting = finished("w", 20 * 60, now)
    assert troubles(waiting, describe) == []                        # no clock: no judgement
    assert troubles(waiting, describe, now, plate_waiting=30 * 60) == []
    [trouble] = troubles(waiting, describe, now)                    # default 15 min
    assert trouble.rank == RANK_PLATE_WAITING and trouble.text == "plate waiting for 20 min"
    assert "clear the plate" in trouble.fix
    # found resting when the exporter started: waiting since it first saw it rest
    found = status("f", with_print(gcode_state="FINISH"), state_since=now - 3600)
    assert troubles(found, describe, now)[0].text == "plate waiting for 1 h 00 min"
    fleet = [waiting, status("a-running"),
             status("p", with_print(gcode_state="PAUSE", stg_cur=16)),
             status("h", with_print(hms=[{"attr": 0x07008200, "code": 0x00040004}]))]
    names = [entry.status.name for entry in ordered(fleet, describe, now)]
    assert names == ["p", "h", "w", "a-running"]   # errors, then the plate, then the rest


def test_printing_printers_in_the_order_they_end() -> None:
    now = 1_765_000_000.0
    fleet = [status(name, with_print(mc_remaining_time=minutes))
             for name, minutes in (("a", 90), ("b", 5), ("c", 600), ("d", 30))]
    fleet.append(status("e-unknown", with_print(mc_remaining_time=None)))
    names = [entry.status.name for entry in ordered(fleet, describe, now)]
    assert names == ["b", "d", "a", "c", "e-unknown"]
