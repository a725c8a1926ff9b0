"""Command line: `bambu-exporter [serve]`, `status`, `simulate`.

The CLI builds every object and hands them to each other (no module-level state):
source -> Inventory -> Fleet of PrinterSessions -> FleetCollector -> registry -> WebServer.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
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
    DEFAULT_PORT,
    DEFAULT_WORKERS_CAP,
    ENVIRONMENT,
    Settings,
    settings_from,
)
from exporter.errors import ConfigError
from exporter.fleet.reconcile import Fleet, FleetUpkeep, session_fleet
from exporter.fleet.worker_messages import WorkerSetup
from exporter.fleet.workers import WorkerPool
from exporter.inventory.last_good import Inventory, describe_source
from exporter.inventory.record import InventorySource
from exporter.inventory.shard import describe_slice
from exporter.logs import configure as configure_logs
from exporter.memory import Allocator
from exporter.metrics.collector import FleetCollector
from exporter.printer.error_texts import ErrorTexts
from exporter.printer.network_loop import GIL_SWITCH_INTERVAL, NetworkLoop
from exporter.web.app import make_app
from exporter.web.landing_page import no_text
from exporter.web.server import WebServer
from exporter.web.server_metrics import WebServerCollector

COMMANDS = ("serve", "status", "simulate")
log = logging.getLogger("exporter")


def build_parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"bambu-exporter {command}" if command != "serve" else "bambu-exporter",
        description=("Prometheus exporter for fleets of Bambu Lab printers. Commands: serve "
                     "(default), status (one line per printer), simulate (a fleet of "
                     "emulated printers: `bambu-exporter simulate --help`)."),
        epilog="Every flag can also be set by the environment variable shown in its help.")

    def flag(name: str, help_text: str, **kwargs: Any) -> None:
        env = ENVIRONMENT.get(name)
        suffix = f" (env {env})" if env else ""
        parser.add_argument(f"--{name}", dest=name, help=help_text + suffix, **kwargs)

    flag("web.listen-address", f"address to serve on, HOST:PORT (default :{DEFAULT_PORT})",
         metavar="HOST:PORT")
    flag("printers.file", "YAML printer list (re-read when it changes)", metavar="PATH")
    flag("database-url", "PostgreSQL URL or DSN holding the `printers` table; otherwise "
         "DB_HOST DB_PORT DB_NAME DB_USER DB_PASSWORD/DB_PASSWORD_FILE, or PG* variables",
         metavar="URL")
    flag("demo", "serve a simulated demo fleet (no printers needed)", action="store_true",
         default=None)
    flag("demo.printers", "printers in the demo fleet (default 12)", type=int, metavar="N")
    flag("demo.first-address", "loopback address of the first demo printer; the others "
         "follow (default 127.0.80.1)", metavar="IP")
    flag("printer.staleness", "a printer silent for longer is not up (default 60s)",
         metavar="DURATION")
    flag("printer.pushall-interval", "full-report requests at most this often; P1 printers "
         "lag when asked more often than every 5m (default 5m)", metavar="DURATION")
    flag("printer.connect-timeout", "TCP connect + TLS handshake timeout (default 5s)",
         metavar="DURATION")
    flag("inventory.timeout", "longest a scrape waits for the printer list, then the last "
         "good list is used (default 2s)", metavar="DURATION")
    flag("log.level", "debug, info, warning or error (default info)", metavar="LEVEL")
    flag("shard.count", "exporters sharing one printer list, each holding a disjoint slice "
         "chosen by a stable hash of the serial (default 1)", metavar="N")
    flag("shard.index", "this exporter's slice, 0..N-1; when not given with a count above 1, "
         "the host name's -<ordinal> (a StatefulSet pod's name)", metavar="I")
    flag("hms.text-file", "Bambu's HMS and print error texts, saved from Bambu's HMS "
         "service (JSON; re-read when it changes): descriptions on HMS and print error "
         "series", metavar="PATH")
    flag("web.config.file", "TLS and basic auth for the web server, in the Prometheus "
         "exporter-toolkit format; re-read when it changes", metavar="PATH")
    flag("workers", "processes sharing the printers' sessions, by a hash of the serial; 1 "
         "keeps one process (default: one per CPU this process may use, at most "
         f"{DEFAULT_WORKERS_CAP})", metavar="N")
    if command == "status":
        parser.add_argument("--timeout", default="10s", metavar="DURATION",
                            help="how long to wait for first reports (default 10s)")
    parser.add_argument("--version", action="version", version=f"bambu-exporter {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args and args[0] in COMMANDS else "serve"
    if command == "simulate":
        # The simulator owns its flags; imported lazily so serving never loads it.
        from exporter.simulator.command import main as simulate_main
        return simulate_main(args)
    parsed = vars(build_parser(command).parse_args(args))
    try:
        settings = settings_from(parsed, os.environ)
        status_timeout = None
        if command == "status":
            from exporter.config import parse_positive_duration
            status_timeout = parse_positive_duration("--timeout", parsed["timeout"], 0.1)
    except ConfigError as exc:
        print(f"bambu-exporter: error: {exc}", file=sys.stderr)
        return 2
    configure_logs(settings.log_level)
    raise_open_files_limit()
    if command == "status":
        assert status_timeout is not None
        return run_status(settings, status_timeout)
    return run_serve(settings)


# ------------------------------------------------------------------------ wiring

# One printer each: an HMS warning, a serious HMS message, a failed print, a pause on a
# filament run-out, a wrong access code in the list, and one that cannot be reached.
DEMO_TROUBLE = ("hms", "hms_serious", "fail", "runout", "wrong_code", "offline")


class Demo:
    """An in-process simulated fleet and the YAML list it writes, for --demo."""

    def __init__(self, printers: int, first_address: str) -> None:
        from exporter.simulator import SimulatedFleet
        self._dir = tempfile.TemporaryDirectory(prefix="bambu-demo-")
        self.inventory = Path(self._dir.name) / "printers.yaml"
        faults: dict[str, float] = {}
        if printers >= 6:  # show what trouble looks like on the page, dashboards, alerts
            faults = dict.fromkeys(DEMO_TROUBLE, 1)
        self.fleet = SimulatedFleet(count=printers, first_address=first_address, seed=7,
                                    speed=1.0, faults=faults)

    def start(self) -> Path:
        self.fleet.start()
        self.fleet.write_inventory_yaml(self.inventory)
        return self.inventory

    def stop(self) -> None:
        self.fleet.stop()
        self._dir.cleanup()


def start_demo(settings: Settings) -> tuple[Demo | None, str | None]:
    """With --demo: the running simulated fleet and the printer list it wrote."""
    if not settings.demo:
        return None, None
    demo = Demo(settings.demo_printers, settings.demo_first_address)
    return demo, str(demo.start())


def make_source(settings: Settings, printers_file: str | None) -> InventorySource:
    if printers_file:
        from exporter.inventory.yaml_file import YamlSource
        return YamlSource(printers_file)
    from exporter.inventory.postgres import PostgresSource
    assert settings.database is not None
    return PostgresSource(settings.database)


def make_fleet(settings: Settings, network: NetworkLoop) -> Fleet:
    """Sessions on `network`, all sharing one TLS context."""
    return session_fleet(settings.staleness, settings.pushall_interval,
                         settings.connect_timeout, network)


def make_worker_pool(settings: Settings) -> WorkerPool:
    """--workers N > 1: N processes own the sessions; this one serves HTTP and joins."""
    return WorkerPool(settings.workers, WorkerSetup(
        index=0, staleness=settings.staleness, pushall_interval=settings.pushall_interval,
        connect_timeout=settings.connect_timeout, log_level=settings.log_level,
        hms_text_file=settings.hms_text_file))


def raise_open_files_limit() -> None:
    """One socket per printer: a thousand printers need more than the usual soft limit
    of 1024 descriptors. Raise the soft limit to the hard one, as Go programs do."""
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > 65536:
            hard = 65536
        if soft != resource.RLIM_INFINITY and soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError) as exc:
        log.warning("could not raise the open files limit: %s", exc)



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
            self.fleet = make_worker_pool(settings)
        else:
            self.network = NetworkLoop()
            self.fleet = make_fleet(settings, self.network)
            self.upkeep = FleetUpkeep(self.fleet)
        self.collector = FleetCollector(self.inventory, self.fleet, texts=self.error_texts)
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
                       describe=(self.error_texts.describe if self.error_texts is not None
                                 else no_text))
        self.web = WebServer(app, settings.listen_host, settings.listen_port,
                             web_config_file=settings.web_config_file)
        self.registry.register(WebServerCollector(self.web.core))

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
    demo, printers_file = start_demo(settings)
    try:
        try:
            exporter = Exporter(settings, printers_file)
        except OSError as exc:
            print(f"bambu-exporter: error: --web.listen-address "
                  f"{settings.listen_host}:{settings.listen_port}: {exc.strerror or exc}",
                  file=sys.stderr)
            return 1
        except ConfigError as exc:   # --hms.text-file that does not parse
            print(f"bambu-exporter: error: {exc}", file=sys.stderr)
            return 2
        stop = threading.Event()

        def on_signal(*_: Any) -> None:
            stop.set()
            exporter.stopping()
        for signum in (signal.SIGTERM, signal.SIGINT):  # before start(): it may take a moment
            signal.signal(signum, on_signal)
        exporter.start()
        log.info("bambu-exporter %s listening on %s:%d, printer list: %s, %s", __version__,
                 settings.listen_host, exporter.web.port, describe_source(exporter.source),
                 f"{settings.workers} worker processes" if settings.workers > 1
                 else "one process")
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


def run_status(settings: Settings, timeout: float) -> int:
    """`name: STATE` per printer, as the seed meant; non-zero if any is unreachable."""
    demo, printers_file = start_demo(settings)
    source = make_source(settings, printers_file or settings.printers_file)
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
            settled = all(s.up or s.connection_errors.get("auth") for s in statuses)
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
