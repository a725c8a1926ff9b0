"""The bad-client log: a few lines a minute whatever a client sends, then a count."""

from __future__ import annotations

import logging

import pytest

from exporter.http_server.rate_limited_log import RateLimitedLog

pytestmark = pytest.mark.tier("unit")


def test_lines_beyond_the_burst_are_counted_then_summed_up(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("test.bad"), burst=3, period=60,
                             clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for i in range(100):
            limited.warning("bad client %d", i)
        assert [r.getMessage() for r in caplog.records] == [f"bad client {i}" for i in range(3)]
        assert limited.suppressed == 97
        now[0] = 61.0
        limited.warning("bad client again")
    messages = [r.getMessage() for r in caplog.records]
    assert messages[3] == "... and 97 more like these in the last 61 s, not logged"
    assert messages[4] == "bad client again" and limited.suppressed == 0
