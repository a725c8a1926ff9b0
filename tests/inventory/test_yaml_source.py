from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from exporter.inventory.record import MAX_PRINTERS, InventoryError, PrinterRecord
from exporter.inventory.validate import validate_rows
from exporter.inventory.yaml_file import MAX_FILE_BYTES, YamlSource

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
    rows = YamlSource(path, settle=0).read()
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
    source = YamlSource(path, settle=0)
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
    source = YamlSource(path, settle=0)
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
    records, rejected = validate_rows(YamlSource(path, settle=0).read())
    assert rejected == []
    assert records == [PrinterRecord("007", "10.0.0.1", "1234E5", "01234567")]


def test_missing_keys_and_null_become_blank_rows(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, "printers:\n  - name: a\n    ip: 10.0.0.1\n    serial: S1\n"
                "    access_code: ~\n  - name: b\n    ip: 10.0.0.2\n    serial: S2\n"
                "    access_code: '1'\n  - name: c\n")
    records, rejected = validate_rows(YamlSource(path, settle=0).read())
    assert [r.name for r in records] == ["b"]
    assert [(r.index, r.reason) for r in rejected] == [(0, "blank_field"), (2, "blank_field")]


def test_parsed_again_only_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, GOOD)
    source = YamlSource(path, settle=0)
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
    source = YamlSource(path, settle=0)
    source.read()[0]["printer_name"] = "changed"
    assert source.read()[0]["printer_name"] == "x1c-001"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"nope\.yml: No such file"):
        YamlSource(tmp_path / "nope.yml", settle=0).read()


@pytest.mark.parametrize("text,pattern", [
    ("printers:\n  - name: a\n    ip: [unclosed\n", r"printers\.yml:4:1: not valid YAML"),
    ("printers:\n  - name: a\n  ip: 1\n", r"printers\.yml:3:3: not valid YAML"),
    ("printers:\n\t- name: a\n", r"printers\.yml:2:1: not valid YAML"),
])
def test_malformed_yaml_names_path_and_line(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "printers.yml"
    write(path, text)
    with pytest.raises(InventoryError, match=pattern):
        YamlSource(path, settle=0).read()


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
        YamlSource(path, settle=0).read()


def test_empty_printers_key_is_an_empty_fleet(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, "printers:\n")
    assert YamlSource(path, settle=0).read() == []


def test_broken_file_keeps_failing_until_fixed(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, "printers: [\n")
    source = YamlSource(path, settle=0)
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
        YamlSource(path, settle=0).read()
    assert "31415926" not in str(info.value)
    assert str(path) in str(info.value)


# --- a hostile or half-written file ------------------------------------------------

ALIASES = """\
a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
printers:
  - name: *c
    ip: 127.0.10.1
    serial: 00M09A350100001
    access_code: "12345678"
"""


def test_aliases_are_refused_at_load(tmp_path: Path) -> None:
    """Nested aliases load cheaply but expand to 10^n shared values: comparing them with
    the last rows froze the exporter for 98 s at nine levels. None is needed here."""
    path = tmp_path / "printers.yml"
    write(path, ALIASES)
    with pytest.raises(InventoryError, match=r"printers.yml:2:\d+: not valid YAML: aliases "
                                             r"\(\*name\) are not allowed"):
        YamlSource(path, settle=0).read()


def test_a_change_is_applied_only_once_it_has_settled(tmp_path: Path) -> None:
    """A generator writing in pieces: the half it wrote first (3 of 6 printers) must not
    be served, however many reads see it; the whole file is, once it stays unchanged."""
    six = "printers:\n" + "".join(
        f"  - name: p{i}\n    ip: 127.0.10.{i}\n    serial: 01P00A35010000{i}\n"
        f"    access_code: \"1234567{i}\"\n" for i in range(1, 7))
    three = six[:six.index("  - name: p4")]
    now = [100.0]
    path = tmp_path / "printers.yml"
    write(path, three)
    source = YamlSource(path, settle=1.0, clock=lambda: now[0])
    assert len(source.read()) == 3           # the first read: nothing else to serve
    write(path, six, bump=5)
    with open(path, "r+b") as f:             # rewritten in place: first half of it only
        f.truncate(len(three) + 10)
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 6_000_000_000))
    for _ in range(3):
        now[0] += 0.4
        assert len(source.read()) == 3       # changing: the last list serves
    write(path, six, bump=7)                 # done
    now[0] += 0.4
    assert len(source.read()) == 3           # first look at the finished file
    now[0] += 0.5
    assert len(source.read()) == 3           # settled for 0.5 s only
    now[0] += 0.6
    assert len(source.read()) == 6           # unchanged for a second over two looks
    assert source.parses == 2


def test_a_fifo_is_refused_saying_what_it_is_and_never_waited_on(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    os.mkfifo(path)
    with pytest.raises(InventoryError, match=r"a FIFO \(named pipe\), not a regular file"):
        YamlSource(path, settle=0).read()


def test_size_and_entry_caps(tmp_path: Path) -> None:
    path = tmp_path / "printers.yml"
    write(path, GOOD + "#" * MAX_FILE_BYTES)
    with pytest.raises(InventoryError, match="larger than 2 MiB"):
        YamlSource(path, settle=0).read()
    entry = ("  - name: p\n    ip: 127.0.10.1\n    serial: 01P00A350100001\n"
             "    access_code: \"12345678\"\n")
    write(path, "printers:\n" + entry * (MAX_PRINTERS + 1))
    source = YamlSource(path, settle=0)
    with pytest.raises(InventoryError, match=f"{MAX_PRINTERS + 1} printers entries, more "
                                             f"than the {MAX_PRINTERS}"):
        source.read()


def test_a_change_written_a_while_ago_is_taken_at_the_first_look(tmp_path: Path) -> None:
    """A file nobody has written for the settle time is done: no second look needed, so
    a change made between two scrapes is served by the next one."""
    path = tmp_path / "printers.yml"
    write(path, GOOD)
    source = YamlSource(path, settle=1.0, clock=lambda: 0.0)
    assert len(source.read()) == 2
    write(path, GOOD.replace("x1c-001", "x1c-011"))
    now = time.time()
    os.utime(path, (now - 5, now - 5))    # last written 5 s ago
    assert source.read()[0]["printer_name"] == "x1c-011"
    write(path, GOOD.replace("x1c-001", "x1c-012"))   # written just now: look again
    assert source.read()[0]["printer_name"] == "x1c-011"
