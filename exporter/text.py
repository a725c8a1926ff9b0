"""Text from outside (a printer's reports, the printer list, files the user names) made
safe to keep, show and log. Shared by every stage, so it depends on nothing.

Python strings may hold what UTF-8 cannot: `json.loads` turns the escape "\\ud800" into a
lone surrogate, and PyYAML reads an emoji written as json.dumps writes it ("\\ud83d\\udda8")
as two. Either would make the exposition fail to encode, and with it the whole scrape.
"""

from __future__ import annotations

import os
import re
import stat
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

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


class FileRefused(OSError):
    """Not a file to read at all: `kind` "type" (a FIFO, device or directory where a file
    was expected) or "size" (over the cap; `size` says how much was seen)."""

    def __init__(self, kind: str, reason: str, size: int = 0) -> None:
        super().__init__(reason)
        self.kind, self.size = kind, size

    def __str__(self) -> str:
        return str(self.args[0])


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISDIR, "a directory"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def file_kind(mode: int) -> str:
    """What a file of this mode is, in words: "a regular file", "a FIFO (named pipe)"..."""
    return next((name for test, name in _KINDS if test(mode)),
                "a regular file" if stat.S_ISREG(mode) else "not a regular file")


def check_regular(info: os.stat_result, cap: int) -> None:
    """FileRefused unless `info` is a regular file of at most `cap` bytes."""
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused("type", f"{file_kind(info.st_mode)}, not a regular file")
    if info.st_size > cap:
        raise FileRefused("size", f"more than {cap} bytes", info.st_size)


def read_regular_file(path: str | os.PathLike[str], cap: int) -> bytes:
    """The bytes of `path` if it is a regular file of at most `cap` bytes, else FileRefused
    (OSError when it cannot be opened). Opened without blocking, so a FIFO put in a file's
    place is refused rather than waited on; nothing past the cap is read, even from a file
    that grows meanwhile."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        check_regular(os.fstat(fd), cap)
        chunks: list[bytes] = []
        size = 0
        while size <= cap:
            chunk = os.read(fd, min(1 << 20, cap + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > cap:
            raise FileRefused("size", f"more than {cap} bytes", size)
        return b"".join(chunks)
    finally:
        os.close(fd)


class ReadHung(OSError):
    """A read did not return within its deadline (a stuck network file system): given up."""


class HungReads:
    """Runs reads that might hang (a file on a stuck NFS or FUSE mount blocks in the
    kernel, where no timeout reaches) in a daemon thread each, waited for `timeout`
    seconds; past it the read is abandoned (its thread left to finish, its result dropped)
    and the next read starts afresh. At most `limit` abandoned reads at once: beyond,
    reads are refused until one of them returns, so a dead mount costs a few threads."""

    def __init__(self, timeout: float, limit: int = 4) -> None:
        self.timeout = timeout
        self.limit = limit
        self._lock = threading.Lock()
        self._stuck = 0
        self.abandoned = 0   # reads given up, ever

    def run(self, read: Callable[[], T]) -> T:
        with self._lock:
            if self._stuck >= self.limit:
                raise ReadHung(f"{self._stuck} earlier reads still hang: not read")
            self._stuck += 1
        done = threading.Event()
        box: list[T] = []
        error: list[BaseException] = []

        def target() -> None:
            try:
                box.append(read())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                error.append(exc)
            finally:
                with self._lock:
                    self._stuck -= 1
                done.set()

        try:
            threading.Thread(target=target, daemon=True, name="bounded-read").start()
        except BaseException:   # no thread to be had: this read never ran
            with self._lock:
                self._stuck -= 1
            raise
        if not done.wait(self.timeout):
            with self._lock:
                self.abandoned += 1
            raise ReadHung(f"no answer within {self.timeout:g}s (a hung file system?)")
        if error:
            raise error[0]
        return box[0]


class SettleRule:
    """When a changed file may be read: once nobody has written it for `seconds` (by its
    own mtime; an mtime decades old is a set stamp, so look twice), or once it has stayed
    the same over two looks `seconds` apart. A half-written file is never taken."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.seconds = seconds
        self._clock = clock
        self._wall = wall   # against the file's mtime
        self._pending: tuple[object, float] | None = None   # a change seen, and when

    def settled(self, stamp: object, mtime_ns: int | None) -> bool:
        """Whether the file as `stamp` (any value that changes with it) has settled."""
        if self.seconds <= 0 or (
                mtime_ns is not None and self.seconds <= self._wall() - mtime_ns / 1e9 < 1e9):
            self._pending = None
            return True
        now = self._clock()
        if self._pending is None or self._pending[0] != stamp:
            self._pending = (stamp, now)   # just changed, or still changing: look again
            return False
        if now - self._pending[1] < self.seconds:
            return False
        self._pending = None
        return True

    def forget(self) -> None:
        """Nothing is pending: the file is as last read, or gone."""
        self._pending = None

