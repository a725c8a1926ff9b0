from __future__ import annotations

import os
from pathlib import Path

import pytest

from exporter.errors import ConfigError
from exporter.inventory.postgres import postgres_params
from exporter.inventory.printer_list import describe_source

pytestmark = pytest.mark.tier("unit")

SEED = {"DB_HOST": "db.lan", "DB_PORT": "5432", "DB_NAME": "familyRewardDb",
        "DB_USER": "exporter", "DB_PASSWORD": "s3cret pass"}


def test_nothing_configured() -> None:
    assert postgres_params({}) is None
    assert postgres_params({"DB_HOST": "", "PGSSLMODE": "require", "HOME": "/root"}) is None
    assert postgres_params({}, database_url="  ") is None


def test_seed_variables() -> None:
    assert postgres_params(SEED) == {"host": "db.lan", "port": "5432",
                                     "dbname": "familyRewardDb", "user": "exporter",
                                     "password": "s3cret pass"}


def test_seed_variables_partly_set() -> None:
    assert postgres_params({"DB_NAME": "familyRewardDb", "DB_HOST": ""}) == \
        {"dbname": "familyRewardDb"}


def test_password_file_loses_only_the_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text(" pa ss \n")
    env = {**SEED, "DB_PASSWORD": "", "DB_PASSWORD_FILE": str(secret)}
    assert postgres_params(env)["password"] == " pa ss "
    secret.write_text("pw\r\n")
    assert postgres_params(env)["password"] == "pw"
    secret.write_text("no-newline")
    assert postgres_params(env)["password"] == "no-newline"


def test_database_url_wins_and_keeps_capitals() -> None:
    params = postgres_params(SEED, "postgresql://u:p%40ss@h.lan:6543/familyRewardDb")
    assert params == {"user": "u", "password": "p@ss", "host": "h.lan", "port": "6543",
                      "dbname": "familyRewardDb"}
    assert postgres_params({}, "host=h dbname=familyRewardDb") == \
        {"host": "h", "dbname": "familyRewardDb"}


def test_libpq_variables() -> None:
    env = {"PGHOST": "pg.lan", "PGPORT": "5433", "PGDATABASE": "familyRewardDb",
           "PGUSER": "u", "PGPASSWORD": "pw", "PGSSLMODE": "require", "PGAPPNAME": ""}
    assert postgres_params(env) == {"host": "pg.lan", "port": "5433",
                                    "dbname": "familyRewardDb", "user": "u",
                                    "password": "pw", "sslmode": "require"}
    assert postgres_params({"PGSERVICE": "printers"}) == {"service": "printers"}


def test_seed_variables_win_over_libpq_ones() -> None:
    assert postgres_params({**SEED, "PGHOST": "other"})["host"] == "db.lan"


@pytest.mark.parametrize("port", ["abc", "0", "65536", "-1", "54 32", "5432x"])
def test_bad_db_port(port: str) -> None:
    with pytest.raises(ConfigError, match="^DB_PORT: .* is not a port number"):
        postgres_params({**SEED, "DB_PORT": port})


def test_bad_pgport() -> None:
    with pytest.raises(ConfigError, match="^PGPORT: "):
        postgres_params({"PGHOST": "h", "PGPORT": "x"})


def test_both_password_and_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("pw\n")
    with pytest.raises(ConfigError, match="DB_PASSWORD and DB_PASSWORD_FILE") as info:
        postgres_params({**SEED, "DB_PASSWORD_FILE": str(secret)})
    assert "s3cret" not in str(info.value)


def test_unreadable_password_file(tmp_path: Path) -> None:
    env = {"DB_HOST": "h", "DB_PASSWORD_FILE": str(tmp_path / "missing")}
    with pytest.raises(ConfigError, match=r"^DB_PASSWORD_FILE: cannot read .*missing: No such"):
        postgres_params(env)
    with pytest.raises(ConfigError, match=r"^DB_PASSWORD_FILE: cannot read .*: Is a directory"):
        postgres_params({**env, "DB_PASSWORD_FILE": str(tmp_path)})


def test_password_file_without_permission(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("pw\n")
    secret.chmod(0)
    if os.geteuid() == 0:
        # root reads anything: a file that is not UTF-8 is the unreadable case left.
        secret.write_bytes(b"\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"^DB_PASSWORD_FILE: cannot read"):
        postgres_params({"DB_HOST": "h", "DB_PASSWORD_FILE": str(secret)})


def test_empty_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("\n")
    with pytest.raises(ConfigError, match="^DB_PASSWORD_FILE: .* is empty"):
        postgres_params({"DB_HOST": "h", "DB_PASSWORD_FILE": str(secret)})


@pytest.mark.parametrize("url", ["host=h password=abc def", "mysql://h/db",
                                 "postgresql://h/db?password=abc%zzdef"])
def test_bad_database_url_does_not_echo_it(url: str) -> None:
    with pytest.raises(ConfigError, match="^--database-url: not a valid") as info:
        postgres_params({}, url)
    assert "abc" not in str(info.value) and "def" not in str(info.value)


def test_bad_port_in_database_url() -> None:
    with pytest.raises(ConfigError, match="--database-url: port"):
        postgres_params({}, "postgresql://h:abc/db")


def test_describe_never_shows_the_password() -> None:
    params = postgres_params(SEED)
    assert describe_source(params) == "postgresql://exporter@db.lan:5432/familyRewardDb"
    assert describe_source("postgresql://u:topsecret@h/familyRewardDb") == \
        "postgresql://u@h/familyRewardDb"
    assert describe_source({"service": "printers"}) == "postgresql service printers"
    assert describe_source({"dbname": "x"}) == "postgresql://localhost/x"
