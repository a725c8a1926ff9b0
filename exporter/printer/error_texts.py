"""Words for HMS and print_error codes, from a file the user saves (--hms.text-file).

The texts are Bambu's and the project ships none. Bambu's HMS service answers, per
language, `{"data": {"device_hms": {"en": [{"ecode": "0300010000010001", "intro": "..."}]},
"device_error": {"en": [{"ecode": "03004000", "intro": "..."}]}}}`; a plain
`{"0300_0100_0001_0001": "text"}` JSON works too. Codes are keyed without separators:
16 hex digits for HMS messages, 8 for print errors.

A missing or malformed file stops start-up (ConfigError naming the flag). A bad entry is
skipped and counted. The file is re-read when its modification time or size changes,
in a background thread, so a scrape never waits on parsing a large file; a rewrite that
does not parse keeps the last good table (and says so in the log, once).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.errors import ConfigError
from exporter.text import bounded_text

FLAG = "--hms.text-file"
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


def load_texts(path: str) -> TextTable:
    """Read and parse the file; OSError or ValueError (with the reason) when it cannot."""
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    return parse_texts(document)


def _signature(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


class ErrorTexts:
    """The loaded text table, re-read when the file changes. Thread-safe."""

    def __init__(self, path: str, logger: logging.Logger | None = None) -> None:
        self.path = path
        self._log = logger or logging.getLogger(__name__)
        self._lock = threading.Lock()
        self._signature = _signature(path)
        try:
            table = load_texts(path)
        except OSError as exc:
            raise ConfigError(f"{FLAG} {path}: cannot read it: "
                              f"{exc.strerror or exc}") from None
        except ValueError as exc:
            raise ConfigError(f"{FLAG} {path}: not an HMS text file: {exc}. Save the "
                              "answer of Bambu's HMS service (see README, \"Words for "
                              "errors\") or a {\"code\": \"text\"} JSON object") from None
        self._texts = table.texts
        self._rejected_total = table.rejected
        self._reloading = False
        self.generation = 0   # bumped with each new table: rendered descriptions go stale
        self._note_rejected(table)

    def describe(self, code: str) -> str:
        """An HMS code (AAAA_BBBB_CCCC_DDDD) or print error (XXXX_XXXX) -> text, or ""."""
        with self._lock:
            texts = self._texts
        return texts.get(normalise_code(code), "")

    @property
    def rejected_total(self) -> int:
        with self._lock:
            return self._rejected_total

    def __len__(self) -> int:
        with self._lock:
            return len(self._texts)

    def refresh(self, wait: bool = False) -> None:
        """Cheap when nothing changed (one stat). A changed file is re-read in the
        background, or before returning when `wait` is true (tests, start-up)."""
        signature = _signature(self.path)
        with self._lock:
            if signature == self._signature or self._reloading:
                return
            self._signature = signature
            self._reloading = True
        if wait:
            self._reload()
            return
        threading.Thread(target=self._reload, daemon=True, name="hms-text-reload").start()

    def _reload(self) -> None:
        try:
            table = load_texts(self.path)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self._log.warning("%s %s changed but cannot be used, keeping the %d texts "
                              "loaded before: %s", FLAG, self.path, len(self), reason)
            with self._lock:
                self._reloading = False
            return
        with self._lock:
            self._texts = table.texts
            self._rejected_total += table.rejected
            self._reloading = False
            self.generation += 1
        self._log.info("%s %s re-read: %d texts", FLAG, self.path, len(table.texts))
        self._note_rejected(table)

    def _note_rejected(self, table: TextTable) -> None:
        if table.rejected:
            self._log.warning("%s %s: %d entries skipped (not a code of 8 or 16 hex digits "
                              "with a text); counted in "
                              "bambu_exporter_hms_text_rejected_entries_total",
                              FLAG, self.path, table.rejected)
