"""A file on the printer read by range (REST + RETR, closed once the range is in), as a
seekable file for zipfile: the ZIP's end of central directory and its one member cost a
few hundred KiB of a 50 MB 3MF. Every read checks the deadline and a byte budget.
"""

from __future__ import annotations

import contextlib
import ftplib
import io
import ssl
import time
from collections.abc import Callable

from exporter.printer.job_file.ftps import ImplicitFtps
from exporter.printer.job_file.plan import JobFileError

BLOCK = 64 * 1024
TAIL = 128 * 1024     # the end of central directory may sit after a 64 KiB comment
CHUNK = 16 * 1024


def deadline_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise JobFileError("timeout", "the job file took longer than its deadline")
    return left


def receive(ftp: ImplicitFtps, command: str, offset: int | None, length: int,
            deadline: float, sink: Callable[[bytes], object] | None = None) -> bytes:
    """Up to `length` bytes of a RETR from `offset` (handed to `sink` as they come, else
    returned); the transfer is closed as soon as they are in (ABOR is unreliable on
    printers: closing is what works)."""
    ftp.sock.settimeout(min(ftp.op_timeout, deadline_left(deadline)))  # type: ignore[union-attr]
    conn, _ = ftp.ntransfercmd(command, offset)
    data = bytearray()
    count = 0
    complete = False
    try:
        while count < length:
            conn.settimeout(min(ftp.op_timeout, deadline_left(deadline)))
            chunk = conn.recv(min(CHUNK, length - count))
            if not chunk:
                complete = True
                break
            count += len(chunk)
            if sink is not None:
                sink(chunk)
            else:
                data += chunk
    finally:
        with contextlib.suppress(OSError):
            conn.close()
    try:
        ftp.sock.settimeout(min(ftp.op_timeout, deadline_left(deadline)))  # type: ignore[union-attr]
        ftp.voidresp()
    except (ftplib.error_temp, ftplib.error_reply):
        if complete:
            raise
        # 426/451: the server noticed the early close; the control channel is fine
    return bytes(data)


class RangedFile(io.RawIOBase):
    """Seekable, read-only view of a remote file of known size, fetched block by block."""

    def __init__(self, ftp: ImplicitFtps, path: str, size: int, budget: int,
                 deadline: float) -> None:
        super().__init__()
        self._ftp = ftp
        self._path = path
        self._size = size
        self._budget = budget
        self._deadline = deadline
        self._pos = 0
        self._segments: list[tuple[int, bytes]] = []
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), max(0, self._size - self._pos))
        done = 0
        while done < wanted:
            piece = self._cached(self._pos + done, wanted - done)
            buffer[done:done + len(piece)] = piece
            done += len(piece)
        self._pos += done
        return done

    def _cached(self, offset: int, length: int) -> bytes:
        for start, data in self._segments:
            if start <= offset < start + len(data):
                return data[offset - start: offset - start + length]
        return self._fetch(offset, length)[:length]

    def _fetch(self, offset: int, length: int) -> bytes:
        if offset + max(length, BLOCK) >= self._size:
            start = max(0, min(offset, self._size - TAIL))   # the tail in one go
        else:
            start = offset
        size = min(self._size - start, max(length + (offset - start), BLOCK))
        if self.bytes_read + size > self._budget:
            raise JobFileError("too_large", f"reading {self._path} needs more than "
                                            f"{self._budget} bytes")
        try:
            data = receive(self._ftp, f"RETR {self._path}", start, size, self._deadline)
        except TimeoutError:
            raise JobFileError("timeout", f"reading {self._path} timed out",
                               data_channel=True) from None
        except ssl.SSLError as exc:
            raise JobFileError("tls", f"TLS on the data channel failed: {exc.reason}") from None
        except ftplib.Error as exc:
            raise _reply_error(exc, self._path) from None
        except (OSError, EOFError) as exc:
            # zipfile reads an OSError as "not a ZIP": say what it was
            raise JobFileError("refused", f"reading {self._path}: the printer closed the "
                                          f"connection ({type(exc).__name__})") from None
        self.bytes_read += len(data)
        if len(data) < min(size, self._size - start) or not data:
            raise JobFileError("bad_file", f"{self._path} ended early at "
                                           f"{start + len(data)} of {self._size} bytes")
        self._segments.append((start, data))
        return data[offset - start:]


def _reply_error(exc: ftplib.Error, path: str) -> JobFileError:
    text = str(exc)[:120]
    if text.startswith("522"):
        return JobFileError("tls", f"the printer refused the data channel's TLS: {text}")
    if text.startswith("550"):
        return JobFileError("no_file", f"{path}: {text}")
    return JobFileError("refused", f"{path}: {text}")
