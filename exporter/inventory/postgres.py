"""The printer list from PostgreSQL: connection settings and a source that keeps one
read-only connection and bounds every read by a deadline of its own.

The connection is used in psycopg2's asynchronous mode so that the deadline is enforced
on the client: a server that accepts TCP and never answers, a lock held on the table,
or a server that hangs on a kept connection all end the read at the deadline.
Keepalives, tcp_user_timeout and statement_timeout are set as well, so the server side
and the kernel give up on a dead peer too.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Mapping
from typing import Any

import psycopg2
import psycopg2.extensions as pgext

from exporter.errors import ConfigError
from exporter.inventory.record import InventoryError
from exporter.inventory.redact import scrub
from exporter.text import ascii_digits

QUERY = "SELECT printer_name, printer_ip, printer_bambu_id, access_code FROM printers"

# libpq environment variables -> connection keywords. libpq reads them itself too; they
# are translated so an explicit environ (not os.environ) works and can be described.
_PG_VARIABLES = {
    "PGHOST": "host", "PGHOSTADDR": "hostaddr", "PGPORT": "port", "PGDATABASE": "dbname",
    "PGUSER": "user", "PGPASSWORD": "password", "PGPASSFILE": "passfile",
    "PGSERVICE": "service", "PGSERVICEFILE": "servicefile", "PGSSLMODE": "sslmode",
    "PGSSLROOTCERT": "sslrootcert", "PGSSLCERT": "sslcert", "PGSSLKEY": "sslkey",
    "PGAPPNAME": "application_name", "PGCONNECT_TIMEOUT": "connect_timeout",
    "PGOPTIONS": "options", "PGTARGETSESSIONATTRS": "target_session_attrs",
}
# Only these say "a database is configured"; PGSSLMODE alone does not.
_PG_LOCATING = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD",
                "PGPASSFILE", "PGSERVICE")
_DB_VARIABLES = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD",
                 "DB_PASSWORD_FILE")


def _check_port(name: str, text: str) -> str:
    # libpq takes a comma-separated list with one port per host.
    for part in text.split(","):
        part = part.strip()
        if not (ascii_digits(part) and 1 <= int(part) <= 65535):
            raise ConfigError(f"{name}: {text!r} is not a port number (1-65535)")
    return text.strip()


def _read_password_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
            type(exc).__name__
        raise ConfigError(f"DB_PASSWORD_FILE: cannot read {path}: {reason}") from None
    # Only the newline an editor or `echo` adds: other whitespace may be part of it.
    if text.endswith("\n"):
        text = text[:-1]
        if text.endswith("\r"):
            text = text[:-1]
    if not text:
        raise ConfigError(f"DB_PASSWORD_FILE: {path} is empty")
    return text


def postgres_params(environ: Mapping[str, str], database_url: str | None = None
                    ) -> dict[str, str] | None:
    """Connection keywords for psycopg2.connect, or None when no database is configured.

    First match wins: `--database-url` (URL or key=value DSN); the seed's DB_HOST DB_PORT
    DB_NAME DB_USER DB_PASSWORD / DB_PASSWORD_FILE; libpq's PG* variables. Empty
    variables count as unset. Bad values raise ConfigError naming the flag or variable.
    """
    if database_url is not None and database_url.strip():
        return _params_from_url(database_url.strip())
    env = {k: environ[k] for k in _DB_VARIABLES if environ.get(k, "").strip()}
    if env:
        if "DB_PASSWORD" in env and "DB_PASSWORD_FILE" in env:
            raise ConfigError("DB_PASSWORD and DB_PASSWORD_FILE are both set: use one")
        params: dict[str, str] = {}
        if "DB_HOST" in env:
            params["host"] = env["DB_HOST"].strip()
        if "DB_PORT" in env:
            params["port"] = _check_port("DB_PORT", env["DB_PORT"])
        if "DB_NAME" in env:
            params["dbname"] = env["DB_NAME"].strip()
        if "DB_USER" in env:
            params["user"] = env["DB_USER"].strip()
        if "DB_PASSWORD" in env:
            params["password"] = env["DB_PASSWORD"]  # not stripped: may hold spaces
        if "DB_PASSWORD_FILE" in env:
            params["password"] = _read_password_file(env["DB_PASSWORD_FILE"].strip())
        return params
    if any(environ.get(k, "").strip() for k in _PG_LOCATING):
        params = {kw: environ[var] for var, kw in _PG_VARIABLES.items()
                  if environ.get(var, "").strip()}
        if "port" in params:
            params["port"] = _check_port("PGPORT", params["port"])
        return params
    return None


def _params_from_url(url: str) -> dict[str, str]:
    try:
        params = pgext.parse_dsn(url)
    except psycopg2.ProgrammingError:
        # libpq's message quotes pieces of the string, which may be the password.
        raise ConfigError("--database-url: not a valid postgresql:// URL or key=value "
                          "connection string") from None
    if "port" in params:
        _check_port("--database-url: port", params["port"])
    return dict(params)


def describe_params(params: Mapping[str, object] | str) -> str:
    """postgresql://user@host:port/dbname, never the password."""
    if isinstance(params, str):
        try:
            params = pgext.parse_dsn(params)
        except psycopg2.ProgrammingError:
            return "postgresql://(unparsable connection string)"
    if params.get("service") and not params.get("host"):
        return f"postgresql service {params['service']}"
    user = params.get("user")
    host = params.get("host") or params.get("hostaddr") or "localhost"
    port = params.get("port")
    dbname = params.get("dbname") or ""
    text = (f"postgresql://{f'{user}@' if user else ''}{host}"
            f"{f':{port}' if port else ''}/{dbname}")
    password = params.get("password")
    return scrub(text, [str(password)] if password else [])


class PostgresSource:
    """Reads the `printers` table over one kept, read-only connection.

    Every read ends within `read_timeout` seconds (connect included); any failure drops
    the connection and the next read connects anew. A kept connection that fails is
    retried once on a fresh one, so a database restart between scrapes costs no error.
    """

    def __init__(self, params: Mapping[str, object] | str, read_timeout: float = 10.0
                 ) -> None:
        if isinstance(params, str):
            params = _params_from_url(params)
        self._params = {k: v for k, v in params.items() if v is not None}
        self.read_timeout = read_timeout
        password = self._params.get("password")
        self._secrets = [str(password)] if password else []
        self._lock = threading.Lock()  # one read at a time; close() waits for it
        self._conn: Any = None
        self._closed = False

    def describe(self) -> str:
        return describe_params(self._params)

    def __repr__(self) -> str:
        return f"PostgresSource({self.describe()})"

    def _connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(self._params)
        # Settings the user gave explicitly win.
        kwargs.setdefault("connect_timeout", max(2, int(self.read_timeout)))
        kwargs.setdefault("application_name", "bambu-exporter")
        kwargs.setdefault("keepalives", 1)
        kwargs.setdefault("keepalives_idle", 10)
        kwargs.setdefault("keepalives_interval", 5)
        kwargs.setdefault("keepalives_count", 3)
        if pgext.libpq_version() >= 120000:
            kwargs.setdefault("tcp_user_timeout", int(self.read_timeout * 1000))
        return kwargs

    def read(self) -> list[dict[str, Any]]:
        """All rows of the table as dicts with the column names. Raises InventoryError."""
        with self._lock:
            if self._closed:
                raise InventoryError(f"{self.describe()}: source closed")
            deadline = time.monotonic() + self.read_timeout
            reused = self._conn is not None
            try:
                return self._read(deadline)
            except (psycopg2.Error, OSError, TimeoutError) as exc:
                self._drop()
                retry = reused and not isinstance(exc, TimeoutError) and \
                    not isinstance(exc, psycopg2.ProgrammingError)
                if retry and time.monotonic() < deadline:
                    try:
                        return self._read(deadline)
                    except (psycopg2.Error, OSError, TimeoutError) as again:
                        self._drop()
                        exc = again
                raise InventoryError(f"{self.describe()}: {self._reason(exc)}") from None
            finally:
                if self._closed:  # close() came while this read was in flight
                    self._drop()

    def _read(self, deadline: float) -> list[dict[str, Any]]:
        if self._conn is None:
            conn = psycopg2.connect(**self._connect_kwargs(), async_=True)
            self._conn = conn
            _wait(conn, deadline, "connecting")
            # Session settings, not startup options: poolers such as pgbouncer refuse
            # those. The server ends a stuck statement even if we are gone; its limits
            # come a little before our deadline so its clearer message usually wins.
            statement_ms = max(1, int(self.read_timeout * 900))
            lock_ms = max(1, int(self.read_timeout * 800))
            cur = conn.cursor()
            cur.execute("SET default_transaction_read_only = on; "
                        f"SET statement_timeout = {statement_ms}; "
                        f"SET lock_timeout = {lock_ms}")
            _wait(conn, deadline, "setting up the session")
            cur.close()
        cur = self._conn.cursor()
        cur.execute(QUERY)
        _wait(self._conn, deadline, "reading the printers table")
        columns = [d[0] for d in cur.description]
        rows = [dict(zip(columns, row, strict=False)) for row in cur.fetchall()]
        cur.close()
        return rows

    def _reason(self, exc: BaseException) -> str:
        diag = getattr(exc, "diag", None)
        # The server's own words without the "ERROR:" prefix, else libpq's message.
        text = (getattr(diag, "message_primary", None) or str(exc) or type(exc).__name__)
        # libpq messages run over several lines (DETAIL, HINT): the first says it.
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        first = lines[0] if lines else type(exc).__name__
        return scrub(first, self._secrets)

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg2.Error:
                pass
            self._conn = None

    def close(self) -> None:
        """Close the connection, at once: a read in flight closes it when it ends."""
        self._closed = True
        if self._lock.acquire(blocking=False):
            try:
                self._drop()
            finally:
                self._lock.release()


def _wait(conn: Any, deadline: float, doing: str) -> None:
    """Drive an asynchronous psycopg2 connection until its operation is done."""
    while True:
        state = conn.poll()
        if state == pgext.POLL_OK:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out {doing}")
        if state == pgext.POLL_READ:
            select.select([conn.fileno()], [], [], remaining)
        elif state == pgext.POLL_WRITE:
            select.select([], [conn.fileno()], [], remaining)
        else:
            raise psycopg2.OperationalError(f"unexpected poll state {state}")
