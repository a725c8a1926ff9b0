"""The auth gate: wrong passwords cannot lock valid users out. Pure tests of its queueing,
then the flood itself: 100 clients from 100 addresses sending wrong passwords as fast as
they are answered, and a valid user's first login (curl) from another address, against a
real server with a cost-10 bcrypt hash, each from its own address of the `addresses` fixture."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from exporter.http_server.auth_gate import AuthGate, Verdict
from exporter.http_server.server import WebServer
from tests.support.addresses import AddressPool
from tests.support.e2e import wait_until

pytestmark = pytest.mark.tier("unit")

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "prometheus", "the-right-password"


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(4)
    yield executor
    executor.shutdown()


class Checks:
    """check callables that record the order they ran in and wait on `release`."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.release = threading.Event()

    def __call__(self, name: str, ok: bool = False) -> Callable[[], bool]:
        def check() -> bool:
            self.order.append(name)
            self.release.wait(10)
            return ok
        return check


def test_an_address_in_good_standing_goes_before_addresses_that_failed(
        pool: ThreadPoolExecutor) -> None:
    async def main() -> None:
        gate = AuthGate(pool, 1, 10.0, 64)
        checks = Checks()
        for i in range(5):
            gate.failed(f"10.0.0.{i}")
        busy = asyncio.ensure_future(gate.run("10.0.1.1", checks("first")))
        await asyncio.sleep(0.05)
        flood = [asyncio.ensure_future(gate.run(f"10.0.0.{i}", checks(f"guess{i}")))
                 for i in range(5)]
        await asyncio.sleep(0.05)
        valid = asyncio.ensure_future(gate.run("10.0.2.1", checks("valid", ok=True)))
        await asyncio.sleep(0.05)
        checks.release.set()
        assert await valid is Verdict.OK
        assert await busy is Verdict.WRONG
        assert await asyncio.gather(*flood) == [Verdict.WRONG] * 5
        assert checks.order[:2] == ["first", "valid"], checks.order
        assert gate.suspect("10.0.1.1") and not gate.suspect("10.0.2.1")

    asyncio.run(main())


def test_an_address_has_at_most_per_client_checks_at_once(pool: ThreadPoolExecutor) -> None:
    async def main() -> None:
        gate = AuthGate(pool, 1, 10.0, 64, per_client=2)
        checks = Checks()
        first = [asyncio.ensure_future(gate.run("10.0.0.1", checks("a"))) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert await gate.run("10.0.0.1", checks("b")) is Verdict.THROTTLED
        other = asyncio.ensure_future(gate.run("10.0.0.2", checks("c")))
        checks.release.set()
        assert await asyncio.gather(*first, other) == [Verdict.WRONG] * 3
        assert gate.throttled == 1 and gate.checks == 3

    asyncio.run(main())


def test_waiters_get_busy_after_the_wait_or_at_once_beyond_the_queue(
        pool: ThreadPoolExecutor) -> None:
    async def main() -> None:
        gate = AuthGate(pool, 1, 0.3, 1)
        checks = Checks()
        busy = asyncio.ensure_future(gate.run("10.0.0.1", checks("a")))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(gate.run("10.0.0.2", checks("b")))
        await asyncio.sleep(0.05)
        assert await gate.run("10.0.0.3", checks("c")) is Verdict.BUSY   # the queue is full
        assert await waiting is Verdict.BUSY                             # waited 0.3 s
        checks.release.set()
        assert await busy is Verdict.WRONG
        assert gate.refused == 2 and checks.order == ["a"]
        # the slot came back: the next check runs
        assert await gate.run("10.0.0.4", checks("d", ok=True)) is Verdict.OK

    asyncio.run(main())


def test_a_success_clears_the_address_and_failures_expire(pool: ThreadPoolExecutor) -> None:
    now = [0.0]

    async def main() -> None:
        gate = AuthGate(pool, 1, 1.0, 4, suspect_for=60, clock=lambda: now[0])
        checks = Checks()
        checks.release.set()
        assert await gate.run("10.0.0.1", checks("x")) is Verdict.WRONG
        assert gate.suspect("10.0.0.1")
        now[0] = 61
        assert not gate.suspect("10.0.0.1")
        gate.failed("10.0.0.1")
        assert await gate.run("10.0.0.1", checks("y", ok=True)) is Verdict.OK
        assert not gate.suspect("10.0.0.1")

    asyncio.run(main())


@pytest.mark.parametrize("fresh", [
    # each a new /64 of one IPv6 site (/48): counted by /64, each was a new client
    lambda i: f"2001:db8:666:{i:x}::1",
    # each a new address of one IPv4 /24
    lambda i: f"198.51.100.{i}",
])
def test_a_flood_from_fresh_addresses_of_one_network_waits_behind_a_first_login(
        pool: ThreadPoolExecutor, fresh: Callable[[int], str]) -> None:
    """Every guess from an address never seen before: the network is the suspect."""
    async def main() -> None:
        gate = AuthGate(pool, 1, 10.0, 64)
        done = Checks()
        done.release.set()
        assert await gate.run(fresh(1), done("opening guess")) is Verdict.WRONG
        checks = Checks()
        running = asyncio.ensure_future(gate.run(fresh(2), checks("running")))
        await asyncio.sleep(0.05)
        flood = [asyncio.ensure_future(gate.run(fresh(i), checks(f"guess{i}")))
                 for i in range(3, 40)]
        await asyncio.sleep(0.05)
        valid = asyncio.ensure_future(gate.run("203.0.113.9", checks("valid", ok=True)))
        await asyncio.sleep(0.05)
        checks.release.set()
        assert await valid is Verdict.OK
        assert await running is Verdict.WRONG
        # (the IPv6 guesses share one site's two checks at once: the rest get 429)
        assert set(await asyncio.gather(*flood)) <= {Verdict.WRONG, Verdict.THROTTLED}
        assert checks.order[:2] == ["running", "valid"], checks.order

    asyncio.run(main())


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\n"]


@pytest.mark.tier("e2e")
@pytest.mark.parametrize("fresh", [
    False,    # 100 addresses, each on kept-alive connections
    True,     # every request from a new address of one /24
])
def test_a_valid_user_gets_in_during_a_wrong_password_flood(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], addresses: AddressPool,
        fresh: bool) -> None:
    # 100 clients sending wrong passwords filled the one bcrypt queue: a valid user whose
    # password was not yet cached got 503; from fresh addresses none was ever a suspect
    # and the queue stayed full. Cost 10, the README's own example. The valid user logs
    # in from another /24 than the flood (inside it, it would wait with the guesser).
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    config = tmp_path / "web.yml"
    config.write_text(f"basic_auth_users:\n  {USER}: '{hashed}'\n")
    # The server, then a whole /24 of the flood's own, then the valid user in the next /24.
    block = addresses.take(3 * 256)
    start = next(i for i in range(1, 257) if block[i].endswith(".1"))
    host, flooding, user_address = block[0], block[start], block[start + 256]
    server = WebServer(hello, host, 0, web_config_file=str(config))
    server.start()
    flood = subprocess.Popen(
        [sys.executable, "-m", "tests.http_server.password_flood", host, str(server.port),
         flooding, "100", USER, *(["fresh"] if fresh else [])],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    counts: dict[str, int] = {}
    try:
        refused = server.core.refused
        # Every flooding client has been turned away at least once, most of them often.
        wait_until(lambda: refused["unauthorized"] >= 300, 120, interval=0.2,
                   what="the flood to be under way")
        before = refused["unauthorized"]
        started = time.monotonic()
        login = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30",
             "--interface", user_address, "-u", f"{USER}:{PASSWORD}",
             f"http://{host}:{server.port}/metrics"],
            capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - started
        during = refused["unauthorized"] - before
        assert flood.poll() is None, "the flood ended before the login"
    finally:
        out, _ = flood.communicate(timeout=60)   # closes its stdin: it stops and reports
        server.stop()
        if out.strip():
            counts = json.loads(out)
    with capsys.disabled():
        print(f"\n  valid login during a 100-client wrong-password flood"
              f"{' from fresh addresses' if fresh else ''}: {elapsed:.3f} s "
              f"(status {login.stdout}); wrong passwords refused meanwhile: {during}; "
              f"flood answers: {counts}")
    assert login.stdout == "200"
    assert during > 0   # the flood was being answered while the valid user got in
    # ... and the login went next: it waited for the checks running when it came (and
    # those curl's start-up took), not behind the queue (on a fresh-address flood it
    # used to wait behind 30-60 guesses, 2-3 s)
    assert during < 10, during
