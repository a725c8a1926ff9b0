"""The landing page in a real browser: headless Chromium loads `/` of a running exporter
(sessions on real TLS MQTT to simulated printers on 127.0.46.x), dumps the rendered DOM
and takes a screenshot; the DOM must hold the fleet table, the PNG a real rendering.

Chromium is Debian's /usr/bin/chromium (`./scripts/system-deps` installs it).
"""

from __future__ import annotations

import io
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from exporter.cli import Exporter
from exporter.config import Settings
from exporter.simulator import Fault, SimulatedFleet
from tests.support.e2e import current_state, fleet_table, http_get, parse_samples, wait_until

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1200, 800
STATES = ["RUNNING", "IDLE", "IDLE", "FAILED", "IDLE", "RUNNING", "PAUSE", "FINISH"]
OFFLINE_RED = (0xCF, 0x22, 0x2E)  # .state-offline in the page's style


def chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: run ./scripts/system-deps"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *extra, url]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=90,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"chromium did not finish within 90s: {command}") from None


class Page:
    def __init__(self, fleet: SimulatedFleet, base: str, expected: dict[str, str]) -> None:
        self.fleet = fleet
        self.base = base
        self.expected = expected  # serial -> state the page must show


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    fleet = SimulatedFleet(count=len(STATES), first_address="127.0.46.1", seed=46,
                           life=False, faults={"offline": 1, "wrong_code": 1}).start()
    exporter = None
    tmp = tempfile.TemporaryDirectory(prefix="bambu-browser-")
    try:
        broken = {h.serial for h in fleet.with_fault(Fault.OFFLINE)
                  + fleet.with_fault(Fault.WRONG_CODE)}
        expected = {}
        for record, state in zip(fleet.records, STATES, strict=False):
            if record.serial in broken:
                expected[record.serial] = "OFFLINE"
            else:
                fleet.printer(record.serial).set_state(state)
                expected[record.serial] = state
        printers_file = Path(tmp.name) / "printers.yaml"
        fleet.write_inventory_yaml(printers_file)
        exporter = Exporter(Settings(listen_host="127.0.0.1", listen_port=0,
                                     printers_file=str(printers_file), staleness=5.0))
        exporter.start()
        base = f"http://127.0.0.1:{exporter.web.port}"
        wait_until(lambda: all(current_state(parse_samples(http_get(base + "/metrics").text),
                                             serial) == state
                               for serial, state in expected.items()),
                   30, what="every printer in its state")
        yield Page(fleet, base, expected)
    finally:
        if exporter is not None:
            exporter.stop()
        fleet.stop()
        tmp.cleanup()


def test_rendered_dom_has_the_fleet_table(page: Page, tmp_path: Path) -> None:
    result = chromium(page.base + "/", tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert "<title>bambu-exporter</title>" in dom
    rows = {row["Serial"]: row for row in fleet_table(dom)}
    assert set(rows) == set(page.expected)
    names = {r.serial: r.name for r in page.fleet.records}
    for serial, state in page.expected.items():
        assert rows[serial]["Name"] == names[serial]
        assert rows[serial]["State"] == state
        assert rows[serial]["Up"] == ("no" if state == "OFFLINE" else "yes")
    up = sum(1 for state in page.expected.values() if state != "OFFLINE")
    assert f'<span id="up-count">{up}</span>' in dom


def png_header(data: bytes) -> tuple[int, int]:
    """Check a PNG's structure with the stdlib (signature, every chunk's CRC, IHDR, the
    image data inflating) and return (width, height)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, size, ended = 8, b"", None, False
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        assert zlib.crc32(kind + body) == crc, f"bad CRC in the {kind!r} chunk"
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            ended = True
            break
        pos += 12 + length
    assert size is not None and ended, "no IHDR or no IEND chunk"
    assert len(zlib.decompress(idat)) > size[1], "the image data does not inflate"
    return size


def test_screenshot_is_a_real_rendering(page: Page, tmp_path: Path) -> None:
    png = tmp_path / "landing.png"
    result = chromium(page.base + "/", tmp_path / "profile", f"--screenshot={png}",
                      f"--window-size={WIDTH},{HEIGHT}")
    assert result.returncode == 0, result.stderr[-2000:]
    data = png.read_bytes()
    assert png_header(data) == (WIDTH, HEIGHT)
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (WIDTH, HEIGHT)
        colours = image.convert("RGB").getcolors(WIDTH * HEIGHT) or []
    red = dark = 0
    for count, (r, g, b) in colours:
        if abs(r - OFFLINE_RED[0]) < 40 and abs(g - OFFLINE_RED[1]) < 40 \
                and abs(b - OFFLINE_RED[2]) < 40:
            red += count
        if r < 80 and g < 80 and b < 80:
            dark += count
    assert len(colours) > 20, "a near-uniform image: nothing was rendered"
    assert dark > 2000, "hardly any dark (text) pixels"
    assert red > 50, "the OFFLINE states are not drawn in the page's red"
    # keep a copy to look at by hand
    Path(tempfile.gettempdir(), "bambu-landing-page.png").write_bytes(data)
