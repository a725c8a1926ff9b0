"""Pure: a printer's message bytes -> a JSON object safe to merge, or the reason it is not.

Every value from the wire is normalised here, where it enters, so nothing downstream
(merge, snapshot, samples, rendering) meets a value it cannot handle:
- text is valid UTF-8 (a lone surrogate such as "\\ud800" is replaced) and at most
  LABEL_VALUE_LIMIT characters (longer text is cut, and counted);
- numbers are finite floats or integers a float can hold (an integer of 400 digits, NaN
  and Infinity, which Python's json accepts, become null: no value rather than a wrong one);
- a message is at most MAX_MESSAGE_BYTES and nested at most MAX_DEPTH deep; beyond
  either it is not used at all, and the reason is counted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from exporter.printer.merge import KEPT_PRINT_KEYS
from exporter.printer.project_file import ProjectFile, read_project_file
from exporter.text import ELLIPSIS, LABEL_VALUE_LIMIT, valid_text

# A full report of the largest printers with four AMS units is ~40 kB: this leaves room
# for firmware growth and bounds what one message may cost.
MAX_MESSAGE_BYTES = 512 * 1024
# Real reports nest 6 deep; deeper is not a printer's report.
MAX_DEPTH = 32

# bambu_printer_message_errors_total{reason}: why a message was not used.
MESSAGE_ERROR_REASONS: tuple[str, ...] = ("json", "not_object", "too_large", "too_deep",
                                          "bad_utf8")


class MessageRejected(Exception):
    """A message not used; `reason` is one of MESSAGE_ERROR_REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Decoded:
    """The parts of a message the exporter uses, normalised."""

    report: dict[str, Any]           # {"print": {kept keys that changed}} or {}
    version: dict[str, Any] | None   # a get_version answer's `info`
    truncated: int                   # text values cut to LABEL_VALUE_LIMIT
    project_file: ProjectFile | None = None   # the echo of a job's project_file command


def decode_message(payload: bytes, known: Mapping[str, Any] | None = None) -> Decoded:
    """Bytes from the report topic -> its used parts, normalised; MessageRejected if the
    message cannot be used. Only the used parts are walked (a full report is mostly
    camera, network and upgrade fields the exporter ignores): their depth is checked and
    their values normalised in one pass, linear in their size.

    `known` is what the printer's merged report holds under "print". Parts equal to it
    are left out of `report` (merging them would change nothing): an X1-class printer
    resends its whole report every second, mostly unchanged, and one comparison in C
    is much cheaper than normalising it value by value. What is left out was normalised
    when it was merged, so it needs nothing more."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise MessageRejected("too_large", f"{len(payload)} bytes (at most {MAX_MESSAGE_BYTES})")
    doc = parse_json(payload)
    if not isinstance(doc, dict):
        raise MessageRejected("not_object", f"a JSON {type(doc).__name__}, not an object")
    cuts = [0]
    printed = doc.get("print")
    report = {}
    project_file = None
    if type(printed) is dict:
        kept = _changed_print(printed, known or {}, cuts)
        if kept:
            report["print"] = kept
        if "command" in printed:
            project_file = read_project_file(printed)
    info = doc.get("info")
    version = None
    if isinstance(info, dict) and info.get("command") == "get_version":
        version = normalised(info, cuts)
    return Decoded(report, version, cuts[0], project_file)


def parse_json(payload: bytes) -> Any:
    """JSON bytes -> a value, as json.loads gives it; MessageRejected (bad_utf8, json or
    too_deep) for what it refuses.

    orjson first: parsing is most of a message's cost, and orjson takes ~40 % of the
    time json does on printers' reports. It refuses what strict JSON forbids and json
    accepts (NaN, Infinity, lone surrogates such as "\\ud800", numbers past a float);
    json then parses those, reading integers as orjson does (past 64 bits, the nearest
    float), so what is taken, what is refused and why do not depend on the parser."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        pass
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageRejected("bad_utf8", f"byte {exc.start} is not UTF-8") from None
    try:
        return json.loads(text, parse_int=_int)
    except RecursionError:
        raise MessageRejected("too_deep", f"nested deeper than {MAX_DEPTH}") from None
    except ValueError as exc:
        raise MessageRejected("json", valid_text(str(exc))[:100]) from None


def _int(text: str) -> int | float:
    number = int(text)
    if -2 ** 63 <= number < 2 ** 64:
        return number
    nearest = float(text)
    return nearest if math.isfinite(nearest) else number   # too large: normalised to null


def _changed_print(printed: dict[str, Any], known: Mapping[str, Any],
                   cuts: list[int]) -> dict[str, Any]:
    """The kept keys of `print` (merge.KEPT_PRINT_KEYS) whose values differ from `known`,
    normalised: what normalised(prune_report(...)["print"], cuts, 2, known) gives, with
    the pruning and the comparison of each key in one comprehension (an X1-class report
    has ~45 kept keys, nearly all unchanged, among ~80; this runs ~1000 times a second)."""
    get, old_of = printed.get, known.get
    if len(printed) < len(_KEPT_ORDER):   # a P1/A1 delta: few keys
        keys: Iterable[str] = [k for k in printed if k in KEPT_PRINT_KEYS]
    else:
        keys = _KEPT_ORDER
    # The type too: merging 1 over 1.0 or true over 1 changes what is shown.
    changed = [(key, item, old) for key in keys
               if (item := get(key, _MISSING)) is not _MISSING
               and ((old := old_of(key, _MISSING)) != item or type(old) is not type(item))]
    out: dict[str, Any] = {}
    for key, item, old in changed:   # kept keys are short ASCII: no key to normalise
        if type(item) is dict and type(old) is dict:
            inner = normalised(item, cuts, 3, old)
            if inner:
                out[key] = inner
        else:
            out[key] = _value(item, cuts, 2)
    return out


_KEPT_ORDER = tuple(sorted(KEPT_PRINT_KEYS))


def normalised(value: dict[str, Any], cuts: list[int], depth: int = 1,
               known: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A copy of a JSON object with every text and number normalised (see the module);
    cuts[0] counts the text cut. MessageRejected("too_deep") past MAX_DEPTH.

    With `known` (normalised already), members equal to its members are left out, and
    objects under both are compared member by member in the same way: the copy holds
    what differs. A part equal to a normalised one needs no normalising (normalising
    changes a value, so a value it would change cannot equal one it produced), and is
    no deeper than it."""
    if depth > MAX_DEPTH:
        raise MessageRejected("too_deep", f"nested deeper than {MAX_DEPTH}")
    out: dict[str, Any] = {}
    renamed = False   # a key changed: two keys may now be one, and the last one counts
    for key, item in value.items():
        if not (len(key) <= LABEL_VALUE_LIMIT and key.isascii()):
            fixed = _text(key, cuts)
            renamed = renamed or fixed != key
            key = fixed
        if known is not None:
            old = known.get(key, _MISSING)
            if old is not _MISSING:
                # The type too: merging 1 over 1.0 or true over 1 changes what is shown.
                if item == old and type(item) is type(old):
                    if renamed:
                        out.pop(key, None)
                    continue
                if type(item) is dict and type(old) is dict:
                    inner = normalised(item, cuts, depth + 1, old)
                    if inner:
                        out[key] = inner
                    elif renamed:
                        out.pop(key, None)
                    continue
        out[key] = _value(item, cuts, depth)
    return out


_MISSING: Any = object()


def _list(value: list[Any], cuts: list[int], depth: int) -> list[Any]:
    if depth > MAX_DEPTH:
        raise MessageRejected("too_deep", f"nested deeper than {MAX_DEPTH}")
    return [_value(item, cuts, depth) for item in value]


def _value(item: Any, cuts: list[int], depth: int) -> Any:
    # Exact type checks: this runs for every value of every message.
    kind = type(item)
    if kind is str:
        return item if len(item) <= LABEL_VALUE_LIMIT and item.isascii() else _text(item, cuts)
    if kind is dict:
        return normalised(item, cuts, depth + 1)
    if kind is list:
        return _list(item, cuts, depth + 1)
    if kind is float:
        return item if math.isfinite(item) else None
    if kind is int and not -_EXACT <= item <= _EXACT:
        return item if finite_float(item) is not None else None
    return item


_EXACT = 2 ** 53


def _text(value: str, cuts: list[int]) -> str:
    value = valid_text(value)
    if len(value) > LABEL_VALUE_LIMIT:
        cuts[0] += 1
        value = value[:LABEL_VALUE_LIMIT - 1] + ELLIPSIS
    return value


def finite_float(value: Any) -> float | None:
    """A JSON number or numeric text as a finite float; None for anything else (bools,
    NaN, infinities, integers too large for a float, text that is not a number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        number = value
    elif isinstance(value, int):
        try:
            number = float(value)
        except OverflowError:
            return None
    elif isinstance(value, str):
        if len(value) > 64:   # no number a printer sends is this long
            return None
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None
