"""Command line: `bambu-exporter [serve]`, `status`, `simulate`.

The CLI builds every object and hands them to each other (no module-level state):
source -> Inventory -> Fleet of PrinterSessions -> FleetCollector -> registry -> WebServer.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from exporter import __version__
from exporter.config import (
    FLAG,
    FLAGS,
    Flag,
    Settings,
    session_settings,
    settings_from,
)
from exporter.errors import ConfigError
from exporter.fleet.cpu_quota import cpu_limit
from exporter.fleet.local_fleet import LocalFleet
from exporter.fleet.open_files import raise_to_hard_limit
from exporter.fleet.sessions import Fleet, FleetUpkeep, session_fleet
from exporter.fleet.worker_messages import WorkerSetup
from exporter.fleet.worker_metrics import WorkerProcessCollector
from exporter.fleet.workers import WorkerPool
from exporter.http_server.listeners import bind_listeners
from exporter.http_server.server import WebServer
from exporter.http_server.server_core import ServerLimits
from exporter.http_server.server_metrics import WebServerCollector
from exporter.http_server.systemd_socket import systemd_sockets
from exporter.inventory.printer_list import Inventory, describe_source
from exporter.inventory.record import InventorySource
from exporter.inventory.shard import describe_slice
from exporter.logs import configure as configure_logs
from exporter.metrics.catalogue import no_text
from exporter.metrics.collector import FleetCollector, RenderedFleet
from exporter.metrics.memory import Allocator
from exporter.printer.error_texts import ErrorTexts
from exporter.printer.network_loop import GIL_SWITCH_INTERVAL, NetworkLoop
from exporter.printer.offline_reason import OfflineReason
from exporter.text import file_kind
from exporter.version import version_text
from exporter.web.app import make_app
from exporter.web.healthcheck import HEALTHCHECK_ENVIRONMENT, PROBES
from exporter.web.healthcheck import run as run_healthcheck

COMMANDS = ("serve", "status", "simulate", "probe", "healthcheck", "hms-texts")
log = logging.getLogger("exporter")


def build_parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"bambu-exporter {command}" if command != "serve" else "bambu-exporter",
        description=("Prometheus exporter for fleets of Bambu Lab printers. Commands: serve "
                     "(default), status (one line per printer), probe (one printer, step by "
                     "step: `bambu-exporter probe --help`), healthcheck (asks this host's "
                     "exporter /-/ready through its TLS and auth, for container and pod "
                     "probes), hms-texts fetch (saves Bambu's HMS and print error texts "
                     "for --hms.text-file: `bambu-exporter hms-texts fetch --help`), "
                     "simulate (a fleet of emulated printers: `bambu-exporter "
                     "simulate --help`)."),
        epilog="A flag whose help shows (env VARIABLE) can also be set by that environment "
               "variable (the flag wins); the others only on the command line.")

    def flag(name: str, help_text: str, **kwargs: Any) -> None:
        env = HEALTHCHECK_ENVIRONMENT.get(name)
        suffix = f" (env {env})" if env else ""
        parser.add_argument(f"--{name}", dest=name, help=help_text + suffix, **kwargs)

    for declared in FLAGS:
        add_flag(parser, declared)
    if command == "status":
        parser.add_argument("--timeout", default="10s", metavar="DURATION",
                            help="how long to wait for first reports (default 10s)")
    if command == "healthcheck":
        parser.add_argument("--probe", choices=sorted(PROBES), default="ready",
                            help="ready: /-/ready (readiness), healthy: /-/healthy (liveness) "
                                 "(default ready)")
        parser.add_argument("--timeout", default="5s", metavar="DURATION",
                            help="how long to wait for the answer (default 5s)")
        flag("healthcheck.user", "basic auth user of the probe (default: the web config's "
             "only user)", metavar="USER")
        flag("healthcheck.password-file", "file holding that user's password", metavar="PATH")
        flag("healthcheck.client-cert", "client certificate (PEM) when the web config requires "
             "one", metavar="PATH")
        flag("healthcheck.client-key", "its key (PEM)", metavar="PATH")
    parser.add_argument("--version", action=VersionAction)
    return parser


def add_flag(parser: argparse.ArgumentParser, flag: Flag) -> None:
    parser.add_argument(f"--{flag.name}", dest=flag.name, help=flag.help_text,
                        **flag.argparse)


class VersionAction(argparse.Action):
    """--version: version, revision, Python and the dependencies (exporter.version)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version, revision, Python and dependencies, and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(version_text())
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args and args[0] in COMMANDS else "serve"
    if command == "simulate":
        # The simulator owns its flags; imported lazily so serving never loads it.
        from exporter.simulator.command import main as simulate_main
        return simulate_main(args)
    if command == "probe":
        return run_probe(args)
    if command == "hms-texts":
        return run_hms_texts(args)
    parsed = vars(build_parser(command).parse_args(args))
    if command == "healthcheck":
        return run_healthcheck(parsed)
    try:
        settings = settings_from(parsed, os.environ)
        status_timeout = None
        if command == "status":
            from exporter.config import parse_positive_duration
            status_timeout = parse_positive_duration("--timeout", parsed["timeout"], 0.1)
    except ConfigError as exc:
        print(f"bambu-exporter: error: {exc}", file=sys.stderr)
        return 2
    configure_logs(settings.log_level, log_format=settings.log_format)
    raise_to_hard_limit()   # one socket per printer: 1024 is too few for a large fleet
    if command == "status":
        assert status_timeout is not None
        return run_status(settings, status_timeout)
    return run_serve(settings)


# ------------------------------------------------------------------------ wiring

# One printer each: an HMS warning, a serious HMS message, a failed print, a pause on a
# filament run-out, a wrong access code in the list, and one that cannot be reached.
DEMO_TROUBLE = ("hms", "hms_serious", "fail", "runout", "wrong_code", "offline")


class Demo:
    """An in-process simulated fleet and the YAML list it writes, for --demo; with the
    simulator's stand-in of Bambu's HMS texts service, and the words fetched from it as
    `hms-texts fetch` does, so that the demo shows words."""

    def __init__(self, printers: int, first_address: str, ftps: bool = False) -> None:
        from exporter.simulator import SimulatedFleet
        from exporter.simulator.texts_service import TextsService
        self._dir = tempfile.TemporaryDirectory(prefix="bambu-demo-")
        self.inventory = Path(self._dir.name) / "printers.yaml"
        self.texts_file = Path(self._dir.name) / "hms-texts.json"
        self.texts = TextsService(first_address, 0)
        faults: dict[str, float] = {}
        if printers >= 6:  # show what trouble looks like on the page, dashboards, alerts
            faults = dict.fromkeys(DEMO_TROUBLE, 1)
        self.fleet = SimulatedFleet(count=printers, first_address=first_address, seed=7,
                                    speed=1.0, faults=faults, ftps=ftps)

    def start(self) -> Path:
        from exporter.printer import hms_fetch
        from exporter.printer.hms_service import prefixes_of
        self.fleet.start()
        self.fleet.write_inventory_yaml(self.inventory)
        self.texts.start()
        service = hms_fetch.Service.parse(self.texts.url)
        try:
            fetched = hms_fetch.fetch(service, prefixes_of(r.serial for r in self.fleet.records),
                                      ["en"], 2.0, time.monotonic() + 10.0)
            hms_fetch.write_atomically(str(self.texts_file),
                                       hms_fetch.encode(fetched, service, time.time()))
            log.info("demo: words for HMS codes fetched from the stand-in of Bambu's texts "
                     "service at %s", self.texts.url)
        except (hms_fetch.FetchError, ValueError, OSError) as exc:
            log.warning("demo: no words for HMS codes: %s", exc)
        return self.inventory

    def stop(self) -> None:
        self.texts.stop()
        self.fleet.stop()
        self._dir.cleanup()


def start_demo(settings: Settings) -> tuple[Demo | None, str | None]:
    """With --demo: the running simulated fleet and the printer list it wrote. Raises
    ConfigError naming --demo.first-address when its addresses are taken (a second demo)."""
    if not settings.demo:
        return None, None
    # job files on port 990 need root (or CAP_NET_BIND_SERVICE) to serve
    demo = Demo(settings.demo_printers, settings.demo_first_address,
                ftps=settings.printer.ftps and os.geteuid() == 0)
    try:
        return demo, str(demo.start())
    except OSError as exc:
        demo.stop()
        raise ConfigError(
            f"--demo.first-address {settings.demo_first_address}: the demo's "
            f"{settings.demo_printers} printer addresses from there cannot be served "
            f"({exc.strerror or exc}; another --demo running?): give another one, e.g. "
            "--demo.first-address 127.0.90.1") from None


def make_source(settings: Settings, printers_file: str | None) -> InventorySource:
    """The printer list's source. A --printers.file that is not there stops start-up
    (ConfigError): serving 0 printers, green, would hide the typo."""
    if printers_file:
        from exporter.inventory.yaml_file import YamlSource
        where = f"--printers.file (or BAMBU_PRINTERS_FILE) {printers_file!r}"
        try:
            mode = os.stat(printers_file).st_mode
        except FileNotFoundError:
            raise ConfigError(f"{where}: no such file") from None
        except OSError as exc:
            raise ConfigError(f"{where}: {exc.strerror or 'cannot be read'}") from None
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{where}: {file_kind(mode)}, not a regular file: the "
                              "printer list must be a regular file (it is re-read on every "
                              "scrape)")
        return YamlSource(printers_file)
    from exporter.inventory.postgres import PostgresSource
    assert settings.database is not None
    return PostgresSource(settings.database)


def make_fleet(settings: Settings, network: NetworkLoop) -> Fleet:
    """Sessions on `network`, all sharing one TLS context."""
    return session_fleet(settings.printer, network)


def make_worker_pool(settings: Settings, texts: ErrorTexts | None) -> WorkerPool:
    """--workers N > 1: N processes own the sessions; this one serves HTTP and joins,
    and hands the workers the HMS texts it parsed."""
    return WorkerPool(settings.workers, WorkerSetup(
        index=0, session=settings.printer, log_level=settings.log_level,
        log_format=settings.log_format),
        reply_timeout=settings.workers_timeout, texts=texts)


def listening_sockets(settings: Settings) -> list[socket.socket]:
    """The web server's sockets: systemd's with --web.systemd-socket (ConfigError when
    there are none), else one bound per --web.listen-address (OSError)."""
    if settings.systemd_socket:
        return systemd_sockets()
    return bind_listeners(settings.addresses, ServerLimits().backlog)


# Docker sends SIGKILL 10 s after SIGTERM. Closing waits on no printer (a handshake in
# progress is dropped, connected sessions send a DISCONNECT at once); these bound the
# waits on our own threads so that a stuck one cannot take shutdown past 5 s.
SHUTDOWN_SESSIONS_WAIT = 3.0
SHUTDOWN_LOOP_WAIT = 1.0


class Exporter:
    """Everything `serve` runs, built from Settings; start() then stop()."""

    def __init__(self, settings: Settings, printers_file: str | None = None) -> None:
        self.settings = settings
        # --hms.text-file: a malformed file raises ConfigError naming the flag.
        self.error_texts = (ErrorTexts(settings.hms_text_file)
                            if settings.hms_text_file else None)
        self.source = make_source(settings, printers_file or settings.printers_file)
        self.inventory = Inventory(self.source, timeout=settings.inventory_timeout,
                                   shard=settings.shard)
        self.network: NetworkLoop | None = None
        self.upkeep: FleetUpkeep | None = None
        self.fleet: Fleet | WorkerPool
        if settings.workers > 1:
            self.fleet = make_worker_pool(settings, self.error_texts)
        else:
            self.network = NetworkLoop()
            self.fleet = make_fleet(settings, self.network)
            self.upkeep = FleetUpkeep(self.fleet)
        rendered: RenderedFleet = (LocalFleet(self.fleet, texts=self.error_texts)
                                   if isinstance(self.fleet, Fleet) else self.fleet)
        self.collector = FleetCollector(self.inventory, rendered, texts=self.error_texts)
        self.registry = CollectorRegistry()
        self.registry.register(self.collector)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        # The page re-reads the list like a scrape does (bounded by the inventory timeout),
        # so it shows printers added or removed even while nothing scrapes /metrics.
        self.allocator = Allocator()
        app = make_app(self.registry, self.collector.refresh, describe_source(self.source),
                       inventory_up=lambda: self.inventory.up,
                       shard_line=lambda: describe_slice(self.inventory.shard,
                                                         len(self.inventory.records),
                                                         self.inventory.listed),
                       after_scrape=self.allocator.trim,
                       telemetry_path=settings.telemetry_path, ready=self.not_ready,
                       describe=(self.error_texts.describe if self.error_texts is not None
                                 else no_text),
                       plate_waiting=settings.plate_waiting,
                       dashboard_template=settings.dashboard_url)
        self.web = WebServer(app, web_config_file=settings.web_config_file,
                             listeners=listening_sockets(settings),
                             telemetry_path=settings.telemetry_path)
        self.registry.register(WebServerCollector(self.web.core))
        if isinstance(self.fleet, WorkerPool):
            self.registry.register(WorkerProcessCollector(self.fleet.pids))

    def not_ready(self) -> str | None:
        """/-/ready: None once the printer list was read and every worker answers."""
        if self.inventory.last_success_time is None:
            return f"the printer list was never read ({self.inventory.last_error or 'reading'})"
        if isinstance(self.fleet, WorkerPool):
            silent = self.fleet.silent_workers()
            if silent:
                return f"worker(s) {', '.join(map(str, silent))} do not answer"
        return None

    def start(self) -> None:
        if isinstance(self.fleet, WorkerPool):
            self.fleet.start()
        if self.network is not None:
            self.network.start()
        self.collector.refresh()  # connect now rather than at the first scrape
        if self.upkeep is not None:
            self.upkeep.start()
        self.web.start()

    def stopping(self) -> None:
        """From a signal handler: stop() follows; workers must not be restarted meanwhile."""
        if isinstance(self.fleet, WorkerPool):
            self.fleet.stopping()

    def stop(self) -> None:
        self.web.stop()
        if self.upkeep is not None:
            self.upkeep.stop()
        # with workers: each worker closes its own sessions, in the same bound
        self.fleet.close(timeout=SHUTDOWN_SESSIONS_WAIT)
        if self.network is not None:
            self.network.stop(timeout=SHUTDOWN_LOOP_WAIT)
        self.inventory.close()


def run_serve(settings: Settings) -> int:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    Allocator().return_large_allocations()   # scrapes build and free multi-megabyte strings
    try:
        demo, printers_file = start_demo(settings)
    except ConfigError as exc:
        print(f"bambu-exporter: error: {exc}", file=sys.stderr)
        return 1
    if demo is not None and settings.hms_text_file is None:
        settings = dataclasses.replace(settings, hms_text_file=str(demo.texts_file))
    try:
        try:
            exporter = Exporter(settings, printers_file)
        except OSError as exc:
            print(f"bambu-exporter: error: --web.listen-address {exc.strerror or exc}",
                  file=sys.stderr)
            return 1
        except ConfigError as exc:   # --hms.text-file that does not parse, no systemd socket
            print(f"bambu-exporter: error: {exc}", file=sys.stderr)
            return 2
        stop = threading.Event()

        def on_signal(*_: Any) -> None:
            stop.set()
            exporter.stopping()
        for signum in (signal.SIGTERM, signal.SIGINT):  # before start(): it may take a moment
            signal.signal(signum, on_signal)
        exporter.start()
        log.info("bambu-exporter %s listening on %s, printer list: %s, %s", __version__,
                 ", ".join(exporter.web.addresses), describe_source(exporter.source),
                 f"{settings.workers} worker processes" if settings.workers > 1
                 else "one process")
        log.info("CPUs: %s; %s", cpu_limit().describe(),
                 f"{settings.workers} worker processes" if settings.workers > 1
                 else "one process (--workers sets more)")
        if settings.shard.sharded:
            log.info("%s", describe_slice(settings.shard, len(exporter.inventory.records),
                                          exporter.inventory.listed))
        stop.wait()
        log.info("stopping: closing %d printer sessions", len(exporter.fleet))
        exporter.stop()
        return 0
    finally:
        if demo:
            demo.stop()


# The printer flags that mean something to one probe; the others keep their defaults.
PROBE_FLAGS = ("printer.ca-file", "printer.connect-timeout")


def run_probe(args: Sequence[str]) -> int:
    """`bambu-exporter probe --ip IP --serial SERIAL`: 0 when a report arrived, 1 when a
    step failed (the output names it and its fix), 2 for bad flags or no access code.
    The access code comes from BAMBU_ACCESS_CODE or a prompt: a command line is visible
    to every user of the machine."""
    import getpass

    from exporter.config import parse_positive_duration
    from exporter.printer.probe import probe

    parser = argparse.ArgumentParser(
        prog="bambu-exporter probe",
        description="Check one printer as the exporter would reach it, step by step: "
                    "address, TCP, TLS, CONNACK, SUBACK, first report, model and firmware. "
                    "The access code comes from BAMBU_ACCESS_CODE, else a prompt.")
    parser.add_argument("--ip", required=True, help="the printer's IP address (or host name)")
    parser.add_argument("--serial", required=True, help="the printer's serial number")
    for name in PROBE_FLAGS:
        add_flag(parser, FLAG[name])
    parser.add_argument("--timeout", default="15s", metavar="DURATION",
                        help="how long to wait for the first report (default 15s)")
    parser.add_argument("--json", action="store_true", help="the result as JSON")
    parsed = parser.parse_args(args)
    try:
        settings = session_settings(vars(parsed), os.environ, only=PROBE_FLAGS)
        report_timeout = parse_positive_duration("--timeout", parsed.timeout, 0.1)
    except ConfigError as exc:
        print(f"bambu-exporter probe: error: {exc}", file=sys.stderr)
        return 2
    code = os.environ.get("BAMBU_ACCESS_CODE", "")
    if not code:
        if not sys.stdin.isatty():
            print("bambu-exporter probe: error: no access code: set BAMBU_ACCESS_CODE "
                  "(it is never taken as an argument)", file=sys.stderr)
            return 2
        code = getpass.getpass("access code: ")
    result = probe(parsed.ip, parsed.serial, code.strip(), settings, report_timeout)
    print(result.as_json() if parsed.json else result.as_text(), flush=True)
    return 0 if result.ok else 1


def run_hms_texts(args: Sequence[str]) -> int:
    """`bambu-exporter hms-texts fetch`: 0 when the file was written, 1 when the service
    failed or answered something unusable (the file is kept as it was), 2 for bad flags
    or a printer list that cannot be read."""
    from exporter.config import parse_positive_duration
    from exporter.printer import hms_fetch, hms_service
    from exporter.printer.vocabulary import MODEL_SPECS

    parser = argparse.ArgumentParser(
        prog="bambu-exporter hms-texts",
        description="fetch: save Bambu's HMS and print error texts (from Bambu's HMS "
                    "service, as Bambu Studio asks it) into the file --hms.text-file "
                    "reads, for the serial prefixes of the printers in the list (or those "
                    "given) and the languages asked. The file is replaced only by a "
                    "complete, well-formed set; a running exporter re-reads it.",
        epilog="Exit status: 0 written, 1 the service failed or answered something "
               "unusable (the file is kept), 2 bad flags or an unreadable printer list.")
    parser.add_argument("action", choices=["fetch"])
    parser.add_argument("--hms.text-file", dest="text_file", metavar="PATH",
                        help="the file to write (env BAMBU_HMS_TEXT_FILE)")
    parser.add_argument("--hms.service-url", dest="service", metavar="URL",
                        help="the service's base URL (default "
                             f"{hms_service.DEFAULT_SERVICE}; env BAMBU_HMS_SERVICE_URL)")
    parser.add_argument("--lang", action="append", metavar="LANG",
                        help="a language, repeatable: en, de, fr, ja, zh-cn, ...; the "
                             "exporter shows the first (default en)")
    parser.add_argument("--prefix", action="append", metavar="SERIAL",
                        help="a serial or its first three characters, repeatable, instead "
                             "of the printer list's (with an empty list: every model's)")
    parser.add_argument("--printers.file", dest="printers_file", metavar="PATH",
                        help="YAML printer list (env BAMBU_PRINTERS_FILE); else the "
                             "database, as the exporter finds it")
    parser.add_argument("--database-url", dest="database_url", metavar="URL",
                        help="PostgreSQL URL (env BAMBU_DATABASE_URL, or DB_* variables)")
    parser.add_argument("--timeout", default="10s", metavar="DURATION",
                        help="each question's bound (default 10s)")
    parser.add_argument("--deadline", default="2m", metavar="DURATION",
                        help="the whole run's bound (default 2m)")
    parsed = parser.parse_args(args)
    environ = os.environ

    def fail(code: int, message: str) -> int:
        print(f"bambu-exporter hms-texts: error: {message}", file=sys.stderr)
        return code

    text_file = parsed.text_file or environ.get(FLAG["hms.text-file"].env or "", "").strip()
    if not text_file:
        return fail(2, "--hms.text-file: where to save the texts is not given")
    if not os.path.isdir(os.path.dirname(os.path.abspath(text_file))):
        return fail(2, f"--hms.text-file {text_file!r}: its directory does not exist")
    if os.path.exists(text_file) and not os.path.isfile(text_file):
        return fail(2, f"--hms.text-file {text_file!r}: not a regular file")
    try:
        service = hms_fetch.Service.parse(parsed.service or environ.get(
            "BAMBU_HMS_SERVICE_URL", "").strip() or hms_service.DEFAULT_SERVICE)
        languages = list(dict.fromkeys(hms_service.language(lang)
                                       for lang in parsed.lang or ["en"]))
        prefixes = sorted({hms_service.serial_prefix(p) for p in parsed.prefix or []})
        timeout = parse_positive_duration("--timeout", parsed.timeout, 0.1)
        deadline = time.monotonic() + parse_positive_duration("--deadline",
                                                              parsed.deadline, 1.0)
    except (ValueError, ConfigError) as exc:
        return fail(2, str(exc))
    if not prefixes:
        try:
            prefixes = listed_prefixes(parsed.printers_file, parsed.database_url)
        except ConfigError as exc:
            return fail(2, str(exc))
        if not prefixes:
            prefixes = sorted({spec.prefix for spec in MODEL_SPECS})
            print("the printer list is empty: fetching for every known model", flush=True)
        if len(prefixes) > MAX_TEXT_PREFIXES:
            print(f"{len(prefixes)} serial prefixes in the list: fetching for the first "
                  f"{MAX_TEXT_PREFIXES}", flush=True)
            prefixes = prefixes[:MAX_TEXT_PREFIXES]
    print(f"asking {service.origin}{service.base_path} for {', '.join(prefixes)} in "
          f"{', '.join(languages)}", flush=True)
    try:
        fetched = hms_fetch.fetch(service, prefixes, languages, timeout, deadline,
                                  say=lambda line: print(line, flush=True))
        content = hms_fetch.encode(fetched, service, time.time())
    except (hms_fetch.FetchError, ValueError) as exc:
        kept = "kept as it was" if os.path.exists(text_file) else "not written"
        return fail(1, f"{exc}; {text_file} {kept}")
    try:
        hms_fetch.write_atomically(text_file, content)
    except OSError as exc:
        return fail(1, f"cannot write {text_file}: {exc.strerror or exc}")
    counts = "; ".join(f"{lang}: {len(fetched.hms.get(lang, {}))} HMS and "
                       f"{len(fetched.errors.get(lang, {}))} print error texts"
                       for lang in languages)
    extra = ""
    if fetched.rejected or fetched.cleaned:
        extra = (f" ({fetched.rejected} entries skipped as unusable, "
                 f"{fetched.cleaned} texts with control characters cleaned)")
    print(f"saved {text_file}: {counts}{extra}", flush=True)
    return 0


# A printer list of random serials must not turn into thousands of questions.
MAX_TEXT_PREFIXES = 64


def listed_prefixes(printers_file: str | None, database_url: str | None) -> list[str]:
    """The serial prefixes of the printer list (ConfigError when it cannot be read)."""
    from exporter.printer.hms_service import prefixes_of

    flags = {"printers.file": printers_file, "database-url": database_url}
    settings = settings_from(flags, {k: v for k, v in os.environ.items()
                                     if k != FLAG["hms.text-file"].env})
    source = make_source(settings, settings.printers_file)
    inventory = Inventory(source, timeout=max(settings.inventory_timeout, 5.0))
    try:
        records = inventory.refresh()
        if not inventory.up:
            raise ConfigError(f"could not read the printer list: {inventory.last_error}")
        return prefixes_of(record.serial for record in records)
    finally:
        inventory.close()


def run_status(settings: Settings, timeout: float) -> int:
    """`name: STATE` per printer, as the seed meant; non-zero if any is unreachable."""
    try:
        demo, printers_file = start_demo(settings)
    except ConfigError as exc:   # the demo's addresses are taken
        print(f"bambu-exporter: error: {exc}", file=sys.stderr)
        return 1
    try:
        source = make_source(settings, printers_file or settings.printers_file)
    except ConfigError as exc:   # no such --printers.file
        print(f"bambu-exporter: error: {exc}", file=sys.stderr)
        if demo:
            demo.stop()
        return 2
    inventory = Inventory(source, timeout=max(settings.inventory_timeout, 5.0),
                          shard=settings.shard)
    network = NetworkLoop()
    network.start()
    fleet = make_fleet(settings, network)
    try:
        records = inventory.refresh()
        if not inventory.up:
            print(f"bambu-exporter: error: could not read the printer list: "
                  f"{inventory.last_error}", file=sys.stderr)
            return 2
        if not records:
            print(f"bambu-exporter: error: no printers in the list ({describe_source(source)})",
                  file=sys.stderr)
            return 1
        fleet.reconcile(records)
        deadline = time.monotonic() + timeout
        while True:
            statuses = fleet.statuses(time.time())
            settled = all(s.up or s.connection_errors.get(OfflineReason.AUTH) for s in statuses)
            if settled or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        for status in statuses:
            print(f"{status.name}: {status.state}", flush=True)
            if not status.up:
                why = status.last_error or "no report within the timeout"
                print(f"bambu-exporter: {status.name} ({status.ip}) unreachable: {why}",
                      file=sys.stderr)
        return 0 if all(s.up for s in statuses) else 1
    finally:
        fleet.close()
        network.stop()
        inventory.close()
        if demo:
            demo.stop()
