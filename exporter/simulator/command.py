"""`bambu-exporter simulate`: serve a simulated fleet until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import errno
import ipaddress
import os
import re
import signal
import sys
from collections.abc import Mapping
from typing import Any

from exporter.errors import ConfigError
from exporter.inventory.postgres import postgres_params
from exporter.simulator.faults import FAULT_NAMES, parse_amount
from exporter.simulator.fleet import SimulatedFleet
from exporter.simulator.models import MODELS, model_by_name
from exporter.simulator.texts_service import TextsService

FAULT_FLAGS = {  # flag -> name in SimulatedFleet(faults=...)
    "offline": "nothing listens on their addresses",
    "hung": "accept TCP, never finish the TLS handshake",
    "silent": "keep the session, answer PINGREQ, send nothing",
    "drop": "cut every session a couple of seconds after it starts",
    "garbage": "send non-JSON and non-object payloads between reports",
    "hms": "report HMS warnings",
    "hms-serious": "report a serious AMS HMS message",
    "runout": "pause on a filament run-out and stay paused",
    "fail": "fail their jobs and stay FAILED (print_error and a fatal HMS)",
    "wrong-code": "are listed in the inventory with a wrong access code",
    "tls13-deaf": "never answer a TLS ClientHello that offers TLS 1.3 (as P2S firmware)",
    "refuse-subscribe": "refuse every subscription (SUBACK 0x80)",
    "no-suback": "never answer a SUBSCRIBE",
    "one-client": "serve one client at a time and drop any other",
    "connack-flood": "send CONNACK again and again and read nothing",
    "bad-mqtt": "send a PUBLISH with QoS 3 after the SUBACK",
    "close-before-connack": "close the connection on CONNECT, without a CONNACK",
    "drop-at-connack": "cut the connection right after CONNACK",
    "garbage-after-first": "send one good report, then only garbage",
    "wrong-cn": "present a certificate of the simulator CA for another serial (--ca-dir)",
    "self-signed": "present a self-signed certificate (--ca-dir)",
    "sdcard": "report an abnormal SD card",
    "tangle": "report a filament tangle",
    "firmware-update": "offer a firmware update",
    "ftps-a1-data": "(--ftps) never answer TLS on a protected data channel (as A1 firmware)",
    "ftps-drip": "(--ftps) send job files a byte a second",
    "files-in-cache": "(--ftps) keep job files in /cache, as cloud prints",
    "no-storage": "(--ftps) have no SD card or USB drive: no job files",
    "file-late": "(--ftps) write a job's file seconds after the job starts",
    "big-3mf": "(--ftps) have 100 MB job files",
    "zip-bomb": "(--ftps) have job files whose slice_info.config inflates to 256 MiB",
    "xml-bomb": "(--ftps) have job files whose slice_info.config is an XML entity bomb",
    "subtask-lag": "(--ftps) name the previous job's file in subtask_name",
    "cancel-to-idle": "go from RUNNING or PAUSE straight back to IDLE when a job is cancelled "
                      "(as some firmware does)",
    "flapping": "flap from FINISH back to RUNNING twice at the end of each job",
    "plate-waiting": "keep finished plates waiting (FINISH or FAILED) until cleared",
    "boot-stage-zero": "rest after boot with stg_cur 0 and print_type idle (real firmware)",
}


# ASCII digits only: int() and float() also read "١٢" and "1_0".
_WHOLE = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def _seed(text: str) -> int:
    if not _WHOLE.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def _count(text: str) -> int:
    if not _WHOLE.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _speed(text: str) -> float:
    if not _DECIMAL.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    value = float(text)
    if not value > 0 or value > 100000:
        raise argparse.ArgumentTypeError(f"must be above 0 (and sane), got {text!r}")
    return value


def _address(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an IPv4 address, got {text!r}") from None


def _port(text: str) -> int:
    value = int(text) if _WHOLE.fullmatch(text.strip()) else -1
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 1..65535, got {text!r}")
    return value


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return _address(host or "127.0.0.1"), _port(port)


def _models(text: str) -> list[str]:
    names = [t for t in (p.strip() for p in text.split(",")) if t]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of models")
    try:
        return [model_by_name(n).code for n in names]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _amount(text: str) -> int | float:
    if not text.isascii():
        raise argparse.ArgumentTypeError(f"expected a count (3) or a share (0.1, 10%), "
                                         f"got {text!r}")
    try:
        return parse_amount(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bambu-exporter simulate",
        description="Serve a fleet of simulated Bambu Lab printers (TLS MQTT on port 8883 of "
                    "consecutive loopback addresses) until SIGINT or SIGTERM.")
    parser.add_argument("--printers", type=_count, default=20, metavar="N",
                        help="number of printers (default 20)")
    parser.add_argument("--first-address", type=_address, default="127.0.20.1", metavar="IP",
                        help="address of the first printer; the others follow (default "
                             "127.0.20.1; all of 127.0.0.0/8 is loopback on Linux)")
    parser.add_argument("--port", type=_port, default=8883, help="MQTT port (default 8883)")
    parser.add_argument("--models", type=_models, default=None, metavar="LIST",
                        help="models to mix, e.g. x1c,p1s,a1mini (default: all of "
                             + ",".join(m.slug for m in MODELS.values()) + ")")
    parser.add_argument("--seed", type=_seed, default=1, help="makes a run repeatable")
    parser.add_argument("--speed", type=_speed, default=1.0,
                        help="simulated seconds per second (default 1)")
    parser.add_argument("--no-life", action="store_true",
                        help="printers keep their state (no jobs running by themselves)")
    parser.add_argument("--inventory", metavar="PATH",
                        help="write the fleet as the exporter's --printers.file YAML")
    parser.add_argument("--ca-dir", metavar="DIR",
                        help="printers present certificates of a simulator CA, CN = serial; "
                             "its bundle is DIR/ca.pem (for the exporter's --printer.ca-file)")
    parser.add_argument("--ftps", action="store_true",
                        help="printers keep each job's 3MF and serve it over implicit FTPS "
                             "on port 990 (user bblp, the access code), as real ones do")
    parser.add_argument("--database-url", metavar="URL",
                        help="write the fleet into this PostgreSQL database's printers table "
                             "(replacing its rows)")
    parser.add_argument("--database", action="store_true",
                        help="the same, into the database the DB_HOST/DB_PORT/DB_NAME/DB_USER/"
                             "DB_PASSWORD(_FILE) (or PG*) variables name; without this flag "
                             "those variables are ignored")
    parser.add_argument("--texts-service", type=_host_port, default=None, metavar="HOST:PORT",
                        help="also serve a stand-in for Bambu's HMS texts service (our own "
                             "texts for every code the printers send) on this address, for "
                             "`bambu-exporter hms-texts fetch --hms.service-url "
                             "http://HOST:PORT`")
    faults = parser.add_argument_group(
        "faults", "each takes a count of printers (3) or a share of the fleet (0.1, 10%)")
    for flag, meaning in FAULT_FLAGS.items():
        faults.add_argument(f"--{flag}", type=_amount, default=None, metavar="N",
                            help=f"printers that {meaning}")
    return parser


def database_target(database_url: str | None, use_environment: bool,
                    environ: Mapping[str, str]) -> str | dict[str, Any] | None:
    """--database-url, or with --database the exporter's own DB_*/PG* variables; else None.

    The variables alone never select a database: someone with the exporter's DB_* exported
    must not wipe their real printer list by running the simulator."""
    if database_url:
        return database_url
    if not use_environment:
        return None
    params = postgres_params(environ)  # the same reading of DB_* as the exporter's
    if params is None:
        raise ConfigError("--database: set DB_HOST, DB_NAME, ... (or PG* variables) to say "
                          "which database, or use --database-url")
    return params


def ready_line(fleet: SimulatedFleet) -> str:
    first, last = fleet.records[0].ip, fleet.records[-1].ip
    span = first if first == last else f"{first}..{last}"
    return f"simulator: {len(fleet.records)} printers ready on {span}"


async def _serve(fleet: SimulatedFleet, inventory: str | None,
                 database: str | dict[str, Any] | None,
                 texts_address: tuple[str, int] | None = None) -> None:
    texts = TextsService(*texts_address).start() if texts_address else None
    try:
        await _serve_fleet(fleet, inventory, database, texts)
    finally:
        if texts is not None:
            texts.stop()


async def _serve_fleet(fleet: SimulatedFleet, inventory: str | None,
                       database: str | dict[str, Any] | None,
                       texts: TextsService | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await fleet.astart()
    try:
        if inventory:
            await loop.run_in_executor(None, fleet.write_inventory_yaml, inventory)
        if database is not None:
            await loop.run_in_executor(None, fleet.write_postgres, database)
        print(ready_line(fleet), flush=True)
        if texts is not None:
            print(f"simulator: HMS texts service stand-in on {texts.url}", flush=True)
        await stop.wait()
    finally:
        await fleet.astop()


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)  # exits 2 naming the flag on a bad value
    try:
        database = database_target(args.database_url, args.database, os.environ)
    except ConfigError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    faults = {name.replace("-", "_"): getattr(args, name.replace("-", "_"))
              for name in FAULT_FLAGS if getattr(args, name.replace("-", "_")) is not None}
    assert all(k in FAULT_NAMES for k in faults)
    try:
        fleet = SimulatedFleet(count=args.printers, first_address=args.first_address,
                               seed=args.seed, speed=args.speed, models=args.models,
                               life=not args.no_life, faults=faults, port=args.port,
                               ca_dir=args.ca_dir, ftps=args.ftps)
    except ValueError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(fleet, args.inventory, database, args.texts_service))
    except OSError as exc:
        hint = ""
        if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
            hint = (f" (--first-address {args.first_address}, --port {args.port}: another "
                    "simulator running? choose another --first-address)")
        print(f"simulate: {exc}{hint}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 1
    return 0
