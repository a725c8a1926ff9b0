from __future__ import annotations

import time

import psycopg2
import pytest

from exporter.inventory.postgres import PostgresSource, postgres_params
from exporter.inventory.record import InventoryError
from tests.inventory.helpers import (
    FreezableProxy,
    SilentServer,
    execute,
    insert_printers,
    wait_until,
)
from tests.support.postgres import PostgresCluster

pytestmark = pytest.mark.tier("e2e")

Db = tuple[PostgresCluster, str]


def exporter_backends(cluster: PostgresCluster, dbname: str) -> list[tuple[int, str]]:
    conn = cluster.connect("postgres")
    with conn.cursor() as cur:
        cur.execute("SELECT pid, state FROM pg_stat_activity WHERE datname = %s AND "
                    "application_name = 'bambu-exporter'", (dbname,))
        rows = cur.fetchall()
    conn.close()
    return rows


def test_reads_the_table_in_a_capitalised_database_from_the_seed_variables(
        printers_db: Db) -> None:
    cluster, dbname = printers_db
    assert dbname != dbname.lower()
    insert_printers(cluster, dbname, [("x1c-001", "10.0.0.1", "S1", "01234567"),
                                      ("p1s-002", " 10.0.0.2 ", "S2", None)])
    source = PostgresSource(postgres_params(cluster.env(dbname)))
    try:
        assert source.read() == [
            {"printer_name": "x1c-001", "printer_ip": "10.0.0.1", "printer_bambu_id": "S1",
             "access_code": "01234567"},
            {"printer_name": "p1s-002", "printer_ip": " 10.0.0.2 ", "printer_bambu_id": "S2",
             "access_code": None},
        ]
    finally:
        source.close()


@pytest.mark.parametrize("form", ["dsn", "url"])
def test_reads_from_a_dsn_or_url(printers_db: Db, form: str) -> None:
    cluster, dbname = printers_db
    insert_printers(cluster, dbname, [("a", "10.0.0.1", "S1", "1")])
    text = cluster.dsn(dbname) if form == "dsn" else \
        f"postgresql://{cluster.user}:p%40ss%20w'rd@{cluster.host}:{cluster.port}/{dbname}"
    source = PostgresSource(text)
    try:
        assert [r["printer_name"] for r in source.read()] == ["a"]
    finally:
        source.close()


def test_special_characters_in_the_password(printers_db: Db) -> None:
    cluster, dbname = printers_db  # trust auth: the password is sent and ignored
    params = {**postgres_params(cluster.env(dbname)), "password": "p@ss w'rd\\ =x"}
    source = PostgresSource(params)
    try:
        assert source.read() == []
    finally:
        source.close()


def test_rows_added_and_removed_between_reads_over_one_kept_connection(
        printers_db: Db) -> None:
    cluster, dbname = printers_db
    source = PostgresSource(cluster.dsn(dbname))
    try:
        assert source.read() == []
        insert_printers(cluster, dbname, [("a", "10.0.0.1", "S1", "1"),
                                          ("b", "10.0.0.2", "S2", "2")])
        assert [r["printer_name"] for r in source.read()] == ["a", "b"]
        execute(cluster, dbname, "DELETE FROM printers WHERE printer_name = 'a'")
        assert [r["printer_name"] for r in source.read()] == ["b"]
        backends = exporter_backends(cluster, dbname)
        assert len(backends) == 1 and backends[0][1] == "idle"
    finally:
        source.close()
    wait_until(lambda: exporter_backends(cluster, dbname) == [], what="disconnect")


def test_the_session_is_read_only(printers_db: Db) -> None:
    cluster, dbname = printers_db
    # A view that writes when read: it only works outside a read-only transaction.
    execute(cluster, dbname, """
        ALTER TABLE printers RENAME TO printers_real;
        CREATE TABLE reads (at timestamptz);
        CREATE FUNCTION read_printers() RETURNS SETOF printers_real LANGUAGE sql AS
          $$ INSERT INTO reads VALUES (now()); SELECT * FROM printers_real $$;
        CREATE VIEW printers AS SELECT * FROM read_printers();
    """)
    source = PostgresSource(cluster.dsn(dbname))
    try:
        with pytest.raises(InventoryError, match="read-only transaction"):
            source.read()
    finally:
        source.close()


def test_missing_table_is_an_error(printers_db: Db) -> None:
    cluster, dbname = printers_db
    execute(cluster, dbname, "DROP TABLE printers")
    source = PostgresSource(cluster.dsn(dbname))
    try:
        with pytest.raises(InventoryError, match='relation "printers" does not exist'):
            source.read()
    finally:
        source.close()


def test_missing_database_is_an_error(printers_db: Db) -> None:
    cluster, dbname = printers_db
    source = PostgresSource(cluster.dsn(dbname.lower()))
    with pytest.raises(InventoryError, match=f'database "{dbname.lower()}" does not exist'):
        source.read()


def test_slow_query_ends_at_the_deadline_and_on_the_server(printers_db: Db) -> None:
    cluster, dbname = printers_db
    execute(cluster, dbname, """
        ALTER TABLE printers RENAME TO printers_real;
        CREATE VIEW printers AS SELECT p.* FROM printers_real p, pg_sleep(30) s;
    """)
    source = PostgresSource(cluster.dsn(dbname), read_timeout=1.0)
    try:
        started = time.monotonic()
        with pytest.raises(InventoryError, match="timed out|statement timeout"):
            source.read()
        assert time.monotonic() - started < 2.5
        # statement_timeout stops the sleeping statement on the server as well.
        wait_until(lambda: not any(state == "active"
                                   for _, state in exporter_backends(cluster, dbname)),
                   what="the server to stop the query")
    finally:
        source.close()


def test_locked_table_ends_at_the_deadline_then_reads_again(printers_db: Db) -> None:
    cluster, dbname = printers_db
    insert_printers(cluster, dbname, [("a", "10.0.0.1", "S1", "1")])
    source = PostgresSource(cluster.dsn(dbname), read_timeout=1.0)
    locker = psycopg2.connect(cluster.dsn(dbname))
    try:
        assert len(source.read()) == 1
        with locker.cursor() as cur:
            cur.execute("LOCK TABLE printers IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(InventoryError, match="lock timeout|timed out"):
            source.read()
        assert time.monotonic() - started < 2.5
        locker.rollback()
        assert len(source.read()) == 1
    finally:
        locker.close()
        source.close()


def test_server_that_never_answers(silent_server: SilentServer) -> None:
    source = PostgresSource({"host": "127.0.0.1", "port": str(silent_server.port),
                             "dbname": "familyRewardDb", "user": "u"}, read_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(InventoryError, match="timed out connecting"):
        source.read()
    assert time.monotonic() - started < 2.0
    assert silent_server.connections == 1


def test_server_that_hangs_on_the_kept_connection(printers_db: Db,
                                                  frozen_proxy: FreezableProxy) -> None:
    cluster, dbname = printers_db
    insert_printers(cluster, dbname, [("a", "10.0.0.1", "S1", "1")])
    source = PostgresSource({"host": "127.0.0.1", "port": str(frozen_proxy.port),
                             "dbname": dbname, "user": cluster.user}, read_timeout=1.0)
    try:
        assert len(source.read()) == 1
        frozen_proxy.freeze()
        started = time.monotonic()
        with pytest.raises(InventoryError, match="timed out reading"):
            source.read()
        assert time.monotonic() - started < 2.0
        frozen_proxy.thaw()
        assert len(source.read()) == 1
    finally:
        source.close()


def test_outage_then_reconnects(printers_db: Db, restart_cluster_after: None) -> None:
    cluster, dbname = printers_db
    insert_printers(cluster, dbname, [("a", "10.0.0.1", "S1", "1")])
    source = PostgresSource(cluster.dsn(dbname), read_timeout=2.0)
    try:
        assert len(source.read()) == 1
        cluster.stop()
        for _ in range(2):
            with pytest.raises(InventoryError, match="Connection refused"):
                source.read()
        cluster.start()
        assert len(source.read()) == 1
    finally:
        source.close()


def test_restart_between_reads_costs_no_failed_read(printers_db: Db,
                                                    restart_cluster_after: None) -> None:
    cluster, dbname = printers_db
    insert_printers(cluster, dbname, [("a", "10.0.0.1", "S1", "1")])
    source = PostgresSource(cluster.dsn(dbname))
    try:
        assert len(source.read()) == 1
        [(old_pid, _)] = exporter_backends(cluster, dbname)
        cluster.stop()
        cluster.start()
        assert len(source.read()) == 1  # the dead kept connection is replaced at once
        [(new_pid, _)] = exporter_backends(cluster, dbname)
        assert new_pid != old_pid
    finally:
        source.close()


def test_closed_source_refuses_to_read(printers_db: Db) -> None:
    cluster, dbname = printers_db
    source = PostgresSource(cluster.dsn(dbname))
    source.read()
    source.close()
    wait_until(lambda: exporter_backends(cluster, dbname) == [], what="disconnect")
    with pytest.raises(InventoryError, match="closed"):
        source.read()


def test_repr_and_describe_hide_the_password(printers_db: Db) -> None:
    cluster, dbname = printers_db
    source = PostgresSource({**postgres_params(cluster.env(dbname)), "password": "Hunter22"})
    assert source.describe() == \
        f"postgresql://{cluster.user}@{cluster.host}:{cluster.port}/{dbname}"
    assert "Hunter22" not in repr(source)
