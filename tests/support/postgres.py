"""A throwaway PostgreSQL cluster made with the system's initdb, for tests.

The tests never rely on a server somebody started by hand: each run makes its own
cluster in a temporary directory on a free loopback port and removes it afterwards.
It can be stopped and started again to simulate a database outage.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2

from exporter.simulator.inventory_out import PRINTERS_DDL  # the seed's table


def _pg_bin(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if candidates:
        return candidates[-1]
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"PostgreSQL's {name} not found; run ./scripts/system-deps")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class PostgresCluster:
    """initdb + pg_ctl in a temp dir; trust auth on 127.0.0.1:<port>."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="bambu-pg-"))
        self.data = self.base / "data"
        self.host = "127.0.0.1"
        self.port = free_port()
        self.user = "postgres"
        # initdb refuses to run as root: run the server as the postgres system user.
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError("running as root needs a 'postgres' system user") from exc
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self._as_user, *cmd], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=120)

    def init(self) -> PostgresCluster:
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", self.user,
                  "--auth=trust", "--no-sync", "-E", "UTF8")
        return self

    def start(self) -> None:
        opts = (f"-c listen_addresses={self.host} -c port={self.port} "
                f"-c unix_socket_directories={self.base} -c fsync=off "
                f"-c max_connections=200")
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-w",
                  "-l", str(self.base / "log"), "start")

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        if self.is_running():
            try:
                self.stop()
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.base, ignore_errors=True)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def connect(self, dbname: str = "postgres"):
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = psycopg2.connect(self.dsn(dbname), connect_timeout=3)
                conn.autocommit = True
                return conn
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def create_printers_db(self, dbname: str) -> str:
        """A fresh database holding the seed's empty `printers` table; returns its DSN."""
        conn = self.connect()
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
            cur.execute(f'CREATE DATABASE "{dbname}"')
        conn.close()
        conn = self.connect(dbname)
        with conn.cursor() as cur:
            cur.execute(PRINTERS_DDL)
        conn.close()
        return self.dsn(dbname)

    def env(self, dbname: str) -> dict[str, str]:
        """The seed's DB_* variables pointing at `dbname`."""
        return {"DB_HOST": self.host, "DB_PORT": str(self.port), "DB_NAME": dbname,
                "DB_USER": self.user, "DB_PASSWORD": "not-needed-trust-auth"}
