"""End-to-end tests of the HTTP surface: real HTTP against a running exporter.cli.Exporter
whose sessions talk TLS MQTT, through the unmodified bambulabs_api, to simulated printers.

The web server listens on a free port.
"""

from __future__ import annotations

import gzip
import html
import re
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)

from exporter.cli import Exporter
from exporter.config import Settings
from exporter.printer.session import SessionSettings
from exporter.printer.words import state_words
from exporter.simulator import Fault, SimulatedFleet
from exporter.simulator.inventory_out import write_yaml
from exporter.simulator.printer import SimulatedRecord
from tests.support.addresses import AddressPool
from tests.support.e2e import current_state, fleet_table, http_get, parse_samples, value, wait_until

pytestmark = pytest.mark.tier("e2e")

# A printer name from a database nobody here controls: it must come out as text.
EVIL_NAME = '<script>alert("bambu")</script><b>x1c'
STATES = {0: "RUNNING", 1: "PAUSE", 2: "FAILED", 3: "FINISH"}  # by index; others stay IDLE


class Running:
    def __init__(self, fleet: SimulatedFleet, exporter: Exporter,
                 records: list[SimulatedRecord]) -> None:
        self.fleet = fleet
        self.exporter = exporter
        self.records = records
        self.base = f"http://127.0.0.1:{exporter.web.port}"
        self.offline = {h.serial for h in fleet.with_fault(Fault.OFFLINE)}
        self.expected_state = {}
        for i, record in enumerate(records):
            if record.serial in self.offline:
                self.expected_state[record.serial] = "OFFLINE"
            else:
                self.expected_state[record.serial] = STATES.get(i, "IDLE")


@pytest.fixture(scope="module")
def running(addresses: AddressPool) -> Iterator[Running]:
    fleet = SimulatedFleet(count=6, first_address=addresses.take(6).first, seed=40, life=False,
                           faults={"offline": 1})
    fleet.start()
    exporter = None
    tmp = tempfile.TemporaryDirectory(prefix="bambu-web-")
    try:
        records = []
        for i, record in enumerate(fleet.inventory_records()):
            name = EVIL_NAME if i == 4 else record.name
            records.append(SimulatedRecord(name, record.ip, record.serial, record.access_code,
                                           record.model))
            if i in STATES and Fault.OFFLINE not in fleet.printer(record.serial).faults:
                fleet.printer(record.serial).set_state(STATES[i])
        printers_file = Path(tmp.name) / "printers.yaml"
        write_yaml(printers_file, records)
        settings = Settings(listen_host="127.0.0.1", listen_port=0,
                            printers_file=str(printers_file),
                            printer=SessionSettings(staleness=5.0))
        exporter = Exporter(settings)
        exporter.start()
        env = Running(fleet, exporter, records)

        def settled() -> bool:
            samples = parse_samples(http_get(env.base + "/metrics").text)
            return all(current_state(samples, serial) == state
                       for serial, state in env.expected_state.items())
        wait_until(settled, 30, what="every printer to report its state")
        yield env
    finally:
        if exporter is not None:
            exporter.stop()
        fleet.stop()
        tmp.cleanup()


def test_metrics_default_is_prometheus_text(running: Running) -> None:
    resp = http_get(running.base + "/metrics")
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "content-encoding" not in resp.headers
    text = resp.text
    assert "# EOF" not in text
    assert "# HELP bambu_printer_up " in text
    assert "# TYPE bambu_printer_up gauge" in text
    samples = parse_samples(text)
    for record in running.records:
        up = value(samples, "bambu_printer_up", serial=record.serial, printer=record.name)
        assert up == (0.0 if record.serial in running.offline else 1.0), record
        assert current_state(samples, record.serial) == running.expected_state[record.serial]
    assert value(samples, "bambu_inventory_up") == 1.0
    assert value(samples, "bambu_inventory_printers") == len(running.records)


def test_metrics_openmetrics_when_asked(running: Running) -> None:
    resp = http_get(running.base + "/metrics",
                    {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("application/openmetrics-text")
    assert "version=1.0.0" in resp.headers["content-type"]
    text = resp.text
    assert text.endswith("# EOF\n")
    # The strict OpenMetrics parser rejects anything malformed (it needs the # EOF too).
    families = {f.name: f for f in openmetrics_families(text)}
    assert "bambu_printer_up" in families
    assert families["bambu_printer_connects"].type == "counter"
    ups = {s.labels["serial"]: s.value for s in families["bambu_printer_up"].samples}
    assert set(ups) == {r.serial for r in running.records}


@pytest.mark.parametrize("accept", ["application/openmetrics-text; version=1.a",
                                    "application/openmetrics-text; version=1..0",
                                    "text/plain; version=x"])
def test_a_bad_accept_header_falls_back_to_the_text_format(
        running: Running, caplog: pytest.LogCaptureFixture, accept: str) -> None:
    # version=1.a was a 500 with a traceback from client_python's choose_encoder
    resp = http_get(running.base + "/metrics", {"Accept": accept})
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# HELP bambu_printer_up " in resp.text
    assert not [r for r in caplog.records if r.exc_info]


def test_metrics_gzip_when_accepted(running: Running) -> None:
    resp = http_get(running.base + "/metrics", {"Accept-Encoding": "gzip"})
    assert resp.status == 200
    assert resp.headers.get("content-encoding") == "gzip"
    assert resp.body[:2] == b"\x1f\x8b"
    text = gzip.decompress(resp.body).decode()
    samples = parse_samples(text)
    assert {dict(ls)["serial"] for (n, ls) in samples if n == "bambu_printer_up"} == \
        {r.serial for r in running.records}


def test_healthz(running: Running) -> None:
    resp = http_get(running.base + "/healthz")
    assert resp.status == 200
    assert resp.text.strip() == "ok"


@pytest.mark.parametrize("path", ["/nope", "/metrics/extra", "/favicon.ico", "/healthz/x"])
def test_unknown_path_is_404(running: Running, path: str) -> None:
    resp = http_get(running.base + path)
    assert resp.status == 404
    assert "/metrics" in resp.text  # says where to go


def test_landing_page_lists_every_printer(running: Running) -> None:
    resp = http_get(running.base + "/")
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert 'href="/metrics"' in resp.text
    rows = {row["Serial"]: row for row in fleet_table(resp.text)}
    assert set(rows) == {r.serial for r in running.records}
    for record in running.records:
        row = rows[record.serial]
        assert row["Name"] == record.name
        assert row["State"] == state_words(running.expected_state[record.serial])
        if record.serial in running.offline:
            assert row["Up"] == "no"
            assert row["Last report"] == "never"
            assert row["Last error"], "an offline printer should say why"
        else:
            assert row["Up"] == "yes"
            assert re.fullmatch(r"\d+ s ago", row["Last report"]), row
            assert int(row["Last report"].split()[0]) <= 5
    up = len(running.records) - len(running.offline)
    assert f'<span id="up-count">{up}</span>' in resp.text
    assert f'<span id="printer-count">{len(running.records)}</span>' in resp.text


def test_landing_page_filters_and_gzip(running: Running) -> None:
    resp = http_get(running.base + "/?state=OFFLINE", {"Accept-Encoding": "gzip"})
    assert resp.status == 200 and resp.headers.get("content-encoding") == "gzip"
    rows = fleet_table(gzip.decompress(resp.body).decode())
    assert {row["Serial"] for row in rows} == running.offline
    assert all(row["Needs attention"].startswith("offline: ") for row in rows)
    plain = http_get(running.base + "/?q=" + running.records[0].serial)
    assert "content-encoding" not in plain.headers
    assert [row["Serial"] for row in fleet_table(plain.text)] == [running.records[0].serial]


def test_printer_name_is_escaped_on_the_page(running: Running) -> None:
    page = http_get(running.base + "/").text
    assert "<script" not in page.lower()
    assert "<b>x1c" not in page
    assert html.escape(EVIL_NAME) in page
    # escaped, not mangled: the cell reads exactly the name
    names = [row["Name"] for row in fleet_table(page)]
    assert EVIL_NAME in names
    # and in the exposition it is a label value like any other
    samples = parse_samples(http_get(running.base + "/metrics").text)
    assert value(samples, "bambu_printer_up", printer=EVIL_NAME) == 1.0


def test_process_metrics_present(running: Running) -> None:
    samples = parse_samples(http_get(running.base + "/metrics").text)
    rss = value(samples, "process_resident_memory_bytes")
    assert rss is not None and rss > 1_000_000
    start = value(samples, "process_start_time_seconds")
    assert start is not None and 0 < time.time() - start < 3600
    assert any(n == "python_info" for n, _ in samples)
    assert any(n.startswith("python_gc_") for n, _ in samples)
    build = [dict(ls) for (n, ls) in samples if n == "bambu_exporter_build_info"]
    assert len(build) == 1 and build[0]["version"] and build[0]["bambulabs_api_version"]


def test_concurrent_scrapes_all_succeed(running: Running) -> None:
    serials = {r.serial for r in running.records}

    def scrape(i: int) -> str:
        path = "/" if i % 4 == 3 else "/metrics"
        headers = {"Accept-Encoding": "gzip"} if i % 4 == 1 else {}
        resp = http_get(running.base + path, headers, timeout=20)
        if resp.status != 200:
            return f"{path}: HTTP {resp.status}"
        body = gzip.decompress(resp.body) if resp.headers.get("content-encoding") else resp.body
        text = body.decode()
        if path == "/":
            got = {row["Serial"] for row in fleet_table(text)}
        else:
            got = {dict(ls)["serial"] for (n, ls) in parse_samples(text)
                   if n == "bambu_printer_up"}
        return "ok" if got == serials else f"{path}: printers {sorted(got)}"

    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(scrape, range(120)))
    failures = [r for r in results if r != "ok"]
    assert not failures, failures[:5]
    # the sessions survived the storm: still one per printer, nothing re-created
    samples = parse_samples(http_get(running.base + "/metrics").text)
    for record in running.records:
        if record.serial not in running.offline:
            assert value(samples, "bambu_printer_connects_total", serial=record.serial) == 1.0


def test_landing_page_follows_the_printer_list_without_a_scrape(addresses: AddressPool,
                                                                tmp_path: Path) -> None:
    # Someone setting up the exporter adds a printer to the list and reloads `/`
    # (Prometheus may not scrape yet): the page says "Fleet: N of M up", so it must
    # show the list as it is, not as the last /metrics scrape left it.
    fleet = SimulatedFleet(count=3, first_address=addresses.take(3).first, seed=41, life=False).start()
    exporter = None
    try:
        printers_file = tmp_path / "printers.yaml"
        write_yaml(printers_file, fleet.records[:2])
        exporter = Exporter(Settings(listen_host="127.0.0.1", listen_port=0,
                                     printers_file=str(printers_file),
                            printer=SessionSettings(staleness=5.0)))
        exporter.start()
        base = f"http://127.0.0.1:{exporter.web.port}"
        wait_until(lambda: [r["Up"] for r in fleet_table(http_get(base + "/").text)]
                   == ["yes", "yes"], 20, what="the first two printers up on the page")
        write_yaml(printers_file, fleet.records)  # a third printer joins the list
        added = fleet.records[2].serial
        try:
            wait_until(lambda: added in {r["Serial"] for r in
                                         fleet_table(http_get(base + "/").text)},
                       10, what="the added printer on the page")
        except AssertionError:
            shown_after_scrape = http_get(base + "/metrics").status == 200 and added in {
                r["Serial"] for r in fleet_table(http_get(base + "/").text)}
            raise AssertionError(
                "a printer added to the list never appeared on `/` while nothing scraped "
                f"/metrics (after one /metrics scrape it is shown: {shown_after_scrape})"
            ) from None
    finally:
        if exporter is not None:
            exporter.stop()
        fleet.stop()
