"""Bounds the work scrapes cause: a few renders at a time, identical requests share one.

A thousand scrapes released at once must not become a thousand renders. A request whose
twin (same method, path, query, Accept and Accept-Encoding) is already being rendered
waits for that render and answers with its bytes: it asked after the render began, so the
answer is no staler than its own would be. Other requests wait for a free slot for a short
while, and get None (the server answers 503) when none frees up or too many already wait.

One client address may have at most `per_client` renders running or waiting (requests
that share another's render do not count): 70 kept-alive connections asking for distinct
pages from one address filled the queue and starved everyone else. The server keeps one
gate per lane, so page requests cannot fill the telemetry path's (server_core.py).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from typing import Generic, TypeVar

T = TypeVar("T")


class RenderGate(Generic[T]):
    """run(key, fn) in `executor` with at most `slots` at once. Event-loop side only."""

    def __init__(self, executor: Executor, slots: int, wait: float, max_waiting: int,
                 per_client: int | None = None) -> None:
        self._executor = executor
        self._per_client = per_client
        self._pending: Counter[str] = Counter()   # renders running or waiting, by client
        self._slots = asyncio.Semaphore(slots)
        self._wait = wait
        self._max_waiting = max_waiting
        self._waiting = 0
        self._in_flight: dict[Hashable, asyncio.Future[T | None]] = {}
        self.started = 0   # calls of fn (for tests and the log)
        self.shared = 0    # requests answered by another request's render
        self.refused = 0   # requests turned away (503)
        self.refused_share = 0   # ... of them, because their client had its share

    async def run(self, key: Hashable | None, fn: Callable[[], T],
                  client: str | None = None) -> T | None:
        """`client`: the key the asker's share is counted under (client_address)."""
        if key is not None and key in self._in_flight:
            self.shared += 1
            result = await asyncio.shield(self._in_flight[key])
            if result is None:
                self.refused += 1
            return result
        if client is None or self._per_client is None:
            return await self._lead(key, fn)
        if self._pending[client] >= self._per_client:
            self.refused += 1
            self.refused_share += 1
            return None
        self._pending[client] += 1
        try:
            return await self._lead(key, fn)
        finally:
            self._pending[client] -= 1
            if not self._pending[client]:
                del self._pending[client]

    async def _lead(self, key: Hashable | None, fn: Callable[[], T]) -> T | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T | None] = loop.create_future()
        if key is not None:
            self._in_flight[key] = future
        try:
            result = await self._run(loop, fn)
            future.set_result(result)
            return result
        except asyncio.CancelledError:
            future.cancel()   # the server stops: followers stop too
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: followers re-raise it, nobody else must log it
            raise
        finally:
            if key is not None:
                del self._in_flight[key]

    async def _run(self, loop: asyncio.AbstractEventLoop, fn: Callable[[], T]) -> T | None:
        if self._slots.locked():
            if self._waiting >= self._max_waiting:
                self.refused += 1
                return None
            self._waiting += 1
            try:
                await asyncio.wait_for(self._slots.acquire(), self._wait)
            except asyncio.TimeoutError:
                self.refused += 1
                return None
            finally:
                self._waiting -= 1
        else:
            await self._slots.acquire()
        try:
            self.started += 1
            return await loop.run_in_executor(self._executor, fn)
        finally:
            self._slots.release()
