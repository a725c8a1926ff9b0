"""backoff.py: exponential, bounded, jittered waits between reconnects."""

from __future__ import annotations

import random

import pytest

from exporter.printer.backoff import Backoff

pytestmark = pytest.mark.tier("unit")


def test_waits_double_within_half_to_whole_step_up_to_the_ceiling() -> None:
    backoff = Backoff(1.0, 8.0, random.Random(1))
    steps = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    for step in steps:
        wait = backoff.next()
        assert step / 2 <= wait <= step


def test_reset_starts_from_the_first_step() -> None:
    backoff = Backoff(1.0, 60.0, random.Random(2))
    for _ in range(10):
        backoff.next()
    backoff.reset()
    assert 0.5 <= backoff.next() <= 1.0


def test_fleet_retrying_together_drifts_apart() -> None:
    """Fifty connections failing at the same instant: after a few attempts their retry
    times are spread over seconds, not stacked in one instant."""
    clocks = []
    for seed in range(50):
        backoff, t = Backoff(1.0, 8.0, random.Random(seed)), 0.0
        for _ in range(5):
            t += backoff.next()
        clocks.append(t)
    assert max(clocks) - min(clocks) > 3.0
    busiest = max(sum(1 for c in clocks if start <= c < start + 1.0) for start in clocks)
    assert busiest <= 25


@pytest.mark.parametrize(("first", "ceiling"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 5.0)])
def test_bad_bounds_are_refused(first: float, ceiling: float) -> None:
    with pytest.raises(ValueError, match="back-off"):
        Backoff(first, ceiling)
