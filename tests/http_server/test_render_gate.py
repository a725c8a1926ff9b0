"""The render gate on its own: a few renders at a time, identical requests share one, the
rest wait briefly or are refused at once. Pure: an event loop and a thread pool."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from exporter.http_server.render_gate import RenderGate

pytestmark = pytest.mark.tier("unit")


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(4)
    yield executor
    executor.shutdown()


class Work:
    """fn() for the gate: counts calls and the most running at once; waits on `release`."""

    def __init__(self) -> None:
        self.calls = 0
        self.running = 0
        self.most = 0
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, value: str = "done") -> Callable[[], str]:
        def fn() -> str:
            with self._lock:
                self.calls += 1
                self.running += 1
                self.most = max(self.most, self.running)
            try:
                if not self.release.wait(10):
                    raise TimeoutError("never released")
                return value
            finally:
                with self._lock:
                    self.running -= 1
        return fn


async def released_later(work: Work, seconds: float) -> None:
    await asyncio.sleep(seconds)
    work.release.set()


def test_identical_requests_share_one_call(pool: ThreadPoolExecutor) -> None:
    async def main() -> list[str | None]:
        gate: RenderGate[str] = RenderGate(pool, 2, 5.0, 64)
        work = Work()
        runs = [gate.run("same", work("shared")) for _ in range(50)]
        release = released_later(work, 0.2)
        results = await asyncio.gather(*runs, release)
        assert work.calls == 1 and gate.started == 1 and gate.shared == 49
        return list(results[:50])

    assert asyncio.run(main()) == ["shared"] * 50


def test_at_most_slots_calls_run_at_once(pool: ThreadPoolExecutor) -> None:
    async def main() -> None:
        gate: RenderGate[str] = RenderGate(pool, 2, 5.0, 64)
        work = Work()
        runs = [gate.run(None, work()) for _ in range(6)]
        results = await asyncio.gather(*runs, released_later(work, 0.3))
        assert results[:6] == ["done"] * 6
        assert work.most == 2 and work.calls == 6 and gate.refused == 0

    asyncio.run(main())


def test_a_waiter_gives_up_after_the_wait(pool: ThreadPoolExecutor) -> None:
    async def main() -> None:
        gate: RenderGate[str] = RenderGate(pool, 1, 0.2, 64)
        work = Work()
        first = asyncio.ensure_future(gate.run(None, work()))
        await asyncio.sleep(0.05)
        assert await gate.run(None, work()) is None   # no slot within 0.2 s
        work.release.set()
        assert await first == "done"
        assert gate.refused == 1 and work.calls == 1

    asyncio.run(main())


def test_beyond_the_queue_requests_are_refused_at_once(pool: ThreadPoolExecutor) -> None:
    async def main() -> None:
        gate: RenderGate[str] = RenderGate(pool, 1, 30.0, 2)
        work = Work()
        running = asyncio.ensure_future(gate.run(None, work()))
        await asyncio.sleep(0.05)
        waiting = [asyncio.ensure_future(gate.run(None, work())) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert await gate.run(None, work()) is None   # the queue of 2 is full
        work.release.set()
        assert await asyncio.gather(running, *waiting) == ["done"] * 3
        assert gate.refused == 1

    asyncio.run(main())


def test_an_error_reaches_every_sharer_and_the_gate_carries_on(
        pool: ThreadPoolExecutor) -> None:
    async def main() -> None:
        gate: RenderGate[str] = RenderGate(pool, 2, 5.0, 64)

        def broken() -> str:
            time.sleep(0.1)
            raise RuntimeError("boom")

        results = await asyncio.gather(*(gate.run("k", broken) for _ in range(3)),
                                       return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        assert await gate.run("k", lambda: "fine") == "fine"   # nothing left in flight

    asyncio.run(main())


def test_a_refused_leader_refuses_its_sharers(pool: ThreadPoolExecutor) -> None:
    async def main() -> None:
        gate: RenderGate[str] = RenderGate(pool, 1, 0.2, 64)
        work = Work()
        busy = asyncio.ensure_future(gate.run("a", work()))
        await asyncio.sleep(0.05)
        leader_and_sharers = [gate.run("b", work()) for _ in range(3)]
        assert await asyncio.gather(*leader_and_sharers) == [None, None, None]
        assert gate.refused == 3
        work.release.set()
        assert await busy == "done"

    asyncio.run(main())
