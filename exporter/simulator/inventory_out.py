"""The fleet written out as the exporter's inventory: YAML file or PostgreSQL table."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from exporter.simulator.printer import SimulatedRecord

PRINTERS_DDL = """
CREATE TABLE IF NOT EXISTS printers (
    id SERIAL PRIMARY KEY,
    printer_name TEXT,
    printer_ip TEXT,
    printer_bambu_id TEXT,
    access_code TEXT
)
"""


def yaml_text(records: Sequence[SimulatedRecord]) -> str:
    rows = [{"name": r.name, "ip": r.ip, "serial": r.serial, "access_code": r.access_code,
             "model": r.model} for r in records]
    # access codes are digit strings: keep them quoted so "01234567" stays a string
    return yaml.safe_dump({"printers": rows}, sort_keys=False, default_flow_style=False)


def write_yaml(path: str | Path, records: Sequence[SimulatedRecord]) -> None:
    """Atomically (write, then rename), so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".inventory-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(yaml_text(records))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_postgres(target: str | Mapping[str, Any], records: Sequence[SimulatedRecord]) -> None:
    """Create `printers` if missing and replace its rows, in one transaction."""
    import psycopg2  # only the PostgreSQL path needs the driver

    params: dict[str, Any] = {"connect_timeout": 10}
    try:
        if isinstance(target, str):
            conn = psycopg2.connect(target, **params)
        else:
            conn = psycopg2.connect(**{**params, **dict(target)})
    except psycopg2.Error as exc:
        # libpq's message may quote the DSN, never the password; keep only its first line
        raise RuntimeError(f"cannot connect to PostgreSQL: {str(exc).strip().splitlines()[0]}") \
            from None
    try:
        with conn, conn.cursor() as cur:
            cur.execute(PRINTERS_DDL)
            cur.execute("DELETE FROM printers")
            cur.executemany(
                "INSERT INTO printers (printer_name, printer_ip, printer_bambu_id, access_code)"
                " VALUES (%s, %s, %s, %s)",
                [(r.name, r.ip, r.serial, r.access_code) for r in records])
    except psycopg2.Error as exc:
        raise RuntimeError(f"cannot write the printers table: {str(exc).strip().splitlines()[0]}") \
            from None
    finally:
        conn.close()
