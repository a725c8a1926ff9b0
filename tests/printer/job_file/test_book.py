"""A printer's filament book: plans in, used grams out, partial jobs scaled."""

from __future__ import annotations

import pytest

from exporter.printer.job_file.book import MAX_MATERIALS, FilamentBook
from exporter.printer.job_file.fetch import FetchResult, FetchTarget
from exporter.printer.job_file.plan import JobFileError, JobPlan, PlannedFilament
from exporter.printer.job_file.trays import TrayRef

pytestmark = pytest.mark.tier("unit")

PLAN = JobPlan(2, 3600.0, 30.0, (PlannedFilament(1, "GFA00", "PLA", "#FFFFFF", 10.0, 3.3),
                                 PlannedFilament(2, "GFG00", "PETG", "#000000", 20.0, 6.6)))
TRAYS = {TrayRef("0", "0"), TrayRef("0", "1"), TrayRef("external", "254")}
TARGET = FetchTarget("127.0.0.1", "secret", "job")


def started(book: FilamentBook, mapping: object = None) -> None:
    book.job_started(TARGET, "X1C", mapping or [0, 1], None, "0", TRAYS)


def test_a_finished_job_books_its_plan() -> None:
    book = FilamentBook("p", None)
    started(book)
    book.result(FetchResult(PLAN, "/job.gcode.3mf", 1000, False))
    status = book.status()
    assert status.job_active and status.plan == PLAN
    assert [t for _, t in status.trays] == [TrayRef("0", "0"), TrayRef("0", "1")]
    book.job_ended(1.0)
    status = book.status()
    assert not status.job_active
    assert status.used_grams == {"PLA": 10.0, "PETG": 20.0}
    assert status.used_meters == pytest.approx({"PLA": 3.3, "PETG": 6.6})


def test_a_failed_job_is_scaled_and_an_early_end_waits_for_the_plan() -> None:
    book = FilamentBook("p", None)
    started(book)
    book.job_ended(0.25)
    assert book.status().used_grams == {}
    book.result(FetchResult(PLAN, "/job.gcode.3mf", 1000, False))
    assert book.status().used_grams == {"PLA": 2.5, "PETG": 5.0}
    book.job_ended(1.0)   # the same job ends once
    assert book.status().used_grams == {"PLA": 2.5, "PETG": 5.0}


def test_fetch_errors_are_counted_by_reason_without_secrets() -> None:
    book = FilamentBook("p", None)
    started(book)
    book.result(JobFileError("no_storage", "no SD card"))
    status = book.status()
    assert status.fetch_errors == {"no_storage": 1} and "secret" not in status.last_fetch_error
    assert status.plan is None


def test_a_mapping_to_missing_trays_is_counted() -> None:
    book = FilamentBook("p", None)
    started(book, mapping=[0, 3 * 256 + 3])
    book.result(FetchResult(PLAN, "/job.gcode.3mf", 1000, False))
    status = book.status()
    assert status.mapping_errors == 1 and status.trays[1][1] is None


def test_materials_are_bounded() -> None:
    book = FilamentBook("p", None)
    for n in range(MAX_MATERIALS + 5):
        started(book)
        book.result(FetchResult(JobPlan(1, None, None, (
            PlannedFilament(1, "", f"M{n}", "", 1.0, 1.0),)), "/x.3mf", 1, False))
        book.job_ended(1.0)
    grams = book.status().used_grams
    assert len(grams) == MAX_MATERIALS + 1 and grams["other"] == 5.0


def test_a_reason_is_logged_once_until_it_changes(caplog: pytest.LogCaptureFixture) -> None:
    import logging
    book = FilamentBook("00M0SERIAL", None)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            started(book)
            book.result(JobFileError("no_storage", "no SD card"))
        started(book)
        book.result(JobFileError("refused", "login refused (access code?)"))
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["printer 00M0SERIAL: job file not read (no_storage: no SD card)",
                     "printer 00M0SERIAL: job file not read (refused: login refused (access code?))"]
    assert book.status().fetch_errors == {"no_storage": 3, "refused": 1}
    assert all("secret" not in line for line in lines)


def test_counters_only_drops_the_plan_and_keeps_the_counters() -> None:
    book = FilamentBook("p", None)
    started(book)
    book.result(FetchResult(PLAN, "/job.gcode.3mf", 1000, False))
    book.result(JobFileError("timeout", "slow"))
    book.job_ended(0.5)
    started(book)
    book.result(FetchResult(PLAN, "/job.gcode.3mf", 1000, False))
    status = book.status()
    assert status.plan == PLAN and status.trays
    view = status.counters_only()
    assert view.plan is None and view.trays == ()
    assert view.job_active and view.fetch_errors == status.fetch_errors
    assert view.used_grams == status.used_grams == {"PLA": 5.0, "PETG": 10.0}
    assert view.counters_only() is view
