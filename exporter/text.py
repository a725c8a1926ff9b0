"""Text from outside (a printer's reports, the printer list) made safe to keep, show and
log. Shared by every stage, so it depends on nothing.

Python strings may hold what UTF-8 cannot: `json.loads` turns the escape "\\ud800" into a
lone surrogate, and PyYAML reads an emoji written as json.dumps writes it ("\\ud83d\\udda8")
as two. Either would make the exposition fail to encode, and with it the whole scrape.
"""

from __future__ import annotations

import re

# Longest label value the exporter emits, in characters; longer text is cut. Real values
# (file names, job names, materials) are far shorter; this bounds what one printer can
# add to every scrape.
LABEL_VALUE_LIMIT = 256
ELLIPSIS = "\u2026"

_DIGITS = re.compile(r"[0-9]+")


def ascii_digits(text: str) -> bool:
    """Whether `text` is a whole number written in ASCII digits (no sign, no spaces):
    str.isdigit() also takes "²", which int() refuses, and "١٢", which int() reads as 12."""
    return _DIGITS.fullmatch(text) is not None


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def valid_text(text: str) -> str:
    """`text` encodable as UTF-8: surrogate pairs joined into their character, lone
    surrogates replaced by U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def bounded_text(text: str, limit: int = LABEL_VALUE_LIMIT) -> str:
    """valid_text(text), cut to `limit` characters (the last one an ellipsis when cut)."""
    text = valid_text(text)
    return text if len(text) <= limit else text[:limit - 1] + ELLIPSIS


def escape_controls(text: str) -> str:
    r"""`text` with control characters (newline, carriage return, NUL, ...) written as
    escapes (\n, \x00, \u2028), so a value cannot start a line of its own in a log."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
