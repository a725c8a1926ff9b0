from __future__ import annotations

import os
from pathlib import Path

import pytest

from exporter.inventory.record import InventoryError, PrinterRecord
from exporter.inventory.validate import validate_rows
from exporter.inventory.yaml_file import YamlSource

pytestmark = pytest.mark.tier("unit")

GOOD = """\
printers:
  - name: x1c-001
    ip: 127.0.10.1
    serial: 00M09A350100001
    access_code: "12345678"
    model: X1C
  - name: p1s-002
    ip: 127.0.10.2
    serial: 01P00A350100002
    access_code: "87654321"
"""


def write(path: Path, text: str, bump: int = 0) -> None:
    path.write_text(text)
    if bump:  # an mtime in whole seconds apart, whatever the file system's resolution
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))


def test_reads_the_simulator_format_into_db_shaped_rows(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, GOOD)
    rows = YamlSource(path).read()
    assert rows == [
        {"printer_name": "x1c-001", "printer_ip": "127.0.10.1",
         "printer_bambu_id": "00M09A350100001", "access_code": "12345678",
         "_place": "printers entry 1 (line 2)"},
        {"printer_name": "p1s-002", "printer_ip": "127.0.10.2",
         "printer_bambu_id": "01P00A350100002", "access_code": "87654321",
         "_place": "printers entry 2 (line 7)"},
    ]


def test_a_misspelt_key_rejects_its_entry_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, GOOD.replace("    ip: 127.0.10.2", "    adress: 127.0.10.2"))
    source = YamlSource(path)
    records, rejected = validate_rows(source.read(), source.field_names)
    assert [r.name for r in records] == ["x1c-001"]   # `model` is known, and ignored
    assert [(r.index, r.reason) for r in rejected] == [(1, "unknown_key")]
    assert rejected[0].message == (
        "printers entry 2 (line 7) (p1s-002): unknown key 'adress' (known: name, ip, serial, "
        "access_code); did you mean 'ip'?")


def test_messages_use_the_files_field_names_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, "printers:\n  - {name: a, ip: 10.0.0.1, serial: S1, access_code: '1'}\n"
                "  - {name: b, ip: 10.0.0.2, serial: S2, access_code: '2'}\n"
                "  -\n    name: c\n    serial: S3\n    access_code: '3'\n"
                "  - {name: d, ip: '0.0.0.0', serial: S1, access_code: '4'}\n")
    source = YamlSource(path)
    _, rejected = validate_rows(source.read(), source.field_names)
    assert [r.message for r in rejected] == [
        "printers entry 3 (line 5) (c): blank ip",
        "printers entry 4 (line 8) (d): ip '0.0.0.0' is the unspecified address, not a "
        "printer's"]
    write(path, "printers:\n  - {name: a, ip: 10.0.0.1, serial: S1, access_code: '1'}\n"
                "  - {name: b, ip: 10.0.0.2, serial: S1, access_code: '2'}\n", bump=5)
    _, rejected = validate_rows(source.read(), source.field_names)
    assert [r.message for r in rejected] == [
        "printers entry 2 (line 3) (b): serial S1 already used by printers entry 1 (line 2)"]


def test_unquoted_numbers_stay_text_with_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, "printers:\n  - name: 007\n    ip: 10.0.0.1\n    serial: 1234E5\n"
                "    access_code: 01234567\n")
    records, rejected = validate_rows(YamlSource(path).read())
    assert rejected == []
    assert records == [PrinterRecord("007", "10.0.0.1", "1234E5", "01234567")]


def test_missing_keys_and_null_become_blank_rows(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, "printers:\n  - name: a\n    ip: 10.0.0.1\n    serial: S1\n"
                "    access_code: ~\n  - name: b\n    ip: 10.0.0.2\n    serial: S2\n"
                "    access_code: '1'\n  - name: c\n")
    records, rejected = validate_rows(YamlSource(path).read())
    assert [r.name for r in records] == ["b"]
    assert [(r.index, r.reason) for r in rejected] == [(0, "blank_field"), (2, "blank_field")]


def test_parsed_again_only_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, GOOD)
    source = YamlSource(path)
    first = source.read()
    assert source.read() == first
    assert source.parses == 1
    write(path, GOOD.replace("x1c-001", "x1c-009"), bump=5)
    assert source.read()[0]["printer_name"] == "x1c-009"
    assert source.parses == 2
    # Replaced by rename (as editors and the simulator do): a new inode.
    new = tmp_path / "new.yml"
    write(new, GOOD.replace("x1c-001", "x1c-010"))
    os.replace(new, path)
    assert source.read()[0]["printer_name"] == "x1c-010"
    assert source.parses == 3


def test_returned_rows_are_copies(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, GOOD)
    source = YamlSource(path)
    source.read()[0]["printer_name"] = "changed"
    assert source.read()[0]["printer_name"] == "x1c-001"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"nope\.yml: No such file"):
        YamlSource(tmp_path / "nope.yml").read()


@pytest.mark.parametrize("text,pattern", [
    ("printers:\n  - name: a\n    ip: [unclosed\n", r"printers\.yml:4:1: not valid YAML"),
    ("printers:\n  - name: a\n  ip: 1\n", r"printers\.yml:3:3: not valid YAML"),
    ("printers:\n\t- name: a\n", r"printers\.yml:2:1: not valid YAML"),
])
def test_malformed_yaml_names_path_and_line(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "printers.yml"
    write(path, text)
    with pytest.raises(InventoryError, match=pattern):
        YamlSource(path).read()


@pytest.mark.parametrize("text,pattern", [
    ("", "expected a mapping with a 'printers' list at the top, found nothing"),
    ("- name: a\n", "expected a mapping .* found a list"),
    ("hosts: []\n", "expected a mapping .* found a mapping"),
    ("printers: x1c\n", "'printers' must be a list, found text"),
    ("printers:\n  - x1c-001\n", r"printers entry 1 \(line 2\) must be a mapping"),
])
def test_wrong_shape(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "printers.yml"
    write(path, text)
    with pytest.raises(InventoryError, match=pattern):
        YamlSource(path).read()


def test_empty_printers_key_is_an_empty_fleet(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, "printers:\n")
    assert YamlSource(path).read() == []


def test_broken_file_keeps_failing_until_fixed(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, "printers: [\n")
    source = YamlSource(path)
    for _ in range(2):
        with pytest.raises(InventoryError):
            source.read()
    assert source.parses == 1
    write(path, GOOD, bump=5)
    assert len(source.read()) == 2


def test_yaml_error_does_not_quote_the_line_with_the_access_code(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, 'printers:\n  - name: a\n    access_code: "31415926\n')
    with pytest.raises(InventoryError) as info:
        YamlSource(path).read()
    assert "31415926" not in str(info.value)
    assert str(path) in str(info.value)
