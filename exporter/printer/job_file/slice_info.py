"""Pure: `Metadata/slice_info.config` (the slicer's XML) -> one JobPlan per plate.

defusedxml refuses entity declarations (the billion-laughs bomb) and external references;
every value read is checked and capped, since the file comes from whoever sent the job.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ElementTree

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from exporter.printer.job_file.plan import JobFileError, JobPlan, PlannedFilament

MAX_PLATES = 64
MAX_FILAMENTS = 64          # per plate: four AMS 2 Pro, AMS HT units and external spools fit
MAX_GRAMS = 100_000.0       # a plate heavier than 100 kg is a broken file, not a job
MAX_METERS = 100_000.0
MAX_SECONDS = 365 * 86400.0
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+\-_. ]{0,31}")
_COLOR = re.compile(r"#([0-9A-Fa-f]{6})(?:[0-9A-Fa-f]{2})?")


def parse_plates(xml: bytes) -> dict[int, JobPlan]:
    """Every plate the file describes, by index; JobFileError("bad_file") on anything that
    is not a slice_info the slicer would write."""
    try:
        root = fromstring(xml, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise JobFileError("bad_file", f"slice_info.config refused: {type(exc).__name__}") from None
    except ElementTree.ParseError as exc:
        raise JobFileError("bad_file", f"slice_info.config is not XML: {exc}") from None
    if root.tag != "config":
        raise JobFileError("bad_file", "slice_info.config has no <config> root")
    plates: dict[int, JobPlan] = {}
    for element in root.iter("plate"):
        if len(plates) >= MAX_PLATES:
            raise JobFileError("bad_file", f"slice_info.config has more than {MAX_PLATES} plates")
        plate = _plate(element)
        plates.setdefault(plate.plate, plate)
    if not plates:
        raise JobFileError("bad_file", "slice_info.config describes no plate")
    return plates


def _plate(element: ElementTree.Element) -> JobPlan:
    meta = {m.get("key", ""): m.get("value", "") for m in element.findall("metadata")}
    index = _integer(meta.get("index"), "plate index", 1, 10_000)
    filaments: list[PlannedFilament] = []
    for f in element.findall("filament"):
        if len(filaments) >= MAX_FILAMENTS:
            raise JobFileError("bad_file", f"plate {index} has more than {MAX_FILAMENTS} filaments")
        filaments.append(PlannedFilament(
            slot=_integer(f.get("id"), "filament id", 1, 1000),
            tray_info_idx=_word(f.get("tray_info_idx")),
            material=_word(f.get("type")),
            color=_color(f.get("color")),
            meters=_number(f.get("used_m"), "used_m", MAX_METERS) or 0.0,
            grams=_number(f.get("used_g"), "used_g", MAX_GRAMS) or 0.0))
    return JobPlan(plate=index,
                   prediction_seconds=_number(meta.get("prediction"), "prediction", MAX_SECONDS),
                   weight_grams=_number(meta.get("weight"), "weight", MAX_GRAMS),
                   filaments=tuple(sorted(filaments, key=lambda f: f.slot)))


def _integer(text: str | None, what: str, low: int, high: int) -> int:
    value = (text or "").strip()
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise JobFileError("bad_file", f"slice_info.config: {what} {value[:20]!r} is not "
                                       f"a whole number {low}..{high}")
    return int(value)


def _number(text: str | None, what: str, high: float) -> float | None:
    """A non-negative finite number up to `high`; None when absent or empty."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    try:
        number = float(value) if value.isascii() else math.nan
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and 0.0 <= number <= high):
        raise JobFileError("bad_file", f"slice_info.config: {what} {value[:20]!r} is not "
                                       f"a number 0..{high:g}")
    return number


def _word(text: str | None) -> str:
    """A material or profile id as a label may carry it: short, plain; else empty."""
    value = (text or "").strip()
    return value if _WORD.fullmatch(value) else ""


def _color(text: str | None) -> str:
    match = _COLOR.fullmatch((text or "").strip())
    return "#" + match.group(1).upper() if match else ""
