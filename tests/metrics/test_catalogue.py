"""metrics.py: statuses -> families; a golden exposition, linted by the real promtool."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from exporter.metrics.catalogue import (
    CATALOGUE,
    ExporterStatus,
    InventoryStatus,
    described,
    exporter_samples,
    families,
    fleet_samples,
    inventory_samples,
    printer_samples,
)
from exporter.printer.snapshot import snapshot
from exporter.printer.status import PrinterStatus
from tests.support import payloads

GOLDEN = Path(__file__).parent / "golden" / "metrics.prom"


def _x1c() -> PrinterStatus:
    report = payloads.x1c_running()
    report["print"]["hms"] = [{"attr": 0x07008200, "code": 0x00020004},
                              {"attr": 0x0C004000, "code": 0x00010001}]
    return PrinterStatus(name="farm-x1c-1", serial="00M09A350100001", ip="192.0.2.10",
                         model="X1C", firmware="01.09.00.01", up=True, connected=True,
                         last_report=1764000000.5, snapshot=snapshot(report, "X1C"),
                         connects=2, connection_errors={"dropped": 1},
                         message_errors={"json": 2, "too_large": 1}, truncations={"text": 1},
                         prints={"finished": 4, "failed": 1})


def _p1s() -> PrinterStatus:
    return PrinterStatus(name="p1s \"quoted\" name", serial="01P00A000000002", ip="192.0.2.11",
                         model="P1S", firmware="01.08.02.00", up=True, connected=True,
                         last_report=1764000001.0, snapshot=snapshot(payloads.p1s_idle(), "P1S"),
                         connects=1)


def _h2d() -> PrinterStatus:
    return PrinterStatus(name="h2d", serial="0940000000000003", ip="192.0.2.12", model="H2D",
                         firmware="01.01.00.00", up=True, connected=True,
                         last_report=1764000002.0, snapshot=snapshot(payloads.h2d_running(), "H2D"),
                         connects=1)


def _offline() -> PrinterStatus:
    # Was up once (it has a snapshot), now stale: none of that telemetry may show.
    return PrinterStatus(name="a1-down", serial="039000000000004", ip="192.0.2.13", model="A1",
                         firmware="", up=False, connected=False, last_report=1763990000.0,
                         snapshot=snapshot(payloads.p1s_idle(), "A1"), connects=1,
                         connection_errors={"refused": 7, "timeout": 2})


def _exposition() -> str:
    samples = fleet_samples([_x1c(), _p1s(), _h2d(), _offline()], lambda s, e: None)
    samples += inventory_samples(InventoryStatus(up=True, printers=4, errors=1,
                                                 rejected={"bad_address": 2}))
    samples += exporter_samples(ExporterStatus("0.1.0", "2.6.6", 0, 0.012))
    registry = CollectorRegistry()

    class Fixed:
        def collect(self):  # noqa: ANN202 - prometheus_client protocol
            return families(samples)

    registry.register(Fixed())
    return generate_latest(registry).decode()


def test_golden_exposition() -> None:
    text = _exposition()
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "exposition changed; UPDATE_GOLDEN=1 after review"


def test_golden_exposition_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: ./scripts/system-deps installs it"
    result = subprocess.run([promtool, "check", "metrics"], input=_exposition(), text=True,
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


def test_state_is_one_hot_and_offline_printer_shows_no_telemetry() -> None:
    allowed = {"bambu_printer_up", "bambu_printer_info", "bambu_printer_state",
               "bambu_printer_last_report_timestamp_seconds", "bambu_printer_connects_total",
               "bambu_printer_connection_errors_total", "bambu_printer_message_errors_total",
               "bambu_printer_prints_total"}
    offline = printer_samples(_offline())
    assert {name for name, _, _ in offline} == allowed
    states = {labels[2]: value for name, labels, value in offline if name == "bambu_printer_state"}
    assert states.pop("OFFLINE") == 1 and set(states.values()) == {0}
    running = {labels[2]: value for name, labels, value in printer_samples(_x1c())
               if name == "bambu_printer_state"}
    assert running["RUNNING"] == 1 and sum(running.values()) == 1 and running["OFFLINE"] == 0


def test_hms_counts_by_severity() -> None:
    counts = {labels[2]: value for name, labels, value in printer_samples(_x1c())
              if name == "bambu_printer_hms_errors"}
    assert counts == {"fatal": 1, "serious": 1, "common": 0, "info": 0, "unknown": 0}
    info = sorted(labels[2:] for name, labels, _ in printer_samples(_x1c())
                  if name == "bambu_printer_hms_error_info")
    assert info == [("0700_8200_0002_0004", "serious", "ams"),
                    ("0C00_4000_0001_0001", "fatal", "xcam")]


def test_one_printers_failure_leaves_only_it_out() -> None:
    broken = PrinterStatus(name="broken", serial="X", ip="", model="", firmware="", up=True,
                           connected=True, last_report=1.0, snapshot="not a snapshot")  # type: ignore[arg-type]
    failed: list[str] = []
    samples = fleet_samples([broken, _p1s()], lambda status, exc: failed.append(status.name))
    assert failed == ["broken"]
    names = {labels[0] for _, labels, _ in samples}
    assert names == {_p1s().name}   # nothing half-written for the broken one


def test_openmetrics_exposition_parses() -> None:
    registry = CollectorRegistry()

    class Fixed:
        def collect(self):  # noqa: ANN202
            return families(printer_samples(_x1c()))

    registry.register(Fixed())
    text = generate_openmetrics(registry).decode()
    assert text.endswith("# EOF\n")
    assert 'bambu_printer_connects_total{printer="farm-x1c-1",serial="00M09A350100001"} 2.0' in text


def test_describe_names_what_collect_serves() -> None:
    assert [m.name for m in described()] == [m.name for m in families([])]


@pytest.mark.parametrize("status", [_x1c(), _p1s(), _h2d()])
def test_every_sample_label_count_matches_its_spec(status: PrinterStatus) -> None:
    specs = {spec.name: spec for spec in CATALOGUE}
    for name, labels, _ in printer_samples(status):
        assert len(labels) == len(specs[name].label_names), name
