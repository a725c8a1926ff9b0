"""job_words.py: how long a printer has been in its state, and the jobs since start."""

from __future__ import annotations

from dataclasses import replace

import pytest

from exporter.printer.jobs import EndedJob, Job
from exporter.printer.snapshot import snapshot
from exporter.printer.status import PrinterStatus
from exporter.web.job_words import duration_words, jobs_summary, state_age_words
from tests.support import payloads

pytestmark = pytest.mark.tier("unit")

NOW = 1_765_000_000.0


def status(state: str, up: bool = True, **fields: object) -> PrinterStatus:
    report = payloads.x1c_running()
    report["print"]["gcode_state"] = state
    base = PrinterStatus(name="p", serial="SN", ip="192.0.2.1", model="X1C", firmware="",
                         up=up, connected=up, last_report=1.0,
                         snapshot=snapshot(report, "X1C"))
    return replace(base, **fields)  # type: ignore[arg-type]


def ended(result: str, ago: float) -> EndedJob:
    job = Job(number=1, started=NOW - ago - 600, seen_start=True, subtask_name="", gcode_file="",
              subtask_id="", task_id="", project=None, progress=0.5, layer=3)
    return EndedJob(job, result, NOW - ago, 600.0, 0)


@pytest.mark.parametrize(("seconds", "words"), [
    (-3, "0 s"), (42.4, "42 s"), (60, "1 min"), (47 * 60 + 59, "47 min"),
    (3600 + 5 * 60, "1 h 05 min"), (47 * 3600, "47 h 00 min"), (50 * 3600, "2 d 2 h")])
def test_durations_in_words(seconds: float, words: str) -> None:
    assert duration_words(seconds) == words


def test_the_state_in_words_with_how_long() -> None:
    assert state_age_words(status("FINISH", last_job=ended("finished", 47 * 60),
                              state_since=NOW - 47 * 60), NOW) == \
        "finished 47 min ago, plate waiting"
    assert state_age_words(status("FAILED", last_job=ended("cancelled", 120)), NOW) == \
        "cancelled 2 min ago, plate waiting"
    # the job that ended is not this FAILED's (a FINISH before, the exporter restarted...)
    assert state_age_words(status("FAILED", last_job=ended("finished", 120),
                              state_since=NOW - 600), NOW) == "plate waiting for 10 min"
    assert state_age_words(status("FINISH"), NOW) == "plate waiting"
    assert state_age_words(status("RUNNING", state_since=NOW - 3 * 3600), NOW) == \
        "printing for 3 h 00 min"
    assert state_age_words(status("IDLE", state_since=NOW - 5), NOW) == "idle for 5 s"
    assert state_age_words(status("RUNNING", up=False, state_since=NOW - 90), NOW) == \
        "offline for 1 min"
    assert state_age_words(status("RUNNING"), NOW) == ""     # since when: not known
    assert state_age_words(status("SLICING", state_since=NOW), NOW) == ""


def test_jobs_since_start_and_the_share_that_succeeded() -> None:
    fleet = [status("IDLE", prints={"finished": 6, "failed": 1}),
             status("IDLE", prints={"finished": 2, "cancelled": 1}), status("IDLE")]
    summary = jobs_summary(fleet)
    assert summary.counts == (("finished", 8), ("failed", 1), ("cancelled", 1))
    assert summary.total == 10 and summary.success_ratio == 0.8
    assert jobs_summary([status("IDLE")]).success_ratio is None
