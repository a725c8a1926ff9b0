"""End to end: `python -m exporter --printer.ca-file` against simulated printers whose
certificates come from the simulator's CA (CN = serial), one for another serial and one
self-signed, in one process and in worker processes: only the first is up, the others are
`certificate` errors saying why, and never receive a CONNECT (so never the access code).

The web port is a free port on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporter.simulator import Fault, PrinterHandle, SimulatedFleet
from tests.support.addresses import AddressPool
from tests.support.e2e import (
    ExporterProcess,
    clean_env,
    free_port,
    http_get,
    parse_samples,
    run_exporter,
    value,
    wait_until,
)

pytestmark = pytest.mark.tier("e2e")


@dataclass
class Setup:
    fleet: SimulatedFleet
    exporter: ExporterProcess
    base: str

    def value(self, name: str, **labels: str) -> float | None:
        return value(parse_samples(http_get(self.base + "/metrics").text), name, **labels)


@pytest.fixture(scope="module", params=["1", "2"], ids=["one-process", "two-workers"])
def setup(addresses: AddressPool, request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("certificates")
    fleet = SimulatedFleet(count=3, first_address=addresses.take(3).first, seed=142, life=False,
                           models=["P1S"], faults={"wrong_cn": 1, "self_signed": 1},
                           ca_dir=tmp / "ca").start()
    exporter = None
    try:
        inventory = tmp / "printers.yaml"
        fleet.write_inventory_yaml(inventory)
        port = free_port()
        assert fleet.ca_file is not None
        exporter = ExporterProcess(
            ["--printers.file", str(inventory), "--web.listen-address", f"127.0.0.1:{port}",
             "--printer.connect-timeout", "2s", "--workers", request.param],
            clean_env({"BAMBU_PRINTER_CA_FILE": str(fleet.ca_file)}))
        setup = Setup(fleet, exporter, f"http://127.0.0.1:{port}")
        exporter.wait_serving(setup.base)
        yield setup
    finally:
        if exporter is not None:
            exporter.stop()
            exporter.cleanup()
        fleet.stop()


def certificate_errors(setup: Setup, handle: PrinterHandle) -> float:
    return setup.value("bambu_printer_connection_errors_total", serial=handle.serial,
                       reason="certificate") or 0.0


def test_a_printer_whose_cn_is_its_serial_is_up(setup: Setup) -> None:
    [good] = [h for h in setup.fleet.printers() if not h.faults]
    wait_until(lambda: setup.value("bambu_printer_up", serial=good.serial) == 1, 15,
               what="the printer of the CA up")
    assert certificate_errors(setup, good) == 0


@pytest.mark.parametrize(("fault", "words"), [
    (Fault.WRONG_CN, "CN='"), (Fault.SELF_SIGNED, "not in --printer.ca-file")])
def test_a_wrong_certificate_is_refused_before_connect(setup: Setup, fault: Fault,
                                                       words: str) -> None:
    [printer] = setup.fleet.with_fault(fault)
    wait_until(lambda: certificate_errors(setup, printer) >= 2, 15, what="certificate errors")
    assert setup.value("bambu_printer_up", serial=printer.serial) == 0
    assert printer.connects_received == 0   # the access code never sent
    lines = [line for line in setup.exporter.stderr.splitlines()
             if f"({printer.serial} at" in line and "certificate" in line]
    assert len(lines) == 1 and words in lines[0], lines


def test_a_bad_bundle_stops_start_up_naming_the_flag(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("no certificates here\n")
    inventory = tmp_path / "printers.yaml"
    inventory.write_text("printers: []\n")
    result = run_exporter(["--printers.file", str(inventory), "--printer.ca-file", str(bundle)],
                          clean_env(), timeout=30)
    assert result.returncode == 2
    assert "--printer.ca-file" in result.stderr and "Traceback" not in result.stderr
