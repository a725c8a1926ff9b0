"""End to end: `python -m exporter` with two worker processes as shard 0 of 2, started
before any HMS text file exists; `bambu-exporter hms-texts fetch` against the simulator's
stand-in of Bambu's texts service writes it, and then Chromium finds words for every HMS
message and print error on the overview and on each printer's page. Printer pages of
another shard, unknown, encoded-slash and 10 000-character serials are refused.

The web port is a free port on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporter.inventory.shard import shard_of
from exporter.simulator import Fault, SimulatedFleet
from exporter.simulator.texts_service import ERROR_TEXTS, HMS_TEXTS, TextsService
from tests.support.addresses import AddressPool
from tests.support.e2e import (
    ExporterProcess,
    clean_env,
    fleet_table,
    free_port,
    http_get,
    parse_samples,
    wait_until,
)
from tests.web.test_landing_page_browser import DOCS_IMG, LAPTOP, PHONE, chromium, laid_out

pytestmark = pytest.mark.tier("stack")

MODELS = ["H2D", "X1C", "A1MINI", "H2C", "P1S", "P2S"]
FAULTS = {"hms": 3, "hms_serious": 2, "fail": 3, "runout": 2, "offline": 2,
          "boot_stage_zero": 2}


@dataclass
class Setup:
    fleet: SimulatedFleet
    exporter: ExporterProcess
    base: str
    ours: set[str]      # serials of shard 0
    theirs: set[str]    # serials of shard 1


@pytest.fixture(scope="module")
def setup(addresses: AddressPool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("printer-pages")
    texts_file = tmp / "hms-texts.json"
    fleet = SimulatedFleet(count=16, first_address=addresses.take(16).first, seed=167, life=False,
                           models=MODELS, faults=FAULTS).start()
    service = TextsService().start()
    exporter = None
    try:
        inventory = tmp / "printers.yaml"
        fleet.write_inventory_yaml(inventory)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        exporter = ExporterProcess(
            ["--printers.file", str(inventory), "--web.listen-address", f"127.0.0.1:{port}",
             "--workers", "2", "--shard.count", "2", "--shard.index", "0",
             "--hms.text-file", str(texts_file)], clean_env())
        exporter.wait_serving(base)
        fetched = subprocess.run(
            [sys.executable, "-m", "exporter", "hms-texts", "fetch", "--hms.service-url",
             service.url, "--hms.text-file", str(texts_file), "--printers.file",
             str(inventory)], capture_output=True, text=True, timeout=60, env=clean_env())
        assert fetched.returncode == 0, fetched.stderr
        serials = [r.serial for r in fleet.records]
        ours = {s for s in serials if shard_of(s, 2) == 0}
        up = {h.serial for h in fleet.printers() if Fault.OFFLINE not in h.faults} & ours

        def all_up_with_words() -> bool:
            samples = parse_samples(http_get(base + "/metrics").text)
            shown = {dict(labels)["serial"] for (name, labels), v in samples.items()
                     if name == "bambu_printer_up" and v == 1.0}
            described = all(dict(labels)["description"]
                            for (name, labels), _ in samples.items()
                            if name == "bambu_printer_hms_error_info")
            return shown == up and described

        wait_until(all_up_with_words, 60, interval=0.5, what="shard 0 up, with words")
        yield Setup(fleet, exporter, base, ours, set(serials) - ours)
    finally:
        if exporter is not None:
            exporter.stop()
            exporter.cleanup()
        service.stop()
        fleet.stop()


def dom(setup: Setup, tmp_path: Path, path: str) -> str:
    result = chromium(setup.base + path, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


ALL_TEXTS = set(HMS_TEXTS["en"].values()) | set(ERROR_TEXTS["en"].values())


def test_the_fleet_splits_so_that_both_shards_hold_trouble(setup: Setup) -> None:
    troubled = {h.serial for h in setup.fleet.printers()
                if h.faults & {Fault.HMS, Fault.FAIL_PRINT, Fault.HMS_SERIOUS}}
    assert troubled & setup.ours and setup.theirs, "the seed no longer splits usefully"


def test_the_overview_has_words_for_every_hms_and_print_error(setup: Setup,
                                                               tmp_path: Path) -> None:
    rows = fleet_table(dom(setup, tmp_path, "/"))
    assert {row["Serial"] for row in rows} == setup.ours
    codes = 0
    for row in rows:
        for line in re.findall(r"(?:HMS \w{4}_\w{4}_\w{4}_\w{4} \([^)]*\)|print error "
                               r"\w{4}_\w{4})[^A-Za-z]*([^\n(]*)", row["Needs attention"]):
            codes += 1
            assert any(line.startswith(text[:20]) for text in ALL_TEXTS), (row["Name"], line)
    assert codes >= 3


def test_each_printer_page_has_words_and_its_models_name(setup: Setup,
                                                         tmp_path: Path) -> None:
    handles = {h.serial: h for h in setup.fleet.printers()}
    for serial in sorted(setup.ours):
        handle = handles[serial]
        page = dom(setup, tmp_path, f"/printer/{serial}")
        assert f'<h1 id="printer-name">{handle.record.name}</h1>' in page
        hms = handle.report()["print"]["hms"]
        if Fault.OFFLINE in handle.faults:
            assert 'id="state">offline<' in page and 'id="hms"' not in page
            continue
        for entry in hms:
            code = f"{entry['attr']:08X}{entry['code']:08X}"
            assert HMS_TEXTS["en"][code].replace('"', "&quot;") in page, (serial, code)
        error = handle.report()["print"]["print_error"]
        if error:
            assert ERROR_TEXTS["en"][f"{error:08X}"] in page, serial
        if Fault.BOOT_STAGE_ZERO in handle.faults:
            assert 'id="stage">idle<' in page     # stage 0 after boot is not "printing"
        if handle.record.model == "H2C":
            assert "rack hotend 16" in page
    overview = dom(setup, tmp_path, "/")
    for serial in setup.ours:
        assert f'href="/printer/{serial}"' in overview


@pytest.mark.parametrize("path", ["/printer/NOSUCHSERIAL1", "/printer/00M%2F..%2Fmetrics",
                                  "/printer/", "/printer/" + "A" * 300])
def test_unknown_serials_get_a_404_page(setup: Setup, path: str) -> None:
    response = http_get(setup.base + path)
    assert response.status == 404 and "No such printer" in response.text
    assert "<b>" not in response.text


def test_another_shards_printer_is_not_found_here(setup: Setup) -> None:
    for serial in setup.theirs:
        response = http_get(setup.base + f"/printer/{serial}")
        assert response.status == 404 and "another shard" in response.text


def test_a_10000_character_serial_is_refused_and_nothing_breaks(setup: Setup) -> None:
    response = http_get(setup.base + "/printer/" + "9" * 10_000)
    assert response.status in (404, 414)
    serial = next(iter(setup.ours))
    assert http_get(setup.base + f"/printer/{serial}").status == 200
    assert "Traceback" not in setup.exporter.stderr


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
def test_a_printer_page_fits_the_screen(setup: Setup, tmp_path: Path, width: int) -> None:
    # a dual-nozzle printer with the most to show: AMS units, HMS messages
    shown = next(h for h in setup.fleet.printers()
                 if h.record.model in ("H2D", "H2C") and h.serial in setup.ours
                 and Fault.OFFLINE not in h.faults)
    png = tmp_path / f"printer-{width}.png"
    layout = laid_out(setup.base, tmp_path, width, 1300, png, f"/printer/{shown.serial}")
    assert layout["scroll"] <= width and float(layout["widest"]) <= width, layout
    if width == LAPTOP and os.environ.get("UPDATE_SCREENSHOT"):
        shutil.copy(png, DOCS_IMG / "printer.png")
