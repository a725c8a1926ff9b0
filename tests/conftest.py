"""Shared fixtures. Area-specific fixtures live beside their tests or in tests/support/.

Every test has one tier: unit (the pure middle: no socket bound or connected, no process
started; a unit test that tries fails), e2e (real servers, processes and simulated
printers on loopback) or stack (Prometheus, Alertmanager, Chromium, the container image:
slow). A file states its tier with `pytestmark = pytest.mark.tier("unit")`; a test or
class may state another, the closest one wins; a test with none counts as e2e. Each test
then carries a plain `unit`, `e2e` or `stack` marker, so `./scripts/test -m unit` selects
the pure middle and answers in seconds.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest

from tests.support.addresses import AddressPool
from tests.support.postgres import PostgresCluster

# the `pki` fixture of the web and HTTP server tests
pytest_plugins = ["tests.support.pki_fixture"]

TIERS = ("unit", "e2e", "stack")

_db_counter = itertools.count()


@pytest.hookimpl(tryfirst=True)   # before -m selects by the markers added here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tiers: dict[str, int] = {}
    for item in items:
        stated = item.get_closest_marker("tier")
        tier = stated.args[0] if stated else "e2e"
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: tier {tier!r} is not one of {TIERS}")
        item.add_marker(tier)
        tiers[item.nodeid] = TIERS.index(tier)
    # The slow tiers first, the many short unit files last: parallel workers then end
    # together instead of one finishing a long file alone (the order is the same on every
    # worker, as xdist requires).
    items.sort(key=lambda item: -tiers[item.nodeid])


def _refuse(what: str) -> Any:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a unit test {what}: give it the tier e2e")
    return refuse


@contextlib.contextmanager
def _pure() -> Iterator[None]:
    """No IP socket bound or connected, no process started, no database reached."""
    original_bind, original_connect = socket.socket.bind, socket.socket.connect

    def bind(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse(f"bound {address}")()
        original_bind(self, address)

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse(f"connected to {address}")()
        original_connect(self, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "bind", bind)
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", _refuse("connected a socket"))
        patch.setattr(subprocess.Popen, "__init__", _refuse("started a process"))
        patch.setattr(psycopg2, "connect", _refuse("reached a database"))
        yield


# A unit test fails when it, or a fixture it sets up, binds or connects a socket, starts a
# process or reaches a database: `-m unit` promises seconds. Setup and call are held to
# it, not teardown: the last test on a worker also ends the session's fixtures.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from _guarded(item))


def _guarded(item: pytest.Item) -> Iterator[None]:
    if item.get_closest_marker("unit") is None:
        return (yield)
    with _pure():
        return (yield)


@pytest.fixture(scope="session")
def addresses() -> Iterator[AddressPool]:
    """Loopback addresses no other test, xdist worker or test run uses:
    `addresses.take(8).first` for a fleet of eight, `addresses.take().first` for one."""
    pool = AddressPool()
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A real PostgreSQL server made for this test run (initdb in a temp dir)."""
    cluster = PostgresCluster().init()
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def printers_db(postgres_cluster: PostgresCluster) -> tuple[PostgresCluster, str]:
    """A fresh database (capitalised name, as the seed's familyRewardDb) with the
    empty `printers` table. Returns (cluster, dbname)."""
    if not postgres_cluster.is_running():
        postgres_cluster.start()
    dbname = f"familyRewardDb{next(_db_counter)}"
    postgres_cluster.create_printers_db(dbname)
    return postgres_cluster, dbname
