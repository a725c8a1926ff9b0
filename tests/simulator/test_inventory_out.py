"""The fleet written as the exporter's inventory: YAML and the PostgreSQL printers table."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest
import yaml

from exporter.simulator import SimulatedFleet
from tests.support.addresses import AddressPool

pytestmark = pytest.mark.tier("e2e")


def test_yaml_inventory_format(addresses: AddressPool, tmp_path: Path) -> None:
    fleet = SimulatedFleet(count=6, first_address=addresses.take(6).first, seed=4,
                           faults={"wrong_code": 1})
    path = tmp_path / "sub" / "fleet.yaml"
    fleet.write_inventory_yaml(path)
    text = path.read_text()
    doc = yaml.safe_load(text)
    assert list(doc) == ["printers"]
    rows = doc["printers"]
    assert [list(r) for r in rows] == [["name", "ip", "serial", "access_code", "model"]] * 6
    listed = fleet.inventory_records()
    assert [(r["name"], r["ip"], r["serial"], r["access_code"], r["model"]) for r in rows] == \
        [(r.name, r.ip, r.serial, r.access_code, r.model) for r in listed]
    assert all(isinstance(r["access_code"], str) and len(r["access_code"]) == 8 for r in rows)
    wrong = [r for r, true in zip(rows, fleet.records, strict=False) if r["access_code"] != true.access_code]
    assert len(wrong) == 1
    assert not list(path.parent.glob(".inventory-*"))  # the temp file was renamed away


def test_postgres_rows_replace_the_table(addresses: AddressPool, printers_db) -> None:
    cluster, dbname = printers_db
    fleet = SimulatedFleet(count=5, first_address=addresses.take(5).first, seed=8)
    conn = cluster.connect(dbname)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO printers (printer_name, printer_ip, printer_bambu_id, access_code)"
                    " VALUES ('old', '10.0.0.1', 'X', '1')")
    fleet.write_postgres(cluster.dsn(dbname))
    with conn.cursor() as cur:
        cur.execute("SELECT printer_name, printer_ip, printer_bambu_id, access_code FROM printers"
                    " ORDER BY id")
        rows = cur.fetchall()
    conn.close()
    assert rows == [(r.name, r.ip, r.serial, r.access_code) for r in fleet.records]


def test_postgres_table_created_when_missing(addresses: AddressPool, printers_db) -> None:
    cluster, dbname = printers_db
    conn = cluster.connect(dbname)
    with conn.cursor() as cur:
        cur.execute("DROP TABLE printers")
    fleet = SimulatedFleet(count=3, first_address=addresses.take(3).first, seed=8)
    fleet.write_postgres({"host": cluster.host, "port": cluster.port, "user": cluster.user,
                          "dbname": dbname})
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM printers")
        assert cur.fetchone() == (3,)
    conn.close()


def test_postgres_unreachable_is_a_clear_error_without_secrets(addresses: AddressPool) -> None:
    fleet = SimulatedFleet(count=1, first_address=addresses.take(1).first, seed=8)
    try:
        fleet.write_postgres("host=127.0.13.61 port=1 user=u password=sekrit-pw dbname=x "
                             "connect_timeout=2")
    except RuntimeError as exc:
        assert "cannot connect to PostgreSQL" in str(exc)
        assert "sekrit-pw" not in str(exc)
    else:
        raise AssertionError("expected a connection error")
    assert psycopg2  # the driver is installed for the exporter anyway
