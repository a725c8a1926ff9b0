"""Settings from flags, environment and files. Every bad value is a clear error.

Each flag is declared once, in FLAGS below; the printer flags make one SessionSettings."""

from __future__ import annotations

import argparse
import functools
import ipaddress
import os
import re
import socket
import ssl
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.errors import ConfigError
from exporter.fleet.cpu_quota import cpu_limit
from exporter.http_server.web_config import load_web_config
from exporter.inventory.postgres import postgres_params
from exporter.inventory.shard import Shard, shard_from
from exporter.logs import LOG_FORMATS
from exporter.printer.job_file.prices import load_prices
from exporter.printer.mqtt.bambu import make_tls_context
from exporter.printer.session import SessionSettings
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
    env = FLAG[flag].env
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

    printer = session_settings(flags, environ)
    inventory_timeout = read(flags, environ, "inventory.timeout")
    workers_timeout = read(flags, environ, "workers.timeout")
    plate_waiting = read(flags, environ, "attention.plate-waiting")
    log_level = read(flags, environ, "log.level")

    web_config_file = read(flags, environ, "web.config.file")
    demo = bool(flags.get("demo"))
    demo_printers = read(flags, environ, "demo.printers")
    demo_first_address = read(flags, environ, "demo.first-address")

    _, printers_file = _value(flags, environ, "printers.file")
    where, database_url = _value(flags, environ, "database-url")
    database = None if demo else postgres_params(environ, database_url)
    if printers_file and database:
        raise ConfigError("both a printers file (--printers.file) and a database "
                          "(--database-url or DB_*/PG* variables) are configured: choose one")
    if not demo and not printers_file and not database:
        raise ConfigError(HOW_TO_CONFIGURE)

    shard = shard_settings(flags, environ)
    hms_text_file = read(flags, environ, "hms.text-file")
    dashboard_url = read(flags, environ, "web.dashboard-url")
    workers = read(flags, environ, "workers")
    if workers is None:
        workers = default_workers()

    return Settings(listen_host=host, listen_port=port, printers_file=printers_file,
                    database=database, demo=demo, demo_printers=demo_printers,
                    demo_first_address=demo_first_address, printer=printer,
                    inventory_timeout=inventory_timeout, log_level=log_level, shard=shard,
                    hms_text_file=hms_text_file, dashboard_url=dashboard_url,
                    web_config_file=web_config_file, workers=workers,
                    workers_timeout=workers_timeout, listen_addresses=addresses,
                    systemd_socket=bool(flags.get("web.systemd-socket")),
                    telemetry_path=read(flags, environ, "web.telemetry-path"),
                    log_format=read(flags, environ, "log.format"), plate_waiting=plate_waiting)


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


def parse_telemetry_path(where: str, text: Any) -> str:
    path = str(text).strip()
    if not path.startswith("/") or any(c in path for c in "?# ") or not path.isprintable():
        raise ConfigError(f"{where}: {path!r} is not a URL path (example: /metrics)")
    if path in RESERVED_PATHS:
        raise ConfigError(f"{where}: {path} is served by the exporter itself; choose "
                          "another path (default /metrics)")
    return path


def parse_log_format(where: str, text: Any) -> str:
    value = str(text).strip().lower()
    if value not in LOG_FORMATS:
        raise ConfigError(f"{where}: {text!r} is not one of {', '.join(LOG_FORMATS)}")
    return value


# ---- end exporter conventions


def parse_demo_printers(where: str, given: Any) -> int:
    text = str(given).strip()
    if not ascii_digits(text) or not 1 <= int(text) <= 1000:
        raise ConfigError(f"{where}: {given!r} is not a number between 1 and 1000")
    return int(text)


def parse_demo_first_address(where: str, given: Any) -> str:
    try:
        if not ipaddress.IPv4Address(str(given)).is_loopback:
            raise ValueError
    except ValueError:
        raise ConfigError(f"{where}: {given!r} is not a loopback IPv4 address "
                          "(127.x.y.z)") from None
    return str(given)


def shard_settings(flags: Mapping[str, Any], environ: Mapping[str, str]) -> Shard:
    """--shard.count/--shard.index (or their variables); without an index, the host
    name's -<ordinal> (HOSTNAME, else the system's), as a StatefulSet's pods are named."""
    count_where, count = _value(flags, environ, "shard.count")
    index_where, index = _value(flags, environ, "shard.index")
    hostname = environ.get("HOSTNAME", "").strip() or socket.gethostname()
    return shard_from(None if count is None else str(count),
                      None if index is None else str(index), hostname,
                      count_where=count_where, index_where=index_where)


# ---- the flags of `serve` (and `status`, `healthcheck`), each declared once: argparse
# (cli.py), the environment, --help and the README's flag table (its test) all read FLAGS.
@dataclass(frozen=True)
class Flag:
    name: str                   # without the leading --
    help: str                   # what it does; --help adds the default and the variable
    env: str | None = None      # the variable that sets it when the flag is not given
    shown: str | None = None    # the default as --help and the README say it; None: value's
    # (where, given) -> value, a ConfigError naming `where` when bad; `value` when not given.
    # Flags without one are read by settings_from's own code (they depend on each other).
    parse: Callable[[str, Any], Any] | None = None
    value: Any = None
    argparse: Mapping[str, Any] = field(default_factory=dict)   # metavar, action, ...

    @property
    def default_text(self) -> str | None:
        if self.shown is None and self.value not in (None, ""):
            return f"default {self.value}"
        return self.shown

    @property
    def help_text(self) -> str:
        default = f" ({self.default_text})" if self.default_text else ""
        env = f" (env {self.env})" if self.env else ""
        return self.help + default + env


def _env(name: str) -> str:
    return "BAMBU_" + re.sub(r"[.-]", "_", name).upper()


def _shown_duration(seconds: float) -> str:
    """60 -> 'default 60s', 300 -> 'default 5m', as the docs write them."""
    if seconds > 60 and seconds % 60 == 0:
        return f"default {seconds / 60:g}m"
    return f"default {seconds:g}s"


def _duration(name: str, help_text: str, default: float, minimum: float) -> Flag:
    return Flag(name, help_text, _env(name), _shown_duration(default),
                functools.partial(parse_positive_duration, minimum=minimum), default,
                {"metavar": "DURATION"})


def _ca_file(where: str, path: Any) -> str | None:
    if not path:
        return None
    check_ca_file(where, str(path))
    return str(path)


def _ftps(where: str, given: Any) -> bool:
    return parse_switch(where, given, default=SessionSettings.ftps)


def _prices(where: str, path: Any) -> str | None:
    if not path:
        return None
    try:
        load_prices(str(path))   # a bad file stops start-up; later, the last good stays
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return str(path)


def _web_config_file(where: str, path: Any) -> str:
    load_web_config(str(path), where)   # a bad file stops start-up; the server re-reads it
    return str(path)


def _hms_text_file(where: str, path: Any) -> str:
    """A file not there yet is fine (`hms-texts fetch` writes it; a deploy starts the
    exporter even when the texts service cannot be reached), a directory that is not there
    or a path that is not a file stops start-up; its content is checked when the exporter
    loads it (exporter/printer/error_texts.py)."""
    path = str(path)
    if (os.path.exists(path) and not os.path.isfile(path)
            or not os.path.isdir(os.path.dirname(os.path.abspath(path)))):
        raise ConfigError(f"{where}: {path!r} is not a file in an existing "
                          "directory (`bambu-exporter hms-texts fetch` saves Bambu's HMS "
                          "texts there, see docs/configuration.md)")
    return path


def _dashboard_url(where: str, url: Any) -> str:
    return check_dashboard_url(str(url), where)


# The printer session's flags: SessionSettings holds their defaults.
PRINTER_FLAGS: tuple[Flag, ...] = (
    _duration("printer.staleness", "a printer silent for longer is not up",
              SessionSettings.staleness, 1.0),
    _duration("printer.pushall-interval", "full-report requests at most this often; P1 "
              "printers lag when asked more often than every 5m",
              SessionSettings.pushall_interval, 10.0),
    _duration("printer.connect-timeout", "TCP connect + TLS handshake timeout",
              SessionSettings.connect_timeout, 0.1),
    Flag("printer.ca-file", "PEM bundle of the printers' CA (Bambu's, from Bambu Studio's "
         "resources): each printer's certificate must chain to it and name its serial, or "
         "the access code is not sent", _env("printer.ca-file"), "default: not verified",
         _ca_file, SessionSettings.ca_file, {"metavar": "PATH"}),
    Flag("printer.ftps", "read each job's 3MF over the printer's FTPS (port 990) for its "
         "filament plan; --no-printer.ftps for farms that do not want it",
         _env("printer.ftps"), f"default {'on' if SessionSettings.ftps else 'off'}",
         _ftps, SessionSettings.ftps,
         {"action": argparse.BooleanOptionalAction, "default": None}),
    Flag("filament.prices", "filament prices per kg by material or profile, YAML "
         "(docs/job-files.md); re-read when it changes", _env("filament.prices"), None,
         _prices, SessionSettings.filament_prices, {"metavar": "PATH"}),
)

FLAGS: tuple[Flag, ...] = (
    Flag("web.listen-address", "address to serve on, HOST:PORT; repeat it to serve on "
         "several (the variable takes them comma-separated)", _env("web.listen-address"),
         f"default :{DEFAULT_PORT}", argparse={"metavar": "HOST:PORT", "action": "append"}),
    Flag("web.systemd-socket", "serve on the sockets systemd hands over (socket activation, "
         "deploy/systemd/) instead of --web.listen-address",
         argparse={"action": "store_true", "default": None}),
    Flag("web.telemetry-path", "path of the metrics", _env("web.telemetry-path"), None,
         parse_telemetry_path, "/metrics", {"metavar": "PATH"}),
    Flag("printers.file", "YAML printer list (re-read when it changes)", _env("printers.file"),
         argparse={"metavar": "PATH"}),
    Flag("database-url", "PostgreSQL URL or DSN holding the `printers` table; otherwise "
         "DB_HOST DB_PORT DB_NAME DB_USER DB_PASSWORD/DB_PASSWORD_FILE, or PG* variables",
         _env("database-url"), argparse={"metavar": "URL"}),
    Flag("demo", "serve a simulated demo fleet (no printers needed)",
         argparse={"action": "store_true", "default": None}),
    Flag("demo.printers", "printers in the demo fleet", None, None, parse_demo_printers, 12,
         {"metavar": "N"}),
    Flag("demo.first-address", "loopback address of the first demo printer; the others "
         "follow", None, None, parse_demo_first_address, "127.0.80.1", {"metavar": "IP"}),
    *PRINTER_FLAGS,
    _duration("inventory.timeout", "longest a scrape waits for the printer list, then the "
              "last good list is used", 2.0, 0.05),
    Flag("log.level", "debug, info, warning or error", _env("log.level"), None,
         parse_log_level, "info", {"metavar": "LEVEL"}),
    Flag("log.format", "text (time level logger: message), logfmt or json (one object per "
         "line)", _env("log.format"), None, parse_log_format, "text", {"metavar": "FORMAT"}),
    Flag("shard.count", "exporters sharing one printer list, each holding a disjoint slice "
         "chosen by a stable hash of the serial", _env("shard.count"), "default 1",
         argparse={"metavar": "N"}),
    Flag("shard.index", "this exporter's slice, 0..N-1; when not given with a count above "
         "1, the host name's -<ordinal> (a StatefulSet pod's name)", _env("shard.index"),
         argparse={"metavar": "I"}),
    Flag("hms.text-file", "Bambu's HMS and print error texts, saved from Bambu's HMS "
         "service (JSON; re-read when it changes): descriptions on HMS and print error "
         "series", _env("hms.text-file"), None, _hms_text_file, None, {"metavar": "PATH"}),
    Flag("web.dashboard-url", "each printer's dashboard, linked from the pages: {printer} "
         "and {serial} in it are filled in", _env("web.dashboard-url"), None, _dashboard_url,
         "", {"metavar": "URL"}),
    Flag("web.config.file", "TLS and basic auth for the web server, in the Prometheus "
         "exporter-toolkit format; re-read when it changes", _env("web.config.file"), None,
         _web_config_file, None, {"metavar": "PATH"}),
    Flag("workers", "processes sharing the printers' sessions, by a hash of the serial; 1 "
         "keeps one process", _env("workers"), "default: one per CPU this process may use, "
         f"at most {DEFAULT_WORKERS_CAP}", parse_workers, None, {"metavar": "N"}),
    _duration("workers.timeout", "longest a scrape or the landing page waits for the worker "
              "processes' answers, all of them together; a worker that misses it is "
              "restarted and its printers shown not up meanwhile", 3.0, 0.1),
    _duration("attention.plate-waiting", "on the landing page, a plate waiting to be "
              "cleared (FINISH or FAILED) longer than this needs attention", 900.0, 1.0),
)
FLAG = {flag.name: flag for flag in FLAGS}
# flag -> environment variable that sets it when the flag is not given
ENVIRONMENT: dict[str, str] = {flag.name: flag.env for flag in FLAGS if flag.env}


@dataclass(frozen=True)
class Settings:
    listen_host: str = "0.0.0.0"
    listen_port: int = DEFAULT_PORT
    printers_file: str | None = None
    database: Mapping[str, Any] | None = None   # postgres params; holds the password: never log
    demo: bool = False
    demo_printers: int = FLAG["demo.printers"].value
    demo_first_address: str = FLAG["demo.first-address"].value
    printer: SessionSettings = field(default_factory=SessionSettings)   # whole to the sessions
    inventory_timeout: float = FLAG["inventory.timeout"].value
    log_level: str = FLAG["log.level"].value
    shard: Shard = Shard()  # this exporter's slice of the printer list
    hms_text_file: str | None = None   # Bambu's HMS/print_error texts, saved by the user
    dashboard_url: str = ""   # --web.dashboard-url: a printer's dashboard, {printer} {serial}
    web_config_file: str | None = None   # TLS and basic auth (exporter-toolkit format)
    workers: int = 1
    workers_timeout: float = FLAG["workers.timeout"].value   # all a scrape waits on workers
    # Exporter conventions: every --web.listen-address (the first is listen_host/port;
    # empty: just that one), sockets from systemd instead, the scrape path, the log format.
    listen_addresses: tuple[tuple[str, int], ...] = ()
    systemd_socket: bool = False
    telemetry_path: str = FLAG["web.telemetry-path"].value
    log_format: str = FLAG["log.format"].value
    # The landing page: a plate waiting (FINISH or FAILED) longer than this needs a hand.
    plate_waiting: float = FLAG["attention.plate-waiting"].value

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        return self.listen_addresses or ((self.listen_host, self.listen_port),)

    def __repr__(self) -> str:  # the database params hold a password
        return (f"Settings(listen={self.listen_host}:{self.listen_port}, "
                f"printers_file={self.printers_file!r}, database={'set' if self.database else None}, "
                f"demo={self.demo})")


def read(flags: Mapping[str, Any], environ: Mapping[str, str], name: str) -> Any:
    """A flag with a parser: its value from the command line, else its variable, else
    its default; a ConfigError naming the flag or the variable when bad."""
    flag = FLAG[name]
    assert flag.parse is not None, name
    where, given = _value(flags, environ, name)
    return flag.value if given is None or given == "" else flag.parse(where, given)


def session_settings(flags: Mapping[str, Any], environ: Mapping[str, str],
                     only: Collection[str] | None = None) -> SessionSettings:
    """The printer sessions' settings, built once from the command line and handed whole
    to the fleet, the worker processes and `probe` (which offers `only` some of the
    printer flags: the others keep their defaults)."""
    def get(name: str) -> Any:
        return read(flags, environ, name) if only is None or name in only else FLAG[name].value

    return SessionSettings(staleness=get("printer.staleness"),
                           pushall_interval=get("printer.pushall-interval"),
                           connect_timeout=get("printer.connect-timeout"),
                           ca_file=get("printer.ca-file"), ftps=get("printer.ftps"),
                           filament_prices=get("filament.prices"))
