"""Shared fixtures. Area-specific fixtures live beside their tests or in tests/support/."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresCluster

_db_counter = itertools.count()


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
