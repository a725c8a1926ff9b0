"""A 3MF -> its plate's plan, with the ZIP capped in size and ratio."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from exporter.printer.job_file.plan import JobFileError
from exporter.printer.job_file.three_mf import plate_number, read_plan
from exporter.simulator.job_3mf import Filament, Kind, Plate, write_3mf

pytestmark = pytest.mark.tier("unit")

PLATES = (Plate(1, 3600, (Filament(1, "GFA00", "PLA", "#FFFFFF", 10.5, 3.52),)),
          Plate(2, 7200, (Filament(2, "GFG99", "PETG", "#FF0000", 20.25, 6.8),)))


def written(tmp_path: Path, kind: Kind = Kind.NORMAL, size: int = 0) -> Path:
    path = tmp_path / "job.gcode.3mf"
    write_3mf(path, PLATES, 2, kind, size)
    return path


def test_the_plate_asked_for_is_read(tmp_path: Path) -> None:
    with written(tmp_path).open("rb") as f:
        plan = read_plan(f, 2)
    assert plan.plate == 2 and plan.filaments[0].material == "PETG"
    # not told: the plate whose G-code the file carries (it was sent to print plate 2)
    with written(tmp_path).open("rb") as f:
        assert read_plan(f, None).plate == 2


def test_a_plate_the_file_lacks_is_bad_file(tmp_path: Path) -> None:
    with written(tmp_path).open("rb") as f, pytest.raises(JobFileError) as caught:
        read_plan(f, 5)
    assert caught.value.reason == "bad_file" and "no plate 5" in str(caught.value)


def test_a_zip_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    with written(tmp_path, Kind.ZIP_BOMB).open("rb") as f, pytest.raises(JobFileError) as caught:
        read_plan(f, 2)
    assert caught.value.reason == "too_large"


def test_a_high_ratio_member_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("Metadata/slice_info.config", b"<config>" + b" " * 1_500_000 + b"</config>")
    buffer.seek(0)
    with pytest.raises(JobFileError) as caught:
        read_plan(buffer, None)
    assert caught.value.reason == "bad_file" and "ZIP bomb" in str(caught.value)


def test_traversal_names_are_never_paths(tmp_path: Path) -> None:
    # a member named like an escape is not the slice_info, and nothing is extracted
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("../../Metadata/slice_info.config", b"<config/>")
        z.writestr("/etc/Metadata/slice_info.config", b"<config/>")
    buffer.seek(0)
    with pytest.raises(JobFileError) as caught:
        read_plan(buffer, None)
    assert caught.value.reason == "bad_file" and "has no Metadata/slice_info.config" in str(caught.value)
    assert not (tmp_path / "Metadata").exists()


@pytest.mark.parametrize("data", [b"", b"PK\x05\x06" + b"\0" * 18, b"garbage" * 100])
def test_not_a_zip_is_bad_file(data: bytes) -> None:
    with pytest.raises(JobFileError) as caught:
        read_plan(io.BytesIO(data), None)
    assert caught.value.reason == "bad_file"


def test_the_plate_number_comes_from_param_or_gcode_file() -> None:
    assert plate_number("Metadata/plate_12.gcode") == 12
    assert plate_number("", "/data/Metadata/plate_3.gcode") == 3
    assert plate_number("Benchy.gcode.3mf", "") is None
