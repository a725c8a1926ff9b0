"""Inventory.refresh on every scrape: last good list, bounded time, one log line per
outage, rejected rows counted. Real sources: PostgreSQL on a throwaway cluster, files."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from exporter.inventory.postgres import PostgresSource, postgres_params
from exporter.inventory.printer_list import MAX_ABANDONED, Inventory
from exporter.inventory.record import MAX_PRINTERS, PrinterRecord
from exporter.inventory.yaml_file import YamlSource
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
LOGGER = "exporter.inventory"


def logged(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def timed_refresh(inventory: Inventory) -> tuple[list[PrinterRecord], float]:
    started = time.monotonic()
    records = inventory.refresh()
    return records, time.monotonic() - started


def yaml_text(*printers: tuple[str, str, str, str]) -> str:
    lines = ["printers:"]
    for name, ip, serial, code in printers:
        lines += [f"  - name: {name}", f"    ip: {ip}", f"    serial: {serial}",
                  f"    access_code: \"{code}\""]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    # A new file renamed into place: a new inode, so the change is seen at once.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


# --- with a printers file ----------------------------------------------------------

def test_file_changes_add_and_remove_printers(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, yaml_text(("a", "10.0.0.1", "S1", "11111111")))
    inventory = Inventory(YamlSource(path, settle=0))
    assert inventory.refresh() == [PrinterRecord("a", "10.0.0.1", "S1", "11111111")]
    assert inventory.up and inventory.errors_total == 0
    write(path, yaml_text(("a", "10.0.0.1", "S1", "11111111"),
                          ("b", "10.0.0.2", "S2", "22222222")))
    assert [r.name for r in inventory.refresh()] == ["a", "b"]
    write(path, yaml_text(("b", "10.0.0.2", "S2", "22222222")))
    assert [r.name for r in inventory.refresh()] == ["b"]
    assert inventory.records == [PrinterRecord("b", "10.0.0.2", "S2", "22222222")]
    inventory.close()


def test_broken_file_keeps_the_last_good_list_with_one_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    path = tmp_path / "printers.yml"
    write(path, yaml_text(("a", "10.0.0.1", "S1", "11111111")))
    inventory = Inventory(YamlSource(path, settle=0))
    good = inventory.refresh()
    write(path, "printers: [\n")
    for _ in range(5):
        assert inventory.refresh() == good
    assert not inventory.up
    assert inventory.errors_total == 5
    warnings = logged(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "printers.yml:2:1: not valid YAML" in warnings[0]
    assert "keeping the last good list (1 printers)" in warnings[0]
    assert "printers.yml" in (inventory.last_error or "")
    write(path, yaml_text(("c", "10.0.0.3", "S3", "33333333")))
    assert [r.name for r in inventory.refresh()] == ["c"]
    inventory.refresh()
    assert inventory.up and inventory.last_error is None
    infos = logged(caplog, logging.INFO)
    assert len(infos) == 1 and "recovered after 5 failed reads" in infos[0]
    assert len(logged(caplog, logging.WARNING)) == 1
    inventory.close()


def test_first_read_failing_gives_an_empty_list(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    inventory = Inventory(YamlSource(tmp_path / "missing.yml"))
    assert inventory.refresh() == []
    assert not inventory.up and inventory.errors_total == 1
    assert len(logged(caplog, logging.WARNING)) == 1
    inventory.close()


def test_a_source_that_raises_something_unexpected(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def read(self) -> list[dict[str, Any]]:
            raise RuntimeError("password=Pa55w0rd")

    inventory = Inventory(Broken())
    assert inventory.refresh() == []
    assert not inventory.up and inventory.errors_total == 1
    assert inventory.last_error == "Broken: unexpected RuntimeError"
    assert "Pa55w0rd" not in caplog.text


def test_closed_inventory_reads_no_more(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, yaml_text(("a", "10.0.0.1", "S1", "11111111")))
    source = YamlSource(path)
    inventory = Inventory(source)
    inventory.refresh()
    inventory.close()
    write(path, yaml_text(("b", "10.0.0.2", "S2", "22222222")))
    assert [r.name for r in inventory.refresh()] == ["a"]
    assert source.parses == 1


def test_unchanged_rows_are_not_validated_again_and_changed_ones_are(
        caplog: pytest.LogCaptureFixture) -> None:
    class Table:
        """Fresh row dicts on every read, as a database cursor gives them."""

        def __init__(self) -> None:
            self.rows = [{"printer_name": "a", "printer_ip": "10.0.0.1",
                          "printer_bambu_id": "S1", "access_code": "11111111"},
                         {"printer_name": "bad", "printer_ip": "not an address",
                          "printer_bambu_id": "S2", "access_code": "22222222"}]

        def read(self) -> list[dict[str, Any]]:
            return [dict(row) for row in self.rows]

    table = Table()
    inventory = Inventory(table)
    first = inventory.refresh()
    kept = inventory.records
    assert [r.name for r in first] == ["a"] and inventory.rejected_total == {"bad_address": 1}
    inventory.refresh()
    assert inventory.records is kept          # the same rows: the last result, as it was
    assert inventory.rejected_total == {"bad_address": 1} and inventory.up
    table.rows[1]["printer_ip"] = "10.0.0.2"  # fixed: validated again, and taken
    assert [r.name for r in inventory.refresh()] == ["a", "bad"]
    assert inventory.records is not kept
    table.rows[0]["access_code"] = "33333333"
    assert inventory.refresh()[0].access_code == "33333333"


# --- with PostgreSQL ---------------------------------------------------------------

def pg_inventory(cluster: PostgresCluster, dbname: str, timeout: float = 2.0,
                 read_timeout: float = 3.0, **extra: str) -> Inventory:
    params = {**postgres_params(cluster.env(dbname)), **extra}
    return Inventory(PostgresSource(params, read_timeout=read_timeout), timeout=timeout)


def test_reads_the_table_and_follows_its_changes(printers_db: Db) -> None:
    cluster, dbname = printers_db
    inventory = pg_inventory(cluster, dbname)
    assert inventory.refresh() == [] and inventory.up
    insert_printers(cluster, dbname, [("a", "10.0.0.1", "S1", "11111111"),
                                      ("b", "10.0.0.2", "S2", "22222222")])
    assert [r.name for r in inventory.refresh()] == ["a", "b"]
    execute(cluster, dbname, "DELETE FROM printers WHERE printer_name = 'a'")
    assert inventory.refresh() == [PrinterRecord("b", "10.0.0.2", "S2", "22222222")]
    assert inventory.errors_total == 0
    inventory.close()


def test_bad_rows_are_left_out_and_counted_and_logged_once(
        printers_db: Db, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    cluster, dbname = printers_db
    insert_printers(cluster, dbname, [
        ("good-1", "10.0.0.1", "S1", "11111111"),
        ("no-code", "10.0.0.2", "S2", None),
        ("bad-ip", "10.0.0.300", "S3", "33333333"),
        ("good-2", "printer.lan", "S4", "44444444"),
        ("copy", "10.0.0.5", "S1", "55555555"),
    ])
    inventory = pg_inventory(cluster, dbname)
    for _ in range(3):
        assert [r.name for r in inventory.refresh()] == ["good-1", "good-2"]
    assert inventory.up
    assert inventory.rejected_total == {"blank_field": 1, "bad_address": 1,
                                        "duplicate_serial": 1}
    assert [r.reason for r in inventory.rejected] == ["blank_field", "bad_address",
                                                      "duplicate_serial"]
    warnings = logged(caplog, logging.WARNING)
    assert len(warnings) == 3
    assert "no-code" in warnings[0] and "access_code" in warnings[0]
    assert "'10.0.0.300'" in warnings[1]
    assert "copy" in warnings[2] and "S1" in warnings[2]
    # A new bad row is logged once more; the old ones are not.
    insert_printers(cluster, dbname, [("blank-ip", " ", "S6", "66666666")])
    inventory.refresh()
    inventory.refresh()
    assert len(logged(caplog, logging.WARNING)) == 4
    # Counted when it appears, not again on every read (it reached 600k after five
    # scrapes of a 100k-row table).
    assert inventory.rejected_total == {"blank_field": 2, "bad_address": 1,
                                        "duplicate_serial": 1}
    for code in ("11111111", "33333333", "55555555", "66666666"):
        assert code not in caplog.text
    inventory.close()


def test_database_outage_keeps_the_last_good_list(
        printers_db: Db, restart_cluster_after: None,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    cluster, dbname = printers_db
    insert_printers(cluster, dbname, [("a", "10.0.0.1", "S1", "11111111")])
    inventory = pg_inventory(cluster, dbname)
    good = inventory.refresh()
    assert len(good) == 1 and inventory.up
    cluster.stop()
    for _ in range(5):
        records, took = timed_refresh(inventory)
        assert records == good
        assert took < inventory.timeout + 0.5
    assert not inventory.up
    assert inventory.errors_total == 5
    warnings = logged(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "Connection refused" in warnings[0] and dbname in warnings[0]
    assert not logged(caplog, logging.INFO)
    cluster.start()
    insert_printers(cluster, dbname, [("b", "10.0.0.2", "S2", "22222222")])
    assert [r.name for r in inventory.refresh()] == ["a", "b"]  # reconnected
    inventory.refresh()
    assert inventory.up and inventory.errors_total == 5
    infos = logged(caplog, logging.INFO)
    assert len(infos) == 1 and "recovered after 5 failed reads; 2 printers" in infos[0]
    assert len(logged(caplog, logging.WARNING)) == 1
    inventory.close()


def test_locked_table_costs_a_scrape_only_the_timeout(
        printers_db: Db, caplog: pytest.LogCaptureFixture) -> None:
    cluster, dbname = printers_db
    insert_printers(cluster, dbname, [("a", "10.0.0.1", "S1", "11111111")])
    inventory = pg_inventory(cluster, dbname, timeout=0.5, read_timeout=5.0)
    good = inventory.refresh()
    locker = psycopg2.connect(cluster.dsn(dbname))
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLE printers IN ACCESS EXCLUSIVE MODE")
        records, took = timed_refresh(inventory)
        assert records == good and 0.4 < took < 0.8
        assert not inventory.up and inventory.errors_total == 1
        assert "no answer within 0.5s" in (inventory.last_error or "")
        # The read is still waiting for the lock: later scrapes do not wait for it.
        for _ in range(3):
            records, took = timed_refresh(inventory)
            assert records == good and took < 0.1
        assert inventory.errors_total == 1
        assert len(logged(caplog, logging.WARNING)) == 1
    finally:
        locker.rollback()
        locker.close()
    # The read that was waiting now finishes, and the list is in use again.
    wait_until(lambda: (inventory.refresh(), inventory.up)[1], what="recovery")
    assert inventory.records == good
    assert inventory.errors_total == 1
    inventory.close()


def test_server_that_never_answers_on_the_first_read(silent_server: SilentServer) -> None:
    source = PostgresSource({"host": "127.0.0.1", "port": str(silent_server.port),
                             "dbname": "familyRewardDb", "user": "u"}, read_timeout=1.0)
    inventory = Inventory(source, timeout=0.3)
    records, took = timed_refresh(inventory)
    assert records == [] and took < 0.6
    assert not inventory.up and inventory.errors_total == 1
    # The source gives up on its own at its deadline; that is not counted twice.
    wait_until(lambda: "timed out connecting" in (inventory.last_error or ""),
               what="the source's deadline")
    assert inventory.errors_total == 1
    inventory.close()


def test_server_that_hangs_on_the_kept_connection(
        printers_db: Db, frozen_proxy: FreezableProxy) -> None:
    cluster, dbname = printers_db
    insert_printers(cluster, dbname, [("a", "10.0.0.1", "S1", "11111111")])
    inventory = pg_inventory(cluster, dbname, timeout=0.3, read_timeout=1.0,
                             host="127.0.0.1", port=str(frozen_proxy.port))
    good = inventory.refresh()
    assert len(good) == 1
    frozen_proxy.freeze()
    records, took = timed_refresh(inventory)
    assert records == good and took < 0.6
    assert not inventory.up
    frozen_proxy.thaw()
    wait_until(lambda: (inventory.refresh(), inventory.up)[1], what="recovery")
    assert inventory.records == good
    inventory.close()


def test_no_secret_in_logs_errors_or_repr(
        printers_db: Db, restart_cluster_after: None, silent_server: SilentServer,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cluster, dbname = printers_db
    password = "Pa55-Sekr1t!"
    codes = ["31415926", "27182818"]
    insert_printers(cluster, dbname, [("a", "10.0.0.1", "S1", codes[0]),
                                      ("a-copy", "10.0.0.1", "S1", codes[1]),
                                      ("bad", "not an address", "S2", codes[1])])
    env = {**cluster.env(dbname), "DB_PASSWORD": password}
    inventories = [
        Inventory(PostgresSource(postgres_params(env), read_timeout=1.0), timeout=0.3),
        Inventory(PostgresSource({**postgres_params(env), "dbname": "missingDb"}), timeout=1),
        Inventory(PostgresSource({**postgres_params(env), "port": str(silent_server.port)},
                                 read_timeout=0.5), timeout=1.0),
        Inventory(PostgresSource(f"postgresql://{cluster.user}:{password}@{cluster.host}:"
                                 f"{cluster.port}/{dbname}?connect_timeout=1"), timeout=2),
    ]
    texts: list[str] = []
    for inventory in inventories:
        inventory.refresh()
    assert inventories[0].up and len(inventories[0].records) == 1
    cluster.stop()
    for inventory in inventories:
        inventory.refresh()
        texts += [repr(inventory), repr(inventory.source), str(inventory.last_error),
                  repr(inventory.records), repr(inventory.rejected)]
    cluster.start()
    for inventory in inventories:
        inventory.refresh()
        inventory.close()
    assert len(caplog.records) > 6
    everything = "\n".join(texts) + caplog.text
    for secret in [password, *codes]:
        assert secret not in everything
    assert "Connection refused" in everything and "missingDb" in everything


def test_the_password_is_scrubbed_where_a_library_echoes_it(
        caplog: pytest.LogCaptureFixture) -> None:
    # libpq puts the connection string in some messages; here, by way of a host name
    # that is not resolvable and happens to hold the password.
    password = "Pa55-Sekr1t"
    source = PostgresSource({"host": f"db-{password}.invalid", "password": password},
                            read_timeout=2.0)
    inventory = Inventory(source, timeout=2.5)
    inventory.refresh()
    assert not inventory.up
    assert "could not translate host name" in (inventory.last_error or "")
    assert password not in (inventory.last_error or "") and password not in caplog.text
    assert "***" in caplog.text
    inventory.close()


# --- sources that freeze, hang or flood ----------------------------------------------

class Counted:
    """A value that counts how often it is compared (all are equal, as YAML's are)."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        Counted.compared += 1
        return isinstance(other, Counted)

    __hash__ = object.__hash__


def test_an_unchanged_list_is_known_without_walking_nested_values() -> None:
    """A YAML file with nested aliases gave rows sharing 10^10 values, built afresh on
    each parse; comparing them with the last read's held the GIL for 98 s. Rows are
    compared flat: a nested value counts as a change, never walked."""
    def nested() -> Any:
        value: Any = [Counted()] * 10
        for _ in range(4):
            value = [value] * 10   # 10^5 leaves in a few dozen objects
        return value

    class Nested:
        def read(self) -> list[dict[str, Any]]:
            return [{"printer_name": nested(), "printer_ip": "10.0.0.1",
                     "printer_bambu_id": "S1", "access_code": "11111111"}]

    inventory = Inventory(Nested())
    Counted.compared = 0
    for _ in range(3):
        assert inventory.refresh() == []   # rejected: a name is text
    assert Counted.compared == 0
    assert inventory.rejected_total == {"not_text": 1}


def test_a_read_that_hangs_is_abandoned_and_the_next_one_starts() -> None:
    class Stuck:
        """The first read hangs (a dead mount) until released; later ones answer."""

        def __init__(self) -> None:
            self.release = threading.Event()
            self.reads = 0

        def read(self) -> list[dict[str, Any]]:
            self.reads += 1
            if self.reads == 1:
                self.release.wait(30)
                return []
            return [{"printer_name": "a", "printer_ip": "10.0.0.1",
                     "printer_bambu_id": "S1", "access_code": "11111111"}]

    source = Stuck()
    inventory = Inventory(source, timeout=0.3, abandon_after=0)
    try:
        assert inventory.refresh() == [] and inventory.errors_total == 1
        assert [r.name for r in inventory.refresh()] == ["a"]   # a new read, not the stuck one
        assert source.reads == 2 and inventory.up
        assert inventory.abandoned_reads == 1
    finally:
        source.release.set()
    wait_until(lambda: inventory.abandoned_reads == 0, 10, what="the stuck read to return")
    # the stuck read's late, empty answer changed nothing
    assert [r.name for r in inventory.refresh()] == ["a"]


def test_stuck_reads_are_bounded() -> None:
    release = threading.Event()

    class Dead:
        reads = 0

        def read(self) -> list[dict[str, Any]]:
            Dead.reads += 1
            release.wait(30)
            return []

    inventory = Inventory(Dead(), timeout=0.05, abandon_after=0)
    try:
        for _ in range(MAX_ABANDONED + 5):
            inventory.refresh()
            inventory.refresh()
        assert Dead.reads == MAX_ABANDONED + 1   # the abandoned ones and the one waited on
    finally:
        release.set()


def test_a_list_past_the_entry_cap_fails_and_the_last_good_list_stays() -> None:
    row = {"printer_name": "a", "printer_ip": "10.0.0.1", "printer_bambu_id": "S1",
           "access_code": "11111111"}

    class Growing:
        rows = 1

        def read(self) -> list[dict[str, Any]]:
            return [dict(row, printer_bambu_id=f"S{i}") for i in range(self.rows)]

    source = Growing()
    inventory = Inventory(source)
    assert len(inventory.refresh()) == 1
    source.rows = MAX_PRINTERS + 1
    assert len(inventory.refresh()) == 1 and not inventory.up
    assert f"more than the {MAX_PRINTERS}" in (inventory.last_error or "")
