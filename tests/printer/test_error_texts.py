"""error_texts.py: Bambu's HMS text file (and a plain {code: text} JSON): loaded, re-read
when it changes, a bad file refused at start, bad entries skipped and counted."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from exporter.errors import ConfigError
from exporter.printer.error_texts import MAX_FILE_BYTES, ErrorTexts, parse_texts
from exporter.printer.snapshot import decode_hms, format_print_error
from exporter.simulator.reports import FAILURES, SERIOUS, WARNINGS
from exporter.text import LABEL_VALUE_LIMIT
from tests.support.waiting import wait_until

pytestmark = pytest.mark.tier("unit")

SHARED = Path(__file__).parents[1] / "support" / "hms_texts.json"


def _bambu(hms: list[object], errors: list[object], lang: str = "en") -> dict[str, object]:
    return {"result": 0, "data": {"device_hms": {"ver": 3, lang: hms},
                                  "device_error": {"ver": 3, lang: errors}}}


def test_the_shared_table_names_every_code_the_simulator_emits() -> None:
    texts = ErrorTexts(str(SHARED))
    codes = [m.code for m in (decode_hms(a, c) for _, a, c in FAILURES) if m]
    codes += [m.code for m in (decode_hms(a, c) for a, c in (*WARNINGS, SERIOUS)) if m]
    assert len(codes) == 9
    for code in codes:
        assert texts.describe(code), code
    for print_error, _, _ in FAILURES:
        assert texts.describe(format_print_error(print_error)), hex(print_error)
    assert texts.rejected_total == 0
    assert "\n" in texts.describe("0300_0400_0001_0002") and "Düse" in texts.describe(
        "0300_0400_0001_0002")


def test_codes_are_matched_with_or_without_separators() -> None:
    table = parse_texts({"0300_0100_0001_0003": "bed", "0300-800a": "clogged",
                         "0C008005": "spaghetti"})
    assert table.texts == {"0300010000010003": "bed", "0300800A": "clogged",
                           "0C008005": "spaghetti"}


def test_texts_are_valid_and_bounded_label_text() -> None:
    # A file is the user's, but a lone surrogate or a novel in it must not break a scrape.
    table = parse_texts({"0300800A": "bad \ud800 text", "0C008005": "x" * 5000})
    assert table.texts["0300800A"].encode("utf-8")
    assert "\ud800" not in table.texts["0300800A"]
    assert len(table.texts["0C008005"]) <= LABEL_VALUE_LIMIT


def test_any_language_key(tmp_path: Path) -> None:
    path = tmp_path / "de.json"
    path.write_text(json.dumps(_bambu([{"ecode": "0300010000010003", "intro": "Heizbett"}],
                                      [{"ecode": "03008012", "intro": "Heizbett"}], "de")))
    texts = ErrorTexts(str(path))
    assert texts.describe("0300_0100_0001_0003") == "Heizbett"
    assert texts.describe("0300_8012") == "Heizbett"
    assert texts.describe("0300_0100_0001_0004") == ""     # not in the table


def test_bad_entries_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "texts.json"
    path.write_text(json.dumps(_bambu(
        [{"ecode": "0300010000010003", "intro": "ok"},
         {"ecode": "03000100", "intro": "an HMS code is 16 digits"},
         {"ecode": "XYZ0010000010003", "intro": "not hex"},
         {"ecode": "0300010000010004"},
         {"ecode": "0300010000010005", "intro": "   "},
         "junk"],
        [{"ecode": "03008012", "intro": "ok"}, {"ecode": 3008012, "intro": "number"}])))
    texts = ErrorTexts(str(path))
    assert len(texts) == 2
    assert texts.rejected_total == 6
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"0300_8012": "ok", "bogus": "x", "0300_8013": ["x"]}))
    assert ErrorTexts(str(plain)).rejected_total == 2


@pytest.mark.parametrize("content, reason", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"data": "x"}', '"data" is not an object'),
    ('{"data": {"device_hms": {"ver": 1}}}', "no \"device_hms\""),
    ('{"x": "y"}', "no usable"),
    ("", "not valid JSON"),
])
def test_a_malformed_file_is_refused_naming_the_flag(tmp_path: Path, content: str,
                                                     reason: str) -> None:
    path = tmp_path / "texts.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        ErrorTexts(str(path))
    assert "--hms.text-file" in str(caught.value) and reason in str(caught.value)


def test_a_file_not_fetched_yet_means_no_words_until_it_appears(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "texts.json"
    texts = ErrorTexts(str(path))
    assert len(texts) == 0 and texts.describe("0300_8012") == ""
    assert "hms-texts fetch" in caplog.text
    shutil.copy(SHARED, path)
    # scrapes look at it; it is read once settled (a second unwritten, or over two looks)
    wait_until(lambda: (texts.refresh(), texts.describe("0300_8012") != "")[1], 5,
               what="the fetched file read")


def test_a_directory_in_its_place_is_refused_naming_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--hms\.text-file .*"):
        ErrorTexts(str(tmp_path))


def test_re_read_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "texts.json"
    shutil.copy(SHARED, path)
    texts = ErrorTexts(str(path))
    before = texts.describe("0300_8012")
    assert before
    texts.refresh()                      # unchanged: nothing happens
    assert texts.describe("0300_8012") == before
    path.write_text(json.dumps({"0300_8012": "Bed too hot, said differently", "bad": 1}))
    os.utime(path, ns=(1, 1))            # a different mtime even on coarse clocks
    # re-read in the background once settled, as scrapes look; a scrape does not wait
    wait_until(lambda: (texts.refresh(),
                        texts.describe("0300_8012") == "Bed too hot, said differently")[1],
               what="re-read")
    assert texts.describe("0C00_8005") == ""                 # the new table only
    assert texts.rejected_total == 1


def test_a_broken_rewrite_keeps_the_last_good_table(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "texts.json"
    shutil.copy(SHARED, path)
    texts = ErrorTexts(str(path))
    path.write_text('{"data": ')         # a half-written file
    texts.refresh(wait=True)
    assert texts.describe("0300_8012")   # still the old text
    assert "cannot be used" in caplog.text
    path.write_text(json.dumps({"0300_8012": "fixed"}))
    os.utime(path, ns=(2, 2))
    texts.refresh(wait=True)
    assert texts.describe("0300_8012") == "fixed"


# ------------------------------------------------------------- hostile files

DEEP = '{"data": ' + "[" * 200_000 + "]" * 200_000 + "}"


def over_the_cap(path: Path) -> None:
    with open(path, "wb") as handle:   # sparse: costs no disk
        handle.truncate(MAX_FILE_BYTES + 1)


def rewrite(path: Path, content: str, stamp: int) -> None:
    path.write_text(content)
    os.utime(path, ns=(stamp, stamp))   # a change even on coarse clocks


def test_a_deeply_nested_file_is_a_bad_file_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "texts.json"
    path.write_text(DEEP)
    with pytest.raises(ConfigError, match=r"--hms\.text-file .*nested too deeply"):
        ErrorTexts(str(path))


def test_a_file_over_the_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "texts.json"
    over_the_cap(path)
    with pytest.raises(ConfigError, match=r"--hms\.text-file .*over the 32 MiB"):
        ErrorTexts(str(path))


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "texts.json"
    os.mkfifo(path)
    with pytest.raises(ConfigError, match="not a regular file"):
        ErrorTexts(str(path))


@pytest.mark.parametrize("breaking", ["deep", "huge", "fifo"])
def test_a_bad_rewrite_keeps_the_last_good_table_and_later_good_ones_load(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, breaking: str) -> None:
    path = tmp_path / "texts.json"
    shutil.copy(SHARED, path)
    texts = ErrorTexts(str(path))
    good = texts.describe("0300_8012")
    for stamp in (10, 11, 12):   # the same bad file, seen again and again
        if breaking == "deep":
            rewrite(path, DEEP, stamp)
        elif breaking == "huge":
            over_the_cap(path)
            os.utime(path, ns=(stamp, stamp))
        else:
            path.unlink(missing_ok=True)
            os.mkfifo(path)
            os.utime(path, ns=(stamp, stamp))
        texts.refresh(wait=True)
        assert texts.describe("0300_8012") == good
    assert caplog.text.count("cannot be used") == 1, caplog.text
    path.unlink()
    rewrite(path, json.dumps({"0300_8012": "fixed"}), 20)
    # in the background, as scrapes look: the reload thread lives on
    wait_until(lambda: (texts.refresh(), texts.describe("0300_8012") == "fixed")[1],
               what="the good file")


def test_a_file_rewritten_every_100ms_logs_once_per_content(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # An editor or a sync tool rewriting in place: each look may catch the file empty,
    # half written or whole, and every write is a new modification time.
    path = tmp_path / "texts.json"
    whole = SHARED.read_text()
    path.write_text(whole)
    texts = ErrorTexts(str(path))
    caplog.clear()
    stop = threading.Event()

    def rewriter() -> None:
        stamp = 100
        while not stop.is_set():
            for content in ("", whole[:50], whole, DEEP):
                stamp += 1
                rewrite(path, content, stamp)
                stop.wait(0.1)

    thread = threading.Thread(target=rewriter)
    thread.start()
    try:
        deadline = time.monotonic() + 3
        looks = 0
        while time.monotonic() < deadline:
            texts.refresh(wait=True)
            looks += 1
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join()
    warnings = caplog.text.count("cannot be used")
    print(f"\n{looks} looks at a file rewritten every 100 ms: {warnings} warnings, "
          f"{caplog.text.count('re-read')} re-reads logged")
    assert 1 <= warnings <= 3          # empty, cut short, too deep: each once at most
    assert "re-read" not in caplog.text   # the whole file again is nothing new
    assert texts.describe("0300_8012")


def test_a_change_is_read_only_once_it_has_settled(tmp_path: Path) -> None:
    """A file being written is not read half-way: a change is read once it has stayed
    the same for a second over two looks (scrapes look; the clock is the test's)."""
    path = tmp_path / "texts.json"
    shutil.copy(SHARED, path)
    now = [0.0]
    texts = ErrorTexts(str(path), clock=lambda: now[0])
    before = texts.describe("0300_8012")
    rewrite(path, json.dumps({"0300_8012": "half"}), 30)
    texts.refresh()
    now[0] += 0.6
    rewrite(path, json.dumps({"0300_8012": "whole"}), 31)   # still being written
    texts.refresh()
    now[0] += 0.6
    texts.refresh()                                           # unchanged for 0.6 s only
    assert texts.describe("0300_8012") == before
    now[0] += 0.6
    texts.refresh()
    wait_until(lambda: texts.describe("0300_8012") == "whole", what="the settled file")
    assert texts.generation == 1   # "half" was never read
