"""The fetch pool: the fleet-wide cap, one transfer per printer, retries while the file is
missing, then the reason. The fetch itself is a stand-in here (the FTPS side is
test_fetch.py's); what is tested is the scheduling."""

from __future__ import annotations

import threading
import time

import pytest

from exporter.printer.job_file.fetch import FetchResult, FetchTarget
from exporter.printer.job_file.plan import JobFileError, JobPlan
from exporter.printer.job_file.pool import FetchPolicy, JobFileFetcher
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("unit")

PLAN = JobPlan(1, 60.0, 1.0, ())
FAST = FetchPolicy(workers=3, first_delay=0.0, retry_delay=0.02, max_delay=0.05, give_up_after=0.5)


def target(n: int) -> FetchTarget:
    return FetchTarget(f"127.0.0.{n}", "code", f"job{n}")


def test_the_cap_holds_and_every_printer_gets_its_plan() -> None:
    running = 0
    most = 0
    lock = threading.Lock()
    results: dict[str, object] = {}

    def fetch(t: FetchTarget, deadline: float) -> FetchResult:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return FetchResult(PLAN, "/" + t.subtask_name, 10, False)

    pool = JobFileFetcher(FAST, fetch=fetch)
    try:
        for n in range(40):
            pool.request(f"p{n}", target(n), lambda o, n=n: results.__setitem__(f"p{n}", o))
        wait_until(lambda: len(results) == 40, interval=0.01)
    finally:
        pool.close()
    assert most <= 3 and pool.max_in_flight <= 3
    assert all(isinstance(r, FetchResult) for r in results.values())


def test_a_missing_file_is_retried_then_given_up() -> None:
    tries: list[float] = []
    results: dict[str, object] = {}

    def fetch(t: FetchTarget, deadline: float) -> FetchResult:
        tries.append(time.monotonic())
        raise JobFileError("no_file", "not yet")

    pool = JobFileFetcher(FAST, fetch=fetch)
    try:
        pool.request("p", target(1), lambda o: results.__setitem__("p", o))
        wait_until(lambda: "p" in results, interval=0.01)
    finally:
        pool.close()
    outcome = results["p"]
    assert isinstance(outcome, JobFileError) and outcome.reason == "no_file"
    # retried, backing off (0.02, 0.04, then 0.05 s apart over 0.5 s), not hammering
    assert 3 <= len(tries) <= 20


def test_one_transfer_per_printer_and_a_new_job_replaces_the_old() -> None:
    release = threading.Event()
    seen: list[str] = []
    results: dict[str, object] = {}

    def fetch(t: FetchTarget, deadline: float) -> FetchResult:
        seen.append(t.subtask_name)
        release.wait(5)
        return FetchResult(PLAN, "/" + t.subtask_name, 1, False)

    pool = JobFileFetcher(FAST, fetch=fetch)
    try:
        pool.request("p", FetchTarget("127.0.0.1", "c", "first"), lambda o: results.__setitem__("p", o))
        wait_until(lambda: seen == ["first"], interval=0.01)
        pool.request("p", FetchTarget("127.0.0.1", "c", "second"), lambda o: results.__setitem__("p", o))
        time.sleep(0.1)
        assert seen == ["first"] and pool.in_flight == 1   # never two at once for one printer
        release.set()
        wait_until(lambda: "p" in results, interval=0.01)
    finally:
        pool.close()
    result = results["p"]
    assert isinstance(result, FetchResult) and result.path == "/second"
    assert seen == ["first", "second"]


def test_other_errors_are_final_at_once() -> None:
    results: dict[str, object] = {}
    calls: list[int] = []

    def fetch(t: FetchTarget, deadline: float) -> FetchResult:
        calls.append(1)
        raise JobFileError("refused", "login refused")

    pool = JobFileFetcher(FAST, fetch=fetch)
    try:
        pool.request("p", target(1), lambda o: results.__setitem__("p", o))
        wait_until(lambda: "p" in results, interval=0.01)
    finally:
        pool.close()
    assert len(calls) == 1 and getattr(results["p"], "reason", "") == "refused"
