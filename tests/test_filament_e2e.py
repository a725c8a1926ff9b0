"""End to end: `python -m exporter` against simulated printers serving their jobs' 3MF over
implicit FTPS: plans and trays (AMS, AMS HT, external spools), filament used by finished
and cancelled jobs, and each firmware mode counted with its reason.

Printers take their addresses from the `addresses` fixture; the web port is a free port on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from exporter.printer.job_file.trays import from_hw_mapping
from exporter.simulator import Fault, PrinterHandle, SimulatedFleet
from tests.support.addresses import AddressPool
from tests.support.e2e import (
    ExporterProcess,
    Samples,
    assert_no_secret,
    clean_env,
    free_port,
    http_get,
    parse_samples,
    value,
    wait_until,
)

pytestmark = pytest.mark.tier("e2e")

MODES = ("no_storage", "zip_bomb", "xml_bomb", "files_in_cache", "file_late", "big_3mf",
         "tls13_deaf", "subtask_lag")
CANCELLED = 0x0300400C


@dataclass
class Setup:
    plain: SimulatedFleet
    modes: SimulatedFleet
    exporter: ExporterProcess
    base: str

    def samples(self) -> Samples:
        return parse_samples(http_get(self.base + "/metrics").text)

    def by_model(self, model: str) -> PrinterHandle:
        return next(h for h in self.plain.printers() if h.record.model == model)

    def by_mode(self, mode: str) -> PrinterHandle:
        return self.modes.with_fault(Fault(mode))[0]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, addresses: AddressPool) -> Iterator[Setup]:
    plain = SimulatedFleet(count=3, first_address=addresses.take(3).first, seed=3, life=False,
                           models=["X1C", "H2D", "A1"], ftps=True).start()
    modes = SimulatedFleet(count=len(MODES) + 1, first_address=addresses.take(len(MODES) + 1).first, seed=4,
                           life=False, models=["X1C"], ftps=True, file_delay=4.0,
                           big_3mf_size=30 * 1000 * 1000,
                           faults={mode: 1 for mode in MODES})
    exporter = None
    try:
        modes.start()
        lagging = modes.with_fault(Fault.SUBTASK_LAG)[0]
        lagging.set_state("PREPARE")   # a first job, whose file stays on the printer
        lagging.set_state("FINISH")
        rows = [{"name": r.name, "ip": r.ip, "serial": r.serial, "access_code": r.access_code}
                for r in plain.records + modes.records]
        inventory = tmp_path_factory.mktemp("filament") / "printers.yaml"
        inventory.write_text(json.dumps({"printers": rows}))
        port = free_port()
        exporter = ExporterProcess(["--printers.file", str(inventory), "--web.listen-address",
                                    f"127.0.0.1:{port}", "--workers", "1"], clean_env())
        setup = Setup(plain, modes, exporter, f"http://127.0.0.1:{port}")
        exporter.wait_serving(setup.base)
        for handle in plain.printers() + modes.printers():
            wait_until(lambda h=handle: value(setup.samples(), "bambu_printer_up",  # type: ignore[misc]
                                              serial=h.serial) == 1, 30, what="printers up")
        yield setup
    finally:
        if exporter is not None:
            exporter.stop()
            exporter.cleanup()
        plain.stop()
        modes.stop()


def start_job(handle: PrinterHandle, filaments: int) -> None:
    handle.plan_filaments(filaments)
    handle.set_state("PREPARE")
    handle.set_state("RUNNING")


def planned(setup: Setup, handle: PrinterHandle) -> dict[str, tuple[str, str, str, float]]:
    """slot -> (ams, tray, material, grams) as the exporter shows the plan."""
    return {labels["slot"]: (labels["ams"], labels["tray"], labels["material"], v)
            for name, labels, v in series(setup, "bambu_printer_job_filament_planned_grams", handle)}


def series(setup: Setup, name: str, handle: PrinterHandle) -> list[tuple[str, dict[str, str], float]]:
    return [(n, dict(ls), v) for (n, ls), v in setup.samples().items()
            if n == name and dict(ls).get("serial") == handle.serial]


Plan = dict[str, tuple[str, str, str, float]]


def wait_for_plan(setup: Setup, handle: PrinterHandle, within: float = 40.0) -> Plan:
    plate = handle.job_plate
    assert plate is not None
    return wait_until(lambda: (lambda p: p if len(p) == len(plate.filaments) else None)(
        planned(setup, handle)), within, what=f"{handle.record.name}'s plan")


def used(setup: Setup, handle: PrinterHandle) -> dict[str, float]:
    return {labels["material"]: v
            for _, labels, v in series(setup, "bambu_filament_used_grams_total", handle)}


def expected_use(handle: PrinterHandle, fraction: float) -> dict[str, float]:
    plate = handle.job_plate
    assert plate is not None
    out: dict[str, float] = {}
    for f in plate.filaments:
        out[f.material] = out.get(f.material, 0.0) + f.grams * fraction
    return out


def test_a_multi_filament_job_is_planned_mapped_and_booked(setup: Setup) -> None:
    handle = setup.by_model("X1C")
    start_job(handle, 3)
    plan = wait_for_plan(setup, handle)
    plate, mapping = handle.job_plate, handle.job_mapping
    assert plate is not None
    for f in plate.filaments:
        ref = from_hw_mapping(mapping[f.slot - 1])
        assert ref is not None
        assert plan[str(f.slot)] == (ref.ams, ref.tray, f.material, pytest.approx(f.grams))
    assert value(setup.samples(), "bambu_printer_job_planned_weight_grams",
                 serial=handle.serial) == pytest.approx(plate.weight)
    assert value(setup.samples(), "bambu_printer_job_predicted_seconds",
                 serial=handle.serial) == plate.prediction
    # the printer's page lists the plate's filaments, each with its grams
    page = http_get(f"{setup.base}/printer/{handle.serial}").text
    assert 'id="plate-filaments"' in page
    for f in plate.filaments:
        assert f"{f.grams:.1f} g" in page
    handle.set_state("FINISH")
    want = expected_use(handle, 1.0)
    got = wait_until(lambda: used(setup, handle) or None, 20, what="filament used")
    assert got == pytest.approx(want)
    assert planned(setup, handle) == {}   # the plan is shown while its job runs


def test_ams_ht_and_external_spools_are_trays(setup: Setup) -> None:
    handle = setup.by_model("H2D")
    start_job(handle, 20)   # every loaded tray
    plan = wait_for_plan(setup, handle)
    units = {ams for ams, _, _, _ in plan.values()}
    assert "external" in units and any(u.isdigit() and 128 <= int(u) < 136 for u in units)
    for slot, (ams, tray, _, _) in plan.items():
        ref = from_hw_mapping(handle.job_mapping[int(slot) - 1])
        assert ref is not None and (ams, tray) == (ref.ams, ref.tray)


def test_a_cancelled_job_books_what_it_used(setup: Setup) -> None:
    handle = setup.by_model("A1")
    start_job(handle, 1)
    wait_for_plan(setup, handle)
    handle.update({"print": {"mc_percent": 40, "layer_num": 20}})
    # firmware resets progress on a cancel; the exporter keeps the highest seen
    handle.update({"print": {"gcode_state": "FAILED", "print_error": CANCELLED,
                             "mc_percent": 0, "layer_num": 0}})
    got = wait_until(lambda: used(setup, handle) or None, 20, what="filament used")
    assert got == pytest.approx(expected_use(handle, 0.40))


@pytest.mark.parametrize("mode,reason", [("no_storage", "no_storage"), ("zip_bomb", "too_large"),
                                         ("xml_bomb", "bad_file")])
def test_a_mode_that_gives_no_plan_is_counted(setup: Setup, mode: str, reason: str) -> None:
    handle = setup.by_mode(mode)
    start_job(handle, 2)
    wait_until(lambda: value(setup.samples(), "bambu_printer_job_fetch_errors_total",
                             serial=handle.serial, reason=reason) == 1, 40, what=f"{mode} counted")
    samples = setup.samples()
    assert value(samples, "bambu_printer_up", serial=handle.serial) == 1
    assert planned(setup, handle) == {}


@pytest.mark.parametrize("mode", ["files_in_cache", "file_late", "big_3mf", "tls13_deaf",
                                  "subtask_lag"])
def test_a_mode_the_exporter_meets_gives_the_plan(setup: Setup, mode: str) -> None:
    handle = setup.by_mode(mode)
    start_job(handle, 2)
    plan = wait_for_plan(setup, handle, within=60)
    if mode == "subtask_lag":   # the report names the first job's file, which lacks the plate
        printed = handle.report()["print"]
        assert printed["subtask_name"].replace(" ", "_") + ".gcode.3mf" != printed["gcode_file"]
    plate = handle.job_plate
    assert plate is not None and sorted(plan) == sorted(str(f.slot) for f in plate.filaments)
    errors = [v for _, _, v in series(setup, "bambu_printer_job_fetch_errors_total", handle)]
    assert errors and sum(errors) == 0


def test_no_access_code_in_metrics_or_logs(setup: Setup) -> None:
    codes = [r.access_code for r in setup.plain.records + setup.modes.records]
    assert_no_secret(codes, metrics=http_get(setup.base + "/metrics").text,
                     stderr=setup.exporter.stderr, stdout=setup.exporter.stdout)
