"""landing_page.py, pure: what the page says, its filters, and what it never holds."""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import parse_qs

import pytest

from exporter.printer.jobs import EndedJob, Job
from exporter.printer.offline_reason import OfflineReason
from exporter.printer.snapshot import snapshot
from exporter.printer.status import PrinterStatus
from exporter.web.landing_page import Filter, landing_page
from tests.support import payloads
from tests.support.e2e import fleet_table

pytestmark = pytest.mark.tier("unit")

NOW = 1764000000.0


def fleet() -> list[PrinterStatus]:
    running = payloads.x1c_running()
    failed = payloads.x1c_running()
    failed["print"].update(gcode_state="FAILED", print_error=0x0300800A)
    base = PrinterStatus(name="x1c-1", serial="00M09A0000001", ip="192.0.2.1", model="X1C",
                         firmware="", up=True, connected=True, last_report=NOW - 2,
                         snapshot=snapshot(running, "X1C"), prints={"finished": 3},
                         state_since=NOW - 3600)
    job = Job(number=4, started=NOW - 7200, seen_start=True, subtask_name="bracket",
              gcode_file="", subtask_id="", task_id="", project=None, progress=0.3, layer=9)
    return [
        base,
        replace(base, name="x1c-2", serial="00M09A0000002", snapshot=snapshot(failed, "X1C"),
                prints={"failed": 1, "cancelled": 1}, state_since=NOW - 20 * 60,
                last_job=EndedJob(job, "failed", NOW - 20 * 60, 5400.0, 0x0300800A)),
        replace(base, name="<b>evil</b>", serial="00M09A0000003", up=False, connected=False,
                snapshot=None, last_report=None, last_error="refused",
                last_error_reason=OfflineReason.REFUSED, prints={}, state_since=None),
    ]


def page(query: str = "") -> str:
    return landing_page(fleet(), "printers.yaml", NOW,
                        describe=lambda code: "Nozzle clogged." if code == "0300_800A" else "",
                        wanted=Filter.of(parse_qs(query)))


def test_summary_and_attention_first() -> None:
    text = page()
    rows = fleet_table(text)
    assert [row["Name"] for row in rows] == ["x1c-2", "<b>evil</b>", "x1c-1"]
    assert rows[0]["Needs attention"].startswith("print error 0300_800A: Nozzle clogged.")
    assert rows[1]["Needs attention"].startswith("offline: the address refuses the connection")
    assert rows[2]["Needs attention"] == ""
    summary = re.sub(r"<[^>]+>", "", re.search(r'<p class="summary".*?</p>', text).group(0))
    assert summary == ("3 printers, 2 up: 1 printing 1 failed 1 offline · 2 need attention · "
                       "jobs since start: 3 finished, 1 failed, 1 cancelled (60 % succeeded)")
    assert [row["How long"] for row in rows] == ["failed 20 min ago, plate waiting", "",
                                                 "printing for 1 h 00 min"]
    # a plate waiting longer than the threshold needs a hand too, after the errors
    assert rows[0]["Needs attention"].endswith(
        "plate waiting for 20 min (clear the plate so the next job can start)")
    assert "plate waiting" not in fleet_table(landing_page(
        fleet(), "printers.yaml", NOW, plate_waiting=3600))[0]["Needs attention"]


def test_per_printer_details() -> None:
    row = fleet_table(page())[2]
    assert row["Job"] == "benchy"
    assert re.fullmatch(r"42 % · layer 120/300ends \d\d:\d\d \(1 h 13 min left\)",
                        row["Progress"]), row["Progress"]
    assert row["Temperatures"] == "nozzle 220/220 °Cbed 55/55 °Cchamber 33 °C"
    assert row["AMS humidity"] == "AMS 0: 23 %AMS 1: 61 %"
    assert (row["State"], row["Stage"], row["Last report"]) == ("printing", "printing",
                                                                 "2 s ago")
    assert row["Model"] == "X1C" and row["Name"] == "x1c-1"


def test_filters_by_state_attention_and_text() -> None:
    assert [r["Name"] for r in fleet_table(page("state=running"))] == ["x1c-1"]
    assert [r["Name"] for r in fleet_table(page("state=attention"))] == ["x1c-2", "<b>evil</b>"]
    assert [r["Name"] for r in fleet_table(page("q=0000002"))] == ["x1c-2"]
    assert [r["Name"] for r in fleet_table(page("q=X1C&state=FAILED"))] == ["x1c-2"]
    assert "No printer matches." in page("q=nobody")
    assert Filter.of(parse_qs("state=bogus&q=" + "a" * 500)) == Filter("", "a" * 100)
    selected = page("state=attention&q=x1c")
    assert '<option value="attention" selected>' in selected
    assert 'name="q" value="x1c"' in selected


def test_escaped_self_contained_and_refreshing() -> None:
    text = page()
    assert "<b>evil</b>" not in text and "&lt;b&gt;evil&lt;/b&gt;" in text
    searched = page('q="><script>')
    assert "<script" not in searched.lower() and "&quot;&gt;&lt;script&gt;" in searched
    assert not re.search(r'<(link|img|iframe)\b|\bsrc=', text)   # no external assets
    assert '<meta http-equiv="refresh" content="15">' in text
    links = set(re.findall(r'href="(https?://[^"]+)"', text))
    assert all(link.startswith("https://wiki.bambulab.com/") for link in links)
