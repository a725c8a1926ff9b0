"""End to end: `python -m exporter` against simulated printers that behave as real (or
broken) firmware does: refused subscriptions, broken MQTT, a CONNACK flood, sessions cut
before or right after CONNACK, garbage after one good report, a silent printer that serves
one client at a time, a lower-case serial in the list.

The web port is a free port on 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporter.simulator import Fault, PrinterHandle, SimulatedFleet
from tests.support.addresses import AddressPool
from tests.support.e2e import (
    ExporterProcess,
    Samples,
    clean_env,
    free_port,
    http_get,
    parse_samples,
    value,
    wait_until,
)

pytestmark = pytest.mark.tier("e2e")

STALENESS = 4   # seconds: the silent printer is named within the test's time
QUIRKS = ("refuse_subscribe", "no_suback", "bad_mqtt", "connack_flood", "close_before_connack",
          "drop_at_connack", "garbage_after_first", "silent", "tls13_deaf")


@dataclass
class Setup:
    fleet: SimulatedFleet
    exporter: ExporterProcess
    base: str
    inventory: Path
    rows: list[dict[str, str]]
    by_fault: dict[str, PrinterHandle]
    healthy: PrinterHandle
    lower: PrinterHandle

    def samples(self) -> Samples:
        return parse_samples(http_get(self.base + "/metrics").text)

    def write_rows(self) -> None:
        # YAML is a superset of JSON: the rows go out as they are, lower case included.
        self.inventory.write_text(json.dumps({"printers": self.rows}))


@pytest.fixture(scope="module")
def setup(addresses: AddressPool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    fleet = SimulatedFleet(count=len(QUIRKS) + 2, first_address=addresses.take(len(QUIRKS) + 2).first,
                           seed=140,
                           life=False, models=["X1C"], faults={q: 1 for q in QUIRKS}).start()
    exporter = None
    try:
        by_fault = {q: fleet.with_fault(Fault(q))[0] for q in QUIRKS}
        healthy, lower = [h for h in fleet.printers() if not h.faults]
        by_fault["silent"].inject(Fault.ONE_CLIENT)
        rows = [{"name": r.name, "ip": r.ip, "serial": r.serial, "access_code": r.access_code}
                for r in fleet.records]
        for row in rows:
            if row["serial"] == lower.serial:
                row["serial"] = row["serial"].lower()
        # The same printer again, its serial differing only in case: a duplicate.
        rows.append(dict(next(r for r in rows if r["serial"] == healthy.serial),
                         name="case-twin", serial=healthy.serial.lower()))
        inventory = tmp_path_factory.mktemp("real-firmware") / "printers.yaml"
        port = free_port()
        setup = Setup(fleet, None, f"http://127.0.0.1:{port}", inventory, rows,  # type: ignore[arg-type]
                      by_fault, healthy, lower)
        setup.write_rows()
        exporter = ExporterProcess(
            ["--printers.file", str(inventory), "--web.listen-address", f"127.0.0.1:{port}",
             "--printer.staleness", f"{STALENESS}s", "--printer.connect-timeout", "2s",
             "--workers", "1"], clean_env())
        setup.exporter = exporter
        exporter.wait_serving(setup.base)
        yield setup
    finally:
        if exporter is not None:
            exporter.stop()
            exporter.cleanup()
        fleet.stop()


def errors(setup: Setup, handle: PrinterHandle, reason: str) -> float:
    return value(setup.samples(), "bambu_printer_connection_errors_total",
                 serial=handle.serial, reason=reason) or 0.0


def up(setup: Setup, handle: PrinterHandle) -> float | None:
    return value(setup.samples(), "bambu_printer_up", serial=handle.serial)


def test_a_printer_deaf_to_tls13_comes_up(setup: Setup) -> None:
    printer = setup.by_fault["tls13_deaf"]
    wait_until(lambda: up(setup, printer) == 1, 15, what="the TLS-1.3-deaf printer up")
    assert errors(setup, printer, "timeout") == 0


def test_a_refused_subscription_is_refused_not_up_and_said(setup: Setup) -> None:
    printer = setup.by_fault["refuse_subscribe"]
    wait_until(lambda: errors(setup, printer, "refused") >= 1, 15, what="refused counted")
    assert up(setup, printer) == 0
    assert "refused the subscription" in setup.exporter.stderr


def test_no_suback_within_the_connect_timeout_is_refused(setup: Setup) -> None:
    printer = setup.by_fault["no_suback"]
    wait_until(lambda: errors(setup, printer, "refused") >= 1, 15, what="refused counted")
    assert up(setup, printer) == 0
    assert any(printer.serial in line and "no SUBACK within 2s" in line
               for line in setup.exporter.stderr.splitlines())


def test_qos_3_is_a_protocol_error_logged_once(setup: Setup) -> None:
    printer = setup.by_fault["bad_mqtt"]
    wait_until(lambda: errors(setup, printer, "protocol") >= 2, 20, what="protocol counted")
    assert up(setup, printer) == 0
    lines = [line for line in setup.exporter.stderr.splitlines()
             if printer.serial in line and "QoS 3" in line]
    assert len(lines) == 1, lines


def test_a_connack_flood_is_a_protocol_error_and_costs_no_memory(setup: Setup) -> None:
    printer = setup.by_fault["connack_flood"]
    wait_until(lambda: errors(setup, printer, "protocol") >= 2, 20, what="protocol counted")
    samples = setup.samples()
    # One CONNACK taken per session, each session ended by the second: the back-off
    # spaces them; the old client counted a connect (and queued commands) per CONNACK.
    assert (value(samples, "bambu_printer_connects_total", serial=printer.serial) or 0) < 10
    assert "second CONNACK" in setup.exporter.stderr
    rss = value(samples, "process_resident_memory_bytes")
    assert rss is not None and rss < 200 * 2**20
    print(f"exporter RSS under the CONNACK flood: {rss / 2**20:.0f} MiB")


def test_a_session_closed_before_connack_is_counted_and_logged(setup: Setup) -> None:
    printer = setup.by_fault["close_before_connack"]
    wait_until(lambda: errors(setup, printer, "dropped") >= 1, 15, what="dropped counted")
    assert any(printer.serial in line and "before CONNACK" in line
               for line in setup.exporter.stderr.splitlines())


def test_a_printer_that_drops_at_connack_is_retried_with_a_growing_back_off(
        setup: Setup) -> None:
    printer = setup.by_fault["drop_at_connack"]
    wait_until(lambda: errors(setup, printer, "dropped") >= 3, 20, what="drops counted")
    first = printer.accepted
    # Waits of 1, 2, 4, 8 s (each drawn from its upper half) once the back-off grows;
    # reset at every CONNACK it stayed under a second, some 12 connections in 10 s.
    wait_until(lambda: printer.accepted >= first + 1, 20, what="another attempt")
    samples_before = printer.accepted
    time.sleep(10)
    assert printer.accepted - samples_before <= 4


def test_garbage_after_one_good_report_goes_stale(setup: Setup) -> None:
    printer = setup.by_fault["garbage_after_first"]
    wait_until(lambda: (value(setup.samples(), "bambu_printer_last_report_timestamp_seconds",
                              serial=printer.serial) or 0) > 0, 15, what="its one good report")
    wait_until(lambda: (value(setup.samples(), "bambu_printer_message_errors_total",
                              serial=printer.serial, reason="json") or 0) >= 1,
               15, what="garbage counted")
    wait_until(lambda: up(setup, printer) == 0, 3 * STALENESS, what="stale")
    assert printer.connections == 1   # still connected, still talking, only not sense


def test_a_lower_case_serial_reads_the_printer_under_its_upper_case_label(
        setup: Setup) -> None:
    wait_until(lambda: up(setup, setup.lower) == 1, 15, what="lower-case row up")
    labels = {dict(ls).get("serial") for (n, ls), _ in setup.samples().items()
              if n == "bambu_printer_up"}
    assert setup.lower.serial.lower() not in labels


def test_a_case_only_duplicate_is_rejected_as_duplicate(setup: Setup) -> None:
    assert value(setup.samples(), "bambu_inventory_rejected_rows_total",
                 reason="duplicate_serial") == 1
    wait_until(lambda: up(setup, setup.healthy) == 1, 15, what="the first row's printer up")


def test_a_silent_one_client_printer_is_named_once_and_never_churned(setup: Setup) -> None:
    printer = setup.by_fault["silent"]
    wait_until(lambda: errors(setup, printer, "silent") == 1, 4 * STALENESS, what="silent")
    lines = [line for line in setup.exporter.stderr.splitlines()
             if printer.serial in line and "silent" in line]
    assert len(lines) == 1 and f"device/{printer.serial}/report" in lines[0], lines
    # Renamed in the list: the label changes, the session (one TCP connection) stays.
    for row in setup.rows:
        if row["serial"] == printer.serial:
            row["name"] = "renamed-silent"
    setup.write_rows()
    wait_until(lambda: value(setup.samples(), "bambu_printer_up",
                             printer="renamed-silent") is not None, 15, what="the rename")
    time.sleep(2 * STALENESS)
    assert errors(setup, printer, "silent") == 1
    assert printer.connections == 1
    assert printer.accepted == 1
