"""A byte budget for answers held for clients: what a client that asks and never reads
can pin in the exporter's memory, all such clients together.

An answer is held from when its writing starts until the client has taken it (or is
dropped at the write deadline). Each answer counts once, however many connections
write it (identical requests share one render, and so one bytes object). A new answer
that would pass the budget first drops the clients that have taken nothing for `stall`
seconds, the longest stalled first; if that does not make room, it is refused (503).
Small answers (a kernel buffer's worth) are not counted: they leave at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

SMALL = 64 * 1024   # answers this small go to the kernel whole: nothing held here


class Writer(Protocol):
    def abort(self) -> None: ...


@dataclass
class _Held:
    body: int          # id() of the answer, alive while any writer holds it
    since: float       # last time the client took some of it


class AnswerBudget:
    """Event-loop side only."""

    def __init__(self, limit: int, stall: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.stall = stall
        self._clock = clock
        self._writers: dict[Writer, _Held] = {}
        self._bodies: dict[int, list[int]] = {}   # id -> [size, writers]
        self.held = 0        # bytes of distinct answers being written now
        self.dropped = 0     # stalled clients dropped to make room
        self.refused = 0     # answers refused: no room even then

    def hold(self, writer: Writer, body: bytes) -> bool:
        """Count `body` as held by `writer`; False when there is no room for it."""
        if len(body) <= SMALL:
            return True
        key = id(body)
        entry = self._bodies.get(key)
        if entry is None:
            if self.held + len(body) > self.limit and not self._make_room(len(body)):
                self.refused += 1
                return False
            entry = self._bodies[key] = [len(body), 0]
            self.held += len(body)
        entry[1] += 1
        self._writers[writer] = _Held(key, self._clock())
        return True

    def progress(self, writer: Writer) -> None:
        """The client took part of its answer."""
        held = self._writers.get(writer)
        if held is not None:
            held.since = self._clock()

    def release(self, writer: Writer) -> None:
        """Done writing (or dropped); safe to call more than once."""
        held = self._writers.pop(writer, None)
        if held is None:
            return
        entry = self._bodies[held.body]
        entry[1] -= 1
        if entry[1] == 0:
            del self._bodies[held.body]
            self.held -= entry[0]

    def _make_room(self, size: int) -> bool:
        now = self._clock()
        stalled = sorted((held.since, id(writer), writer)
                         for writer, held in self._writers.items()
                         if now - held.since >= self.stall)
        for _, _, writer in stalled:
            if self.held + size <= self.limit:
                break
            self.release(writer)
            self.dropped += 1
            writer.abort()
        return self.held + size <= self.limit
