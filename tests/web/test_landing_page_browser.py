"""The landing page in a real browser: headless Chromium loads `/` of a running exporter
(sessions on real TLS MQTT to simulated printers), dumps the rendered DOM and takes a
screenshot, at 12 printers (the demo's trouble) and at 1000. The DOM must answer "who needs
a hand, and why" first; the PNG must be a real rendering.

`UPDATE_SCREENSHOT=1` also writes the 12-printer screenshot to docs/img/landing.png, the
README's picture. Chromium is Debian's /usr/bin/chromium (`./scripts/system-deps`).
"""

from __future__ import annotations

import io
import os
import re
import shutil
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
from exporter.printer.session import SessionSettings
from exporter.printer.words import state_words
from exporter.simulator import Fault, SimulatedFleet
from exporter.simulator.models import MODELS
from tests.support.addresses import AddressPool
from tests.support.e2e import fleet_table, http_get, wait_until

pytestmark = pytest.mark.tier("stack")

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1600, 1000
ROOT = Path(__file__).resolve().parents[2]
README_PNG = ROOT / "docs" / "img" / "landing.png"
HMS_TEXTS = ROOT / "tests" / "support" / "hms_texts.json"
OFFLINE_RED = (0xCF, 0x22, 0x2E)  # .state-offline in the page's style
# The demo's trouble, one printer each; the other printers print or idle.
TROUBLE = {"offline": 1, "wrong_code": 1, "hms": 1, "hms_serious": 1, "fail": 1, "runout": 1}
BUSY = ["RUNNING", "RUNNING", "IDLE", "RUNNING", "FINISH", "PREPARE"]


def chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: run ./scripts/system-deps"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *extra, url]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"chromium did not finish within 120s: {command}") from None


class Page:
    def __init__(self, fleet: SimulatedFleet, base: str, expected: dict[str, str],
                 troubled: set[str]) -> None:
        self.fleet = fleet
        self.base = base
        self.expected = expected  # serial -> state the page must show
        self.troubled = troubled  # serials that need a hand

    def dom(self, tmp_path: Path, query: str = "") -> str:
        result = chromium(f"{self.base}/{query}", tmp_path / "profile", "--dump-dom")
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout


def serve(count: int, first: str, trouble: dict[str, int]) -> Iterator[Page]:
    """A simulated fleet with `trouble`, the rest printing or idle, and the exporter on
    it (with the HMS text file), until every printer shows its state in /metrics."""
    fleet = SimulatedFleet(count=count, first_address=first, seed=46, life=False,
                           faults=trouble).start()
    exporter = None
    tmp = tempfile.TemporaryDirectory(prefix="bambu-browser-")
    try:
        expected, troubled = {}, set()
        for i, handle in enumerate(fleet.printers()):
            faults = handle.faults
            # an SD card is read only on models whose flag bits are known (door sensor)
            if faults - {Fault.SDCARD} or MODELS[handle.record.model].door and faults:
                troubled.add(handle.serial)
            if faults & {Fault.OFFLINE, Fault.WRONG_CODE}:
                expected[handle.serial] = "OFFLINE"
            elif Fault.FAIL_PRINT in faults:
                expected[handle.serial] = "FAILED"
            elif Fault.RUNOUT in faults:
                expected[handle.serial] = "PAUSE"
            else:
                state = BUSY[i % len(BUSY)]
                handle.set_state(state)
                if state == "RUNNING":
                    handle.update({"print": {"mc_percent": 10 + i * 7 % 85,
                                             "layer_num": 5 + i * 11 % 200,
                                             "total_layer_num": 240,
                                             "mc_remaining_time": 20 + i * 13 % 300}})
                expected[handle.serial] = state
        printers_file = Path(tmp.name) / "printers.yaml"
        fleet.write_inventory_yaml(printers_file)
        exporter = Exporter(Settings(listen_host="127.0.0.1", listen_port=0,
                                     printers_file=str(printers_file),
                            printer=SessionSettings(staleness=30.0),
                                     hms_text_file=str(HMS_TEXTS)))
        exporter.start()
        base = f"http://127.0.0.1:{exporter.web.port}"

        def all_in_state() -> bool:
            # one scrape and one pass per poll: 1000 printers' samples are ~100k lines
            text = http_get(base + "/metrics", timeout=30).text
            shown = {}
            for line in text.splitlines():
                if line.startswith("bambu_printer_state{") and line.endswith(" 1.0"):
                    labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
                    shown[labels["serial"]] = labels["state"]
            return shown == expected

        wait_until(all_in_state, 180, interval=2.0, what="every printer in its state")
        yield Page(fleet, base, expected, troubled)
    finally:
        if exporter is not None:
            exporter.stop()
        fleet.stop()
        tmp.cleanup()


@pytest.fixture(scope="module")
def page(addresses: AddressPool) -> Iterator[Page]:
    yield from serve(12, addresses.take(12).first, TROUBLE)


@pytest.fixture(scope="module")
def farm(addresses: AddressPool) -> Iterator[Page]:
    yield from serve(1000, addresses.take(1000).first, {"offline": 10, "wrong_code": 5, "hms": 40,
                                           "hms_serious": 10, "fail": 15, "runout": 10,
                                           "sdcard": 5})


def check_fleet(page: Page, dom: str) -> list[dict[str, str]]:
    """The table holds every printer in its state, those needing a hand first, and no
    secret; returns the rows."""
    assert "<title>bambu-exporter</title>" in dom
    rows = fleet_table(dom)
    assert {row["Serial"] for row in rows} == set(page.expected)
    names = {r.serial: r.name for r in page.fleet.records}
    for row in rows:
        assert row["Name"] == names[row["Serial"]]
        assert row["State"] == state_words(page.expected[row["Serial"]])
        assert row["Up"] == ("no" if row["State"] == "offline" else "yes")
    attention = [bool(row["Needs attention"]) for row in rows]
    assert attention == sorted(attention, reverse=True), "attention rows come first"
    assert {row["Serial"] for row in rows if row["Needs attention"]} == page.troubled
    for record in page.fleet.inventory_records():
        assert record.access_code not in dom
    up = sum(1 for state in page.expected.values() if state != "OFFLINE")
    assert f'<span id="up-count">{up}</span>' in dom
    assert f"{len(page.troubled)} need attention" in dom
    return rows


def test_the_demos_trouble_in_words_first(page: Page, tmp_path: Path) -> None:
    rows = check_fleet(page, page.dom(tmp_path))
    needs = {row["Serial"]: row["Needs attention"] for row in rows}
    fault_of = {h.serial: next(iter(h.faults)) for h in page.fleet.printers() if h.faults}
    said = {fault: needs[serial] for serial, fault in fault_of.items()}
    assert said[Fault.WRONG_CODE].startswith("offline: the printer refuses the access code")
    assert said[Fault.OFFLINE].startswith("offline: the address refuses the connection")
    assert "the job failed" in said[Fault.FAIL_PRINT]
    assert "paused: filament ran out" in said[Fault.RUNOUT]
    assert "(serious, ams): AMS A: the filament is stuck" in said[Fault.HMS_SERIOUS]
    assert re.search(r"HMS \w{4}_\w{4}_\w{4}_\w{4} \((common|serious|info), \w+\): \w",
                     said[Fault.HMS])
    # the worst first: the failed job, then the two offline printers
    assert [fault_of.get(row["Serial"]) for row in rows[:3]][0] is Fault.FAIL_PRINT
    running = [row for row in rows if row["State"] == "printing"]
    assert running and all(re.fullmatch(r"\d+ % · layer \d+/240ends \d\d:\d\d "
                                        r"\(\d+ h \d\d min left\)", r["Progress"])
                           for r in running), [r["Progress"] for r in running]


def test_filters_by_state_and_search_as_links(page: Page, tmp_path: Path) -> None:
    only = fleet_table(page.dom(tmp_path, "?state=attention"))
    assert {row["Serial"] for row in only} == page.troubled
    offline = fleet_table(page.dom(tmp_path, "?state=OFFLINE"))
    assert {row["State"] for row in offline} == {"offline"} and len(offline) == 2
    one = page.fleet.records[3]
    found = fleet_table(page.dom(tmp_path, f"?q={one.serial[-6:].lower()}"))
    assert [row["Serial"] for row in found] == [one.serial]


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


def screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    png = tmp_path / name
    result = chromium(page.base + "/", tmp_path / "profile", f"--screenshot={png}",
                      f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars")
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
    assert red > 50, "the OFFLINE states and urgent rows are not drawn in the page's red"
    # keep a copy to look at by hand
    shutil.copy(png, Path(tempfile.gettempdir()) / f"bambu-{name}")
    return png


def test_screenshot_is_a_real_rendering(page: Page, tmp_path: Path) -> None:
    png = screenshot(page, tmp_path, "landing-12.png")
    if os.environ.get("UPDATE_SCREENSHOT"):
        README_PNG.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, README_PNG)
    assert png_header(README_PNG.read_bytes()) == (WIDTH, HEIGHT), \
        "docs/img/landing.png: UPDATE_SCREENSHOT=1 makes it"


def test_a_thousand_printers_attention_first(farm: Page, tmp_path: Path) -> None:
    rows = check_fleet(farm, farm.dom(tmp_path))
    assert len(rows) == 1000
    offline = fleet_table(farm.dom(tmp_path, "?state=OFFLINE"))
    assert len(offline) == 15
    screenshot(farm, tmp_path, "landing-1000.png")


# A phone and a common laptop screen. Chromium will not open a window narrower than
# 500 px, so the page is laid out in an iframe of the wanted width inside a wrapper of
# the test's (the page itself carries no script); the wrapper reads the frame's layout.
PHONE, LAPTOP = 390, 1366
DOCS_IMG = ROOT / "docs" / "img"


def laid_out(base: str, tmp_path: Path, width: int, height: int,
             png: Path | None = None, path: str = "/") -> dict[str, object]:
    """Load `path` at `width` CSS pixels: the frame's scrollWidth and clientWidth and how
    its fleet rows are displayed; with `png`, a screenshot of it at that width."""
    (tmp_path / "page.html").write_bytes(http_get(base + path).body)
    (tmp_path / "wrapper.html").write_text(f"""<!DOCTYPE html>
<html><head><style>body{{margin:0}} iframe{{border:0;display:block}}</style></head><body>
<iframe id="f" src="page.html" style="width:{width}px;height:{height}px"></iframe>
<script>
document.getElementById("f").addEventListener("load", function () {{
  var d = this.contentDocument, root = d.documentElement;
  var row = d.querySelector("#fleet tbody tr");
  var cells = d.querySelectorAll("#fleet td, section.card");
  document.body.setAttribute("data-layout", JSON.stringify({{
    scroll: root.scrollWidth, client: root.clientWidth,
    row: row ? this.contentWindow.getComputedStyle(row).display : "",
    widest: Math.max.apply(null, Array.prototype.map.call(
      cells, function (td) {{
        return td.getBoundingClientRect().right; }}))}}));
}});
</script></body></html>""")
    extra = ["--allow-file-access-from-files", f"--window-size={max(width, 500)},{height}",
             "--hide-scrollbars"]
    url = (tmp_path / "wrapper.html").as_uri()
    result = chromium(url, tmp_path / "profile", *extra, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'data-layout="([^"]+)"', result.stdout)
    assert found, "the wrapper did not measure the page"
    if png is not None:
        shot = tmp_path / "shot.png"
        result = chromium(url, tmp_path / "profile", *extra, f"--screenshot={shot}")
        assert result.returncode == 0, result.stderr[-2000:]
        with Image.open(shot) as image:
            image.crop((0, 0, width, height)).save(png)
    import json
    return dict(json.loads(found.group(1).replace("&quot;", '"')))


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
def test_the_overview_fits_the_screen_without_sideways_scrolling(
        page: Page, tmp_path: Path, width: int) -> None:
    name = f"landing-{width}.png"
    layout = laid_out(page.base, tmp_path, width, 1100 if width == LAPTOP else 1600,
                      tmp_path / name)
    assert layout["client"] == width
    assert layout["scroll"] <= width, layout     # nothing to scroll sideways
    assert float(layout["widest"]) <= width, layout   # no cell cut off at the right
    # a phone shows each printer as a card (rows become blocks); a laptop a table
    assert layout["row"] == ("block" if width == PHONE else "table-row")
    if os.environ.get("UPDATE_SCREENSHOT"):
        shutil.copy(tmp_path / name, DOCS_IMG / name)
    assert Image.open(DOCS_IMG / name).size[0] == width, \
        f"docs/img/{name}: UPDATE_SCREENSHOT=1 makes it"


def test_how_long_in_each_state_and_printing_ones_by_end(page: Page, tmp_path: Path) -> None:
    rows = fleet_table(page.dom(tmp_path))
    words = {state_words(state): pattern for state, pattern in {
             "RUNNING": r"printing for \d+ (s|min)", "IDLE": r"idle for \d+ (s|min)",
             "PREPARE": r"preparing for \d+ (s|min)", "PAUSE": r"paused for \d+ (s|min)",
             "FINISH": r"plate waiting for \d+ (s|min)",
             "FAILED": r"plate waiting for \d+ (s|min)"}.items()}
    for row in rows:
        if row["State"] in words:
            assert re.fullmatch(words[row["State"]], row["How long"]), row
    calm = [row for row in rows
            if not row["Needs attention"] and row["State"] == state_words("RUNNING")]
    left = [int(m.group(1)) * 60 + int(m.group(2))
            for row in calm if (m := re.search(r"\((\d+) h (\d\d) min left\)", row["Progress"]))]
    assert len(left) == len(calm) >= 2 and left == sorted(left), "the next to end first"
    assert "no job ended since the exporter started" in page.dom(tmp_path)
