"""Words for HMS and print_error codes, from a file the user saves (--hms.text-file).

The texts are Bambu's and the project ships none. Bambu's HMS service answers, per
language, `{"data": {"device_hms": {"en": [{"ecode": "0300010000010001", "intro": "..."}]},
"device_error": {"en": [{"ecode": "03004000", "intro": "..."}]}}}`; a plain
`{"0300_0100_0001_0001": "text"}` JSON works too. Codes are keyed without separators:
16 hex digits for HMS messages, 8 for print errors.

An oversized (MAX_FILE_BYTES) or malformed file (nesting too deep for the JSON parser
included) stops start-up (ConfigError naming the flag); a file not there yet means no
words until `bambu-exporter hms-texts fetch` writes it. A bad entry is skipped and
counted. The file is re-read when its modification time or size changes and has then
settled: stayed the same for SETTLE seconds over two looks, or was last modified that
long ago (a file being written is not read half-way), in a background thread, so a
scrape never waits on parsing a large file; a read that hangs (a stuck mount) is given
up after READ_TIMEOUT and tried again at the next change or look, a few at most hanging
at once; a rewrite that cannot be used
keeps the last good table and is logged once per distinct content, however often it is
rewritten. Only the process that owns the file parses it: worker processes get the
parsed table (TextLookup) over their pipe, so a large file costs its parsing peak once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.errors import ConfigError
from exporter.text import (
    FileRefused,
    HungReads,
    ReadHung,
    SettleRule,
    bounded_text,
    read_regular_file,
)

FLAG = "--hms.text-file"
# Bambu's answer for one language is a few MiB; parsing JSON costs several times its size.
MAX_FILE_BYTES = 32 << 20
_REFUSALS_REMEMBERED = 64   # distinct unusable contents not logged again
SETTLE = 1.0          # seconds a changed file must stay the same before it is read
READ_TIMEOUT = 10.0   # longest a re-read of the file may hang before it is given up
HMS_DIGITS, ERROR_DIGITS = 16, 8
_SEPARATORS = str.maketrans("", "", "_- ")


@dataclass(frozen=True)
class TextTable:
    texts: Mapping[str, str]   # code without separators, upper case -> text
    rejected: int              # entries skipped as invalid


def normalise_code(code: str) -> str:
    """'0300_0100_0001_0001', '0300-0100-...', '03004000' -> upper-case hex, no separators."""
    return code.translate(_SEPARATORS).strip().upper()


def _valid_code(code: Any, digits: tuple[int, ...]) -> str | None:
    if not isinstance(code, str):
        return None
    text = normalise_code(code)
    if len(text) not in digits or any(c not in "0123456789ABCDEF" for c in text):
        return None
    return text


def parse_texts(document: Any) -> TextTable:
    """A decoded JSON document -> TextTable; ValueError when it is not a text table."""
    if not isinstance(document, Mapping):
        raise ValueError("not a JSON object")
    texts: dict[str, str] = {}
    rejected = 0
    if "data" in document:  # Bambu's HMS service
        data = document["data"]
        if not isinstance(data, Mapping):
            raise ValueError('"data" is not an object')
        found = False
        for section, digits in (("device_hms", HMS_DIGITS), ("device_error", ERROR_DIGITS)):
            entries = _first_language(data.get(section))
            if entries is None:
                continue
            found = True
            for entry in entries:
                code = text = None
                if isinstance(entry, Mapping):
                    code = _valid_code(entry.get("ecode"), (digits,))
                    text = entry.get("intro")
                if code is None or not isinstance(text, str) or not text.strip():
                    rejected += 1
                    continue
                texts.setdefault(code, bounded_text(text.strip()))
        if not found:
            raise ValueError('no "device_hms" or "device_error" list of texts under "data"')
    else:  # {"code": "text"}
        for key, value in document.items():
            code = _valid_code(key, (HMS_DIGITS, ERROR_DIGITS))
            if code is None or not isinstance(value, str) or not value.strip():
                rejected += 1
                continue
            texts.setdefault(code, bounded_text(value.strip()))
    if not texts:
        raise ValueError(f"no usable HMS or print error texts ({rejected} entries rejected)")
    return TextTable(texts, rejected)


def _first_language(section: Any) -> list[Any] | None:
    """{"ver": 1, "en": [...]} -> the first language's list (a saved file holds one)."""
    if not isinstance(section, Mapping):
        return None
    for value in section.values():
        if isinstance(value, list):
            return value
    return None


def _refusal(exc: FileRefused) -> str:
    return _too_large(exc.size) if exc.kind == "size" else str(exc)


def _too_large(size: int) -> str:
    return (f"{size / (1 << 20):.1f} MiB, over the {MAX_FILE_BYTES >> 20} MiB an HMS text "
            "file may be (Bambu's are a few MiB)")


def decode_texts(raw: bytes) -> TextTable:
    """The file's bytes -> TextTable; ValueError (with the reason) for any failure."""
    try:
        document = json.loads(raw)
    except RecursionError:
        raise ValueError("nested too deeply to be a text file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    try:
        return parse_texts(document)
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the content, a bad file, not a crash
        raise ValueError(f"unusable: {type(exc).__name__}: {exc}") from None


def _signature(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def _digest(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()


class TextLookup:
    """Texts by code, replaced whole; `generation` changes with each table, so rendered
    descriptions can tell they are stale. Thread-safe. A worker process holds one of
    these, filled by the main process."""

    def __init__(self, texts: Mapping[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._texts: Mapping[str, str] = dict(texts or {})
        self.generation = 0

    def describe(self, code: str) -> str:
        """An HMS code (AAAA_BBBB_CCCC_DDDD) or print error (XXXX_XXXX) -> text, or ""."""
        with self._lock:
            texts = self._texts
        return texts.get(normalise_code(code), "")

    def __len__(self) -> int:
        with self._lock:
            return len(self._texts)

    def table(self) -> tuple[int, Mapping[str, str]]:
        """(generation, texts): what to hand a worker process."""
        with self._lock:
            return self.generation, self._texts

    def replace(self, texts: Mapping[str, str]) -> None:
        with self._lock:
            self._texts = texts
            self.generation += 1


class ErrorTexts(TextLookup):
    """The table loaded from the file, re-read when the file changes. Thread-safe."""

    def __init__(self, path: str, logger: logging.Logger | None = None,
                 settle: float = SETTLE, clock: Callable[[], float] = time.monotonic,
                 read_timeout: float = READ_TIMEOUT,
                 wall: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.path = path
        self._log = logger or logging.getLogger(__name__)
        self._settle = SettleRule(settle, clock, wall)
        self._reads = HungReads(read_timeout)
        self._signature = _signature(path)
        self._refused: OrderedDict[Hashable, None] = OrderedDict()
        self._reloading = False
        self._content = b""
        if self._signature is None and not os.path.lexists(path):
            # Not fetched yet (`bambu-exporter hms-texts fetch` writes it): no words until
            # it appears, then it is read like any change.
            self._rejected_total = 0
            self._log.warning("%s %s: no such file yet, so no words for HMS and print "
                              "errors until it appears (`bambu-exporter hms-texts fetch` "
                              "writes it)", FLAG, path)
            return
        try:
            raw = read_regular_file(path, MAX_FILE_BYTES)
            table = decode_texts(raw)
        except FileRefused as exc:
            raise ConfigError(f"{FLAG} {path}: {_refusal(exc)}") from None
        except OSError as exc:
            raise ConfigError(f"{FLAG} {path}: cannot read it: "
                              f"{exc.strerror or exc}") from None
        except ValueError as exc:
            raise ConfigError(f"{FLAG} {path}: not an HMS text file: {exc}. Save the "
                              "answer of Bambu's HMS service (see docs/configuration.md, "
                              "\"Words for errors\") or a {\"code\": \"text\"} JSON "
                              "object") from None
        self._texts = table.texts
        self._content = _digest(raw)   # what the table was read from
        self._rejected_total = table.rejected
        self._note_rejected(table)

    @property
    def rejected_total(self) -> int:
        with self._lock:
            return self._rejected_total

    def refresh(self, wait: bool = False) -> None:
        """Cheap when nothing changed (one stat). A changed file is re-read once it has
        settled, in the background, or before returning when `wait` is true (tests,
        start-up: read at once)."""
        signature = _signature(self.path)
        with self._lock:
            if signature == self._signature or self._reloading:
                self._settle.forget()
                return
            if not wait and not self._settle.settled(
                    signature, signature[0] if signature is not None else None):
                return
            self._signature = signature
            self._settle.forget()
            self._reloading = True
        if wait:
            self._reload()
            return
        threading.Thread(target=self._reload, daemon=True, name="hms-text-reload").start()

    def _reload(self) -> None:
        # Whatever happens, the next change is looked at again.
        try:
            self._reload_once()
        except Exception as exc:  # noqa: BLE001 - a reload must never stop reloading
            self._refuse(("failed", type(exc).__name__), f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._reloading = False

    def _reload_once(self) -> None:
        try:
            raw = self._reads.run(lambda: read_regular_file(self.path, MAX_FILE_BYTES))
        except ReadHung as exc:
            with self._lock:
                self._signature = None   # not read: look again at the next refresh
            self._refuse(("hung",), f"reading it hangs: {exc}")
            return
        except FileRefused as exc:
            self._refuse(("refused", exc.kind), _refusal(exc))   # a growing file: once
            return
        except OSError as exc:
            reason = f"cannot read it: {exc.strerror or exc}"
            self._refuse(("unreadable", reason), reason)
            return
        content = _digest(raw)
        if content == self._content or content in self._refused:
            return   # rewritten alike (or touched): nothing new to load or to say
        try:
            table = decode_texts(raw)
        except ValueError as exc:
            self._refuse(content, str(exc))
            return
        with self._lock:
            self._texts = table.texts
            self._rejected_total += table.rejected
            self.generation += 1
        self._content = content
        self._refused.clear()   # a new good table: what fails from now on is news
        self._log.info("%s %s re-read: %d texts", FLAG, self.path, len(table.texts))
        self._note_rejected(table)

    def _refuse(self, key: Hashable, reason: str) -> None:
        """Keep the last good table; log once per distinct unusable content (`key`)."""
        if key in self._refused:
            self._refused.move_to_end(key)
            return
        self._refused[key] = None
        if len(self._refused) > _REFUSALS_REMEMBERED:
            self._refused.popitem(last=False)
        self._log.warning("%s %s changed but cannot be used, keeping the %d texts loaded "
                          "before: %s", FLAG, self.path, len(self), reason)

    def _note_rejected(self, table: TextTable) -> None:
        if table.rejected:
            self._log.warning("%s %s: %d entries skipped (not a code of 8 or 16 hex digits "
                              "with a text); counted in "
                              "bambu_exporter_hms_text_rejected_entries_total",
                              FLAG, self.path, table.rejected)
