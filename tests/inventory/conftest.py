from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.inventory.helpers import FreezableProxy, SilentServer
from tests.support.postgres import PostgresCluster


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def frozen_proxy(printers_db: tuple[PostgresCluster, str]) -> Iterator[FreezableProxy]:
    cluster, _ = printers_db
    proxy = FreezableProxy(cluster.host, cluster.port)
    yield proxy
    proxy.close()


@pytest.fixture
def restart_cluster_after(printers_db: tuple[PostgresCluster, str]) -> Iterator[None]:
    """For outage tests: the cluster is shared by the session, so it is always running
    again afterwards, whatever the test did."""
    yield
    cluster, _ = printers_db
    if not cluster.is_running():
        cluster.start()
