"""Every model end to end: a report in that model's own shape, from a simulated printer of
that model, over TLS MQTT to the real exporter process
(`--printers.file`, `--hms.text-file`), to /metrics, checked against the values put in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.simulator import SimulatedFleet, reports
from exporter.simulator.models import MODELS, Model
from tests.support.addresses import AddressPool
from tests.support.e2e import ExporterProcess, clean_env, free_port, http_get, parse_samples, value
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("e2e")

HMS_TEXTS = Path(__file__).resolve().parent / "support" / "hms_texts.json"
# The simulator's model codes against the exporter's `model` labels (DESIGN.md's table).
LABELS = {code: code for code in MODELS} | {"A1MINI": "A1_MINI"}
# A warning whose text is in the table: the fault HMS picks from these.
WARNING_ATTR, WARNING_CODE = reports.WARNINGS[1]


def put_in(model: Model, index: int) -> dict[str, object]:
    """The values one printer is given: distinct per printer, so a mix-up would show."""
    # The second nozzle (H2D's left) heats to nothing: its packed target is 0, while its
    # htar (a hotend id) is 1; 0 must come out.
    nozzles = [(200.0 + index, 210.0 + index), (150.0 + index, 0.0)]
    health = reports.Health(sdcard=("absent", "present", "abnormal")[index % 3],
                            wired=index % 2 == 0, tangle=index % 4 == 1,
                            recording=index % 2 == 1,
                            update=f"01.99.00.{index:02d}" if index % 3 else "")
    return {"nozzles": nozzles[:model.nozzles], "bed": (50.0 + index, 60.0 + index),
            "chamber": 30.0 + index if model.chamber_sensor else None,
            "active": 1 if model.nozzles == 2 else 0, "health": health}


@pytest.fixture(scope="module")
def fleet(addresses: AddressPool) -> Iterator[SimulatedFleet]:
    with SimulatedFleet(count=len(MODELS), first_address=addresses.take(len(MODELS)).first, seed=11,
                        life=False,
                        models=list(MODELS)) as simulated:
        yield simulated


@pytest.fixture(scope="module")
def scraped(fleet: SimulatedFleet, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """Values put into every printer, then one scrape of the real exporter that shows
    them all: (what was put in per serial, the samples)."""
    given: dict[str, dict[str, object]] = {}
    for index, handle in enumerate(fleet.printers()):
        model = MODELS[handle.record.model]
        values = put_in(model, index)
        update = reports.temperature_fields(model, handle.report(), values["nozzles"],
                                            values["bed"], values["chamber"], values["active"])
        update["print"].update(reports.health_fields(model, values["health"], door_open=True))
        update["print"]["hms"] = [reports.hms_entry(WARNING_ATTR, WARNING_CODE)]
        handle.update(update)
        given[handle.serial] = values

    inventory = tmp_path_factory.mktemp("every-model") / "printers.yaml"
    fleet.write_inventory_yaml(inventory, wrong_code=False)
    port = free_port()
    exporter = ExporterProcess(["--printers.file", str(inventory), "--hms.text-file",
                                str(HMS_TEXTS), "--web.listen-address", f"127.0.0.1:{port}"],
                               clean_env())
    try:
        base = f"http://127.0.0.1:{port}"
        exporter.wait_serving(base)

        def all_read() -> dict | None:
            samples = parse_samples(http_get(base + "/metrics").text)
            ready = all(value(samples, "bambu_printer_temperature_celsius", serial=serial,
                              sensor="bed") == values["bed"][0]
                        for serial, values in given.items())
            return samples if ready else None

        samples = wait_until(all_read, 60, what="every printer's values in /metrics")
    finally:
        exporter.stop()
        exporter.cleanup()
    return given, samples


@pytest.mark.parametrize("code", list(MODELS))
def test_each_model_reads_with_its_own_label_and_sensors(fleet: SimulatedFleet, scraped,
                                                        code: str) -> None:
    given, samples = scraped
    handle = next(h for h in fleet.printers() if h.record.model == code)
    model, serial, values = MODELS[code], handle.serial, given[handle.serial]

    info = [labels for (name, labels), _ in samples.items()
            if name == "bambu_printer_info" and ("serial", serial) in labels]
    assert len(info) == 1 and dict(info[0])["model"] == LABELS[code]
    assert value(samples, "bambu_printer_up", serial=serial) == 1.0

    def temperature(sensor: str, target: bool = False) -> float | None:
        name = ("bambu_printer_target_temperature_celsius" if target
                else "bambu_printer_temperature_celsius")
        return value(samples, name, serial=serial, sensor=sensor)

    nozzles = values["nozzles"]
    if model.nozzles == 2:
        assert (temperature("nozzle_right"), temperature("nozzle_right", True)) == nozzles[0]
        assert (temperature("nozzle_left"), temperature("nozzle_left", True)) == nozzles[1]
        assert temperature("nozzle") is None
        assert value(samples, "bambu_printer_active_extruder", serial=serial) == 1.0
        sides = {dict(labels)["nozzle"] for (name, labels), _ in samples.items()
                 if name == "bambu_printer_nozzle_info" and ("serial", serial) in labels}
        assert sides == {"right", "left"}
    else:
        assert (temperature("nozzle"), temperature("nozzle", True)) == nozzles[0]
        assert temperature("nozzle_right") is None
    assert (temperature("bed"), temperature("bed", True)) == values["bed"]
    # A chamber reading only where the model measures one (P1 firmware's placeholder is not).
    assert temperature("chamber") == values["chamber"]
    # The door, where the model has a sensor; left out where it has none.
    assert value(samples, "bambu_printer_door_open", serial=serial) == (
        1.0 if model.door else None)


@pytest.mark.parametrize("code", list(MODELS))
def test_each_model_reports_its_health(fleet: SimulatedFleet, scraped, code: str) -> None:
    given, samples = scraped
    handle = next(h for h in fleet.printers() if h.record.model == code)
    serial, health = handle.serial, given[handle.serial]["health"]
    assert isinstance(health, reports.Health)

    def of(name: str, **labels: str) -> float | None:
        return value(samples, name, serial=serial, **labels)

    # Camera and firmware update: every model reports them.
    assert of("bambu_printer_camera_recording") == float(health.recording)
    assert of("bambu_printer_firmware_update_available") == float(bool(health.update))
    offered = {dict(labels)["version"] for (name, labels), _ in samples.items()
               if name == "bambu_printer_firmware_update_info" and ("serial", serial) in labels}
    assert offered == ({health.update} if health.update else set())
    # Flag bits: read only on models whose bits are known (those with a door sensor).
    if MODELS[code].door:
        for state in ("absent", "present", "abnormal"):
            assert of("bambu_printer_sdcard_state", state=state) == float(
                state == health.sdcard)
        assert of("bambu_printer_filament_tangle_detected") == float(health.tangle)
        link = "wired" if health.wired else "wifi"
        assert of("bambu_printer_network_info", link=link) == 1.0
    else:
        assert of("bambu_printer_sdcard_state", state="present") is None
        assert of("bambu_printer_filament_tangle_detected") is None
        assert of("bambu_printer_network_info", link="wifi") is None
        assert of("bambu_printer_network_info", link="wired") is None


def test_hms_messages_carry_the_loaded_text(fleet: SimulatedFleet, scraped) -> None:
    _, samples = scraped
    texts = json.loads(HMS_TEXTS.read_text())["data"]["device_hms"]["en"]
    ecode = f"{WARNING_ATTR:08X}{WARNING_CODE:08X}"
    text = next(entry["intro"] for entry in texts if entry["ecode"] == ecode)
    code = "_".join(ecode[i:i + 4] for i in range(0, 16, 4))
    described = {dict(labels)["serial"] for (name, labels), _ in samples.items()
                 if name == "bambu_printer_hms_error_info" and dict(labels)["code"] == code
                 and dict(labels)["description"] == text}
    assert described == {h.serial for h in fleet.printers()}
