"""Bounds the bcrypt work basic auth does, so that wrong passwords cannot lock valid users out.

bcrypt is slow on purpose; a few checks run at once. A flood of wrong passwords would
otherwise fill the queue for them, and a valid user whose password is not yet cached
would wait behind it or get 503. So:

- each client address may have at most `per_client` checks running or waiting (beyond:
  429), so one address cannot take every slot;
- an address whose last check failed waits in a second queue that gets a free slot only
  when no other address is waiting: a first login from an address that has not been
  guessing passwords goes next, whatever the flood. The address stays a suspect until it
  gets in, or sends nothing needing a check for `suspect_for` seconds.

Shares count by client_address.client_key (an IPv4 address, an IPv6 /48); suspicion
sticks to the wider network_key (an IPv4 /24, an IPv6 /48), so a flood that uses each
address once still waits last after its first failure. A valid user inside the
guesser's network (or behind its NAT) waits with it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Executor
from enum import Enum

from exporter.http_server.client_address import client_key, network_key


class Verdict(Enum):
    OK = "ok"
    WRONG = "wrong"
    BUSY = "busy"            # no slot within the wait, or too many waiting: 503
    THROTTLED = "throttled"  # this address has too many checks already: 429


MAX_SUSPECTS = 4096   # addresses remembered as having failed; the oldest go first


class AuthGate:
    """run(client, check) in `executor`, `slots` at a time, fairly. Event-loop side only."""

    def __init__(self, executor: Executor, slots: int, wait: float, max_waiting: int,
                 per_client: int = 2, suspect_for: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._executor = executor
        self._free = slots
        self._wait = wait
        self._max_waiting = max_waiting
        self._per_client = per_client
        self._suspect_for = suspect_for
        self._clock = clock
        self._pending: Counter[str] = Counter()   # checks running or waiting, by address
        self._suspects: OrderedDict[str, float] = OrderedDict()   # address -> last failure
        # waiters for a slot: addresses in good standing first, then suspects
        self._queues: tuple[deque[asyncio.Future[bool]], deque[asyncio.Future[bool]]] = (
            deque(), deque())
        self.refused = 0     # BUSY answers (503)
        self.throttled = 0   # THROTTLED answers (429)
        self.checks = 0      # checks run

    def suspect(self, client: str) -> bool:
        failed = self._suspects.get(network_key(client))
        return failed is not None and self._clock() - failed < self._suspect_for

    def failed(self, client: str) -> None:
        """`client` gave wrong credentials (checked here or known from a cache)."""
        key = network_key(client)
        self._suspects[key] = self._clock()
        self._suspects.move_to_end(key)
        while len(self._suspects) > MAX_SUSPECTS:
            self._suspects.popitem(last=False)

    async def run(self, client: str, check: Callable[[], bool]) -> Verdict:
        key = client_key(client)
        if self._pending[key] >= self._per_client:
            self.throttled += 1
            return Verdict.THROTTLED
        suspect = self.suspect(client)
        if suspect:
            self.failed(client)   # still at it: stays a suspect until it gets in or rests
        self._pending[key] += 1
        try:
            if not await self._slot(self._queues[1 if suspect else 0]):
                self.refused += 1
                return Verdict.BUSY
            try:
                self.checks += 1
                ok = await asyncio.get_running_loop().run_in_executor(self._executor, check)
            finally:
                self._release()
        finally:
            self._pending[key] -= 1
            if not self._pending[key]:
                del self._pending[key]
        if ok:
            self._suspects.pop(network_key(client), None)
            return Verdict.OK
        self.failed(client)
        return Verdict.WRONG

    async def _slot(self, queue: deque[asyncio.Future[bool]]) -> bool:
        """Take a free slot, or wait in `queue` for one: False when none came in time."""
        if self._free > 0 and not any(self._queues):
            self._free -= 1
            return True
        if len(queue) >= self._max_waiting:
            return False
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        queue.append(waiter)

        def give_up() -> None:
            if not waiter.done():
                queue.remove(waiter)
                waiter.set_result(False)

        timer = loop.call_later(self._wait, give_up)
        try:
            return await waiter   # True: a released slot was handed over
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self._release()   # handed a slot while being cancelled: pass it on
            elif waiter in queue:
                queue.remove(waiter)
            raise
        finally:
            timer.cancel()

    def _release(self) -> None:
        for queue in self._queues:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(True)
                    return
        self._free += 1
