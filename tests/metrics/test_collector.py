"""The collector end to end in-process: a real PostgreSQL `printers` table, simulated
printers over TLS MQTT, the real prometheus_client exposition."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter.fleet.local_fleet import LocalFleet
from exporter.fleet.sessions import Fleet
from exporter.inventory.postgres import PostgresSource
from exporter.inventory.printer_list import Inventory
from exporter.metrics.collector import FleetCollector
from exporter.printer.error_texts import ErrorTexts
from exporter.printer.session import PrinterSession, SessionSettings
from exporter.printer.snapshot import model_from_serial, snapshot
from exporter.simulator import Fault, SimulatedFleet
from tests.support.addresses import AddressPool
from tests.support.postgres import PostgresCluster
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("e2e")

HMS_TEXTS = Path(__file__).parents[1] / "support" / "hms_texts.json"
# A long connect timeout: a scrape that waited on the hung printer would show it.
SETTINGS = SessionSettings(staleness=5.0, pushall_interval=300.0, connect_timeout=30.0,
                           reconnect_max_delay=1)


class Scraper:
    def __init__(self, cluster: PostgresCluster, dbname: str) -> None:
        self.inventory = Inventory(PostgresSource(cluster.dsn(dbname)), timeout=2.0)
        self.fleet = Fleet(lambda record: PrinterSession(record, SETTINGS))
        self.registry = CollectorRegistry()
        self.texts = ErrorTexts(str(HMS_TEXTS))   # the shared test table
        rendered = LocalFleet(self.fleet, texts=self.texts)
        self.registry.register(FleetCollector(self.inventory, rendered, texts=self.texts))

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = generate_latest(self.registry).decode()
        out = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out

    def close(self) -> None:
        # Bounded: the hung printer's session cannot finish closing before its handshake
        # times out; its thread is a daemon.
        self.fleet.close(timeout=2.0)
        self.inventory.close()


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def printer_names(samples: dict) -> set[str]:
    return {dict(labels)["printer"] for name, labels in samples if name == "bambu_printer_up"}


@pytest.fixture
def farm(addresses: AddressPool, printers_db: tuple[PostgresCluster, str]
         ) -> Iterator[tuple[SimulatedFleet, Scraper, PostgresCluster, str]]:
    cluster, dbname = printers_db
    fleet = SimulatedFleet(count=8, first_address=addresses.take(8).first, seed=11, life=False,
                           models=["X1C", "P1S", "A1", "H2D"])
    fleet.start()
    p = fleet.printers()
    p[4].inject(Fault.OFFLINE)
    p[5].inject(Fault.HUNG)
    p[6].inject(Fault.WRONG_CODE)
    p[7].inject(Fault.GARBAGE_TEXT)
    fleet.write_postgres(cluster.dsn(dbname))
    scraper = Scraper(cluster, dbname)
    yield fleet, scraper, cluster, dbname
    scraper.close()
    fleet.stop()
    if not cluster.is_running():
        cluster.start()


def _all_healthy_up(scraper: Scraper, fleet: SimulatedFleet) -> dict:
    samples = scraper.scrape()
    healthy = [r for r in fleet.records[:4]] + [fleet.records[7]]
    ok = all(value(samples, "bambu_printer_up", printer=r.name, serial=r.serial) == 1
             for r in healthy)
    return samples if ok else {}


def test_the_whole_catalogue_with_the_printers_values(farm) -> None:  # noqa: ANN001
    fleet, scraper, _, _ = farm
    samples = wait_until(lambda: _all_healthy_up(scraper, fleet), what="healthy printers up")
    for record in fleet.records[:4]:
        ident = {"printer": record.name, "serial": record.serial}
        model = model_from_serial(record.serial)
        expected = snapshot(fleet.printer(record.serial).report(), model)
        assert value(samples, "bambu_printer_state", **ident, state=expected.state) == 1
        assert value(samples, "bambu_printer_state", **ident, state="OFFLINE") == 0
        for sensor, celsius in expected.temperatures:
            assert value(samples, "bambu_printer_temperature_celsius", **ident,
                         sensor=sensor) == celsius
        assert value(samples, "bambu_printer_wifi_signal_dbm", **ident) == expected.wifi_dbm
        assert value(samples, "bambu_printer_print_layers", **ident) == expected.layers
        info = [labels for name, labels in samples
                if name == "bambu_printer_info" and dict(labels)["serial"] == record.serial]
        assert len(info) == 1 and dict(info[0])["model"] == model and dict(info[0])["firmware"]
        assert value(samples, "bambu_printer_connects_total", **ident) == 1
        for tray in expected.trays:
            if tray.remaining is not None:
                assert value(samples, "bambu_ams_tray_remaining_ratio", **ident,
                             ams=tray.ams, tray=tray.tray) == pytest.approx(tray.remaining)
    assert value(samples, "bambu_inventory_up") == 1
    assert value(samples, "bambu_inventory_printers") == 8
    names = {name for name, _ in samples}
    for family in ("bambu_printer_fan_speed_ratio", "bambu_printer_nozzle_info",
                   "bambu_ams_tray_info", "bambu_printer_stage_info",
                   "bambu_exporter_build_info", "bambu_exporter_collect_duration_seconds",
                   "bambu_printer_print_progress_ratio", "bambu_printer_hms_errors",
                   "bambu_ams_humidity_index", "bambu_ams_temperature_celsius"):
        assert family in names, family


def test_broken_printers_are_offline_with_counted_errors_and_cost_the_scrape_nothing(farm) -> None:  # noqa: ANN001
    fleet, scraper, _, _ = farm
    offline, hung, wrong, garbage = fleet.records[4:8]

    def errors_seen() -> dict:
        s = scraper.scrape()
        return s if (value(s, "bambu_printer_connection_errors_total", printer=offline.name,
                           serial=offline.serial, reason="refused")
                     and value(s, "bambu_printer_connection_errors_total", printer=wrong.name,
                               serial=wrong.serial, reason="auth")
                     and value(s, "bambu_printer_message_errors_total", printer=garbage.name,
                               serial=garbage.serial, reason="json")) else {}

    started = time.monotonic()
    samples = wait_until(errors_seen, what="errors counted")
    # The hung printer's handshake is still pending (30 s connect timeout), yet every
    # scrape so far has returned: no scrape waited on it.
    assert time.monotonic() - started < SETTINGS.connect_timeout
    for record in (offline, hung, wrong):
        ident = {"printer": record.name, "serial": record.serial}
        assert value(samples, "bambu_printer_up", **ident) == 0
        assert value(samples, "bambu_printer_state", **ident, state="OFFLINE") == 1
        assert value(samples, "bambu_printer_temperature_celsius", **ident, sensor="nozzle") is None
    ident = {"printer": garbage.name, "serial": garbage.serial}
    wait_until(lambda: value(scraper.scrape(), "bambu_printer_up", **ident) == 1,
               what="garbage printer up")


def test_table_changes_are_picked_up_on_the_next_scrape(farm) -> None:  # noqa: ANN001
    fleet, scraper, cluster, dbname = farm
    wait_until(lambda: _all_healthy_up(scraper, fleet), what="healthy printers up")
    first, second = fleet.records[0], fleet.records[1]
    conn = cluster.connect(dbname)
    with conn.cursor() as cur:
        # rename: same session, new label
        cur.execute("UPDATE printers SET printer_name = 'renamed' WHERE printer_bambu_id = %s",
                    (first.serial,))
        # removed: its series go and its session closes with a DISCONNECT
        cur.execute("DELETE FROM printers WHERE printer_bambu_id = %s", (second.serial,))
    disconnects = fleet.printer(second.serial).disconnects
    samples = scraper.scrape()
    assert "renamed" in printer_names(samples) and first.name not in printer_names(samples)
    assert second.name not in printer_names(samples)
    assert value(samples, "bambu_printer_connects_total", printer="renamed",
                 serial=first.serial) == 1
    assert value(samples, "bambu_printer_up", printer="renamed", serial=first.serial) == 1
    wait_until(lambda: fleet.printer(second.serial).disconnects == disconnects + 1,
               timeout=5, what="DISCONNECT from the removed printer's session")

    with conn.cursor() as cur:
        # changed access code: the session is re-created (and now refused)
        cur.execute("UPDATE printers SET access_code = '99999999' WHERE printer_bambu_id = %s",
                    (first.serial,))
        # added back: a new session, up within a few seconds
        cur.execute("INSERT INTO printers (printer_name, printer_ip, printer_bambu_id, access_code)"
                    " VALUES (%s, %s, %s, %s)",
                    (second.name, second.ip, second.serial, second.access_code))
    conn.close()
    samples = wait_until(
        lambda: (s := scraper.scrape()) and value(
            s, "bambu_printer_up", printer=second.name, serial=second.serial) == 1
        and value(s, "bambu_printer_connection_errors_total", printer="renamed",
                  serial=first.serial, reason="auth") and s,
        timeout=10, what="re-added printer up and changed code refused")
    assert value(samples, "bambu_printer_up", printer="renamed", serial=first.serial) == 0
    assert value(samples, "bambu_printer_connects_total", printer="renamed",
                 serial=first.serial) == 0   # a new session: its counters start again


def test_database_outage_keeps_the_last_good_list(farm) -> None:  # noqa: ANN001
    fleet, scraper, cluster, _ = farm
    wait_until(lambda: _all_healthy_up(scraper, fleet), what="healthy printers up")
    cluster.stop()
    try:
        samples = scraper.scrape()
        assert value(samples, "bambu_inventory_up") == 0
        assert value(samples, "bambu_inventory_errors_total") >= 1
        assert value(samples, "bambu_inventory_printers") == 8
        assert len(printer_names(samples)) == 8
        first = fleet.records[0]
        assert value(samples, "bambu_printer_up", printer=first.name, serial=first.serial) == 1
    finally:
        cluster.start()
    wait_until(lambda: value(scraper.scrape(), "bambu_inventory_up") == 1, timeout=10,
               what="inventory recovered")


def test_hms_messages_carry_their_text(farm) -> None:  # noqa: ANN001
    fleet, scraper, _, _ = farm
    wait_until(lambda: _all_healthy_up(scraper, fleet), what="healthy printers up")
    record = fleet.records[0]
    fleet.printer(record.serial).inject(Fault.HMS)

    def described() -> list[tuple[str, str]]:
        return [(dict(labels)["code"], dict(labels)["description"])
                for name, labels in scraper.scrape()
                if name == "bambu_printer_hms_error_info" and dict(labels)["serial"] == record.serial]

    messages = wait_until(described, timeout=10, what="HMS messages")
    for code, description in messages:
        assert description == scraper.texts.describe(code) != "", code
    assert value(scraper.scrape(), "bambu_exporter_hms_text_rejected_entries_total") == 0
