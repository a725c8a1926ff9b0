"""server.LoopErrors: a full descriptor table met on accept is one line a minute, with
no traceback; anything else goes to asyncio's default handler."""

from __future__ import annotations

import errno
import logging
from typing import Any

import pytest

from exporter.http_server import server
from exporter.http_server.server import OUT_OF_RESOURCES, LoopErrors

pytestmark = pytest.mark.tier("unit")


class Loop:
    """Records what reaches asyncio's default handler."""

    def __init__(self) -> None:
        self.defaulted: list[dict[str, Any]] = []

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.defaulted.append(context)


def test_out_of_descriptors_on_accept_is_one_line_a_minute(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(server.time, "monotonic", lambda: now[0])
    handler, loop = LoopErrors(), Loop()
    context = {"message": OUT_OF_RESOURCES,
               "exception": OSError(errno.EMFILE, "Too many open files")}
    with caplog.at_level(logging.WARNING):
        for _ in range(30):          # asyncio retries every second
            handler(loop, context)   # type: ignore[arg-type]
            now[0] += 1.0
        handler(loop, context)       # type: ignore[arg-type]
        now[0] += 30.0
        handler(loop, context)       # type: ignore[arg-type]
    lines = [r for r in caplog.records if "cannot accept connections" in r.getMessage()]
    assert len(lines) == 2 and all(r.exc_info is None for r in lines)
    assert "Too many open files" in lines[0].getMessage()
    assert loop.defaulted == []


def test_anything_else_goes_to_the_default_handler() -> None:
    handler, loop = LoopErrors(), Loop()
    context = {"message": "Task exception was never retrieved", "exception": ValueError()}
    handler(loop, context)   # type: ignore[arg-type]
    assert loop.defaulted == [context]
