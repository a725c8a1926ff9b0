"""Whatever one printer or one row of the list holds, the scrape goes on for the rest: the
collector end to end with a YAML list, simulated printers over TLS MQTT,
the exposition /metrics serves, and the real promtool. (Issue 10, "Why" 1, 2 and 6.)"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from exporter.fleet.local_fleet import LocalFleet
from exporter.fleet.sessions import Fleet
from exporter.inventory.printer_list import Inventory
from exporter.inventory.record import PrinterRecord
from exporter.inventory.yaml_file import YamlSource
from exporter.logs import EscapingFormatter
from exporter.metrics.collector import FleetCollector
from exporter.metrics.exposition import render
from exporter.printer.session import PrinterSession, SessionSettings
from exporter.printer.status import PrinterStatus
from exporter.simulator import SimulatedFleet
from tests.support.addresses import AddressPool
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("e2e")

SETTINGS = SessionSettings(staleness=10.0, pushall_interval=300.0, connect_timeout=2.0,
                           reconnect_max_delay=1)
HUGE = 10 ** 400
# As json.dumps writes an emoji; PyYAML reads it as two lone surrogates, not one character.
PRINTER_EMOJI = "\\ud83d\\udda8"
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


@pytest.fixture(scope="module")
def fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    fleet = SimulatedFleet(count=4, first_address=addresses.take(4).first, seed=23, life=False,
                           models=["P1S", "X1C"])
    fleet.start()
    yield fleet
    fleet.stop()


class Farm:
    def __init__(self, path: Path, fleet: Fleet) -> None:
        self.inventory = Inventory(YamlSource(path), timeout=2.0)
        self.fleet = fleet
        self.registry = CollectorRegistry()
        self.registry.register(FleetCollector(self.inventory, LocalFleet(self.fleet)))

    def scrape(self) -> str:
        """What /metrics serves (the exposition module /metrics renders with)."""
        return render(self.registry, openmetrics=False).decode("utf-8")

    def close(self) -> None:
        self.fleet.close(timeout=2.0)
        self.inventory.close()


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """The exporter's log as the CLI writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EscapingFormatter(LOG_FORMAT))
    logger = logging.getLogger("exporter")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def promtool_check(text: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: ./scripts/system-deps installs it"
    result = subprocess.run([promtool, "check", "metrics"], input=text.encode("utf-8"),
                            capture_output=True, timeout=60)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


def yaml_row(name: str, ip: str, serial: str, code: str) -> str:
    return f'  - name: "{name}"\n    ip: "{ip}"\n    serial: "{serial}"\n' \
           f'    access_code: "{code}"\n'


def test_hostile_values_and_names_cost_nothing_but_their_own_series(
        fleet: SimulatedFleet, tmp_path: Path, log: io.StringIO) -> None:
    emoji, forged, huge, _ = fleet.records
    path = tmp_path / "printers.yaml"
    path.write_text("printers:\n"
                    + yaml_row(f"{PRINTER_EMOJI} bay 1", emoji.ip, emoji.serial, emoji.access_code)
                    # a wrong code, so the session logs a warning with this name in it
                    + yaml_row("evil\\nWARNING exporter: forged line", forged.ip,
                               forged.serial, "00000000")
                    + yaml_row("huge", huge.ip, huge.serial, huge.access_code)
                    + yaml_row("any", "0.0.0.0", "S-ANY", "1")
                    + yaml_row("broadcast", "255.255.255.255", "S-BC", "1")
                    + yaml_row("multicast", "224.0.0.251", "S-MC", "1"))
    farm = Farm(path, Fleet(lambda record: PrinterSession(record, SETTINGS)))
    try:
        # X1 firmware says the bed twice (flat and in print.device): both are huge.
        fleet.printer(huge.serial).update({"print": {
            "bed_temper": HUGE, "device": {"bed": {"info": {"temp": HUGE}}},
            "subtask_name": "a\ud800b"}})
        name = "\U0001f5a8 bay 1"

        def both_up() -> dict:
            found = samples(farm.scrape())
            return found if (value(found, "bambu_printer_up", printer=name,
                                   serial=emoji.serial) == 1
                             and value(found, "bambu_printer_up", printer="huge",
                                       serial=huge.serial) == 1) else {}

        found = wait_until(both_up, what="printers up")
        wait_until(lambda: value(samples(farm.scrape()), "bambu_printer_connection_errors_total",
                                 printer="evil\nWARNING exporter: forged line",
                                 serial=forged.serial, reason="auth"),
                   what="the wrong code refused")
        for _ in range(3):
            text = farm.scrape()
        promtool_check(text)
        found = samples(text)
        assert value(found, "bambu_printer_temperature_celsius", printer="huge",
                     serial=huge.serial, sensor="bed") is None
        assert value(found, "bambu_printer_temperature_celsius", printer="huge",
                     serial=huge.serial, sensor="nozzle") is not None
        # Three unusable addresses, each counted once however often the list is read.
        assert value(found, "bambu_inventory_rejected_rows_total", reason="bad_address") == 3
        assert value(found, "bambu_exporter_collect_errors_total") == 0
        lines = log.getvalue().splitlines()
        assert all(line.split(" ", 1)[0] in {"INFO", "WARNING", "ERROR"} for line in lines), lines
        assert not any(line.startswith("WARNING exporter: forged") for line in lines)
        assert any("evil\\nWARNING exporter: forged line" in line for line in lines)
        rejections = [line for line in lines if "skipping a printer row" in line]
        assert len(rejections) == 3
        assert "unspecified" in rejections[0] and "broadcast" in rejections[1] \
            and "multicast" in rejections[2]
    finally:
        farm.close()


class BrokenSession(PrinterSession):
    """A session whose status cannot be built, whatever the cause."""

    def status(self, now: float) -> PrinterStatus:
        raise RuntimeError("cannot read this printer")


def test_a_printer_that_cannot_be_read_is_left_out_counted_and_logged_once(
        fleet: SimulatedFleet, tmp_path: Path, log: io.StringIO) -> None:
    good, bad = fleet.records[2], fleet.records[3]
    path = tmp_path / "printers.yaml"
    path.write_text("printers:\n" + yaml_row("good", good.ip, good.serial, good.access_code)
                    + yaml_row("bad", bad.ip, bad.serial, bad.access_code))

    def session(record: PrinterRecord) -> PrinterSession:
        kind = BrokenSession if record.serial == bad.serial else PrinterSession
        return kind(record, SETTINGS)

    farm = Farm(path, Fleet(session))
    try:
        found = wait_until(lambda: (f := samples(farm.scrape())) and value(
            f, "bambu_printer_up", printer="good", serial=good.serial) == 1 and f,
            what="the good printer up")
        before = value(found, "bambu_exporter_collect_errors_total")
        assert before is not None and before >= 1
        assert not [key for key in found if dict(key[1]).get("serial") == bad.serial]
        text = farm.scrape()
        promtool_check(text)
        assert value(samples(text), "bambu_exporter_collect_errors_total") == before + 1
        failures = [line for line in log.getvalue().splitlines() if "cannot read" in line]
        assert len(failures) == 1, failures
        assert "bad" in failures[0] and bad.serial in failures[0]
        # The landing page reads the same guarded statuses.
        assert [s.serial for s in farm.fleet.statuses(time.time())] == [good.serial]
    finally:
        farm.close()
