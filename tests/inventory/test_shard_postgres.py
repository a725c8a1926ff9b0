"""Shards on one real PostgreSQL `printers` table: N Inventories, each with its Shard,
read the same table; together they hold every printer exactly once.

Addresses are 127.0.72.x - 127.0.73.x (this helper's range); nothing connects to them
here: the Inventory is the whole path under test. Real exporter processes are in
test_shard_e2e.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exporter.inventory.postgres import PostgresSource
from exporter.inventory.printer_list import Inventory
from exporter.inventory.record import PrinterRecord
from exporter.inventory.shard import Shard, shard_of
from tests.inventory.helpers import execute, insert_printers
from tests.inventory.test_shard import serials
from tests.support.postgres import PostgresCluster

pytestmark = pytest.mark.tier("e2e")

Db = tuple[PostgresCluster, str]


def rows(count: int, seed: int = 3) -> list[tuple[str, str, str, str]]:
    return [(f"farm-{i:04d}", f"127.0.{72 + i // 250}.{i % 250 + 1}", serial, f"{i:08d}")
            for i, serial in enumerate(serials(count, seed))]


class Shards:
    """`count` Inventories on one table, as `count` exporters would hold them."""

    def __init__(self, db: Db, count: int) -> None:
        cluster, dbname = db
        self.inventories = [Inventory(PostgresSource(cluster.dsn(dbname)), timeout=10.0,
                                      shard=Shard(index, count)) for index in range(count)]

    def refresh(self) -> list[list[PrinterRecord]]:
        slices = [inventory.refresh() for inventory in self.inventories]
        for inventory in self.inventories:
            assert inventory.up, inventory.last_error
        return slices

    def close(self) -> None:
        for inventory in self.inventories:
            inventory.close()


@pytest.fixture
def shards(printers_db: Db) -> Iterator[list[Shards]]:
    made: list[Shards] = []
    yield made
    for group in made:
        group.close()


def held_once(slices: list[list[PrinterRecord]]) -> dict[str, int]:
    """serial -> the shard holding it; fails if any serial is held twice."""
    holder: dict[str, int] = {}
    for index, part in enumerate(slices):
        for record in part:
            assert record.serial not in holder, \
                f"{record.serial} held by shards {holder[record.serial]} and {index}"
            holder[record.serial] = index
    return holder


@pytest.mark.parametrize("count", [2, 3])
def test_every_printer_is_held_exactly_once(printers_db: Db, shards: list[Shards],
                                            count: int) -> None:
    table = rows(300)
    insert_printers(*printers_db, table)
    group = Shards(printers_db, count)
    shards.append(group)
    slices = group.refresh()
    holder = held_once(slices)
    assert set(holder) == {serial for _, _, serial, _ in table}
    for index, (inventory, part) in enumerate(zip(group.inventories, slices, strict=True)):
        assert inventory.records == part
        assert inventory.listed == 300  # the whole table, for "n of 300 printers"
        assert 300 / count * 0.7 < len(part) < 300 / count * 1.3, (index, len(part))
        assert all(shard_of(record.serial, count) == index for record in part)


def test_a_row_added_lands_in_exactly_one_shard(printers_db: Db, shards: list[Shards]) -> None:
    insert_printers(*printers_db, rows(60))
    group = Shards(printers_db, 3)
    shards.append(group)
    before = [{r.serial for r in part} for part in group.refresh()]
    added = ("farm-new", "127.0.73.200", "01P00C123456789", "87654321")
    insert_printers(*printers_db, [added])
    after = [{r.serial for r in part} for part in group.refresh()]
    gained = [index for index in range(3) if after[index] != before[index]]
    assert len(gained) == 1, (before, after)
    assert after[gained[0]] - before[gained[0]] == {added[2]}
    assert group.inventories[0].listed == 61
    # ... and a row removed leaves that shard only.
    execute(*printers_db, "DELETE FROM printers WHERE printer_bambu_id = '01P00C123456789'")
    assert [{r.serial for r in part} for part in group.refresh()] == before


def test_going_from_two_to_three_exporters_moves_about_a_third(printers_db: Db,
                                                                shards: list[Shards]) -> None:
    insert_printers(*printers_db, rows(600, seed=4))
    two, three = Shards(printers_db, 2), Shards(printers_db, 3)
    shards += [two, three]
    before, after = held_once(two.refresh()), held_once(three.refresh())
    moved = [serial for serial in before if before[serial] != after[serial]]
    assert 0.25 < len(moved) / 600 < 0.42, len(moved)
    assert {after[serial] for serial in moved} == {2}


def test_bad_and_duplicate_rows_are_reported_by_one_shard(printers_db: Db,
                                                          shards: list[Shards]) -> None:
    """Validation runs on the whole table in every shard, then each keeps its slice.
    A duplicate serial hashes like its first row, so both rows meet in one shard and
    the first keeps the printer there; no other shard ever holds it. Each bad row is
    counted (and logged) by one shard, so the counters sum to the table's."""
    table = rows(40)
    duplicate = ("farm-impostor", "127.0.73.201", table[5][2], "99999999")
    bad = [("farm-bad-ip", "10.0.0.300", "01S00D000000001", "11111111"),
           ("farm-no-code", "127.0.73.202", "01S00D000000002", " ")]
    insert_printers(*printers_db, [*table, duplicate, *bad])
    execute(*printers_db, "INSERT INTO printers (printer_name, printer_ip, access_code) "
                          "VALUES ('farm-no-serial', '127.0.73.203', '22222222')")
    group = Shards(printers_db, 3)
    shards.append(group)
    holder = held_once(group.refresh())
    assert set(holder) == {serial for _, _, serial, _ in table}
    owner = group.inventories[holder[table[5][2]]]
    assert [r.name for r in owner.records if r.serial == table[5][2]] == ["farm-0005"]
    totals: dict[str, int] = {}
    for inventory in group.inventories:
        for reason, count in inventory.rejected_total.items():
            totals[reason] = totals.get(reason, 0) + count
        assert inventory.listed == 40
    assert totals == {"duplicate_serial": 1, "bad_address": 1, "blank_field": 2}
    assert "duplicate_serial" in owner.rejected_total
