"""Settings from flags, environment and files. Every bad value is a clear error."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.errors import ConfigError
from exporter.fleet.cpu_quota import cpu_limit
from exporter.http_server.web_config import load_web_config
from exporter.inventory.postgres import postgres_params
from exporter.inventory.shard import Shard, shard_from
from exporter.logs import LOG_FORMATS
from exporter.printer.job_file.prices import load_prices
from exporter.printer.mqtt.bambu import make_tls_context
from exporter.text import ascii_digits
from exporter.web.app import RESERVED_PATHS
from exporter.web.html_parts import check_dashboard_url

# ASCII digits only: str.isdigit() and \d take "²" or "١", which int() refuses or reads.
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(name: str, text: str) -> float:
    """'500ms', '30s', '5m', '1h' or plain seconds -> seconds. `name` is the flag."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ConfigError(f"{name}: {text!r} is not a duration (examples: 30s, 5m, 1h)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


DEFAULT_PORT = 9851
LOG_LEVELS = ("debug", "info", "warning", "error")

# flag -> environment variable that sets it when the flag is not given
ENVIRONMENT: dict[str, str] = {
    "web.listen-address": "BAMBU_WEB_LISTEN_ADDRESS",
    "printers.file": "BAMBU_PRINTERS_FILE",
    "database-url": "BAMBU_DATABASE_URL",
    "printer.staleness": "BAMBU_PRINTER_STALENESS",
    "printer.pushall-interval": "BAMBU_PRINTER_PUSHALL_INTERVAL",
    "printer.connect-timeout": "BAMBU_PRINTER_CONNECT_TIMEOUT",
    "inventory.timeout": "BAMBU_INVENTORY_TIMEOUT",
    "log.level": "BAMBU_LOG_LEVEL",
    # shards: N exporters on one table, each holding a disjoint slice
    "shard.count": "BAMBU_SHARD_COUNT",
    "shard.index": "BAMBU_SHARD_INDEX",
    "hms.text-file": "BAMBU_HMS_TEXT_FILE",
    "web.config.file": "BAMBU_WEB_CONFIG_FILE",
    "workers": "BAMBU_WORKERS",
    "workers.timeout": "BAMBU_WORKERS_TIMEOUT",
    "printer.ca-file": "BAMBU_PRINTER_CA_FILE",
    "printer.ftps": "BAMBU_PRINTER_FTPS",
    "filament.prices": "BAMBU_FILAMENT_PRICES",
    "web.telemetry-path": "BAMBU_WEB_TELEMETRY_PATH",
    "log.format": "BAMBU_LOG_FORMAT",
    "attention.plate-waiting": "BAMBU_ATTENTION_PLATE_WAITING",
    "web.dashboard-url": "BAMBU_WEB_DASHBOARD_URL",
}

HOW_TO_CONFIGURE = """\
no printers configured. Tell bambu-exporter where the printer list is, one of:
  DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD (or DB_PASSWORD_FILE)
                            a PostgreSQL `printers` table (the PG* variables work too)
  --database-url postgresql://user@host:5432/dbname
  --printers.file printers.yaml
                            printers:
                              - {name: x1c-1, ip: 192.0.2.10, serial: 00M..., access_code: "..."}
  --demo                    a simulated fleet, to try the exporter and dashboards
See docs/configuration.md."""


def parse_listen_address(name: str, text: str) -> tuple[str, int]:
    """':9851', '0.0.0.0:9851', 'localhost:9851', '[::]:9851' -> (host, port)."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not ascii_digits(port_text):
        raise ConfigError(f"{name}: {text!r} is not HOST:PORT (example: :{DEFAULT_PORT})")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ConfigError(f"{name}: port {port} is out of range 0..65535")
    host = host.strip("[]")
    return host or "0.0.0.0", port


def parse_positive_duration(name: str, text: str, minimum: float = 0.001) -> float:
    seconds = parse_duration(name, text)
    if seconds < minimum:
        raise ConfigError(f"{name}: {text!r} is too short (at least {minimum:g}s)")
    return seconds


def parse_log_level(name: str, text: str) -> str:
    level = text.strip().lower()
    if level == "warn":
        level = "warning"
    if level not in LOG_LEVELS:
        raise ConfigError(f"{name}: {text!r} is not one of {', '.join(LOG_LEVELS)}")
    return level


@dataclass(frozen=True)
class Settings:
    listen_host: str = "0.0.0.0"
    listen_port: int = DEFAULT_PORT
    printers_file: str | None = None
    database: Mapping[str, Any] | None = None   # postgres params; holds the password: never log
    demo: bool = False
    demo_printers: int = 12
    demo_first_address: str = "127.0.80.1"
    staleness: float = 60.0
    pushall_interval: float = 300.0
    connect_timeout: float = 5.0
    inventory_timeout: float = 2.0
    log_level: str = "info"
    shard: Shard = Shard()  # this exporter's slice of the printer list
    hms_text_file: str | None = None   # Bambu's HMS/print_error texts, saved by the user
    dashboard_url: str = ""   # --web.dashboard-url: a printer's dashboard, {printer} {serial}
    web_config_file: str | None = None   # TLS and basic auth (exporter-toolkit format)
    workers: int = 1
    workers_timeout: float = 3.0   # all a scrape waits on the worker processes
    ca_file: str | None = None   # printers' certificates must chain to it, CN = serial
    ftps: bool = True            # each job's 3MF read over the printer's FTPS (its filament plan)
    filament_prices: str | None = None   # price per kg by material or profile (YAML)
    # Exporter conventions: every --web.listen-address (the first is listen_host/port;
    # empty: just that one), sockets from systemd instead, the scrape path, the log format.
    listen_addresses: tuple[tuple[str, int], ...] = ()
    systemd_socket: bool = False
    telemetry_path: str = "/metrics"
    log_format: str = "text"
    # The landing page: a plate waiting (FINISH or FAILED) longer than this needs a hand.
    plate_waiting: float = 900.0

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        return self.listen_addresses or ((self.listen_host, self.listen_port),)

    def __repr__(self) -> str:  # the database params hold a password
        return (f"Settings(listen={self.listen_host}:{self.listen_port}, "
                f"printers_file={self.printers_file!r}, database={'set' if self.database else None}, "
                f"demo={self.demo})")


# ---- --workers: worker processes sharing the printers (fleet/workers.py)
MAX_WORKERS = 64
DEFAULT_WORKERS_CAP = 8   # past this, more processes cost memory and buy little


def default_workers(cpus: int | None = None) -> int:
    """One worker per CPU this process may use (the smaller of its affinity mask and its
    cgroup's CPU quota, rounded up: a pod limited to 1 CPU on a 64-core node gets 1), at
    most DEFAULT_WORKERS_CAP; one CPU keeps the single process."""
    if cpus is None:
        cpus = cpu_limit().cpus
    return max(1, min(cpus, DEFAULT_WORKERS_CAP))


def parse_workers(name: str, text: str) -> int:
    value = str(text).strip()
    if not ascii_digits(value) or not 1 <= int(value) <= MAX_WORKERS:
        raise ConfigError(f"{name}: {text!r} is not a number of worker processes "
                          f"between 1 and {MAX_WORKERS}")
    return int(value)
# ---- end --workers


def _value(flags: Mapping[str, Any], environ: Mapping[str, str], flag: str) -> tuple[str, Any]:
    """(where it came from, value): the flag when given, else its environment variable."""
    value = flags.get(flag)
    if value is not None:
        return f"--{flag}", value
    env = ENVIRONMENT.get(flag)
    if env and environ.get(env, "").strip():
        return env, environ[env]
    return f"--{flag}", None


def settings_from(flags: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    """Flags (argparse dest names with dots kept) + environment -> Settings.

    Raises ConfigError naming the flag or variable for any bad value, and when no
    printer list is configured at all (the message says how to configure one)."""

    where, text = _value(flags, environ, "web.listen-address")
    addresses = parse_listen_addresses(where, text)
    host, port = addresses[0]

    durations: dict[str, float] = {}
    for flag, default, minimum in (("printer.staleness", 60.0, 1.0),
                                   ("printer.pushall-interval", 300.0, 10.0),
                                   ("printer.connect-timeout", 5.0, 0.1),
                                   ("inventory.timeout", 2.0, 0.05),
                                   ("workers.timeout", 3.0, 0.1),
                                   ("attention.plate-waiting", 900.0, 1.0)):
        where, text = _value(flags, environ, flag)
        durations[flag] = parse_positive_duration(where, text, minimum) if text else default

    where, text = _value(flags, environ, "log.level")
    log_level = parse_log_level(where, text) if text else "info"

    # --web.config.file: checked now so a bad file stops start-up; the server re-reads it.
    where, web_config_file = _value(flags, environ, "web.config.file")
    if web_config_file:
        load_web_config(web_config_file, where)

    demo = bool(flags.get("demo"))
    given = flags.get("demo.printers")
    text = "12" if given is None else str(given).strip()
    if not ascii_digits(text) or not 1 <= int(text) <= 1000:
        raise ConfigError(f"--demo.printers: {given!r} is not a number between 1 and 1000")
    demo_printers = int(text)

    demo_first_address = str(flags.get("demo.first-address") or "127.0.80.1")
    try:
        if not ipaddress.IPv4Address(demo_first_address).is_loopback:
            raise ValueError
    except ValueError:
        raise ConfigError(f"--demo.first-address: {demo_first_address!r} is not a loopback "
                          "IPv4 address (127.x.y.z)") from None

    _, printers_file = _value(flags, environ, "printers.file")
    where, database_url = _value(flags, environ, "database-url")
    database = None if demo else postgres_params(environ, database_url)
    if printers_file and database:
        raise ConfigError("both a printers file (--printers.file) and a database "
                          "(--database-url or DB_*/PG* variables) are configured: choose one")
    if not demo and not printers_file and not database:
        raise ConfigError(HOW_TO_CONFIGURE)

    shard = shard_settings(flags, environ)
    # --hms.text-file: a file not there yet is fine (`hms-texts fetch` writes it; a deploy
    # starts the exporter even when the texts service cannot be reached), a directory that
    # is not there or a path that is not a file stops start-up; its content is checked
    # when the exporter loads it (exporter/printer/error_texts.py).
    where, hms_text_file = _value(flags, environ, "hms.text-file")
    if hms_text_file and (os.path.exists(hms_text_file) and not os.path.isfile(hms_text_file)
                          or not os.path.isdir(os.path.dirname(os.path.abspath(
                              hms_text_file)))):
        raise ConfigError(f"{where}: {hms_text_file!r} is not a file in an existing "
                          "directory (`bambu-exporter hms-texts fetch` saves Bambu's HMS "
                          "texts there, see docs/configuration.md)")
    where, dashboard = _value(flags, environ, "web.dashboard-url")
    dashboard_url = check_dashboard_url(dashboard, where) if dashboard else ""
    where, ca_file = _value(flags, environ, "printer.ca-file")
    if ca_file:
        check_ca_file(where, ca_file)
    where, text = _value(flags, environ, "workers")
    workers = parse_workers(where, text) if text is not None else default_workers()
    ftps = parse_switch(*_value(flags, environ, "printer.ftps"), default=True)
    where, prices = _value(flags, environ, "filament.prices")
    if prices:
        try:
            load_prices(str(prices))   # a bad file stops start-up; later, the last good stays
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    return Settings(listen_host=host, listen_port=port, printers_file=printers_file,
                    database=database, demo=demo, demo_printers=demo_printers,
                    demo_first_address=demo_first_address,
                    staleness=durations["printer.staleness"],
                    pushall_interval=durations["printer.pushall-interval"],
                    connect_timeout=durations["printer.connect-timeout"],
                    inventory_timeout=durations["inventory.timeout"],
                    log_level=log_level, shard=shard,
                    hms_text_file=hms_text_file or None, dashboard_url=dashboard_url,
                    web_config_file=web_config_file or None, workers=workers,
                    workers_timeout=durations["workers.timeout"],
                    ca_file=ca_file or None, ftps=ftps, filament_prices=prices or None,
                    listen_addresses=addresses,
                    systemd_socket=bool(flags.get("web.systemd-socket")),
                    telemetry_path=telemetry_path(flags, environ),
                    log_format=log_format(flags, environ),
                    plate_waiting=durations["attention.plate-waiting"])


def parse_switch(where: str, value: Any, default: bool) -> bool:
    """A flag given as --x / --no-x (a bool), or its variable as true/false, 1/0, yes/no."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{where}: {str(value)[:40]!r} is not true or false")


def check_ca_file(name: str, path: str) -> None:
    """ConfigError naming the flag unless `path` is a PEM bundle with a CA certificate."""
    try:
        make_tls_context(path)
    except (OSError, ssl.SSLError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{name}: {path!r} is not a PEM bundle of CA certificates "
                          f"({why}); Bambu Studio ships Bambu's printer CA among its "
                          "resources") from None


# ---- exporter conventions: listen addresses, telemetry path, log format
def parse_listen_addresses(name: str, given: str | list[str] | None
                           ) -> tuple[tuple[str, int], ...]:
    """The flag repeated (a list) or the variable's comma-separated addresses -> (host,
    port) pairs, in order; none: the default :9851. The same address twice is an error."""
    if not given:
        return (("0.0.0.0", DEFAULT_PORT),)
    texts = given if isinstance(given, list) else str(given).split(",")
    addresses: list[tuple[str, int]] = []
    for text in texts:
        address = parse_listen_address(name, text)
        if address in addresses and address[1] != 0:
            raise ConfigError(f"{name}: {text.strip()!r} is given twice")
        addresses.append(address)
    return tuple(addresses)


def telemetry_path(flags: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    where, text = _value(flags, environ, "web.telemetry-path")
    path = "/metrics" if text is None else str(text).strip()
    if not path.startswith("/") or any(c in path for c in "?# ") or not path.isprintable():
        raise ConfigError(f"{where}: {path!r} is not a URL path (example: /metrics)")
    if path in RESERVED_PATHS:
        raise ConfigError(f"{where}: {path} is served by the exporter itself; choose "
                          "another path (default /metrics)")
    return path


def log_format(flags: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    where, text = _value(flags, environ, "log.format")
    value = "text" if text is None else str(text).strip().lower()
    if value not in LOG_FORMATS:
        raise ConfigError(f"{where}: {text!r} is not one of {', '.join(LOG_FORMATS)}")
    return value
# ---- end exporter conventions


def shard_settings(flags: Mapping[str, Any], environ: Mapping[str, str]) -> Shard:
    """--shard.count/--shard.index (or their variables); without an index, the host
    name's -<ordinal> (HOSTNAME, else the system's), as a StatefulSet's pods are named."""
    count_where, count = _value(flags, environ, "shard.count")
    index_where, index = _value(flags, environ, "shard.index")
    hostname = environ.get("HOSTNAME", "").strip() or socket.gethostname()
    return shard_from(None if count is None else str(count),
                      None if index is None else str(index), hostname,
                      count_where=count_where, index_where=index_where)
