"""`bambu-exporter simulate`: flags, ready line, inventory out, clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exporter.errors import ConfigError
from exporter.simulator import SimulatorProcess
from exporter.simulator.command import database_target, main
from tests.simulator.helpers import api_printer, wait_until
from tests.support.addresses import AddressPool

pytestmark = pytest.mark.tier("e2e")


def test_subprocess_serves_and_stops_cleanly_on_sigterm(tmp_path: Path, addresses: AddressPool) -> None:
    block = addresses.take(4)
    inventory = tmp_path / "fleet.yaml"
    sim = SimulatorProcess.start(["--printers", "4", "--first-address", block.first,
                                  "--models", "x1c,p1s", "--seed", "5", "--hms", "1",
                                  "--inventory", str(inventory)])
    try:
        assert sim.ready_line == f"simulator: 4 printers ready on {block.first}..{block.last}"
        rows = yaml.safe_load(inventory.read_text())["printers"]  # written before ready
        assert [r["ip"] for r in rows] == block.all
        assert {r["model"] for r in rows} == {"X1C", "P1S"}
        from exporter.simulator.printer import SimulatedRecord
        record = SimulatedRecord(**rows[0])
        with api_printer(record) as printer:
            wait_until(lambda: printer.mqtt_client.ready(), what="first report")
            assert printer.get_state().value in ("IDLE", "PREPARE", "RUNNING", "PAUSE",
                                                 "FINISH", "FAILED")
    finally:
        code = sim.stop()
    assert code == 0
    assert not any("Traceback" in line for line in sim.output)


def test_sigint_also_exits_zero(addresses: AddressPool) -> None:
    sim = SimulatorProcess.start(["--printers", "1", "--first-address", addresses.take().first])
    sim.proc.send_signal(signal.SIGINT)
    assert sim.proc.wait(20) == 0


def test_postgres_from_db_variables(printers_db, tmp_path: Path, addresses: AddressPool) -> None:
    block = addresses.take(3)
    cluster, dbname = printers_db
    secret = tmp_path / "pw"
    secret.write_text("unused-with-trust-auth\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "PG"))}
    env.update(DB_HOST=cluster.host, DB_PORT=str(cluster.port), DB_NAME=dbname,
               DB_USER=cluster.user, DB_PASSWORD_FILE=str(secret))
    sim = SimulatorProcess.start(["--printers", "3", "--first-address", block.first,
                                  "--database"], env=env)
    try:
        conn = cluster.connect(dbname)
        with conn.cursor() as cur:
            cur.execute("SELECT printer_ip FROM printers ORDER BY id")
            assert [r[0] for r in cur.fetchall()] == block.all
        conn.close()
    finally:
        assert sim.stop() == 0


@pytest.mark.parametrize("argv, flag", [
    (["--printers", "0"], "--printers"),
    (["--printers", "many"], "--printers"),
    (["--first-address", "300.1.1.1"], "--first-address"),
    (["--models", "x1c,ender3"], "--models"),
    (["--speed", "-2"], "--speed"),
    (["--offline", "lots"], "--offline"),
    (["--garbage", "150%"], "--garbage"),
    (["--port", "70000"], "--port"),
    # ASCII digits only: int() and float() would read these as numbers
    (["--printers", "١٢"], "--printers"),
    (["--port", "８８８３"], "--port"),
    (["--speed", "١"], "--speed"),
    (["--seed", "٣"], "--seed"),
    (["--offline", "٣"], "--offline"),
    (["--printers", "²"], "--printers"),
])
def test_bad_flags_name_the_flag(argv: list[str], flag: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "exporter", "simulate", *argv],
                          capture_output=True, text=True, timeout=30,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2
    assert flag in proc.stderr
    assert "Traceback" not in proc.stderr


def test_address_in_use_is_a_clear_error(capsys: pytest.CaptureFixture[str],
                                        addresses: AddressPool) -> None:
    block = addresses.take(2)   # the second is taken by the first simulator
    sim = SimulatorProcess.start(["--printers", "1", "--first-address", block[1]])
    try:
        code = main(["--printers", "2", "--first-address", block.first])
    finally:
        sim.stop()
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot listen" in err and "Traceback" not in err


def test_database_target_from_environment(tmp_path: Path) -> None:
    env = {"DB_HOST": "db", "DB_PORT": "5433", "DB_NAME": "n", "DB_USER": "u"}
    # the variables alone never pick a database to overwrite
    assert database_target(None, False, env) is None
    assert database_target("postgresql://u@h/db", False, env) == "postgresql://u@h/db"
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    assert database_target(None, True, {**env, "DB_PASSWORD_FILE": str(secret)}) == \
        {"host": "db", "port": "5433", "dbname": "n", "user": "u", "password": "s3cret"}
    with pytest.raises(ConfigError, match="DB_PORT"):
        database_target(None, True, {"DB_HOST": "db", "DB_PORT": "five"})
    with pytest.raises(ConfigError, match="--database"):
        database_target(None, True, {})


def test_db_variables_without_the_flag_leave_the_table_alone(printers_db, addresses: AddressPool) -> None:
    cluster, dbname = printers_db
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "PG"))}
    env.update(DB_HOST=cluster.host, DB_PORT=str(cluster.port), DB_NAME=dbname,
               DB_USER=cluster.user)
    sim = SimulatorProcess.start(["--printers", "2", "--first-address", addresses.take(2).first], env=env)
    try:
        conn = cluster.connect(dbname)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM printers")
            assert cur.fetchone() == (0,)
        conn.close()
    finally:
        assert sim.stop() == 0
