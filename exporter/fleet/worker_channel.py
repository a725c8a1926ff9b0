"""The main process's end of a worker's pipe: multiprocessing.Connection's framing (the
worker keeps a plain Connection), but no call here blocks past its deadline.

A worker stopped in the middle of writing an answer must not hold a scrape: reads wait
only until the caller's deadline, and a message that is only partly in stays buffered
for the next call (the stream never falls out of step). Writes are queued and go out as
the socket takes them, so that sending to a worker that does not read never blocks;
whoever waits on the channel, and the pool's supervisor, flush the queue.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections import deque
from multiprocessing.reduction import ForkingPickler
from typing import Any

# A worker's answer is its printers' lines: some megabytes for thousands of printers.
# A header claiming more than this means the stream is broken, not a big answer.
MAX_MESSAGE_BYTES = 1 << 30
_READ_CHUNK = 1 << 20


class ChannelClosed(Exception):
    """End of file, a socket error or a broken stream: the worker is gone or unusable."""


class WorkerChannel:
    """One reader at a time (the pool makes sure); send and flush from any thread."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._out: deque[memoryview] = deque()
        self._out_lock = threading.Lock()
        self._head = bytearray()
        self._body: bytearray | None = None
        self._got = 0
        self._closed = False

    # ------------------------------------------------------------------ writing

    def send(self, obj: Any) -> None:
        """Queue `obj` and write what the socket takes now. Never blocks."""
        data = bytes(ForkingPickler.dumps(obj))
        if len(data) > 0x7FFFFFFF:
            header = struct.pack("!i", -1) + struct.pack("!Q", len(data))
        else:
            header = struct.pack("!i", len(data))
        with self._out_lock:
            self._check_open()
            self._out.append(memoryview(header))
            self._out.append(memoryview(data))
            self._write_some()

    @property
    def pending(self) -> bool:
        """Bytes queued that the worker has not taken yet."""
        return bool(self._out)

    def flush(self, deadline: float | None = None) -> bool:
        """Write queued bytes until none are left (True) or the deadline passes (False);
        without a deadline, only what the socket takes now."""
        while True:
            with self._out_lock:
                self._check_open()
                self._write_some()
                if not self._out:
                    return True
            remaining = 0.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._wait(select.POLLOUT, remaining)

    def _write_some(self) -> None:
        """Under _out_lock."""
        while self._out:
            chunk = self._out[0]
            try:
                sent = self._sock.send(chunk)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                raise ChannelClosed(f"write failed: {exc}") from None
            if sent == len(chunk):
                self._out.popleft()
            else:
                self._out[0] = chunk[sent:]

    # ------------------------------------------------------------------ reading

    def recv(self, deadline: float) -> Any:
        """The next whole message. TimeoutError at the deadline (what part of a message
        came in is kept); ChannelClosed at end of file or on a broken stream."""
        while True:
            self._check_open()
            message = self._read_available()
            if message is not _INCOMPLETE:
                return message
            if self._out:
                with self._out_lock:
                    self._write_some()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no whole message before the deadline")
            self._wait(select.POLLIN | (select.POLLOUT if self._out else 0), remaining)

    def _read_available(self) -> Any:
        """Read what the socket holds now; a message once one is whole."""
        while True:
            if self._body is None:
                want = (4 if len(self._head) < 4 else 12) - len(self._head)
                chunk = self._receive(want)
                if chunk is None:
                    return _INCOMPLETE
                self._head += chunk
                self._start_body()
            if self._body is not None:
                if self._got < len(self._body):
                    got = self._receive_into(
                        memoryview(self._body)[self._got:self._got + _READ_CHUNK])
                    if got is None:
                        return _INCOMPLETE
                    self._got += got
                if self._got == len(self._body):
                    body, self._body, self._got = self._body, None, 0
                    self._head.clear()
                    try:
                        return ForkingPickler.loads(body)
                    except Exception as exc:  # noqa: BLE001 - any unpickling failure
                        raise ChannelClosed(f"unreadable message: {exc!r}") from None

    def _receive_into(self, view: memoryview) -> int | None:
        """Bytes read into `view`; None when nothing is there yet."""
        try:
            got = self._sock.recv_into(view)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            raise ChannelClosed(f"read failed: {exc}") from None
        if got == 0:
            raise ChannelClosed("end of file in the middle of a message")
        return got

    def _receive(self, want: int) -> bytes | None:
        try:
            chunk = self._sock.recv(want)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            raise ChannelClosed(f"read failed: {exc}") from None
        if not chunk:
            raise ChannelClosed("end of file")
        return chunk

    def _start_body(self) -> None:
        if len(self._head) == 4:
            (size,) = struct.unpack("!i", self._head)
            if size == -1:
                return   # the size follows in 8 more bytes
        elif len(self._head) == 12:
            (size,) = struct.unpack("!Q", self._head[4:])
        else:
            return
        if not 0 <= size <= MAX_MESSAGE_BYTES:
            raise ChannelClosed(f"message size {size} out of bounds: the stream is broken")
        self._body, self._got = bytearray(size), 0

    # ------------------------------------------------------------------ the socket

    def _wait(self, events: int, timeout: float) -> None:
        poller = select.poll()
        poller.register(self._sock, events)
        try:
            poller.poll(max(1, int(timeout * 1000 + 0.999)))
        except InterruptedError:
            pass

    def _check_open(self) -> None:
        if self._closed:
            raise ChannelClosed("channel closed")

    def close(self) -> None:
        with self._out_lock:
            self._closed = True
            self._out.clear()
            self._sock.close()


_INCOMPLETE: Any = object()
