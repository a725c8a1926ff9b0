from __future__ import annotations

import pytest

from exporter.inventory.record import PrinterRecord
from exporter.inventory.validate import is_valid_address, validate_rows

pytestmark = pytest.mark.tier("unit")


def row(name: object = "x1c-001", ip: object = "192.168.1.10",
        serial: object = "00M09A350100001", code: object = "12345678") -> dict[str, object]:
    return {"printer_name": name, "printer_ip": ip, "printer_bambu_id": serial,
            "access_code": code}


def test_good_rows_become_records_in_order_with_whitespace_stripped() -> None:
    records, rejected = validate_rows([
        row(name="  b ", ip=" 10.0.0.2\t", serial=" S2 ", code=" 22222222 "),
        row(name="a", ip="printer-a.lan", serial="S1", code="11111111"),
    ])
    assert rejected == []
    assert records == [PrinterRecord("b", "10.0.0.2", "S2", "22222222"),
                       PrinterRecord("a", "printer-a.lan", "S1", "11111111")]


@pytest.mark.parametrize("column", ["printer_name", "printer_ip", "printer_bambu_id",
                                    "access_code"])
@pytest.mark.parametrize("value", [None, "", "   ", "\t\n"])
def test_blank_field_is_rejected_and_others_carry_on(column: str, value: object) -> None:
    bad = row(serial="BAD")
    bad[column] = value
    records, rejected = validate_rows([row(serial="S1"), bad, row(serial="S3")])
    assert [r.serial for r in records] == ["S1", "S3"]
    assert len(rejected) == 1
    assert rejected[0].index == 1
    assert rejected[0].reason == "blank_field"
    assert column in rejected[0].message


def test_missing_key_counts_as_blank() -> None:
    records, rejected = validate_rows([{"printer_name": "a", "printer_ip": "10.0.0.1",
                                        "printer_bambu_id": "S"}])
    assert records == []
    assert rejected[0].reason == "blank_field" and "access_code" in rejected[0].message


@pytest.mark.parametrize("address", ["not an ip", "192.168.1.300", "192.168.1", "a..b",
                                     "-host", "host-", "under_score.lan", "10.0.0.1:8883",
                                     "http://10.0.0.1", "x" * 64, "é.lan"])
def test_bad_address_is_rejected_and_others_carry_on(address: str) -> None:
    records, rejected = validate_rows([row(serial="S1"), row(name="bad", ip=address,
                                                             serial="S2")])
    assert [r.serial for r in records] == ["S1"]
    assert [(r.index, r.name_or_serial_hint, r.reason) for r in rejected] == \
        [(1, "bad", "bad_address")]
    assert repr(address) in rejected[0].message


@pytest.mark.parametrize("address", ["10.0.0.1", "::1", "fe80::1%eth0", "printer",
                                     "p1s-garage.example.com", "p1s.lan.", "1host", "a-b"])
def test_valid_addresses(address: str) -> None:
    assert is_valid_address(address)


def test_duplicate_serial_keeps_the_first_row() -> None:
    records, rejected = validate_rows([
        row(name="first", serial="S1"), row(name="other", serial="S2"),
        row(name="second", serial=" S1 "),
    ])
    assert [r.name for r in records] == ["first", "other"]
    assert [(r.index, r.name_or_serial_hint, r.reason) for r in rejected] == \
        [(2, "second", "duplicate_serial")]
    assert "row 3 (second): printer_bambu_id S1 already used by row 1" in rejected[0].message


def test_rejected_duplicate_does_not_claim_the_serial_when_the_first_is_bad() -> None:
    # The first row with S1 is rejected for its address, so the second one is the printer.
    records, rejected = validate_rows([row(name="a", ip="bad ip", serial="S1"),
                                       row(name="b", serial="S1")])
    assert [r.name for r in records] == ["b"]
    assert [r.reason for r in rejected] == ["bad_address"]


@pytest.mark.parametrize("column,value", [("access_code", 1234567),
                                          ("printer_bambu_id", 100000.0),
                                          ("printer_name", True)])
def test_value_that_is_not_text_is_rejected(column: str, value: object) -> None:
    bad = row()
    bad[column] = value
    records, rejected = validate_rows([bad, row(serial="S2")])
    assert [r.serial for r in records] == ["S2"]
    assert rejected[0].reason == "not_text"
    assert column in rejected[0].message


def test_hint_falls_back_to_serial_then_position() -> None:
    _, rejected = validate_rows([row(name=None, serial="SER1"),
                                 row(name=" ", serial=None)])
    assert [r.name_or_serial_hint for r in rejected] == ["SER1", "row 2"]


def test_rejections_never_hold_the_access_code() -> None:
    code = "98765432"
    _, rejected = validate_rows([row(ip="bad ip", code=code), row(name=None, code=code),
                                 row(serial="S"), row(serial="S", code=code)])
    assert len(rejected) == 3
    for r in rejected:
        assert code not in repr(r)


def test_record_repr_hides_the_access_code() -> None:
    records, _ = validate_rows([row(code="98765432")])
    assert "98765432" not in repr(records[0]) and "98765432" not in str(records)


@pytest.mark.parametrize("address,why", [("0.0.0.0", "unspecified"), ("::", "unspecified"),
                                         ("255.255.255.255", "broadcast"),
                                         ("224.0.0.251", "multicast"),
                                         ("239.255.255.250", "multicast"),
                                         ("ff02::1", "multicast")])
def test_unusable_addresses_are_rejected_with_the_reason(address: str, why: str) -> None:
    records, rejected = validate_rows([row(ip=address), row(serial="S2")])
    assert [r.serial for r in records] == ["S2"]
    assert rejected[0].reason == "bad_address"
    assert why in rejected[0].message and repr(address) in rejected[0].message


def test_text_is_made_valid_utf8() -> None:
    # "\ud83d\udda8" is how json.dumps writes an emoji; PyYAML leaves the two halves apart.
    records, rejected = validate_rows([row(name="\ud83d\udda8 bay", serial="S1"),
                                       row(name="lone \ud800", serial="S2\udfff")])
    assert rejected == []
    assert [r.name for r in records] == ["\U0001f5a8 bay", "lone \ufffd"]
    assert records[1].serial == "S2\ufffd"
    for record in records:
        for text in (record.name, record.ip, record.serial, record.access_code):
            text.encode("utf-8")


def test_overlong_fields_are_rejected() -> None:
    records, rejected = validate_rows([row(name="n" * 1000), row(serial="S" * 1000),
                                       row(serial="S3")])
    assert [r.serial for r in records] == ["S3"]
    assert [r.reason for r in rejected] == ["too_long", "too_long"]
    assert "printer_name" in rejected[0].message and "printer_bambu_id" in rejected[1].message


@pytest.mark.parametrize("serial", ["S/1", "S+", "#", "S 1", "S\n1", "S\x00"])
def test_serial_that_cannot_name_an_mqtt_topic_is_rejected(serial: str) -> None:
    records, rejected = validate_rows([row(serial=serial), row(serial="S2")])
    assert [r.serial for r in records] == ["S2"]
    assert rejected[0].reason == "bad_serial"


def test_a_name_may_hold_any_text() -> None:
    records, rejected = validate_rows([row(name="two\nlines \"quoted\" \\ \x00")])
    assert rejected == [] and records[0].name == "two\nlines \"quoted\" \\ \x00"


def test_serials_are_upper_cased_where_they_enter() -> None:
    records, rejected = validate_rows([row(name="lower", serial="01p00a350100001")])
    assert [r.serial for r in records] == ["01P00A350100001"] and not rejected


def test_serials_differing_only_in_case_are_duplicates() -> None:
    records, rejected = validate_rows([row(name="first", serial="01P00A350100001"),
                                       row(name="second", serial="01p00a350100001")])
    assert [r.name for r in records] == ["first"]
    assert [(r.name_or_serial_hint, r.reason) for r in rejected] == \
        [("second", "duplicate_serial")]
    assert "compared in upper case" in rejected[0].message
