"""`python -m exporter probe` against simulated printers: a good one, a wrong access code,
a hung one (TLS never answers), one whose certificate names another serial; exit codes,
the failed step named, the fix given, --json, and the access code never shown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.simulator import Fault, PrinterHandle, SimulatedFleet
from exporter.simulator.printer import wrong_access_code
from tests.support.addresses import AddressPool
from tests.support.e2e import assert_no_secret, clean_env, run_exporter

pytestmark = pytest.mark.tier("e2e")


@pytest.fixture(scope="module")
def fleet(addresses: AddressPool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedFleet]:
    with SimulatedFleet(count=3, first_address=addresses.take(3).first, seed=143, life=False,
                        models=["X1C"], faults={"hung": 1, "wrong_cn": 1},
                        ca_dir=tmp_path_factory.mktemp("probe-ca")) as fleet:
        yield fleet


def good(fleet: SimulatedFleet) -> PrinterHandle:
    return next(h for h in fleet.printers() if not h.faults)


def run_probe(handle: PrinterHandle, *extra: str, code: str | None = None,
              serial: str | None = None) -> tuple[int, str, str]:
    env = clean_env({"BAMBU_ACCESS_CODE": code if code is not None
                     else handle.record.access_code})
    result = run_exporter(["probe", "--ip", handle.record.ip, "--serial",
                           serial or handle.serial, "--printer.connect-timeout", "2s",
                           "--timeout", "5s", *extra], env, timeout=60)
    assert_no_secret([handle.record.access_code], stdout=result.stdout, stderr=result.stderr)
    return result.returncode, result.stdout, result.stderr


def test_a_good_printer_passes_every_step_and_exits_0(fleet: SimulatedFleet) -> None:
    handle = good(fleet)
    code, out, _ = run_probe(handle, serial=handle.serial.lower())
    assert code == 0, out
    steps = [line.split()[3] for line in out.splitlines()[1:-1]]
    assert steps == ["address", "tcp", "tls", "connack", "suback", "report", "version",
                     "state", "commands"]
    assert "TLSv1.2" in out and f"CN={handle.serial}" in out and "not verified" in out
    assert "model X1C" in out and "gcode_state" in out


def test_json_says_the_same(fleet: SimulatedFleet) -> None:
    code, out, _ = run_probe(good(fleet), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["failed_step"] is None
    assert [step["step"] for step in doc["steps"]][:3] == ["address", "tcp", "tls"]
    assert all(isinstance(step["ms"], int) for step in doc["steps"])


def test_a_wrong_access_code_fails_at_connack(fleet: SimulatedFleet) -> None:
    handle = good(fleet)
    code, out, _ = run_probe(handle, "--json",
                             code=wrong_access_code(handle.record.access_code))
    doc = json.loads(out)
    assert code == 1 and doc["failed_step"] == "connack"
    assert "access code" in doc["fix"]


def test_a_hung_printer_fails_at_tls(fleet: SimulatedFleet) -> None:
    [hung] = fleet.with_fault(Fault.HUNG)
    code, out, _ = run_probe(hung)
    assert code == 1
    assert "FAIL tls" in out and "failed at tls" in out and "power-cycle" in out


def test_a_wrong_cn_fails_at_certificate_before_connect(fleet: SimulatedFleet) -> None:
    [wrong] = fleet.with_fault(Fault.WRONG_CN)
    assert fleet.ca_file is not None
    code, out, _ = run_probe(wrong, "--printer.ca-file", str(fleet.ca_file))
    assert code == 1 and "FAIL certificate" in out and "CN='" in out
    assert "connack" not in out and wrong.connects_received == 0


def test_no_access_code_is_a_usage_error(fleet: SimulatedFleet, tmp_path: Path) -> None:
    handle = good(fleet)
    result = run_exporter(["probe", "--ip", handle.record.ip, "--serial", handle.serial],
                          clean_env(), timeout=30)
    assert result.returncode == 2 and "BAMBU_ACCESS_CODE" in result.stderr
    bad = tmp_path / "ca.pem"
    bad.write_text("nothing\n")
    code, _, err = run_probe(handle, "--printer.ca-file", str(bad))
    assert code == 2 and "--printer.ca-file" in err
