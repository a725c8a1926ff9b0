"""printing_time.py: seconds seen RUNNING, on a monotonic clock."""

from __future__ import annotations

import pytest

from exporter.printer.printing_time import PrintingTime

pytestmark = pytest.mark.tier("unit")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_only_time_seen_running_counts() -> None:
    clock = Clock()
    printing = PrintingTime(clock)
    assert printing.observe(False) == 0.0
    clock.now += 30                      # idle for 30 s
    assert printing.observe(True) == 0.0
    clock.now += 100                     # running for 100 s
    assert printing.observe(True) == 100.0
    clock.now += 20
    assert printing.observe(False) == 120.0
    clock.now += 500                     # finished: no more time counted
    assert printing.observe(False) == 120.0
    assert printing.total == 120.0


def test_never_goes_backwards() -> None:
    clock = Clock()
    printing = PrintingTime(clock)
    printing.observe(True)
    clock.now -= 50                      # a clock that steps back must not subtract
    assert printing.observe(True) == 0.0
    clock.now += 10
    assert printing.observe(True) == 10.0
