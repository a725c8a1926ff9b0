"""Pure: Bambu's HMS texts service, the questions and the answers.

The service (what Bambu Studio queries) answers `GET /query.php?lang=<lang>&v=0&d=<first
three characters of a serial>` with `{"result": 0, "ver": .., "data": {"device_hms":
{"<lang>": [{"ecode": 16 hex, "intro": text}]}, "device_error": {"<lang>": [{"ecode": 8
hex, "intro": text}]}}}`. An unknown language answers an empty set, and it has been seen
answering one language only for a while: every answer is checked before it may replace
the texts a user has (`read_answer` raises AnswerRefused, naming what is wrong).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from exporter.printer.error_texts import ERROR_DIGITS, HMS_DIGITS, normalise_code
from exporter.text import bounded_text

DEFAULT_SERVICE = "https://e.bambulab.com"
QUERY_PATH = "/query.php"
SECTIONS: tuple[tuple[str, int], ...] = (("device_hms", HMS_DIGITS),
                                         ("device_error", ERROR_DIGITS))
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})?")
_PREFIX = re.compile(r"[0-9A-Z]{3}")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_HEX = frozenset("0123456789ABCDEF")
TEXT_LIMIT = 2000   # characters of one text kept; Bambu's longest are a few hundred


class AnswerRefused(ValueError):
    """An answer that must not replace the texts a user has; says why."""


def language(text: str) -> str:
    """'EN', 'zh_CN' -> 'en', 'zh-cn' (the service's spelling); ValueError otherwise."""
    lang = text.strip().lower().replace("_", "-")
    if not _LANGUAGE.fullmatch(lang):
        raise ValueError(f"{text!r} is not a language code such as en, de, fr, ja or zh-cn")
    return lang


def serial_prefix(text: str) -> str:
    """A serial number or its first three characters -> the prefix the service takes."""
    prefix = text.strip().upper()[:3]
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"{text!r} does not start with a serial prefix (three letters or "
                         "digits, such as 00M or 094)")
    return prefix


def prefixes_of(serials: Iterable[str]) -> list[str]:
    """The distinct valid prefixes of the serials, sorted; invalid serials are skipped."""
    found: set[str] = set()
    for serial in serials:
        try:
            found.add(serial_prefix(serial))
        except ValueError:
            continue
    return sorted(found)


def query(prefix: str, lang: str) -> str:
    """The path and query of one question."""
    return f"{QUERY_PATH}?{urlencode({'lang': lang, 'v': '0', 'd': prefix})}"


def clean_text(text: str) -> str:
    """Control characters (newlines included) become one space; the rest stays as written.
    Markup stays text: every page escapes what it shows."""
    return bounded_text(" ".join(_CONTROLS.sub(" ", text).split()), TEXT_LIMIT)


@dataclass
class Answer:
    """The usable texts of one answer (one prefix, one language)."""

    hms: dict[str, str] = field(default_factory=dict)      # 16 hex digits -> text
    errors: dict[str, str] = field(default_factory=dict)   # 8 hex digits -> text
    version: str = ""
    rejected: int = 0    # entries skipped: a code that is not hex of the right length, no text
    cleaned: int = 0     # texts whose control characters were replaced

    def __len__(self) -> int:
        return len(self.hms) + len(self.errors)


def read_answer(body: bytes, lang: str) -> Answer:
    """One answer's body -> its texts in `lang`. AnswerRefused for HTML, anything not the
    service's JSON, a result other than 0, and texts in another language only. An empty
    set is an Answer of length 0 (the caller decides)."""
    head = body.lstrip()[:1]
    if head == b"<":
        raise AnswerRefused("answered HTML, not the service's JSON (a login or error page?)")
    try:
        document = json.loads(body)
    except RecursionError:
        raise AnswerRefused("answered JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise AnswerRefused(f"answered something that is not JSON ({exc})") from None
    if not isinstance(document, Mapping):
        raise AnswerRefused("answered JSON that is not an object")
    result = document.get("result")
    if result != 0:
        raise AnswerRefused(f"answered result {_short(result)}, not 0")
    data = document.get("data")
    if not isinstance(data, Mapping):
        raise AnswerRefused('answered without a "data" object')
    answer = Answer(version=_short(document.get("ver")))
    others: set[str] = set()
    for section, digits in SECTIONS:
        by_language = data.get(section)
        if by_language is None:
            continue
        if not isinstance(by_language, Mapping):
            raise AnswerRefused(f'answered a "{section}" that is not an object')
        entries = by_language.get(lang)
        others.update(str(key)[:20] for key, value in by_language.items()
                      if key != lang and isinstance(value, list) and value)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise AnswerRefused(f'answered a "{section}" "{lang}" that is not a list')
        target = answer.hms if section == "device_hms" else answer.errors
        for entry in entries:
            _take(entry, digits, target, answer)
    if not answer and others:
        raise AnswerRefused(f"answered in {', '.join(sorted(others))}, not in {lang}")
    return answer


def _take(entry: Any, digits: int, target: dict[str, str], answer: Answer) -> None:
    code = text = None
    if isinstance(entry, Mapping):
        code, text = entry.get("ecode"), entry.get("intro")
    if not isinstance(code, str) or not isinstance(text, str):
        answer.rejected += 1
        return
    code = normalise_code(code)
    cleaned = clean_text(text)
    if len(code) != digits or not set(code) <= _HEX or not cleaned:
        answer.rejected += 1
        return
    if cleaned != text.strip():
        answer.cleaned += 1
    target.setdefault(code, cleaned)


def _short(value: Any) -> str:
    return bounded_text(str(value), 40) if value is not None else ""


@dataclass
class Fetched:
    """What one run gathered: per language, the texts of every prefix merged (the first
    prefix asked wins a code that two prefixes word differently)."""

    languages: list[str]
    hms: dict[str, dict[str, str]] = field(default_factory=dict)      # lang -> code -> text
    errors: dict[str, dict[str, str]] = field(default_factory=dict)
    versions: dict[str, dict[str, str]] = field(default_factory=dict)  # prefix -> lang -> ver
    rejected: int = 0
    cleaned: int = 0

    def add(self, prefix: str, lang: str, answer: Answer) -> None:
        for code, text in answer.hms.items():
            self.hms.setdefault(lang, {}).setdefault(code, text)
        for code, text in answer.errors.items():
            self.errors.setdefault(lang, {}).setdefault(code, text)
        self.versions.setdefault(prefix, {})[lang] = answer.version
        self.rejected += answer.rejected
        self.cleaned += answer.cleaned

    def count(self, lang: str) -> int:
        return len(self.hms.get(lang, {})) + len(self.errors.get(lang, {}))


def document(fetched: Fetched, provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The file --hms.text-file reads: the service's shape, languages in the order asked
    (the exporter shows the first), with where and when it came from under "source"."""
    def section(table: dict[str, dict[str, str]]) -> dict[str, list[dict[str, str]]]:
        return {lang: [{"ecode": code, "intro": text}
                       for code, text in sorted(table.get(lang, {}).items())]
                for lang in fetched.languages}

    return {"result": 0, "source": dict(provenance),
            "data": {"device_hms": section(fetched.hms),
                     "device_error": section(fetched.errors)}}
