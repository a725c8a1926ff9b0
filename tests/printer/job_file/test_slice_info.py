"""slice_info.config -> plans: what the slicer writes is read; anything else is bad_file."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.printer.job_file.plan import JobFileError
from exporter.printer.job_file.slice_info import parse_plates
from exporter.simulator.job_3mf import XML_BOMB, Filament, Plate, slice_info

pytestmark = pytest.mark.tier("unit")

PLATES = (Plate(1, 3600, (Filament(1, "GFA00", "PLA", "#FFFFFF", 10.5, 3.52),)),
          Plate(2, 7200, (Filament(1, "GFA00", "PLA", "#0A2CA5", 5.0, 1.68),
                          Filament(3, "GFG99", "PETG", "#FF0000", 20.25, 6.8))))


def test_every_plate_and_filament_is_read() -> None:
    plates = parse_plates(slice_info(PLATES))
    assert sorted(plates) == [1, 2]
    two = plates[2]
    assert two.prediction_seconds == 7200 and two.weight_grams == pytest.approx(25.25)
    assert [(f.slot, f.tray_info_idx, f.material, f.color, f.grams, f.meters)
            for f in two.filaments] == [(1, "GFA00", "PLA", "#0A2CA5", 5.0, 1.68),
                                        (3, "GFG99", "PETG", "#FF0000", 20.25, 6.8)]
    assert two.grams == pytest.approx(25.25)


def test_an_entity_bomb_is_refused_not_expanded() -> None:
    with pytest.raises(JobFileError) as caught:
        parse_plates(XML_BOMB)
    assert caught.value.reason == "bad_file"


@pytest.mark.parametrize("xml", [
    b"not xml", b"<other/>", b"<config/>",
    b'<config><plate><metadata key="index" value="x"/></plate></config>',
    b'<config><plate><metadata key="index" value="1"/><metadata key="weight" value="nan"/>'
    b"</plate></config>",
    b'<config><plate><metadata key="index" value="1"/><filament id="1" used_g="-3"/></plate></config>',
    b'<config><plate><metadata key="index" value="1"/><filament id="1" used_g="1e9"/></plate></config>',
    b'<!DOCTYPE config SYSTEM "http://example.invalid/x.dtd"><config/>',
])
def test_what_the_slicer_never_writes_is_bad_file(xml: bytes) -> None:
    with pytest.raises(JobFileError) as caught:
        parse_plates(xml)
    assert caught.value.reason == "bad_file"


def test_odd_words_and_colours_become_empty_not_labels() -> None:
    xml = (b'<config><plate><metadata key="index" value="1"/>'
           b'<filament id="1" type="PLA\x7f&#10;evil" color="red" tray_info_idx="' + b"x" * 40
           + b'" used_g="1" used_m="0.3"/></plate></config>')
    (f,) = parse_plates(xml)[1].filaments
    assert (f.material, f.color, f.tray_info_idx) == ("", "", "")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_any_bytes_give_plates_or_bad_file(data: bytes) -> None:
    try:
        parse_plates(data)
    except JobFileError as exc:
        assert exc.reason == "bad_file"
