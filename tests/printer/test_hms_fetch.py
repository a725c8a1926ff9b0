"""`bambu-exporter hms-texts fetch` against a local stand-in of Bambu's HMS texts service
(the simulator's, with texts of our own), answering well and answering as a broken
service would: the file is replaced only by a complete, well-formed set.

The stand-in listens on a free port of 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.cli import main
from exporter.printer.error_texts import ErrorTexts
from exporter.simulator.texts_service import ERROR_TEXTS, HMS_TEXTS, TextsService

pytestmark = pytest.mark.tier("e2e")


@pytest.fixture()
def service() -> Iterator[TextsService]:
    with TextsService() as stand_in:
        yield stand_in


@pytest.fixture()
def printers(tmp_path: Path) -> Path:
    path = tmp_path / "printers.yaml"
    path.write_text(json.dumps({"printers": [
        {"name": "a", "ip": "192.0.2.1", "serial": "00M09A350100001", "access_code": "12345678"},
        {"name": "b", "ip": "192.0.2.2", "serial": "0940000000000003", "access_code": "12345678"},
        {"name": "c", "ip": "192.0.2.3", "serial": "00M09A350100002", "access_code": "12345678"},
    ]}))
    return path


def fetch(service: TextsService, target: Path, *extra: str) -> int:
    return main(["hms-texts", "fetch", "--hms.service-url", service.url,
                 "--hms.text-file", str(target), "--timeout", "2s", *extra])


def test_fetches_the_list_prefixes_into_a_file_the_exporter_reads(
        service: TextsService, printers: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "hms.json"
    assert fetch(service, target, "--printers.file", str(printers)) == 0
    # one question per prefix of the list (00M twice in it), in the service's own form
    assert sorted(service.requests) == ["/query.php?lang=en&v=0&d=00M",
                                        "/query.php?lang=en&v=0&d=094"]
    texts = ErrorTexts(str(target))
    assert texts.describe("0C00_0300_0001_0005") == HMS_TEXTS["en"]["0C00030000010005"]
    assert texts.describe("0C00_8005") == ERROR_TEXTS["en"]["0C008005"]
    document = json.loads(target.read_text())
    source = document["source"]
    assert source["service"] == service.url and source["languages"] == ["en"]
    assert source["fetched_at"].endswith("+00:00") and set(source["versions"]) == {"00M", "094"}
    assert "saved" in capsys.readouterr().out
    assert target.stat().st_mode & 0o777 == 0o644


def test_languages_in_the_order_asked_the_first_shown(service: TextsService,
                                                      tmp_path: Path) -> None:
    target = tmp_path / "hms.json"
    assert fetch(service, target, "--prefix", "094", "--lang", "DE", "--lang", "en") == 0
    assert ErrorTexts(str(target)).describe("0300_800A") == ERROR_TEXTS["de"]["0300800A"]
    assert list(json.loads(target.read_text())["data"]["device_hms"]) == ["de", "en"]


def test_an_empty_list_fetches_every_known_model(service: TextsService, tmp_path: Path) -> None:
    empty = tmp_path / "printers.yaml"
    empty.write_text("printers: []\n")
    assert fetch(service, tmp_path / "hms.json", "--printers.file", str(empty)) == 0
    assert len(service.requests) >= 10


@pytest.mark.parametrize("misbehave, reason", [
    ("html", "answered HTML"),
    ("error_500", "HTTP 500"),
    ("not_json", "not JSON"),
    ("other_language", "answered in zh-cn, not in en"),
    ("empty", "no texts in en"),
    ("redirect_elsewhere", "redirected elsewhere (http://203.0.113.9/"),
    ("endless", "cap"),
    ("silent", "no answer within the timeout"),
])
def test_a_broken_answer_keeps_the_file_as_it_was(
        service: TextsService, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        misbehave: str, reason: str) -> None:
    target = tmp_path / "hms.json"
    assert fetch(service, target, "--prefix", "00M") == 0
    before = target.read_bytes()
    capsys.readouterr()
    service.misbehave = misbehave
    assert fetch(service, target, "--prefix", "00M", "--timeout", "1s") == 1
    err = capsys.readouterr().err
    assert reason in err and "kept as it was" in err and "Traceback" not in err
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["hms.json"]   # no temporary left


def test_nothing_written_where_there_was_nothing(service: TextsService, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    service.misbehave = "html"
    assert fetch(service, tmp_path / "hms.json", "--prefix", "00M") == 1
    assert "not written" in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_codes_that_are_not_hex_are_skipped_and_counted(
        service: TextsService, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    service.misbehave = "not_hex"
    target = tmp_path / "hms.json"
    assert fetch(service, target, "--prefix", "00M") == 0
    assert "3 entries skipped" in capsys.readouterr().out
    codes = {e["ecode"] for e in json.loads(target.read_text())["data"]["device_hms"]["en"]}
    assert codes == set(HMS_TEXTS["en"])


def test_control_characters_are_cleaned_and_markup_stays_text(
        service: TextsService, tmp_path: Path) -> None:
    service.misbehave = "markup"
    target = tmp_path / "hms.json"
    assert fetch(service, target, "--prefix", "00M") == 0
    text = ErrorTexts(str(target)).describe("0C00_8005")
    assert text == '<script>alert("x")</script><b>Spaghetti</b> [31m stopped & "held"'


def test_a_redirect_within_the_service_is_followed(service: TextsService,
                                                   tmp_path: Path) -> None:
    service.misbehave = "redirect_here"
    assert fetch(service, tmp_path / "hms.json", "--prefix", "00M") == 0
    assert service.requests[-1].endswith("&moved=1")


@pytest.mark.parametrize("args, reason", [
    (["--lang", "english!"], "not a language code"),
    (["--prefix", "0!"], "does not start with a serial prefix"),
    (["--hms.service-url", "ftp://example.org"], "not an http:// or https:// URL"),
    (["--hms.service-url", "http://user:pw@127.0.0.1:1"], "must not carry a user"),
    (["--hms.service-url", "ftp://user:pw@example.org"], "must not carry a user"),
    (["--hms.service-url", "http://127.0.0.1:99999"], "'http://127.0.0.1:99999' has an "
                                                      "invalid port"),
    (["--timeout", "soon"], "--timeout"),
])
def test_bad_flags_exit_2_naming_them(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      args: list[str], reason: str) -> None:
    base = ["hms-texts", "fetch", "--hms.text-file", str(tmp_path / "hms.json"),
            "--prefix", "00M"]
    assert main(base + args) == 2
    err = capsys.readouterr().err
    assert reason in err and "pw" not in err.replace(reason, "")


def test_where_to_write_must_be_usable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hms-texts", "fetch", "--prefix", "00M"]) == 2
    assert main(["hms-texts", "fetch", "--prefix", "00M", "--hms.text-file",
                 str(tmp_path / "no" / "such.json")]) == 2
    assert main(["hms-texts", "fetch", "--prefix", "00M", "--hms.text-file",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not given" in err and "directory does not exist" in err and "not a regular" in err


def test_an_unreadable_printer_list_exits_2(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hms-texts", "fetch", "--hms.text-file", str(tmp_path / "hms.json"),
                 "--printers.file", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
