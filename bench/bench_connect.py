#!/usr/bin/env python3
"""Benchmark starting, connecting and closing printer sessions.

1. CPU per printer of building a session: `bambulabs_api.Printer()` (what sessions were
   built from), and `PrinterSession.start()` as it is now (no I/O: its loop is not
   running);
2. hung printers (TCP accepted, TLS never completes) against healthy ones: seconds until
   every healthy printer is up when the hung ones were started first;
3. closing every session while the hung handshakes are still waiting.

    python3 bench/bench_connect.py [--hung 100] [--healthy 40] [--connect-timeout 5]

Loopback only, simulated printers from 127.0.69.1 (--first-address), in this process.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bambulabs_api import Printer  # noqa: E402

from exporter.fleet.sessions import Fleet  # noqa: E402
from exporter.inventory.record import PrinterRecord  # noqa: E402
from exporter.printer.network_loop import NetworkLoop  # noqa: E402
from exporter.printer.session import (  # noqa: E402
    PrinterSession,
    SessionSettings,
    make_tls_context,
)
from exporter.simulator import Fault, SimulatedFleet  # noqa: E402


def build_cost(n: int) -> None:
    started = time.process_time()
    for i in range(n):
        Printer(f"192.0.2.{i % 250 + 1}", "12345678", f"01P00A{i:09d}")
    library = (time.process_time() - started) / n
    settings = SessionSettings(tls_context=make_tls_context())
    network = NetworkLoop()  # not started: start() queues its connect and returns
    started = time.process_time()
    for i in range(n):
        PrinterSession(PrinterRecord(f"p{i}", f"192.0.2.{i % 250 + 1}", f"01P00A{i:09d}",
                                     "12345678"), settings, network=network).start()
    ours = (time.process_time() - started) / n
    network.stop()
    print(f"build: bambulabs_api.Printer() {library * 1000:.2f} ms CPU per printer; "
          f"PrinterSession.start() {ours * 1000:.3f} ms ({n} each)")


def hung_against_healthy(hung: int, healthy: int, first_address: str,
                         connect_timeout: float) -> None:
    fleet = SimulatedFleet(count=hung + healthy, first_address=first_address, seed=69,
                           life=False, faults={"hung": hung}, models=["P1S", "X1C"])
    fleet.start()
    network = NetworkLoop()
    network.start()
    settings = SessionSettings(connect_timeout=connect_timeout,
                               tls_context=make_tls_context())
    sessions = Fleet(lambda record: PrinterSession(record, settings, network=network))
    try:
        hung_serials = {h.serial for h in fleet.with_fault(Fault.HUNG)}
        records = [PrinterRecord(r.name, r.ip, r.serial, r.access_code) for r in fleet.records]
        ordered = ([r for r in records if r.serial in hung_serials]
                   + [r for r in records if r.serial not in hung_serials])
        started = time.monotonic()
        sessions.reconcile(ordered)
        deadline = started + 20 * connect_timeout + 60
        while time.monotonic() < deadline:
            statuses = sessions.statuses(time.time())
            up = sum(1 for s in statuses if s.up)
            if up >= healthy:
                break
            time.sleep(0.05)
        took = time.monotonic() - started
        print(f"connect: {healthy} healthy printers up {took:.2f} s after start, "
              f"{hung} hung started first (connect timeout {connect_timeout:g} s)"
              + ("" if up >= healthy else f"; NOT REACHED: {up} up"))
        started = time.monotonic()
        sessions.close()
        network.stop()
        print(f"close: every session closed in {time.monotonic() - started:.2f} s "
              f"with {hung} handshakes hung")
    finally:
        sessions.close()
        network.stop()
        fleet.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hung", type=int, default=100)
    parser.add_argument("--healthy", type=int, default=40)
    parser.add_argument("--connect-timeout", type=float, default=5.0)
    parser.add_argument("--first-address", default="127.0.69.1")
    parser.add_argument("--build", type=int, default=200, help="printers built for (1)")
    args = parser.parse_args()
    build_cost(args.build)
    hung_against_healthy(args.hung, args.healthy, args.first_address, args.connect_timeout)


if __name__ == "__main__":
    main()
